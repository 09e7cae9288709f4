//! zip archives: the member that is the disk image, decompressed and checked against its CRC-32.
//!
//! With random access the central directory at the end of the archive lists every member, so
//! the image is chosen knowing them all and only its data is streamed. A stream can only be
//! read forward, so its local headers are walked in order ([`open_stream`]) and the first
//! member named like a disk image is taken.
//!
//! Every count, size and offset comes from the file and is checked before use: a damaged or
//! hostile archive is an error, never a panic, an unbounded allocation or an endless loop.

mod decode;
mod lookahead;
mod stream;
#[cfg(test)]
mod tests;

use std::io::{self, BufReader, Read};
use std::sync::Arc;

use super::member::{Chooser, Member};
use super::random::{RandomAccess, Slice, read_vec};
use super::{Format, SourceError};
use crate::le::{u16_at, u32_at, u64_at};
use decode::{Checked, Decoder, Label, check_crc};

pub(crate) use stream::open_stream;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const LOCATOR_SIG: u32 = 0x0706_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

/// Fixed parts of the records, in bytes.
const EOCD_LEN: usize = 22;
const EOCD64_LEN: usize = 56;
const LOCATOR_LEN: usize = 20;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// The end record may be followed by a comment of up to 65535 bytes.
const EOCD_SEARCH: u64 = EOCD_LEN as u64 + 0xFFFF;
/// More members than any disk-image archive has; beyond it the directory is refused rather
/// than held in memory.
const MAX_ENTRIES: u64 = 1_000_000;
/// Read-ahead for member data and the central directory.
const BUFFER: usize = 256 * 1024;

/// General-purpose flag bits.
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;

/// The header ID of the Zip64 extended information extra field.
const ZIP64_EXTRA: u16 = 0x0001;

/// A compression method this reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Stored,
    Deflate,
    Bzip2,
    Zstd,
    Xz,
}

impl Method {
    /// The method with this number, or what to call it in an "unsupported" message.
    fn from_code(code: u16) -> Result<Method, String> {
        match code {
            0 => Ok(Method::Stored),
            8 => Ok(Method::Deflate),
            12 => Ok(Method::Bzip2),
            93 => Ok(Method::Zstd),
            95 => Ok(Method::Xz),
            _ => Err(format!("compression method {code} ({})", method_name(code))),
        }
    }

    /// Whether the compressed data marks its own end, so a member whose size is only given
    /// after its data can be decoded to find where it stops.
    fn self_terminating(self) -> bool {
        self != Method::Stored
    }
}

/// The name APPNOTE gives a method number.
fn method_name(code: u16) -> &'static str {
    match code {
        0 => "stored",
        1 => "shrunk",
        2..=5 => "reduced",
        6 => "imploded",
        8 => "deflate",
        9 => "deflate64",
        10 => "PKWARE DCL imploded",
        12 => "bzip2",
        14 => "LZMA",
        16 => "IBM z/OS CMPSC",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        20 => "zstd, old number",
        93 => "zstd",
        94 => "MP3",
        95 => "xz",
        96 => "JPEG",
        97 => "WavPack",
        98 => "PPMd",
        99 => "AES encryption",
        _ => "unknown",
    }
}

fn damaged(name: &str, message: String) -> SourceError {
    SourceError::damaged(name, Format::Zip, message)
}

/// A zip file that stops early: its end records, or a member, are cut off.
fn incomplete(name: &str, reason: String) -> SourceError {
    SourceError::incomplete(name, Format::Zip, reason)
}

fn unsupported(name: &str, what: String) -> SourceError {
    SourceError::unsupported(name, Format::Zip, what)
}

fn read_failed(name: &str, e: io::Error, what: &str, at: u64) -> SourceError {
    SourceError::read_failed(name, Format::Zip, e, what, at)
}

/// The data of the Zip64 extra field, if the extra block holds one. A malformed block ends the
/// search: some writers pad the extra block with bytes that are not fields.
fn zip64_extra(mut extra: &[u8]) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = usize::from(u16_at(extra, 2));
        let data = extra.get(4..4 + len)?;
        if id == ZIP64_EXTRA {
            return Some(data);
        }
        extra = &extra[4 + len..];
    }
    None
}

/// Widens the 32-bit fields of a header that are saturated (0xFFFFFFFF) from the Zip64 extra
/// field, which holds 64-bit values for exactly those fields, in order.
struct Widen<'a> {
    values: std::slice::ChunksExact<'a, u8>,
}

impl<'a> Widen<'a> {
    fn new(extra: &'a [u8]) -> Self {
        Self {
            values: zip64_extra(extra).unwrap_or(&[]).chunks_exact(8),
        }
    }

    /// The field's value: itself, or the next Zip64 value when saturated (`None` if missing).
    fn field(&mut self, short: u32) -> Option<u64> {
        if short == u32::MAX {
            self.values.next().map(|v| u64_at(v, 0))
        } else {
            Some(u64::from(short))
        }
    }
}

/// Where the central directory is, per the end records.
#[derive(Debug)]
struct Directory {
    /// Absolute offset of the first entry.
    start: u64,
    size: u64,
    entries: u64,
    /// Bytes in front of the archive proper (a self-extractor stub); the directory's offsets
    /// are counted from after them.
    shift: u64,
}

/// One central directory entry.
#[derive(Debug)]
struct Entry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// Opens the image member of a zip archive that can be read at any offset. A stored member
/// (not compressed) also comes as the part of the archive that holds it, for a scan of its
/// filesystems that reads their metadata only; the member itself is still read through its
/// stream, which checks its CRC at the end.
pub(crate) fn open_random(
    archive: &Arc<dyn RandomAccess>,
) -> Result<(Member, Option<Slice>), SourceError> {
    let name = archive.name().to_owned();
    let store = archive.as_ref();
    let directory = find_directory(store, &name)?;
    let mut chooser = Chooser::default();
    read_directory(store, &name, &directory, |entry| {
        chooser.file(&entry.name.clone(), entry);
    })?;
    let entry = chooser.finish(&name, Format::Zip)?;
    if entry.flags & FLAG_ENCRYPTED != 0 {
        return Err(unsupported(
            &name,
            format!("encrypted member '{}'", entry.name),
        ));
    }
    let method = Method::from_code(entry.method)
        .map_err(|m| unsupported(&name, format!("{m} of member '{}'", entry.name)))?;
    let data_start = data_start(store, &name, &entry, directory.shift)?;
    let open_failed = |source| SourceError::Open {
        name: name.clone(),
        source,
    };
    let raw = archive
        .stream(data_start, entry.compressed)
        .map_err(open_failed)?;
    let decoder =
        Decoder::new(method, BufReader::with_capacity(BUFFER, raw), false).map_err(open_failed)?;
    let label = Label::new(&entry.name, &name);
    let finish = check_crc(label.clone(), entry.crc);
    let stored = (method == Method::Stored && entry.compressed == entry.uncompressed).then(|| {
        let slice_name = format!("{} in {name}", entry.name);
        Slice::new(
            Arc::clone(archive),
            data_start,
            entry.compressed,
            slice_name,
        )
    });
    let member = Member {
        name: entry.name.clone(),
        size: Some(entry.uncompressed),
        reader: Box::new(Checked::new(
            decoder,
            Some(entry.uncompressed),
            label,
            finish,
        )),
    };
    Ok((member, stored))
}

/// Finds the end of central directory record (and its Zip64 counterpart) near the end. Every
/// whole zip file ends with it (and its comment): a file without it was cut short.
fn find_directory(store: &dyn RandomAccess, name: &str) -> Result<Directory, SourceError> {
    let len = store.len();
    if len < EOCD_LEN as u64 {
        return Err(incomplete(
            name,
            format!("it ends at byte {len}, too soon for a zip archive's end record"),
        ));
    }
    let tail_len = len.min(EOCD_SEARCH);
    let tail_start = len - tail_len;
    // At most EOCD_SEARCH bytes, so the conversion cannot fail.
    let tail_len = usize::try_from(tail_len).unwrap_or(EOCD_LEN);
    let tail = read_vec(store, tail_start, tail_len)
        .map_err(|e| read_failed(name, e, "the end records", tail_start))?;
    // Searching backwards finds the real record rather than one quoted in a comment; its
    // comment must fit in what follows.
    let at = (0..=tail.len() - EOCD_LEN)
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == EOCD_SIG
                && i + EOCD_LEN + usize::from(u16_at(&tail, i + 20)) <= tail.len()
        })
        .ok_or_else(|| {
            incomplete(
                name,
                format!(
                    "it ends at byte {len}, with no end of central directory record in its \
                     last {tail_len} bytes"
                ),
            )
        })?;
    let eocd = &tail[at..at + EOCD_LEN];
    let eocd_pos = tail_start + at as u64;
    let mut disks = (u32::from(u16_at(eocd, 4)), u32::from(u16_at(eocd, 6)));
    let mut entries = u64::from(u16_at(eocd, 10));
    let mut size = u64::from(u32_at(eocd, 12));
    let mut offset = u64::from(u32_at(eocd, 16));
    let mut end = eocd_pos;
    if let Some(record_pos) = find_zip64_record(store, name, eocd_pos)? {
        let record = read_vec(store, record_pos, EOCD64_LEN)
            .map_err(|e| read_failed(name, e, "the Zip64 end record", record_pos))?;
        disks = (u32_at(&record, 16), u32_at(&record, 20));
        entries = u64_at(&record, 32);
        size = u64_at(&record, 40);
        offset = u64_at(&record, 48);
        end = record_pos;
    }
    if disks != (0, 0) {
        return Err(unsupported(
            name,
            "an archive split over several disks".into(),
        ));
    }
    if entries > MAX_ENTRIES {
        return Err(unsupported(
            name,
            format!("an archive of {entries} members (the limit is {MAX_ENTRIES})"),
        ));
    }
    if entries.saturating_mul(CENTRAL_LEN as u64) > size {
        return Err(damaged(
            name,
            format!("a central directory of {size} bytes cannot hold {entries} entries"),
        ));
    }
    let stated_end = offset
        .checked_add(size)
        .filter(|&e| e <= end)
        .ok_or_else(|| {
            damaged(
                name,
                format!(
                    "the central directory (offset {offset}, {size} bytes) overlaps its end \
                     record at offset {end}"
                ),
            )
        })?;
    // A directory that ends before its end record starts has data in front of the archive
    // (the stub of a self-extractor): its offsets count from after that. Only believed when
    // an entry is not where the offset says.
    let mut shift = 0;
    if entries > 0 && stated_end < end {
        let mut sig = [0; 4];
        store
            .read_exact_at(offset, &mut sig)
            .map_err(|e| read_failed(name, e, "the central directory", offset))?;
        if u32::from_le_bytes(sig) != CENTRAL_SIG {
            shift = end - stated_end;
        }
    }
    Ok(Directory {
        start: offset + shift,
        size,
        entries,
        shift,
    })
}

/// The offset of the Zip64 end record, when a locator precedes the end record.
fn find_zip64_record(
    store: &dyn RandomAccess,
    name: &str,
    eocd_pos: u64,
) -> Result<Option<u64>, SourceError> {
    let Some(locator_pos) = eocd_pos.checked_sub(LOCATOR_LEN as u64) else {
        return Ok(None);
    };
    let locator = read_vec(store, locator_pos, LOCATOR_LEN)
        .map_err(|e| read_failed(name, e, "the Zip64 locator", locator_pos))?;
    if u32_at(&locator, 0) != LOCATOR_SIG {
        return Ok(None);
    }
    let mut sig = [0; 4];
    let has_sig = |at: u64, sig: &mut [u8; 4]| {
        at.checked_add(EOCD64_LEN as u64)
            .is_some_and(|end| end <= locator_pos)
            && store.read_exact_at(at, sig).is_ok()
            && u32::from_le_bytes(*sig) == EOCD64_SIG
    };
    let stated = u64_at(&locator, 8);
    if has_sig(stated, &mut sig) {
        return Ok(Some(stated));
    }
    // With a stub in front, the record is where it would be with no extensible data: right
    // before the locator.
    if let Some(adjacent) = locator_pos.checked_sub(EOCD64_LEN as u64)
        && has_sig(adjacent, &mut sig)
    {
        return Ok(Some(adjacent));
    }
    Err(damaged(
        name,
        format!(
            "no Zip64 end record at offset {stated}, where the locator at {locator_pos} points"
        ),
    ))
}

/// Reads every central directory entry.
fn read_directory(
    store: &dyn RandomAccess,
    name: &str,
    directory: &Directory,
    mut each: impl FnMut(Entry),
) -> Result<(), SourceError> {
    let raw = store
        .stream(directory.start, directory.size)
        .map_err(|source| SourceError::Open {
            name: name.to_owned(),
            source,
        })?;
    let mut reader = BufReader::with_capacity(BUFFER, raw);
    let mut at = directory.start;
    let mut variable = Vec::new();
    for index in 1..=directory.entries {
        let what = format!("central directory entry {index} of {}", directory.entries);
        let mut fixed = [0; CENTRAL_LEN];
        reader
            .read_exact(&mut fixed)
            .map_err(|e| read_failed(name, e, &what, at))?;
        if u32_at(&fixed, 0) != CENTRAL_SIG {
            return Err(damaged(
                name,
                format!("{what} at offset {at} has no signature"),
            ));
        }
        let name_len = usize::from(u16_at(&fixed, 28));
        let extra_len = usize::from(u16_at(&fixed, 30));
        let comment_len = usize::from(u16_at(&fixed, 32));
        // Three u16 lengths: at most 192 KiB.
        variable.resize(name_len + extra_len + comment_len, 0);
        reader
            .read_exact(&mut variable)
            .map_err(|e| read_failed(name, e, &what, at))?;
        let member = String::from_utf8_lossy(&variable[..name_len]).into_owned();
        let mut widen = Widen::new(&variable[name_len..name_len + extra_len]);
        // The Zip64 field holds the saturated values in this order.
        let sizes = widen.field(u32_at(&fixed, 24)).and_then(|uncompressed| {
            let compressed = widen.field(u32_at(&fixed, 20))?;
            let local_offset = widen.field(u32_at(&fixed, 42))?;
            Some((uncompressed, compressed, local_offset))
        });
        let Some((uncompressed, compressed, local_offset)) = sizes else {
            return Err(damaged(
                name,
                format!("{what} ('{member}') at offset {at} lacks its Zip64 sizes"),
            ));
        };
        each(Entry {
            name: member,
            flags: u16_at(&fixed, 8),
            method: u16_at(&fixed, 10),
            crc: u32_at(&fixed, 16),
            compressed,
            uncompressed,
            local_offset,
        });
        at += (CENTRAL_LEN + variable.len()) as u64;
    }
    Ok(())
}

/// Where a member's data starts, past its local header (whose name and extra field lengths
/// may differ from the central directory's).
fn data_start(
    store: &dyn RandomAccess,
    name: &str,
    entry: &Entry,
    shift: u64,
) -> Result<u64, SourceError> {
    let what = format!("the local header of '{}'", entry.name);
    let at = entry.local_offset.saturating_add(shift);
    let header = read_vec(store, at, LOCAL_LEN).map_err(|e| read_failed(name, e, &what, at))?;
    if u32_at(&header, 0) != LOCAL_SIG {
        return Err(damaged(
            name,
            format!("{what} at offset {at} has no signature"),
        ));
    }
    let variable = u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    let start = at + LOCAL_LEN as u64 + variable;
    match start.checked_add(entry.compressed) {
        Some(end) if end <= store.len() => Ok(start),
        _ => Err(incomplete(
            name,
            format!(
                "it ends at byte {}, inside member '{}' ({} bytes from byte {start})",
                store.len(),
                entry.name,
                entry.compressed,
            ),
        )),
    }
}
