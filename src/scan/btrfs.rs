//! btrfs: what a single-device btrfs provably does not use.
//!
//! ```text
//!  superblock (64 KiB) ── sys_chunk_array ──► chunk tree ──► all chunks (logical → device)
//!        │                                                        │
//!        └── root tree ──► dev tree:    DEV_EXTENTs ──► level A: device bytes in no chunk
//!                     └──► extent tree: EXTENT/METADATA items,
//!                          block groups ──► level B: chunk bytes in no extent
//! ```
//!
//! Level A needs only the chunk and device trees and holds whatever happens inside chunks.
//! Level B also frees the unused parts of SINGLE and DUP chunks, but only when the extent tree
//! is the whole truth: with a non-empty log tree (an fsync after the last commit) the log's
//! blocks are in no extent item and would look free, so the scan stays at level A. Level B is
//! also cross-checked: every block of every live tree and every file extent must lie inside an
//! extent item, and each block group's `used` must equal the extents inside it; any doubt
//! there falls back to level A, and any doubt in level A maps the filesystem whole.
//!
//! Always kept: the first MiB (btrfs never allocates there, bootloaders do), the three
//! superblock locations, whole SYSTEM chunks (the chunk tree), and everything past the device
//! size the superblock records.

mod checksum;
mod chunk;
mod chunk_coverage;
mod extent_free;
mod superblock;
#[cfg(test)]
mod tests;
mod tree;

use super::Verdict;
use super::interval::Ranges;
use crate::source::RandomAccess;

/// Why a filesystem (level A) or its chunk interiors (level B) cannot be trusted.
type Doubt = String;

/// The primary superblock's offset, and a superblock's size.
const SUPER_OFFSET: u64 = 64 << 10;
const SUPER_SIZE: usize = 4096;
/// Where btrfs writes superblock copies: 64 KiB, 64 MiB and 256 GiB.
const SUPER_MIRRORS: [u64; 3] = [64 << 10, 64 << 20, 256 << 30];
/// The start of every device, which btrfs never allocates.
const RESERVED: u64 = 1 << 20;

/// Whether `region` carries the btrfs magic in its primary superblock.
pub(crate) fn detect(region: &dyn RandomAccess) -> bool {
    let mut magic = [0u8; 8];
    region
        .read_exact_at(SUPER_OFFSET + superblock::MAGIC_AT, &mut magic)
        .is_ok()
        && &magic == superblock::MAGIC
}

/// Scans a btrfs region: level B where it can be trusted, else level A, else whole.
pub(crate) fn scan(region: &dyn RandomAccess) -> Verdict {
    Verdict::from_analysis(
        "btrfs",
        analyse(region).map(|(free, notes)| (free.as_slice().to_vec(), notes)),
    )
}

/// The free ranges and notes, or why the whole filesystem stays mapped.
fn analyse(region: &dyn RandomAccess) -> Result<(Ranges, Vec<String>), Doubt> {
    let sb = superblock::read(region)?;
    let layout = chunk_coverage::Layout::read(region, &sb)?;
    let device = sb.dev.total_bytes;
    let mut notes = vec![format!(
        "{} checksums, {} KiB nodes, {} KiB sectors, {} chunks on one device of {device} bytes",
        sb.csum.name(),
        sb.nodesize >> 10,
        sb.sectorsize >> 10,
        layout.chunks.chunks().len()
    )];
    let mut free = layout.free_outside_chunks(device);
    notes.push(format!(
        "level A: {} device extents cover {} bytes",
        layout.dev_extents.len(),
        layout.dev_extents.iter().map(|&(_, len)| len).sum::<u64>()
    ));
    match extent_free::free_inside_chunks(region, &sb, &layout) {
        Ok((inside, note)) => {
            for &(s, e) in inside.as_slice() {
                free.add(s, e);
            }
            free.normalize();
            notes.push(note);
        }
        Err(why) => notes.push(format!("level A only (chunk interiors kept): {why}")),
    }
    Ok((free.subtract(&forced(device)), notes))
}

/// Level A's free ranges alone, so tests can report both levels.
#[cfg(test)]
fn level_a_free(region: &dyn RandomAccess) -> Result<Ranges, Doubt> {
    let sb = superblock::read(region)?;
    let layout = chunk_coverage::Layout::read(region, &sb)?;
    let device = sb.dev.total_bytes;
    Ok(layout.free_outside_chunks(device).subtract(&forced(device)))
}

/// Bytes that stay mapped whatever the trees say.
fn forced(device: u64) -> Ranges {
    let mut keep = Ranges::new();
    keep.add(0, RESERVED);
    for mirror in SUPER_MIRRORS {
        keep.add(mirror, mirror.saturating_add(SUPER_SIZE as u64));
    }
    keep.add(device, u64::MAX);
    keep.normalize();
    keep
}

/// Little-endian fields of on-disk structures; a field past the end of its buffer is a
/// truncated (hence untrusted) structure.
fn le16(b: &[u8], at: usize) -> Result<u16, Doubt> {
    field(b, at).map(u16::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> Result<u32, Doubt> {
    field(b, at).map(u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> Result<u64, Doubt> {
    field(b, at).map(u64::from_le_bytes)
}

fn field<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], Doubt> {
    at.checked_add(N)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("structure truncated at byte {at}"))
}
