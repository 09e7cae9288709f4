//! Recognising a format by its first bytes. The name of a file never decides: an image called
//! `disk.img` that holds xz data is xz, and an unknown format is raw.

use std::fmt;

/// Bytes needed to recognise every format (tar's magic sits at offset 257 of a 512-byte header).
pub(crate) const DETECT_LEN: usize = 512;

/// A format an image can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Not compressed, not archived: the disk image itself.
    Raw,
    /// gzip, one member or several.
    Gzip,
    /// xz, one stream or several.
    Xz,
    /// bzip2, one stream or several.
    Bzip2,
    /// Zstandard.
    Zstd,
    /// LZ4 frame format.
    Lz4,
    /// The old LZ4 "legacy" format (`lz4 -l`), which is not supported.
    Lz4Legacy,
    /// lzop files.
    Lzop,
    /// zip archives.
    Zip,
    /// tar archives (POSIX ustar, GNU, pax).
    Tar,
}

impl Format {
    /// Whether the format is an archive with named members.
    pub fn is_archive(self) -> bool {
        matches!(self, Format::Zip | Format::Tar)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Raw => "raw",
            Format::Gzip => "gzip",
            Format::Xz => "xz",
            Format::Bzip2 => "bzip2",
            Format::Zstd => "zstd",
            Format::Lz4 => "lz4",
            Format::Lz4Legacy => "legacy lz4",
            Format::Lzop => "lzop",
            Format::Zip => "zip",
            Format::Tar => "tar",
        })
    }
}

/// The format of data starting with `head` (give at least [`DETECT_LEN`] bytes when there are).
pub fn detect(head: &[u8]) -> Format {
    const XZ: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
    const LZOP: &[u8] = &[0x89, b'L', b'Z', b'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A];
    const BZ_BLOCK: &[u8] = &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    const BZ_END: &[u8] = &[0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0x1F, 0x8B, 0x08]) {
        Format::Gzip
    } else if starts(XZ) {
        Format::Xz
    } else if starts(b"BZh")
        && head.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        && head
            .get(4..10)
            .is_some_and(|m| m == BZ_BLOCK || m == BZ_END)
    {
        Format::Bzip2
    } else if starts(&[0x28, 0xB5, 0x2F, 0xFD])
        || (head.len() >= 4 && head[0] & 0xF0 == 0x50 && head[1..4] == [0x2A, 0x4D, 0x18])
    {
        // A frame, or a skippable frame (0x184D2A5?) in front of one.
        Format::Zstd
    } else if starts(&[0x04, 0x22, 0x4D, 0x18]) {
        Format::Lz4
    } else if starts(&[0x02, 0x21, 0x4C, 0x18]) {
        Format::Lz4Legacy
    } else if starts(LZOP) {
        Format::Lzop
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Format::Zip
    } else if is_tar_header(head) {
        Format::Tar
    } else {
        Format::Raw
    }
}

/// A ustar/GNU header: the magic at 257 and a header checksum that adds up.
pub(crate) fn is_tar_header(block: &[u8]) -> bool {
    let Some(block) = block.get(..512) else {
        return false;
    };
    (&block[257..262] == b"ustar") && tar_checksum_ok(block)
}

/// The tar header checksum: the unsigned sum of the 512 header bytes with the checksum field
/// (148..156) counted as spaces, stored as octal text.
pub(crate) fn tar_checksum_ok(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .take_while(|c| *c != '\0')
        .filter(|c| !c.is_whitespace())
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(detect(&[0x1F, 0x8B, 0x08, 0]), Format::Gzip);
        assert_eq!(detect(b"\xFD7zXZ\x00\x00\x04"), Format::Xz);
        assert_eq!(detect(b"BZh91AY&SY"), Format::Bzip2);
        assert_eq!(detect(b"BZh9\x17\x72\x45\x38\x50\x90"), Format::Bzip2);
        assert_eq!(detect(b"BZh0junk!!"), Format::Raw);
        assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD]), Format::Zstd);
        assert_eq!(detect(&[0x5E, 0x2A, 0x4D, 0x18]), Format::Zstd);
        assert_eq!(detect(&[0x04, 0x22, 0x4D, 0x18]), Format::Lz4);
        assert_eq!(detect(&[0x02, 0x21, 0x4C, 0x18]), Format::Lz4Legacy);
        assert_eq!(detect(b"\x89LZO\x00\r\n\x1a\n"), Format::Lzop);
        assert_eq!(detect(b"PK\x03\x04"), Format::Zip);
        assert_eq!(detect(&[0xEB, 0x3C, 0x90]), Format::Raw);
        assert_eq!(detect(&[]), Format::Raw);
    }

    #[test]
    fn tar_needs_magic_and_checksum() {
        let mut block = [0u8; 512];
        block[..4].copy_from_slice(b"disk");
        block[257..263].copy_from_slice(b"ustar\0");
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
        assert_eq!(detect(&block), Format::Tar);
        block[0] = b'x';
        assert_eq!(detect(&block), Format::Raw, "a bad checksum is not tar");
    }
}
