//! Writing format 2.0.
//!
//! The layout is bmaptool 3.x's: XML declaration, a header comment, then `ImageSize`,
//! `BlockSize`, `BlocksCount`, `MappedBlocksCount`, `ChecksumType`, `BmapFileChecksum` and
//! `BlockMap`, each after a comment, values padded with one space. The file checksum is computed
//! over the whole file with the checksum's own text set to ASCII zeros, then written in place,
//! so bmaptool's verifier (which reverses exactly that) accepts it.

use std::fmt::Write as _;

use super::Bmap;
use crate::size;

const HEADER: &str = r#"<?xml version="1.0" ?>
<!-- A block map (bmap) of a disk image. It lists the blocks of the image
     that hold data: partition tables, boot code, filesystem metadata and
     files. Only those blocks need to be written to a drive; the others are
     unused, and skipping them makes writing much faster.

     Every range carries a checksum of its bytes, so a writer can verify all
     it copies, and this file carries a checksum of itself.

     The 'version' attribute is MAJOR.MINOR: the major number changes with an
     incompatible change of the format, the minor number with a compatible
     one. Made by Blockprint; bmaptool reads it too. -->

"#;

pub(super) fn to_xml(bmap: &Bmap) -> Vec<u8> {
    let kind = bmap.checksum_type();
    let zeros = "0".repeat(kind.digest_len() * 2);
    let (mapped_bytes, mapped_percent) = bmap.mapped_summary();
    let mut xml = String::with_capacity(1024 + bmap.ranges().len() * (40 + zeros.len()));
    xml.push_str(HEADER);
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        xml,
        r#"<bmap version="{version}">
    <!-- Image size in bytes: {image_human} -->
    <ImageSize> {image_size} </ImageSize>

    <!-- Size of a block in bytes -->
    <BlockSize> {block_size} </BlockSize>

    <!-- Count of blocks in the image file -->
    <BlocksCount> {blocks_count} </BlocksCount>

    <!-- Count of mapped blocks: {mapped_human} or {mapped_percent:.1}% -->
    <MappedBlocksCount> {mapped_blocks} </MappedBlocksCount>

    <!-- Type of checksum used in this file -->
    <ChecksumType> {kind} </ChecksumType>

    <!-- The checksum of this file, computed while this value was all ASCII
         "0" characters -->
    <BmapFileChecksum> "#,
        version = super::Version::WRITTEN,
        image_human = size::human(bmap.image_size()),
        image_size = bmap.image_size(),
        block_size = bmap.block_size(),
        blocks_count = bmap.blocks_count(),
        mapped_human = size::human(mapped_bytes),
        mapped_percent = mapped_percent,
        mapped_blocks = bmap.mapped_blocks_count(),
    );
    let checksum_at = xml.len();
    xml.push_str(&zeros);
    xml.push_str(
        r#" </BmapFileChecksum>

    <!-- The mapped blocks: each Range is FIRST-LAST or a single block number,
         and its 'chksum' attribute (if present) is the checksum of its bytes -->
    <BlockMap>
"#,
    );
    for range in bmap.ranges() {
        match &range.checksum {
            Some(digest) => {
                let _ = writeln!(xml, r#"        <Range chksum="{digest}"> {range} </Range>"#);
            }
            None => {
                let _ = writeln!(xml, "        <Range> {range} </Range>");
            }
        }
    }
    xml.push_str("    </BlockMap>\n</bmap>\n");

    let mut bytes = xml.into_bytes();
    let digest = kind.digest(&bytes).to_string();
    bytes[checksum_at..checksum_at + digest.len()].copy_from_slice(digest.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{BlockRange, ChecksumType, Digest};
    use super::*;

    fn sample(with_checksums: bool) -> Bmap {
        let digest = |s: &str| with_checksums.then(|| ChecksumType::Sha256.digest(s.as_bytes()));
        let ranges = vec![
            BlockRange {
                first: 0,
                last: 1,
                checksum: digest("a"),
            },
            BlockRange {
                first: 5,
                last: 5,
                checksum: digest("b"),
            },
        ];
        Bmap::new(6 * 4096 + 100, 4096, ChecksumType::Sha256, ranges).expect("valid bmap")
    }

    #[test]
    fn round_trips_through_the_parser() {
        for with in [true, false] {
            let bmap = sample(with);
            let xml = bmap.to_xml();
            let back = Bmap::from_bytes(&xml, Path::new("mem.bmap")).expect("parses");
            assert_eq!(back, bmap);
        }
    }

    #[test]
    fn single_block_ranges_use_the_short_form() {
        let xml = String::from_utf8(sample(true).to_xml()).expect("utf-8");
        assert!(xml.contains("> 5 </Range>"), "{xml}");
        assert!(xml.contains("> 0-1 </Range>"), "{xml}");
        assert!(xml.contains("<MappedBlocksCount> 3 </MappedBlocksCount>"));
        assert!(xml.contains("<BlocksCount> 7 </BlocksCount>"));
    }

    #[test]
    fn file_checksum_is_over_the_zeroed_file() {
        let xml = sample(false).to_xml();
        let text = String::from_utf8(xml.clone()).expect("utf-8");
        let start = text.find("<BmapFileChecksum> ").expect("element") + 19;
        let stored = Digest::from_hex(&text[start..start + 64]).expect("hex");
        let mut zeroed = xml;
        zeroed[start..start + 64].fill(b'0');
        assert_eq!(ChecksumType::Sha256.digest(&zeroed), stored);
    }
}
