//! XFS: free space is what each allocation group's by-block free-space
//! btree (the bnobt) lists, and only once the internal log is proven clean.
//!
//! ```text
//!  superblock ──► geometry, features (unknown bits, realtime, external log → map whole)
//!      │
//!      ├──► log: cycle numbers of every log block, last record = lone unmount record
//!      │
//!      └──► each AG: AGF ──► bnobt leaves (free extents) ─┐
//!                    │  └──► cntbt leaves ───────────────┼─ same set, same total as
//!                    └──► AGFL (kept mapped)             │  agf_freeblks, same longest
//!                                                        ▼
//!                                       free byte ranges relative to the region
//! ```
//!
//! A dirty log means the btrees on disk may be older than the filesystem: replay could
//! allocate blocks they list as free. So anything short of the kernel's own proof of a clean
//! unmount maps the whole filesystem.

mod ag;
mod btree;
mod crc32c;
mod log;
#[cfg(test)]
pub(super) mod tests;

use super::Verdict;
use super::fs::{Found, read_region as read};
use crate::source::RandomAccess;

/// The name in verdicts.
const FS: &str = "XFS";

/// A check's outcome: the error is the reason to map the whole filesystem.
type Check<T> = Result<T, String>;

/// Version-number bits of the superblock that Blockprint knows (all but the "shared" bit,
/// which marks a filesystem meant for several hosts at once).
const VERSION_OK_BITS: u16 = 0xFDFF;
/// `sb_versionnum` bit: `sb_features2` is valid.
const VERSION_MOREBITS: u16 = 0x8000;
/// `sb_versionnum` bit: version 2 log records (larger record headers).
const VERSION_LOGV2: u16 = 0x0400;
/// Known `sb_features2` bits: lazy counters, attr2, 32-bit project ids, CRC, file types.
const FEATURES2_OK_BITS: u32 = 0x0002 | 0x0008 | 0x0080 | 0x0100 | 0x0200;
/// `sb_features2` bit saying the filesystem is v5 (checksummed).
const FEATURES2_CRC: u32 = 0x0100;
/// v5 incompat bits understood: ftype, sparse inodes, meta uuid, bigtime, 64-bit extent
/// counters, exchange-range, parent pointers. None of them changes how free space is kept.
const INCOMPAT_OK_BITS: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
/// v5 incompat bit: the metadata uuid differs from the user-visible uuid.
const INCOMPAT_META_UUID: u32 = 0x04;
/// v5 incompat bit: xfs_repair must run before the next mount.
const INCOMPAT_NEEDS_REPAIR: u32 = 0x10;
/// v5 ro-compat bits understood: free-inode btree, reverse-mapping btree, reflink, inode
/// btree block counts. Their blocks come from the free lists and leave the bnobt, so the
/// bnobt stays the whole truth about free space.
const RO_COMPAT_OK_BITS: u32 = 0x01 | 0x02 | 0x04 | 0x08;
/// Smallest and largest allocation groups the kernel accepts (16 MiB to 1 TiB).
const MIN_AG_BYTES: u64 = 16 << 20;
const MAX_AG_BYTES: u64 = 1 << 40;

/// What the superblock says, checked.
struct Geometry {
    /// Version 5: checksummed metadata with self-describing headers.
    v5: bool,
    /// Filesystem block size in bytes.
    block: u64,
    /// Sector size in bytes (the AG headers are one sector each).
    sector: u64,
    /// Blocks per allocation group (the last one may be shorter).
    ag_blocks: u64,
    /// Number of allocation groups.
    ag_count: u32,
    /// Blocks in the filesystem.
    blocks: u64,
    /// The internal log: byte offset and length in the region.
    log_start: u64,
    log_len: u64,
    /// Version 2 log records (their headers can span several 512-byte blocks).
    log_v2: bool,
    /// `sb_uuid`, which log records carry.
    uuid: [u8; 16],
    /// The uuid stamped in v5 metadata blocks.
    meta_uuid: [u8; 16],
}

impl Geometry {
    /// The byte offset of block `bno` of allocation group `ag`.
    fn byte_of(&self, ag: u32, bno: u64) -> Check<u64> {
        u64::from(ag)
            .checked_mul(self.ag_blocks)
            .and_then(|b| b.checked_add(bno))
            .and_then(|b| b.checked_mul(self.block))
            .ok_or_else(|| format!("block {bno} of allocation group {ag} is out of range"))
    }
}

/// Big-endian fields of a block read from disk. A field past the end of the block is an
/// error, never a default value.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&self, at: usize) -> Check<[u8; N]> {
        at.checked_add(N)
            .and_then(|end| self.0.get(at..end))
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "a field at byte {at} lies outside its {}-byte block",
                    self.0.len()
                )
            })
    }

    fn u8(&self, at: usize) -> Check<u8> {
        Ok(self.take::<1>(at)?[0])
    }

    fn u16(&self, at: usize) -> Check<u16> {
        Ok(u16::from_be_bytes(self.take(at)?))
    }

    fn u32(&self, at: usize) -> Check<u32> {
        Ok(u32::from_be_bytes(self.take(at)?))
    }

    fn u64(&self, at: usize) -> Check<u64> {
        Ok(u64::from_be_bytes(self.take(at)?))
    }
}

/// Whether the region starts with an XFS superblock.
pub(crate) fn detect(region: &dyn RandomAccess) -> bool {
    let mut magic = [0u8; 4];
    region.read_exact_at(0, &mut magic).is_ok() && &magic == b"XFSB"
}

/// The free byte ranges of an XFS filesystem, or why it must be mapped whole.
pub(crate) fn scan(region: &dyn RandomAccess) -> Verdict {
    Verdict::from_analysis(FS, scan_checked(region))
}

fn scan_checked(region: &dyn RandomAccess) -> Check<Found> {
    let geo = superblock(region)?;
    let mut free = Vec::new();
    let mut summary = ag::Summary::default();
    let mut pending = 0;
    for agno in 0..geo.ag_count {
        // A stream being scanned that has not reached this group's headers yet: the group
        // counts as used until a later scan reads them. The groups are read before the log
        // (mid-filesystem), so that each is asked for before it passes.
        let mut probe = [0u8; 1];
        let agf_at = geo.byte_of(agno, 0)?.saturating_add(geo.sector);
        if let Err(e) = region.read_exact_at(agf_at, &mut probe)
            && crate::scan::not_yet(&e)
        {
            pending += 1;
            continue;
        }
        ag::free_space(region, &geo, agno, &mut free, &mut summary)?;
    }
    let log_note = log::prove_clean(region, &geo)?;
    let mut notes = vec![
        format!(
            "XFS v{}, {}-byte blocks, {}-byte sectors, {} allocation groups of {} blocks",
            if geo.v5 { 5 } else { 4 },
            geo.block,
            geo.sector,
            geo.ag_count,
            geo.ag_blocks
        ),
        log_note,
        format!(
            "{} free extents ({} blocks) in the bnobt; the cntbt and every AGF agree",
            summary.extents, summary.blocks
        ),
        format!(
            "{} free-list (AGFL) blocks kept mapped",
            summary.agfl_blocks
        ),
    ];
    if pending > 0 {
        notes.push(format!(
            "{pending} allocation groups the stream has not reached yet count as used"
        ));
    }
    Ok((free, notes))
}

/// Parses and checks the primary superblock.
fn superblock(region: &dyn RandomAccess) -> Check<Geometry> {
    let head = read(region, 0, 512, "superblock")?;
    let f = Fields(&head);
    if f.take::<4>(0)? != *b"XFSB" {
        return Err("no XFS superblock magic".into());
    }
    let version = f.u16(100)?;
    let v5 = match version & 0xF {
        4 => false,
        5 => true,
        n => return Err(format!("superblock version {n} is not 4 or 5")),
    };
    if version & !VERSION_OK_BITS != 0 {
        return Err(format!("unknown superblock version bits {version:#06x}"));
    }
    let features2 = if version & VERSION_MOREBITS != 0 {
        f.u32(200)?
    } else {
        0
    };
    if features2 & !FEATURES2_OK_BITS != 0 {
        return Err(format!("unknown superblock features2 bits {features2:#x}"));
    }
    if (features2 & FEATURES2_CRC != 0) != v5 {
        return Err("the CRC feature bit disagrees with the superblock version".into());
    }
    let block = u64::from(f.u32(4)?);
    let sector = u64::from(f.u16(102)?);
    if !block.is_power_of_two()
        || !(512..=65536).contains(&block)
        || Some(block) != 1u64.checked_shl(u32::from(f.u8(120)?))
    {
        return Err(format!("block size {block} is not valid"));
    }
    if !sector.is_power_of_two()
        || !(512..=32768).contains(&sector)
        || Some(sector) != 1u64.checked_shl(u32::from(f.u8(121)?))
        || sector > block
    {
        return Err(format!("sector size {sector} is not valid"));
    }
    let sector_bytes = read(region, 0, sector, "superblock sector")?;
    let f = Fields(&sector_bytes);
    let uuid = f.take::<16>(32)?;
    let mut meta_uuid = uuid;
    if v5 {
        if !crc32c::verify(&sector_bytes, 224) {
            return Err("the superblock checksum is wrong".into());
        }
        let incompat = f.u32(216)?;
        if incompat & INCOMPAT_NEEDS_REPAIR != 0 {
            return Err("the superblock says xfs_repair must run first (needsrepair)".into());
        }
        if incompat & !INCOMPAT_OK_BITS != 0 {
            return Err(format!("unknown incompatible feature bits {incompat:#x}"));
        }
        let ro_compat = f.u32(212)?;
        if ro_compat & !RO_COMPAT_OK_BITS != 0 {
            return Err(format!(
                "unknown read-only-compatible feature bits {ro_compat:#x}"
            ));
        }
        let log_incompat = f.u32(220)?;
        if log_incompat != 0 {
            return Err(format!(
                "log-incompatible feature bits {log_incompat:#x} are set: the log may hold items Blockprint cannot judge"
            ));
        }
        if incompat & INCOMPAT_META_UUID != 0 {
            meta_uuid = f.take::<16>(248)?;
        }
    }
    if f.u8(126)? != 0 {
        return Err("mkfs did not finish (sb_inprogress is set)".into());
    }
    if f.u64(16)? != 0 || f.u64(24)? != 0 {
        return Err("the filesystem has a realtime device, whose space is not scanned".into());
    }
    let log_start_fsb = f.u64(48)?;
    if log_start_fsb == 0 {
        return Err("the log is on an external device, so it cannot be proven clean".into());
    }
    let blocks = f.u64(8)?;
    let ag_blocks = u64::from(f.u32(84)?);
    let ag_count = f.u32(88)?;
    let ag_log = u32::from(f.u8(124)?);
    let ag_bytes = ag_blocks.saturating_mul(block);
    if !(MIN_AG_BYTES..=MAX_AG_BYTES).contains(&ag_bytes)
        || ag_log >= 32
        || 1u64 << ag_log < ag_blocks
        || 1u64 << ag_log >= ag_blocks.saturating_mul(2)
    {
        return Err(format!(
            "allocation-group size of {ag_blocks} blocks (log {ag_log}) is not valid"
        ));
    }
    let span = u64::from(ag_count).saturating_mul(ag_blocks);
    if ag_count == 0 || blocks > span || blocks <= span - ag_blocks {
        return Err(format!(
            "{ag_count} allocation groups of {ag_blocks} blocks do not make {blocks} blocks"
        ));
    }
    let size = blocks.saturating_mul(block);
    if size > region.len() {
        return Err(format!(
            "the filesystem ({size} bytes) is larger than its region ({} bytes)",
            region.len()
        ));
    }
    let log_blocks = u64::from(f.u32(96)?);
    let log_ag = log_start_fsb >> ag_log;
    let log_agbno = log_start_fsb & ((1u64 << ag_log) - 1);
    let log_ag_len = ag_blocks.min(blocks - log_ag.saturating_mul(ag_blocks).min(blocks));
    if log_ag >= u64::from(ag_count)
        || log_blocks == 0
        || log_agbno.saturating_add(log_blocks) > log_ag_len
    {
        return Err(format!(
            "the internal log ({log_blocks} blocks at block {log_start_fsb}) does not fit in its allocation group"
        ));
    }
    let log_start = (log_ag * ag_blocks + log_agbno) * block;
    Ok(Geometry {
        v5,
        block,
        sector,
        ag_blocks,
        ag_count,
        blocks,
        log_start,
        log_len: log_blocks * block,
        log_v2: v5 || version & VERSION_LOGV2 != 0,
        uuid,
        meta_uuid,
    })
}
