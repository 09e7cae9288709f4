//! GUID partition tables, with 512- or 4096-byte sectors.
//!
//! Both CRCs (header and entry array) must verify. The entry array is read where the header
//! says, which may not be LBA 2 (boards whose bootloader sits at 8 KiB move it). The backup
//! header and array at the end of the disk are left alone: they lie outside every partition,
//! so they stay mapped and `sgdisk -v` finds them intact after writing.

use flate2::Crc;

use crate::source::RandomAccess;

/// Entries read at most (the usual table has 128).
const MAX_ENTRIES: u64 = 4096;
/// The largest entry size accepted (the usual is 128).
const MAX_ENTRY_SIZE: u64 = 1024;

/// One used GPT entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its 1-based index in the entry array.
    pub number: usize,
    /// The partition type, as a GUID string.
    pub kind: String,
    /// The partition name.
    pub name: String,
    /// Byte offset in the image.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A GPT read from the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Gpt {
    /// The logical sector size it was found with.
    pub sector: u64,
    /// Its used entries.
    pub entries: Vec<Entry>,
}

/// The GPT at LBA 1 for this sector size: `Ok(None)` when there is no "EFI PART" there,
/// `Err` when there is one that fails a check.
pub(super) fn read(image: &dyn RandomAccess, sector: u64) -> Result<Option<Gpt>, String> {
    let mut header = vec![0u8; usize::try_from(sector).map_err(|_| "sector size")?];
    if image.read_exact_at(sector, &mut header).is_err() || &header[..8] != b"EFI PART" {
        return Ok(None);
    }
    let le32 = |at: usize| {
        u64::from(u32::from_le_bytes([
            header[at],
            header[at + 1],
            header[at + 2],
            header[at + 3],
        ]))
    };
    let le64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let header_size = le32(12);
    if header_size < 92 || header_size > sector {
        return Err(format!("the GPT header size {header_size} is impossible"));
    }
    let stored = le32(16);
    let mut copy = header[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    if crc32(&copy) != stored {
        return Err("the GPT header checksum (CRC32) does not match".into());
    }
    if le64(24) != 1 {
        return Err(format!(
            "the GPT header says it is at LBA {}, not 1",
            le64(24)
        ));
    }
    let (first_usable, last_usable) = (le64(40), le64(48));
    let (array_lba, count, entry_size, array_crc) = (le64(72), le32(80), le32(84), le32(88));
    if count > MAX_ENTRIES || !(128..=MAX_ENTRY_SIZE).contains(&entry_size) || entry_size % 8 != 0 {
        return Err(format!(
            "the GPT entry array ({count} entries of {entry_size} bytes) is impossible"
        ));
    }
    if array_lba < 2 {
        return Err(format!(
            "the GPT entry array at LBA {array_lba} overlaps the header"
        ));
    }
    let mut array = vec![0u8; (count * entry_size) as usize];
    image
        .read_exact_at(array_lba.saturating_mul(sector), &mut array)
        .map_err(|e| format!("cannot read the GPT entry array at LBA {array_lba}: {e}"))?;
    if crc32(&array) != array_crc {
        return Err("the GPT entry array checksum (CRC32) does not match".into());
    }
    let mut entries = Vec::new();
    for (i, raw) in array.chunks_exact(entry_size as usize).enumerate() {
        if raw[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[32..40]);
        let first = u64::from_le_bytes(b);
        b.copy_from_slice(&raw[40..48]);
        let last = u64::from_le_bytes(b);
        if first > last || first < first_usable || last > last_usable {
            return Err(format!(
                "GPT partition {} ({first}..{last}) lies outside the usable area {first_usable}..{last_usable}",
                i + 1
            ));
        }
        let units: Vec<u16> = raw[56..128.min(raw.len())]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        entries.push(Entry {
            number: i + 1,
            kind: guid(&raw[..16]),
            name: String::from_utf16_lossy(&units),
            start: first * sector,
            len: (last - first + 1) * sector,
        });
    }
    Ok(Some(Gpt { sector, entries }))
}

/// A GUID in its usual text form (the first three fields are little-endian on disk).
fn guid(b: &[u8]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// A friendly name for common partition types.
pub(super) fn type_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI system",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Microsoft basic data",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot",
        "E6D6D379-F507-44C2-A23C-238F2A3DF928" => "Linux LVM",
        "A19D880F-05FC-4D3B-A006-743F0F84911E" => "Linux RAID",
        "BC13C2FF-59E6-4262-A352-B275FD6F7172" => "Linux extended boot",
        _ => return None,
    })
}

pub(super) fn crc32(data: &[u8]) -> u64 {
    let mut crc = Crc::new();
    crc.update(data);
    u64::from(crc.sum())
}
