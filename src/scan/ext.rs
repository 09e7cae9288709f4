//! ext2, ext3 and ext4: free space is what the block bitmaps mark free,
//! minus all of the filesystem's own metadata, whatever the bitmaps say of it.
//!
//! ```text
//!  superblock ──► checks: magic, checksum, feature bits, state, geometry, size ≤ region
//!      │
//!      ▼
//!  descriptors (primary table; meta_bg: per meta-group) ──► checksums, locations
//!      │
//!      ├──► force-mapped: block 0, every superblock copy, descriptor and reserved
//!      │    descriptor block, both bitmaps and the whole inode table of every group, MMP
//!      │
//!      ├──► journal inode: readable, empty, every block marked used
//!      ▼
//!  per group: block bitmap (read and checksummed, or computed for BLOCK_UNINIT)
//!      ──► free count = descriptor's ──► free clusters ──► blocks ──► minus forced ──► bytes
//! ```
//!
//! Refused (mapped whole, with the reason): a journal needing recovery, an external journal
//! device, errors or an unclean state, unknown incompat or ro_compat bits, any bad superblock,
//! descriptor or block bitmap checksum, a bitmap that disagrees with its descriptor's free
//! count, implausible geometry, and a filesystem larger than its region.
//!
//! BLOCK_UNINIT is believed only with descriptor checksums (uninit_bg or metadata_csum), all
//! of which must verify; such a group's bitmap is computed like the kernel's
//! `ext4_init_block_bitmap` and never read, since its block may be a hole or garbage. The
//! last group's bits past the end of the filesystem count as used.

mod crc;
mod group;
mod journal;
mod superblock;
#[cfg(test)]
mod tests;

use super::Ranges;
use super::fs::{Found, Parser, Verdict};
use crate::source::RandomAccess;
use superblock::{COMPAT_HAS_JOURNAL, INCOMPAT_MMP, Superblock};

/// The ext2/3/4 parser.
pub(crate) const PARSER: Parser = Parser {
    name: "ext2/3/4",
    detect,
    scan,
};

fn detect(region: &dyn RandomAccess) -> bool {
    let mut magic = [0u8; 2];
    region
        .read_exact_at(superblock::OFFSET + 0x38, &mut magic)
        .is_ok()
        && u16::from_le_bytes(magic) == superblock::MAGIC
}

fn scan(region: &dyn RandomAccess) -> Verdict {
    let mut raw = vec![0u8; superblock::SIZE];
    if let Err(e) = region.read_exact_at(superblock::OFFSET, &mut raw) {
        return Verdict::whole("ext4", format!("cannot read the superblock: {e}"));
    }
    let name = Superblock::name(&raw);
    Verdict::from_analysis(name, free_space(region, &raw))
}

/// What is free in the filesystem in `region`, or why nothing can be proven free.
fn free_space(region: &dyn RandomAccess, raw: &[u8]) -> Result<Found, String> {
    let sb = Superblock::parse(raw)?;
    let size = sb
        .blocks_count
        .checked_mul(sb.block_size)
        .ok_or_else(|| format!("implausible block count ({})", sb.blocks_count))?;
    if size > region.len() {
        return Err(format!(
            "the filesystem ({size} bytes) is larger than its region ({} bytes)",
            region.len()
        ));
    }
    let descs = group::read_descriptors(region, &sb)?;

    let mut forced: Vec<(u64, u64)> = (0..sb.groups)
        .zip(&descs)
        .flat_map(|(g, d)| group::metadata(&sb, g, d))
        .collect();
    if sb.has_incompat(INCOMPAT_MMP) && sb.mmp_block < sb.blocks_count {
        forced.push((sb.mmp_block, sb.mmp_block + 1));
    }
    let forced: Ranges = forced.into_iter().collect();

    // The journal's inode may lie after the bitmaps: a stream being scanned must be asked for
    // them before it passes them on its way there.
    for d in descs.iter().filter(|d| !group::is_uninit(&sb, d)) {
        region.will_need(d.block_bitmap.saturating_mul(sb.block_size), sb.block_size);
    }
    let journal = if sb.has_compat(COMPAT_HAS_JOURNAL) {
        Some(journal::read(region, &sb, &descs)?)
    } else {
        None
    };
    let journal_blocks: Ranges = journal
        .iter()
        .flat_map(|j| j.blocks.iter().copied())
        .collect();
    let journal_blocks = journal_blocks.as_slice();

    let mut free_blocks: Vec<(u64, u64)> = Vec::new();
    let mut next_journal = 0;
    let mut total_free = 0;
    let mut computed = 0;
    let mut pending = 0;
    for (g, d) in (0..sb.groups).zip(&descs) {
        let (start, end) = (sb.group_start(g), sb.group_end(g));
        let Some(bitmap) = group::block_bitmap(region, &sb, g, d)? else {
            // A stream that has not reached this group's bitmap: the group counts as used,
            // and its journal blocks are checked when a later scan reads it.
            pending += 1;
            while journal_blocks
                .get(next_journal)
                .is_some_and(|&(_, e)| e <= end)
            {
                next_journal += 1;
            }
            continue;
        };
        computed += u64::from(group::is_uninit(&sb, d));
        let clusters = sb.clusters_in_group(g);
        let free = bitmap.count_free(clusters);
        if free != d.free {
            return Err(format!(
                "the block bitmap of group {g} has {free} free clusters, its descriptor says {}",
                d.free
            ));
        }
        total_free += free;
        while let Some(&(s, e)) = journal_blocks.get(next_journal) {
            if s >= end {
                break;
            }
            let (from, to) = (s.max(start), e.min(end));
            if from < to {
                let first = (from - start) >> sb.cluster_bits;
                let last = (to - 1 - start) >> sb.cluster_bits;
                if let Some(c) = (first..=last).find(|&c| !bitmap.is_used(c)) {
                    return Err(format!(
                        "journal block {} is marked free in the block bitmap",
                        start + (c << sb.cluster_bits)
                    ));
                }
            }
            if e <= end {
                next_journal += 1;
            } else {
                break;
            }
        }
        for (a, b) in bitmap.free_runs(clusters) {
            free_blocks.push((
                start + (a << sb.cluster_bits),
                (start + (b << sb.cluster_bits)).min(end),
            ));
        }
    }
    if let Some(&(s, _)) = journal_blocks.get(next_journal) {
        return Err(format!("journal block {s} lies in no group"));
    }

    let free_blocks = subtract_sorted(&free_blocks, forced.as_slice());
    let free: Vec<(u64, u64)> = free_blocks
        .iter()
        .map(|&(s, e)| (s * sb.block_size, e * sb.block_size))
        .collect();

    let mut notes = vec![format!(
        "{} KiB blocks, {} groups, {} of them BLOCK_UNINIT (bitmap computed)",
        sb.block_size / 1024,
        sb.groups,
        computed
    )];
    if sb.cluster_bits > 0 {
        notes.push(format!(
            "bigalloc: clusters of {} blocks",
            1u64 << sb.cluster_bits
        ));
    }
    if let Some(j) = &journal {
        let state = if j.checked {
            "empty"
        } else {
            "its superblock not read yet (the filesystem's needs-recovery flag is clear)"
        };
        notes.push(format!(
            "journal: inode {}, {} blocks, {state}, all marked used",
            sb.journal_inum, j.count
        ));
    }
    if pending > 0 {
        notes.push(format!(
            "{pending} groups whose bitmaps the stream has not reached yet count as used"
        ));
    }
    notes.push(format!(
        "{} blocks of metadata kept whatever the bitmaps say",
        forced.total()
    ));
    let groups_free = total_free << sb.cluster_bits;
    if pending == 0 && groups_free != sb.free_blocks_count {
        notes.push(format!(
            "warning: the superblock counts {} free blocks, the groups {groups_free} (the kernel \
             updates the superblock's count lazily)",
            sb.free_blocks_count
        ));
    }
    Ok((free, notes))
}

/// `free` minus `used`: both sorted, `used` also merged; linear in their lengths.
fn subtract_sorted(free: &[(u64, u64)], used: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(free.len());
    let mut first = 0;
    for &(start, end) in free {
        while used.get(first).is_some_and(|&(_, e)| e <= start) {
            first += 1;
        }
        let mut at = start;
        for &(us, ue) in used[first..].iter().take_while(|&&(us, _)| us < end) {
            if us > at {
                out.push((at, us));
            }
            at = at.max(ue);
        }
        if at < end {
            out.push((at, end));
        }
    }
    out
}
