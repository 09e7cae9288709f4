//! What a file that is no disk image looks like: magic numbers at its start (and a DMG's at its
//! end), ZIP's central directory and tar's headers counted, web pages and text told by their
//! bytes.

use super::Looks;
use super::budget::Budget;
use crate::le::{u16_at, u32_at, u64_at};

/// Files counted in an archive's listing at most.
const MAX_MEMBERS: u64 = 65_536;
/// Bytes of a ZIP central directory read at most.
const MAX_DIRECTORY: u64 = 2 << 20;
/// Bytes at the start that text and HTML are judged by.
const TEXT: usize = 64 << 10;

/// Magic numbers at byte 0, and what they mean.
const AT_START: &[(&[u8], Looks)] = &[
    (b"%PDF-", Looks::Pdf),
    (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Looks::OfficeOrMsi),
    (b"\x7FELF", Looks::ElfProgram),
    (b"\xFE\xED\xFA\xCE", Looks::MacProgram),
    (b"\xFE\xED\xFA\xCF", Looks::MacProgram),
    (b"\xCE\xFA\xED\xFE", Looks::MacProgram),
    (b"\xCF\xFA\xED\xFE", Looks::MacProgram),
    (b"!<arch>\ndebian-binary", Looks::DebianPackage),
    (b"!<arch>\n", Looks::ArArchive),
    (b"\xED\xAB\xEE\xDB", Looks::RpmPackage),
    (b"\x89PNG\r\n\x1A\n", Looks::Picture { format: "PNG" }),
    (b"GIF87a", Looks::Picture { format: "GIF" }),
    (b"GIF89a", Looks::Picture { format: "GIF" }),
    (b"\x1A\x45\xDF\xA3", Looks::Media { format: "Matroska" }),
    (b"OggS", Looks::Media { format: "Ogg" }),
    (b"fLaC", Looks::Media { format: "FLAC" }),
    (b"7z\xBC\xAF\x27\x1C", Looks::Compressed { format: "7-Zip" }),
    (b"Rar!\x1A\x07", Looks::Compressed { format: "RAR" }),
    (
        b"MSCF\0\0\0\0",
        Looks::Compressed {
            format: "Windows cabinet",
        },
    ),
    (b"LZIP", Looks::Compressed { format: "lzip" }),
    (b"\x1F\x8B\x08", Looks::Compressed { format: "gzip" }),
    (b"\xFD7zXZ\0", Looks::Compressed { format: "xz" }),
    (
        b"\x28\xB5\x2F\xFD",
        Looks::Compressed {
            format: "Zstandard",
        },
    ),
    (b"\x04\x22\x4D\x18", Looks::Compressed { format: "LZ4" }),
    (b"\x89LZO\0\r\n\x1A\n", Looks::Compressed { format: "lzop" }),
    (b"QFI\xFB", Looks::VirtualDisk { format: "QCOW2" }),
    (b"KDMV", Looks::VirtualDisk { format: "VMDK" }),
    (
        b"# Disk DescriptorFile",
        Looks::VirtualDisk { format: "VMDK" },
    ),
    (b"vhdxfile", Looks::VirtualDisk { format: "VHDX" }),
    (b"conectix", Looks::VirtualDisk { format: "VHD" }),
];

/// What `start` (the first bytes of the image in `r`) looks like, when it is a kind of file
/// that is no disk image; `None` for data nothing here recognises.
pub(super) fn looks(start: &[u8], r: &Budget) -> Option<Looks> {
    if let Some((_, looks)) = AT_START.iter().find(|(magic, _)| start.starts_with(magic)) {
        return Some(looks.clone());
    }
    if let Some(looks) = short_magic(start) {
        return Some(looks);
    }
    if start.starts_with(b"PK\x03\x04") || start.starts_with(b"PK\x05\x06") {
        return Some(Looks::Zip {
            files: zip_files(r),
        });
    }
    if is_tar(start) {
        return Some(Looks::Tar {
            files: tar_files(r),
        });
    }
    match (start.get(..4), start.get(8..12)) {
        (Some(b"RIFF"), Some(b"WEBP")) => return Some(Looks::Picture { format: "WebP" }),
        (Some(b"RIFF"), Some(b"AVI ")) => return Some(Looks::Media { format: "AVI" }),
        (Some(b"RIFF"), Some(b"WAVE")) => return Some(Looks::Media { format: "WAV" }),
        _ => {}
    }
    if start.get(4..8) == Some(b"ftyp") {
        return Some(Looks::Media { format: "MP4" });
    }
    if start.get(..4) == Some(b"<<< ") && start.get(0x40..0x44) == Some(&[0x7F, 0x10, 0xDA, 0xBE]) {
        return Some(Looks::VirtualDisk { format: "VDI" });
    }
    if is_dmg(r) {
        return Some(Looks::VirtualDisk {
            format: "Apple disk image (DMG)",
        });
    }
    let text = &start[..start.len().min(TEXT)];
    if is_html(text) {
        return Some(Looks::Html);
    }
    if is_text(text, start.len() as u64 == r.len()) {
        return Some(Looks::Text);
    }
    None
}

/// Magic numbers of two or three bytes, with the next bytes checked too: such short ones
/// alone turn up in raw data too often.
fn short_magic(start: &[u8]) -> Option<Looks> {
    let byte = |i: usize| start.get(i).copied();
    if start.starts_with(b"MZ") && is_exe(start) {
        return Some(Looks::WindowsProgram);
    }
    if start.starts_with(b"\xFF\xD8\xFF") && byte(3).is_some_and(|b| b >= 0xC0) {
        return Some(Looks::Picture { format: "JPEG" });
    }
    if start.starts_with(b"ID3") && byte(3).is_some_and(|v| (2..=4).contains(&v)) {
        return Some(Looks::Media { format: "MP3" });
    }
    if start.starts_with(b"\x1F\x9D") && byte(2).is_some_and(|f| (9..=16).contains(&(f & 0x1F))) {
        return Some(Looks::Compressed {
            format: "compress (.Z)",
        });
    }
    let bzip2 = start.starts_with(b"BZh")
        && byte(3).is_some_and(|level| (b'1'..=b'9').contains(&level))
        && start.get(4..10) == Some(b"1AY&SY");
    bzip2.then_some(Looks::Compressed { format: "bzip2" })
}

/// A DOS or Windows program: a PE header where the MZ header points, or a DOS header whose
/// relocation table starts where DOS linkers put it.
fn is_exe(start: &[u8]) -> bool {
    let Some(header) = start.get(..0x40) else {
        return false;
    };
    let pe = usize::try_from(u32_at(header, 0x3C)).unwrap_or(usize::MAX);
    let relocations = u16_at(header, 0x18);
    start.get(pe..pe.saturating_add(4)) == Some(b"PE\0\0")
        || ((0x1C..=0x40).contains(&relocations) && u16_at(header, 8) >= 2)
}

/// A ustar header (POSIX or GNU) whose checksum holds.
fn is_tar(start: &[u8]) -> bool {
    start.len() >= 512 && start[257..262] == *b"ustar" && tar_checksum_ok(&start[..512])
}

/// Whether a tar header's checksum field matches the header.
fn tar_checksum_ok(header: &[u8]) -> bool {
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    octal(&header[148..156]) == Some(sum)
}

/// An octal number field (spaces and NULs around it), or GNU's base-256 form.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        return field[1..]
            .iter()
            .try_fold(0u64, |n, &b| n.checked_mul(256).map(|n| n | u64::from(b)));
    }
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if digits.is_empty() {
        return Some(0);
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|&d| d < 8)?;
        n.checked_mul(8).map(|n| n + u64::from(digit))
    })
}

/// The regular files of a tar archive, when every header up to its end is read within the
/// limits.
fn tar_files(r: &Budget) -> Option<u64> {
    let (mut at, mut files) = (0u64, 0u64);
    for _ in 0..MAX_MEMBERS {
        if at >= r.len() {
            return Some(files);
        }
        let header = r.read(at, 512, "a tar header").ok()?;
        if header.iter().all(|&b| b == 0) {
            return Some(files);
        }
        if !tar_checksum_ok(&header) {
            return None;
        }
        if matches!(header[156], 0 | b'0' | b'7') {
            files += 1;
        }
        let size = octal(&header[124..136])?;
        at = at
            .checked_add(512)?
            .checked_add(size.checked_next_multiple_of(512)?)?;
    }
    None
}

/// The files (directories left out) in a ZIP archive's central directory; its end of central
/// directory record's count of entries when the directory itself cannot be walked.
fn zip_files(r: &Budget) -> Option<u64> {
    let len = r.len();
    let tail_len = len.min(22 + 65_535);
    let tail = r
        .read(len - tail_len, tail_len, "the end of a ZIP archive")
        .ok()?;
    let end = (0..=tail.len().checked_sub(22)?)
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))?;
    let eocd = &tail[end..];
    let at = len - tail_len + end as u64;
    let (mut entries, mut size) = (u64::from(u16_at(eocd, 10)), u64::from(u32_at(eocd, 12)));
    let mut start = at.checked_sub(size);
    if entries == 0xFFFF || size == 0xFFFF_FFFF {
        // ZIP64: the locator just before points to the ZIP64 end of central directory.
        let locator = tail.get(end.checked_sub(20)?..end)?;
        if !locator.starts_with(b"PK\x06\x07") {
            return None;
        }
        let record_at = u64_at(locator, 8);
        let record = r
            .read(record_at, 56, "a ZIP64 end of central directory")
            .ok()?;
        if !record.starts_with(b"PK\x06\x06") {
            return None;
        }
        (entries, size) = (u64_at(&record, 32), u64_at(&record, 40));
        start = record_at.checked_sub(size);
    }
    let walked = start.and_then(|start| {
        if size > MAX_DIRECTORY || entries > MAX_MEMBERS {
            return None;
        }
        let directory = r.read(start, size, "a ZIP central directory").ok()?;
        count_zip_files(&directory, entries)
    });
    Some(walked.unwrap_or(entries))
}

/// Central directory headers in `directory` that are files (names not ending in `/`).
fn count_zip_files(directory: &[u8], entries: u64) -> Option<u64> {
    let (mut pos, mut files) = (0usize, 0u64);
    for _ in 0..entries {
        let header = directory.get(pos..pos.checked_add(46)?)?;
        if !header.starts_with(b"PK\x01\x02") {
            return None;
        }
        let name_len = usize::from(u16_at(header, 28));
        let extra = usize::from(u16_at(header, 30));
        let comment = usize::from(u16_at(header, 32));
        let name = directory.get(pos + 46..pos + 46 + name_len)?;
        if !name.ends_with(b"/") {
            files += 1;
        }
        pos += 46 + name_len + extra + comment;
    }
    Some(files)
}

/// An Apple disk image: a "koly" trailer in its last 512 bytes.
fn is_dmg(r: &Budget) -> bool {
    r.len() >= 1024
        && r.read(r.len() - 512, 4, "the end of the image")
            .is_ok_and(|tail| tail == b"koly")
}

/// A web page: after a byte order mark and blank space, an HTML doctype or element.
fn is_html(start: &[u8]) -> bool {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    let first = start
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(start.len());
    let head: Vec<u8> = start[first..]
        .iter()
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    let opens = [&b"<!doctype html"[..], b"<html", b"<head", b"<body"];
    opens.iter().any(|tag| head.starts_with(tag))
        || (head.starts_with(b"<") && head.windows(5).any(|w| w == b"<html"))
}

/// Text: UTF-8 (or UTF-16 with its byte order mark) without NULs, and next to no control
/// characters. `whole`: `start` is the whole file (else its last character may be cut).
fn is_text(start: &[u8], whole: bool) -> bool {
    if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") {
        return start.len() >= 4;
    }
    let text = match std::str::from_utf8(start) {
        Ok(text) => text,
        Err(e) if !whole && e.error_len().is_none() => {
            std::str::from_utf8(&start[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    if text.is_empty() {
        return false;
    }
    let controls = text
        .chars()
        .filter(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0C' | '\x1B'))
        .count();
    !text.contains('\0') && controls * 100 <= text.chars().count()
}
