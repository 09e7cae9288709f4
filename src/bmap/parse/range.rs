//! The `<Range>` elements: each read into the compact [`Ranges`](crate::bmap::Ranges) as it closes, the first
//! problem of each kind noted (with what its message needs), and, for an error validation
//! finds by index, the element found again in the file.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{Document, Offset, parse_range};
use crate::bmap::checksum::decode_hex;
use crate::bmap::{BmapErrorKind, ChecksumType};

/// A range's digest as written, kept for an error that needs the checksum type to be told.
#[derive(Debug)]
pub(super) struct DigestAt {
    index: usize,
    offset: u64,
    /// The attribute's text.
    text: String,
    /// The range's text.
    range: String,
    /// Whether the text is hex of whole bytes.
    hex: bool,
    /// Its length in bytes, when it is.
    len: usize,
}

/// The `<Range>` being read.
#[derive(Debug, Default)]
pub(super) struct Current {
    pub(super) offset: u64,
    pub(super) text: String,
    /// The digest attribute (`chksum`, or `sha1` before format 1.4), as written.
    pub(super) digest: Option<String>,
}

/// A `<Range>` has ended: its blocks and digest join the ranges, or its problem is noted.
pub(super) fn close_range(doc: &mut Document) {
    let index = doc.range_count;
    doc.range_count += 1;
    let Some(current) = doc.current.as_mut() else {
        return;
    };
    let text = current.text.trim();
    let blocks = match parse_range(text) {
        Ok(blocks) => Some(blocks),
        Err(kind) => {
            if doc.bad_range.is_none() {
                doc.bad_range = Some((index, current.offset, kind));
            }
            None
        }
    };
    let mut digest = None;
    if let Some(hex) = current.digest.as_deref().map(str::trim) {
        let at = |ok: bool, len: usize| DigestAt {
            index,
            offset: current.offset,
            text: hex.to_owned(),
            range: text.to_owned(),
            hex: ok,
            len,
        };
        if decode_hex(hex, &mut doc.digest) {
            let len = doc.digest.len();
            match &doc.first_digest {
                None => doc.first_digest = Some(at(true, len)),
                Some(first) if first.len != len && doc.other_length.is_none() => {
                    doc.other_length = Some(at(true, len));
                }
                Some(_) => {}
            }
            digest = Some(&doc.digest[..]);
        } else if doc.bad_hex.is_none() {
            doc.bad_hex = Some(at(false, 0));
        }
    }
    if let (Some((first, last)), false) = (blocks, doc.range_failed()) {
        // Lengths were compared above, so the push cannot refuse the digest.
        let _ = doc.ranges.push(first, last, digest);
    }
}

/// The byte offset of the `<Range>` element number `index` (from 0) of the block map.
pub(super) fn range_offset(text: &str, index: usize) -> Option<u64> {
    let mut reader = Reader::from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut depth = 0usize;
    let mut in_block_map = false;
    let mut seen = 0;
    loop {
        let offset = reader.buffer_position();
        let (element, opens) = match reader.read_event().ok()? {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                in_block_map &= depth > 1;
                continue;
            }
            Event::Eof => return None,
            _ => continue,
        };
        let name = element.local_name();
        if in_block_map && depth == 2 && name.as_ref() == "Range" {
            if seen == index {
                return Some(offset);
            }
            seen += 1;
        }
        if opens {
            in_block_map |= depth == 1 && name.as_ref() == "BlockMap";
            depth += 1;
        }
    }
}

/// The first range, in file order, that is not a range or whose digest is not one of
/// `kind`: its text first, then its digest, as each range is read.
pub(super) fn first_range_error(
    doc: &mut Document,
    kind: ChecksumType,
) -> Option<(Offset, BmapErrorKind)> {
    let digest_error = |at: &DigestAt| {
        let error = BmapErrorKind::BadDigest {
            what: format!("checksum of range {}", at.range),
            text: at.text.clone(),
            kind,
        };
        ((at.index, 1), at.offset, error)
    };
    let wrong_length = doc
        .first_digest
        .iter()
        .chain(doc.other_length.iter())
        .find(|at| at.hex && at.len != kind.digest_len());
    let candidates = [
        doc.bad_range
            .take()
            .map(|(index, offset, error)| ((index, 0), offset, error)),
        doc.bad_hex.as_ref().map(digest_error),
        wrong_length.map(digest_error),
    ];
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|(order, _, _)| *order)
        .map(|(_, offset, error)| (Offset::At(offset), error))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::bmap::{Bmap, BmapErrorKind};

    /// A format 1.2 bmap (SHA-1 per range, optional; no file checksum) of 8 blocks.
    fn bmap(block_map: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<bmap version=\"1.2\">\n<ImageSize> 32768 </ImageSize>\n\
             <BlockSize> 4096 </BlockSize>\n<BlocksCount> 8 </BlocksCount>\n\
             <MappedBlocksCount> 3 </MappedBlocksCount>\n<BlockMap>\n{block_map}</BlockMap>\n</bmap>\n"
        )
    }

    fn parse(text: &str) -> Result<Bmap, crate::bmap::BmapError> {
        Bmap::from_bytes(text.as_bytes(), Path::new("t.bmap"))
    }

    #[test]
    fn some_ranges_may_have_digests_and_others_not() {
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        let parsed = parse(&bmap(&format!(
            "<Range> 0 </Range>\n<Range sha1=\"{sha1}\"> 2-3 </Range>\n<Range/>\n"
        )));
        // An empty <Range/> is no range.
        let err = parsed.expect_err("empty range");
        assert!(matches!(err.kind, BmapErrorKind::BadRange(_)), "{err}");
        assert_eq!(err.line, Some(10));

        let parsed = parse(&bmap(&format!(
            "<Range> 0 </Range>\n<Range sha1=\"{sha1}\"> 2-3 </Range>\n"
        )))
        .expect("parses");
        let ranges = parsed.ranges();
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges.checksum(0), None);
        assert_eq!(
            ranges
                .get(1)
                .and_then(|r| r.checksum)
                .map(|d| d.to_string()),
            Some(sha1.to_owned())
        );
    }

    /// Validation knows only a range's index; its line is found by reading the file again,
    /// past comments, nested elements and ranges written as empty elements elsewhere.
    #[test]
    fn validation_errors_point_at_their_range() {
        let err = parse(&bmap(
            "<Range> 0 </Range>\n<!-- <Range> 9 </Range> -->\n<Range><x/> 2-3 </Range>\n\
             <Range> 1 </Range>\n",
        ))
        .expect_err("out of order");
        assert!(
            matches!(err.kind, BmapErrorKind::RangeOrder { .. }),
            "{err}"
        );
        assert_eq!(err.line, Some(11), "{err}");
    }

    /// The first bad range in file order wins, whatever kind its problem is.
    #[test]
    fn the_first_bad_range_is_reported() {
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        let err = parse(&bmap(&format!(
            "<Range sha1=\"{sha1}\"> 0 </Range>\n<Range sha1=\"abcd\"> 2 </Range>\n\
             <Range> x </Range>\n"
        )))
        .expect_err("bad digest");
        assert!(
            err.to_string().contains("checksum of range 2 'abcd'"),
            "{err}"
        );
        assert_eq!(err.line, Some(9));
        let err = parse(&bmap(&format!(
            "<Range> x </Range>\n<Range sha1=\"{sha1}0\"> 2 </Range>\n"
        )))
        .expect_err("bad range");
        assert!(matches!(err.kind, BmapErrorKind::BadRange(_)), "{err}");
        assert_eq!(err.line, Some(8));
    }
}
