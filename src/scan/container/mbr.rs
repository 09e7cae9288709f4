//! MBR partition tables, with extended partitions and their EBR chains.
//!
//! A FAT or NTFS boot sector also ends in 0x55AA; a sector is taken as a partition table only
//! when it has at least one sane entry (status 0x00 or 0x80, a type, an extent inside the
//! image). Anything else is a bare filesystem or unknown, which the filesystem probes decide
//! — and an unknown region is mapped whole, so a wrong guess here can only cost space.

use crate::source::RandomAccess;

/// Sector size of MBR tables in images.
pub(super) const SECTOR: u64 = 512;
/// Logical partitions followed at most (EBR chains can be made to loop).
const MAX_LOGICAL: usize = 256;

/// One MBR partition, primary or logical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// 1-4 for primaries, 5 and up for logicals (Linux numbering).
    pub number: usize,
    /// The type byte.
    pub kind: u8,
    /// Byte offset in the image.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// What sector 0 holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mbr {
    /// Not a partition table (no signature, no sane entry): maybe a bare filesystem.
    None,
    /// A protective (0xEE) or hybrid MBR: the GPT decides; these are its other entries.
    Protective(Vec<Entry>),
    /// A partition table: primaries (not the extended container) and logicals.
    Table(Vec<Entry>),
    /// Something that looks like a table but is broken; map everything.
    Broken(String),
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

/// The four entries of a table sector: (status, type, first LBA, sectors).
fn entries(sector: &[u8]) -> [(u8, u8, u64, u64); 4] {
    let mut out = [(0, 0, 0, 0); 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let e = &sector[0x1BE + i * 16..0x1BE + (i + 1) * 16];
        let le =
            |at: usize| u64::from(u32::from_le_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]));
        *slot = (e[0], e[4], le(8), le(12));
    }
    out
}

/// Reads the MBR of `image`.
pub(super) fn read(image: &dyn RandomAccess) -> Mbr {
    let mut sector = [0u8; 512];
    if image.read_exact_at(0, &mut sector).is_err() || sector[510..512] != [0x55, 0xAA] {
        return Mbr::None;
    }
    let size = image.len();
    let table = entries(&sector);
    let used: Vec<(usize, (u8, u8, u64, u64))> = table
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, (_, kind, _, count))| *kind != 0 && *count != 0)
        .collect();
    let sane = |(status, _, first, count): (u8, u8, u64, u64)| {
        (status == 0 || status == 0x80)
            && first >= 1
            && first
                .checked_add(count)
                .is_some_and(|end| end.saturating_mul(SECTOR) <= size.max(SECTOR))
    };
    if used.is_empty() || !used.iter().any(|(_, e)| sane(*e)) {
        return Mbr::None;
    }
    // Status bytes other than 0x00/0x80 make it boot code or a boot sector, not a table.
    if used
        .iter()
        .any(|(_, (status, ..))| *status != 0 && *status != 0x80)
    {
        return Mbr::None;
    }
    let to_entry = |number: usize, kind: u8, first: u64, count: u64| Entry {
        number,
        kind,
        start: first * SECTOR,
        len: count * SECTOR,
    };
    if used.iter().any(|(_, (_, kind, ..))| *kind == 0xEE) {
        let others = used
            .iter()
            .filter(|(_, (_, kind, ..))| *kind != 0xEE)
            .map(|&(i, (_, kind, first, count))| to_entry(i + 1, kind, first, count))
            .collect();
        return Mbr::Protective(others);
    }
    let mut out = Vec::new();
    let mut extended = None;
    for &(i, (_, kind, first, count)) in &used {
        if is_extended(kind) {
            if extended.is_some() {
                return Mbr::Broken("the MBR has more than one extended partition".into());
            }
            extended = Some((first, count));
        } else {
            out.push(to_entry(i + 1, kind, first, count));
        }
    }
    if let Some((first, count)) = extended {
        match logicals(image, first, count) {
            Ok(logical) => out.extend(logical),
            Err(reason) => return Mbr::Broken(reason),
        }
    }
    Mbr::Table(out)
}

/// Follows the EBR chain of the extended partition at `ext_first` (sectors): each EBR holds one
/// logical partition (relative to the EBR) and the next EBR (relative to the extended
/// partition's start). The EBR sectors themselves lie outside every region, so stay mapped.
fn logicals(
    image: &dyn RandomAccess,
    ext_first: u64,
    ext_count: u64,
) -> Result<Vec<Entry>, String> {
    let ext_end = ext_first.saturating_add(ext_count);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut ebr = ext_first;
    for number in 5..5 + MAX_LOGICAL {
        if seen.contains(&ebr) {
            return Err(format!("the EBR chain loops back to sector {ebr}"));
        }
        seen.push(ebr);
        if ebr < ext_first || ebr >= ext_end {
            return Err(format!(
                "an EBR at sector {ebr} lies outside the extended partition"
            ));
        }
        let mut sector = [0u8; 512];
        match image.read_exact_at(ebr.saturating_mul(SECTOR), &mut sector) {
            // A stream that has not reached this EBR yet: the logical partitions after it
            // are not regions yet, so all of them stays mapped until a later scan reads it.
            Err(e) if crate::scan::not_yet(&e) => return Ok(out),
            result => result.map_err(|e| format!("cannot read the EBR at sector {ebr}: {e}"))?,
        }
        if sector[510..512] != [0x55, 0xAA] {
            return Err(format!("the EBR at sector {ebr} has no 0x55AA signature"));
        }
        let table = entries(&sector);
        let (_, kind, rel, count) = table[0];
        if kind != 0 && count != 0 {
            let first = ebr
                .checked_add(rel)
                .ok_or("a logical partition's start overflows")?;
            if first <= ebr || first.saturating_add(count) > ext_end {
                return Err(format!(
                    "logical partition {number} lies outside its extended partition"
                ));
            }
            out.push(Entry {
                number,
                kind,
                start: first * SECTOR,
                len: count * SECTOR,
            });
        }
        let (_, next_kind, next_rel, _) = table[1];
        if next_kind == 0 || next_rel == 0 {
            return Ok(out);
        }
        if !is_extended(next_kind) {
            return Err(format!(
                "the EBR at sector {ebr} links to a non-extended entry"
            ));
        }
        ebr = ext_first
            .checked_add(next_rel)
            .ok_or("an EBR link overflows")?;
    }
    Err(format!("more than {MAX_LOGICAL} logical partitions"))
}
