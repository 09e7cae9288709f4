//! Which partition takes the settings, and in which format: read-only, and cheap (the
//! partition table, a boot sector per partition, the boot partition's root directory and at
//! most three small files).
//!
//! The boot partition is the first FAT partition of the MBR or GPT, unless another FAT
//! partition is flagged as the one to boot (MBR status 0x80, MBR type 0xEF, the GPT's EFI
//! system partition type or its "legacy BIOS bootable" attribute); a disk without a table that
//! is one FAT filesystem is its own boot partition. Logical partitions of an extended MBR
//! partition are not looked at: no board boots from one.
//!
//! The format is the catalog's (`declared`) when it names one; otherwise, from the boot
//! partition's root:
//!
//! | files at the root                                               | format            |
//! |-----------------------------------------------------------------|-------------------|
//! | `user-data` or `meta-data`, on Raspberry Pi OS with its own seed | `cloudinit-rpi`   |
//! | `user-data` or `meta-data`                                       | `cloudinit`       |
//! | `rpi-preseed.toml`                                               | `rpi-preseed`     |
//! | `cmdline.txt` and `config.txt`                                   | `systemd`         |
//!
//! "Raspberry Pi OS with its own seed" is decided conservatively, since its `rpi:` keys mean
//! nothing to another system's cloud-init: `cmdline.txt` and `config.txt` are there,
//! `issue.txt` says "Raspberry Pi reference" (pi-gen writes it on every Raspberry Pi OS
//! image), and the seed is pi-gen's own (its `meta-data` names the instance `rpios-image`, or
//! its `user-data` knows `rpi_userconf`). Anything less is plain cloud-init, which Raspberry
//! Pi OS's cloud-init reads too.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::Crc;

use super::disk::{Cached, Partition, ReadOnly};
use super::fat::Fat;
use super::{FirstBootError, Format};

/// GPT entries read at most (the usual table has 128).
const MAX_ENTRIES: u32 = 1024;
/// The EFI system partition's type GUID as the GPT stores it.
const ESP: [u8; 16] = [
    0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B,
];

/// Which partition table the boot partition was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// A DOS (MBR) partition table.
    Mbr,
    /// A GUID partition table, with this logical sector size.
    Gpt(u64),
    /// None: the whole disk is one FAT filesystem.
    None,
}

/// The partition that holds the files a board reads at first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPartition {
    /// Its number as Linux counts them (1 for the first entry); 0 for a whole-disk FAT.
    pub number: usize,
    /// Its first byte on the disk.
    pub start: u64,
    /// Its length in bytes.
    pub len: u64,
    /// The table it is in.
    pub table: Table,
}

impl BootPartition {
    /// For messages: "partition 1 (MBR, bytes 4194304 to 54525951)".
    pub fn place(&self) -> String {
        let last = (self.start + self.len).saturating_sub(1);
        match self.table {
            Table::Mbr => format!(
                "partition {} (MBR, bytes {} to {last})",
                self.number, self.start
            ),
            Table::Gpt(_) => format!(
                "partition {} (GPT, bytes {} to {last})",
                self.number, self.start
            ),
            Table::None => "the whole disk (a FAT filesystem without a partition table)".into(),
        }
    }
}

/// One entry of a partition table, with what says it is the one to boot.
struct Candidate {
    number: usize,
    start: u64,
    len: u64,
    flagged: bool,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(data);
    crc.sum()
}

/// Reads `buf.len()` bytes at `offset`; `Ok(false)` when the disk ends first.
fn read_at<D: Read + Seek>(disk: &mut D, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
    disk.seek(SeekFrom::Start(offset))?;
    match disk.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `sector` is the boot sector of a FAT filesystem: a jump, then a BIOS parameter
/// block whose fields are all possible (exFAT and NTFS fail: their FAT fields are zero).
fn is_fat(sector: &[u8]) -> bool {
    let jump = (sector[0] == 0xEB && sector[2] == 0x90) || sector[0] == 0xE9;
    let bytes_per_sector = le16(sector, 11);
    let per_cluster = sector[13];
    jump && matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && per_cluster.is_power_of_two()
        && le16(sector, 14) >= 1
        && matches!(sector[16], 1 | 2)
        && (sector[21] == 0xF0 || sector[21] >= 0xF8)
}

/// The boot partition of `disk` (the whole disk, read from its start), named `name` in
/// errors.
pub(crate) fn boot_partition<D: Read + Seek>(
    disk: &mut D,
    name: &str,
) -> Result<BootPartition, FirstBootError> {
    let failed = |source| FirstBootError::Disk {
        action: "read the partition table of",
        place: name.to_owned(),
        source,
    };
    let size = disk.seek(SeekFrom::End(0)).map_err(failed)?;
    let none = |reason: String| FirstBootError::NoBootPartition {
        place: name.to_owned(),
        reason,
    };
    let mut mbr = [0u8; 512];
    if !read_at(disk, 0, &mut mbr).map_err(failed)? {
        return Err(none(format!("it is only {size} bytes long")));
    }
    let mut found = None;
    for sector in [512, 4096] {
        if let Some(entries) = gpt(disk, sector).map_err(failed)? {
            found = Some((Table::Gpt(sector), entries.map_err(none)?));
            break;
        }
    }
    let (table, entries) = match found {
        Some(found) => found,
        None => match mbr_entries(&mbr, size) {
            Some(entries) if entries.iter().any(|c| c.number == 0) => {
                return Err(none(
                    "it has a protective MBR (type 0xEE) but no valid GPT".into(),
                ));
            }
            Some(entries) => (Table::Mbr, entries),
            None if mbr[510..512] == [0x55, 0xAA] && is_fat(&mbr) => {
                return Ok(BootPartition {
                    number: 0,
                    start: 0,
                    len: size,
                    table: Table::None,
                });
            }
            None => return Err(none("it has no partition table".into())),
        },
    };
    let count = entries.len();
    let mut fat = Vec::new();
    for entry in entries {
        let end = entry.start.checked_add(entry.len);
        if entry.len == 0 || end.is_none_or(|end| end > size) {
            continue;
        }
        let mut sector = [0u8; 512];
        if read_at(disk, entry.start, &mut sector).map_err(failed)? && is_fat(&sector) {
            fat.push(entry);
        }
    }
    let chosen = fat
        .iter()
        .position(|c| c.flagged)
        .or((!fat.is_empty()).then_some(0));
    let Some(chosen) = chosen.map(|i| fat.swap_remove(i)) else {
        return Err(none(format!(
            "none of its {count} partition{} holds a FAT filesystem",
            if count == 1 { "" } else { "s" }
        )));
    };
    Ok(BootPartition {
        number: chosen.number,
        start: chosen.start,
        len: chosen.len,
        table,
    })
}

/// The primary partitions of an MBR, or `None` when `sector` is not one (no signature, or no
/// entry that fits the disk). A protective entry (type 0xEE) comes back numbered 0.
fn mbr_entries(sector: &[u8; 512], size: u64) -> Option<Vec<Candidate>> {
    if sector[510..512] != [0x55, 0xAA] {
        return None;
    }
    let mut entries = Vec::new();
    for i in 0..4 {
        let e = &sector[0x1BE + i * 16..0x1BE + (i + 1) * 16];
        let (status, kind, first, count) = (e[0], e[4], le32(e, 8), le32(e, 12));
        if kind == 0 || count == 0 {
            continue;
        }
        // Other status bytes: boot code or a boot sector, not a table.
        if status != 0 && status != 0x80 {
            return None;
        }
        if kind == 0xEE {
            entries.push(Candidate {
                number: 0,
                start: 0,
                len: 0,
                flagged: false,
            });
            continue;
        }
        // Extended partitions hold logical ones, which no board boots from.
        if matches!(kind, 0x05 | 0x0F | 0x85) {
            continue;
        }
        entries.push(Candidate {
            number: i + 1,
            start: u64::from(first) * 512,
            len: u64::from(count) * 512,
            flagged: status == 0x80 || kind == 0xEF,
        });
    }
    let fits = entries
        .iter()
        .any(|c| c.number == 0 || (c.start >= 512 && c.start + c.len <= size.max(512)));
    fits.then_some(entries)
}

/// A GPT's entries, or why it fails its checks.
type Gpt = Result<Vec<Candidate>, String>;

/// The GPT at LBA 1 for `sector`-byte sectors: `None` without "EFI PART" there, `Some(Err)`
/// when it fails a check (a CRC, an impossible field).
fn gpt<D: Read + Seek>(disk: &mut D, sector: u64) -> io::Result<Option<Gpt>> {
    let mut header = vec![0u8; usize::try_from(sector).unwrap_or(512)];
    if !read_at(disk, sector, &mut header)? || &header[..8] != b"EFI PART" {
        return Ok(None);
    }
    let bad = |reason: String| Ok(Some(Err(format!("its GPT {reason}"))));
    let header_size = le32(&header, 12);
    if !(92..=sector).contains(&u64::from(header_size)) {
        return bad(format!("header size {header_size} is impossible"));
    }
    let mut copy = header[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    if crc32(&copy) != le32(&header, 16) {
        return bad("header checksum (CRC32) does not match".into());
    }
    let (array_lba, count, size, array_crc) = (
        le64(&header, 72),
        le32(&header, 80),
        le32(&header, 84),
        le32(&header, 88),
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
        let (first, last) = (le64(raw, 32), le64(raw, 40));
        let (Some(start), Some(end)) = (first.checked_mul(sector), last.checked_add(1)) else {
            continue;
        };
        let Some(len) = end.checked_sub(first).and_then(|n| n.checked_mul(sector)) else {
            continue;
        };
        entries.push(Candidate {
            number: i + 1,
            start,
            len,
            flagged: raw[..16] == ESP || le64(raw, 48) & 0b100 != 0,
        });
    }
    Ok(Some(Ok(entries)))
}

/// The format the files of an open boot partition ask for.
pub(crate) fn format_of<S: Read + Write + Seek>(
    fat: &Fat<S>,
    place: &str,
) -> Result<Format, FirstBootError> {
    let names: Vec<String> = fat
        .list_root()?
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let seed = has("user-data") || has("meta-data");
    let firmware = has("cmdline.txt") && has("config.txt");
    if seed {
        if firmware && raspberry_pi_os(fat)? && pi_gen_seed(fat)? {
            return Ok(Format::CloudInitRpi);
        }
        return Ok(Format::CloudInit);
    }
    if has("rpi-preseed.toml") {
        return Ok(Format::RpiPreseed);
    }
    if firmware {
        return Ok(Format::Systemd);
    }
    Err(FirstBootError::NoMechanism {
        place: place.to_owned(),
    })
}

/// Whether `issue.txt` is pi-gen's, as on every Raspberry Pi OS image.
fn raspberry_pi_os<S: Read + Write + Seek>(fat: &Fat<S>) -> Result<bool, FirstBootError> {
    Ok(fat
        .read("issue.txt")?
        .is_some_and(|text| text.starts_with(b"Raspberry Pi reference")))
}

/// Whether the NoCloud seed is the one pi-gen puts on Raspberry Pi OS images.
fn pi_gen_seed<S: Read + Write + Seek>(fat: &Fat<S>) -> Result<bool, FirstBootError> {
    let contains = |text: &[u8], word: &[u8]| text.windows(word.len()).any(|w| w == word);
    if fat
        .read("meta-data")?
        .is_some_and(|text| contains(&text, b"rpios-image"))
    {
        return Ok(true);
    }
    Ok(fat
        .read("user-data")?
        .is_some_and(|text| contains(&text, b"rpi_userconf")))
}

/// The boot partition of `disk` and the format its first boot reads: `declared` when given
/// (the partition must still be there to take the files), else what its files ask for.
pub(crate) fn detect<D: Read + Write + Seek>(
    disk: &mut D,
    name: &str,
    declared: Option<Format>,
) -> Result<(BootPartition, Format), FirstBootError> {
    let boot = boot_partition(disk, name)?;
    let place = boot.place();
    let view = Partition::new(&mut *disk, boot.start, boot.len, place.clone());
    let volume = Cached::new(view).map_err(|source| FirstBootError::Disk {
        action: "read the boot partition of",
        place: name.to_owned(),
        source,
    })?;
    let fat = Fat::open(volume, &place)?;
    let format = match declared {
        Some(format) => format,
        None => format_of(&fat, &place)?,
    };
    fat.close()?;
    Ok((boot, format))
}

/// The format in which the raw image file at `path` takes first-boot settings, looked at
/// before it is written (opened read-only: nothing in it changes). `declared` is the catalog's
/// `init_format`, which wins, though the image must still have a FAT boot partition.
///
/// An image without a mechanism Blockprint knows is [`FirstBootError::NoMechanism`], so the
/// write can be refused before anything is written. Only for uncompressed images on disk; a
/// compressed or streamed image is looked at on the card, once written.
pub fn detect_image(path: &Path, declared: Option<Format>) -> Result<Format, FirstBootError> {
    let file = File::open(path).map_err(|source| FirstBootError::Image {
        path: path.display().to_string(),
        source,
    })?;
    let mut disk = ReadOnly(file);
    let name = format!("the image '{}'", path.display());
    detect(&mut disk, &name, declared).map(|(_, format)| format)
}

#[cfg(test)]
mod tests;
