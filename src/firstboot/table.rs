//! A disk's partition table, read once for both halves of detection: the boot partition
//! (the FAT one) and the root filesystem (the ext one). The primary entries of a DOS (MBR)
//! table, or a GUID partition table's entries after both CRCs match, each with its type;
//! a disk without a table is one entry, the whole disk.
//!
//! Logical partitions of an extended MBR partition are not read: no board boots from one,
//! and no image puts its root there.

use std::io::{self, Read, Seek, SeekFrom};

use flate2::Crc;

use crate::le::{u32_at, u64_at};

/// GPT entries read at most (the usual table has 128).
const MAX_ENTRIES: u32 = 1024;

/// Which partition table a partition was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// A DOS (MBR) partition table.
    Mbr,
    /// A GUID partition table, with this logical sector size.
    Gpt(u64),
    /// None: the whole disk is one filesystem.
    None,
}

/// What an entry says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The MBR type byte (0x0C, 0x83, …).
    Mbr(u8),
    /// The GPT type GUID, as stored (the first three fields little-endian).
    Gpt([u8; 16]),
    /// No table: the entry is the whole disk.
    Whole,
}

/// One entry of a partition table.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Its number as Linux counts them (1 for the first slot); 0 for the whole disk.
    pub(super) number: usize,
    /// Its first byte.
    pub(super) start: u64,
    /// Its length in bytes.
    pub(super) len: u64,
    /// Whether it is marked as the one to boot (MBR status 0x80, MBR type 0xEF, the GPT's
    /// EFI system partition type or its "legacy BIOS bootable" attribute).
    pub(super) flagged: bool,
    /// Its type.
    pub(super) kind: Kind,
}

impl Entry {
    /// Whether the entry is non-empty and ends inside a disk of `size` bytes.
    pub(super) fn fits(&self, size: u64) -> bool {
        self.len > 0
            && self
                .start
                .checked_add(self.len)
                .is_some_and(|end| end <= size)
    }
}

/// A disk's layout: its size, its first sector, its table and the table's entries.
pub(super) struct Layout {
    /// The disk's length in bytes.
    pub(super) size: u64,
    /// Its first 512 bytes.
    pub(super) first: [u8; 512],
    /// The table found.
    pub(super) table: Table,
    /// Its entries, in slot order; with [`Table::None`], the whole disk.
    pub(super) entries: Vec<Entry>,
}

/// The EFI system partition's type GUID as the GPT stores it.
const ESP: [u8; 16] = guid(
    0xC12A_7328,
    0xF81F,
    0x11D2,
    [0xBA, 0x4B, 0, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B],
);

/// A type GUID as the GPT stores it, from its usual spelling split in fields
/// (`C12A7328-F81F-11D2-BA4B-00A0C93EC93B`).
pub(super) const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (a.to_le_bytes(), b.to_le_bytes(), c.to_le_bytes());
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(data);
    crc.sum()
}

/// Reads `buf.len()` bytes at `offset`; `Ok(false)` when the disk ends first.
pub(super) fn read_at<D: Read + Seek>(
    disk: &mut D,
    offset: u64,
    buf: &mut [u8],
) -> io::Result<bool> {
    disk.seek(SeekFrom::Start(offset))?;
    match disk.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The layout of `disk`, read from its start: `Ok(Err(reason))` when its table cannot be
/// used (too short to hold one, a protective MBR without a valid GPT, a GPT that fails a
/// check), the reason in words for a message.
pub(super) fn layout<D: Read + Seek>(disk: &mut D) -> io::Result<Result<Layout, String>> {
    let size = disk.seek(SeekFrom::End(0))?;
    let mut first = [0u8; 512];
    if !read_at(disk, 0, &mut first)? {
        return Ok(Err(format!("it is only {size} bytes long")));
    }
    for sector in [512, 4096] {
        if let Some(entries) = gpt(disk, sector)? {
            return Ok(entries.map(|entries| Layout {
                size,
                first,
                table: Table::Gpt(sector),
                entries,
            }));
        }
    }
    let (table, entries) = match mbr_entries(&first, size) {
        Some(entries) if entries.iter().any(|c| c.number == 0) => {
            return Ok(Err(
                "it has a protective MBR (type 0xEE) but no valid GPT".into()
            ));
        }
        Some(entries) => (Table::Mbr, entries),
        None => {
            let whole = Entry {
                number: 0,
                start: 0,
                len: size,
                flagged: false,
                kind: Kind::Whole,
            };
            (Table::None, vec![whole])
        }
    };
    Ok(Ok(Layout {
        size,
        first,
        table,
        entries,
    }))
}

/// The primary partitions of an MBR, or `None` when `sector` is not one (no signature, or no
/// entry that fits the disk). A protective entry (type 0xEE) comes back numbered 0.
fn mbr_entries(sector: &[u8; 512], size: u64) -> Option<Vec<Entry>> {
    if sector[510..512] != [0x55, 0xAA] {
        return None;
    }
    let mut entries = Vec::new();
    for i in 0..4 {
        let e = &sector[0x1BE + i * 16..0x1BE + (i + 1) * 16];
        let (status, kind, first, count) = (e[0], e[4], u32_at(e, 8), u32_at(e, 12));
        if kind == 0 || count == 0 {
            continue;
        }
        // Other status bytes: boot code or a boot sector, not a table.
        if status != 0 && status != 0x80 {
            return None;
        }
        // Extended partitions hold logical ones, which no board boots from.
        if matches!(kind, 0x05 | 0x0F | 0x85) {
            continue;
        }
        let protective = kind == 0xEE;
        entries.push(Entry {
            number: if protective { 0 } else { i + 1 },
            start: u64::from(first) * 512,
            len: u64::from(count) * 512,
            flagged: status == 0x80 || kind == 0xEF,
            kind: Kind::Mbr(kind),
        });
    }
    let fits = entries
        .iter()
        .any(|c| c.number == 0 || (c.start >= 512 && c.start + c.len <= size.max(512)));
    fits.then_some(entries)
}

/// A GPT's entries, or why it fails its checks.
type Gpt = Result<Vec<Entry>, String>;

/// The GPT at LBA 1 for `sector`-byte sectors: `None` without "EFI PART" there, `Some(Err)`
/// when it fails a check (a CRC, an impossible field).
fn gpt<D: Read + Seek>(disk: &mut D, sector: u64) -> io::Result<Option<Gpt>> {
    let mut header = vec![0u8; usize::try_from(sector).unwrap_or(512)];
    if !read_at(disk, sector, &mut header)? || &header[..8] != b"EFI PART" {
        return Ok(None);
    }
    let bad = |reason: String| Ok(Some(Err(format!("its GPT {reason}"))));
    let header_size = u32_at(&header, 12);
    if !(92..=sector).contains(&u64::from(header_size)) {
        return bad(format!("header size {header_size} is impossible"));
    }
    let mut copy = header[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    if crc32(&copy) != u32_at(&header, 16) {
        return bad("header checksum (CRC32) does not match".into());
    }
    let (array_lba, count, size, array_crc) = (
        u64_at(&header, 72),
        u32_at(&header, 80),
        u32_at(&header, 84),
        u32_at(&header, 88),
    );
    if count > MAX_ENTRIES || !(128..=1024).contains(&size) || size % 8 != 0 || array_lba < 2 {
        return bad(format!(
            "entry array ({count} entries of {size} bytes at LBA {array_lba}) is impossible"
        ));
    }
    let mut array = vec![0u8; count as usize * size as usize];
    let Some(offset) = array_lba.checked_mul(sector) else {
        return bad(format!("entry array at LBA {array_lba} is past any disk"));
    };
    if !read_at(disk, offset, &mut array)? {
        return bad(format!(
            "entry array at LBA {array_lba} is past the disk's end"
        ));
    }
    if crc32(&array) != array_crc {
        return bad("entry array checksum (CRC32) does not match".into());
    }
    let mut entries = Vec::new();
    for (i, raw) in array.chunks_exact(size as usize).enumerate() {
        if raw[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (u64_at(raw, 32), u64_at(raw, 40));
        let (Some(start), Some(end)) = (first.checked_mul(sector), last.checked_add(1)) else {
            continue;
        };
        let Some(len) = end.checked_sub(first).and_then(|n| n.checked_mul(sector)) else {
            continue;
        };
        let mut kind = [0u8; 16];
        kind.copy_from_slice(&raw[..16]);
        entries.push(Entry {
            number: i + 1,
            start,
            len,
            flagged: kind == ESP || u64_at(raw, 48) & 0b100 != 0,
            kind: Kind::Gpt(kind),
        });
    }
    Ok(Some(Ok(entries)))
}

/// For messages: "partition 2 (MBR, bytes 46137344 to 67108863)", or `whole` for a disk
/// without a table.
pub(super) fn place(table: Table, number: usize, start: u64, len: u64, whole: &str) -> String {
    let last = start.saturating_add(len).saturating_sub(1);
    let name = match table {
        Table::Mbr => "MBR",
        Table::Gpt(_) => "GPT",
        Table::None => return whole.to_owned(),
    };
    format!("partition {number} ({name}, bytes {start} to {last})")
}
