//! Level B (extent-free space): the unused bytes inside SINGLE and DUP chunks, by the
//! extent tree.
//!
//! An extent item (EXTENT_ITEM: key objectid = logical start, offset = length;
//! METADATA_ITEM: one node) marks logical bytes used; the rest of a chunk is free, at every
//! stripe of it. That is only true when the extent tree is complete, so before believing it:
//! - the log tree must be empty (its blocks are never in the extent tree);
//! - every chunk has exactly one block group, of the same type, whose `used` equals the
//!   extent bytes inside it;
//! - extents are disjoint and each lies in one chunk;
//! - every block of every live tree, and every extent a file points to, lies inside an extent
//!   item (a stale or partial extent tree fails here).
//!
//! SYSTEM chunks hold the chunk tree, which is read before anything else, and stay whole.

use std::collections::HashSet;

use super::chunk::{Chunk, SYSTEM};
use super::chunk_coverage::{DEV_TREE, Layout, ROOT_ITEM, find_root};
use super::superblock::{BLOCK_GROUP_TREE, Superblock};
use super::tree::{Key, Reader, Tree};
use super::{Doubt, Ranges, le64};
use crate::source::RandomAccess;

const EXTENT_TREE: u64 = 2;
const BG_TREE: u64 = 11;
const EXTENT_DATA: u8 = 108;
const EXTENT_ITEM: u8 = 168;
const METADATA_ITEM: u8 = 169;
const BLOCK_GROUP_ITEM: u8 = 192;
/// File extent types that point at disk bytes (regular and preallocated).
const FILE_EXTENT_REG: u8 = 1;
const FILE_EXTENT_PREALLOC: u8 = 2;

/// Logical ranges (start, end) of the extent items, sorted and disjoint.
type Extents = Vec<(u64, u64)>;

/// A block group item: logical start, length, used bytes, type bits.
#[derive(Debug, Clone, Copy)]
struct BlockGroup {
    start: u64,
    length: u64,
    used: u64,
    flags: u64,
}

/// Free device ranges inside chunks, and a note; or why level B cannot be trusted.
pub(super) fn free_inside_chunks(
    region: &dyn RandomAccess,
    sb: &Superblock,
    layout: &Layout,
) -> Result<(Ranges, String), Doubt> {
    if sb.log_root != 0 {
        return Err(format!(
            "the log tree at logical {} is not empty (fsync after the last commit): its blocks are not in the extent tree",
            sb.log_root
        ));
    }
    if let Some(chunk) = layout
        .chunks
        .chunks()
        .iter()
        .find(|c| !c.is_single_or_dup())
    {
        return Err(format!(
            "chunk at logical {} is {}, not single or DUP",
            chunk.logical,
            chunk.profile()
        ));
    }
    let reader = Reader::new(region, sb, &layout.chunks);
    let mut blocks = layout.blocks.clone();
    let (extents, groups) = extent_tree(&reader, layout, &mut blocks)?;
    check_groups(layout.chunks.chunks(), &extents, &groups)?;
    let mut file_extents = 0u64;
    let (walked, dead) = cross_check(&reader, layout, &extents, &mut blocks, &mut file_extents)?;
    for &block in &blocks {
        if !covered(&extents, block, sb.nodesize) {
            return Err(format!(
                "tree block at logical {block} is in no extent item"
            ));
        }
    }
    let mut free = Ranges::new();
    let mut spans = 0;
    for chunk in layout
        .chunks
        .chunks()
        .iter()
        .filter(|c| c.flags & SYSTEM == 0)
    {
        for (s, e) in gaps(chunk, &extents) {
            spans += 1;
            for stripe in &chunk.stripes {
                let at = stripe.offset + (s - chunk.logical);
                free.add(at, at + (e - s));
            }
        }
    }
    free.normalize();
    let note = format!(
        "level B (log tree empty, every chunk single or DUP, block groups match their extents): {} extent items in {} chunks ({} SYSTEM, kept whole) leave {spans} free spans; {} tree blocks of {walked} trees and {file_extents} file extents lie inside extent items{}",
        extents.len(),
        layout.chunks.chunks().len(),
        layout
            .chunks
            .chunks()
            .iter()
            .filter(|c| c.flags & SYSTEM != 0)
            .count(),
        blocks.len(),
        if dead > 0 {
            format!(" ({dead} deleted subvolumes being cleaned were not walked)")
        } else {
            String::new()
        }
    );
    Ok((free, note))
}

/// The extent items (sorted, disjoint logical ranges) and the block groups.
fn extent_tree(
    reader: &Reader<'_>,
    layout: &Layout,
    blocks: &mut HashSet<u64>,
) -> Result<(Extents, Vec<BlockGroup>), Doubt> {
    let sb = reader.sb;
    let bg_tree = sb.compat_ro & BLOCK_GROUP_TREE != 0;
    let mut extents: Vec<(u64, u64)> = Vec::new();
    let mut groups = Vec::new();
    let mut collect_group = |key: Key, data: &[u8]| -> Result<(), Doubt> {
        groups.push(BlockGroup {
            start: key.objectid,
            length: key.offset,
            used: le64(data, 0)?,
            flags: le64(data, 16)?,
        });
        Ok(())
    };
    let root = find_root(&layout.roots, EXTENT_TREE).ok_or("the root tree has no extent tree")?;
    let tree = Tree {
        name: "extent",
        root: root.root,
        owner: Some(EXTENT_TREE),
        shared: false,
    };
    reader.walk(&tree, blocks, &mut |key, data| {
        let length = match key.kind {
            EXTENT_ITEM => key.offset,
            METADATA_ITEM if key.offset <= 7 => sb.nodesize,
            METADATA_ITEM => {
                return Err(format!(
                    "metadata item at {} has level {}",
                    key.objectid, key.offset
                ));
            }
            BLOCK_GROUP_ITEM if !bg_tree => return collect_group(key, data),
            BLOCK_GROUP_ITEM => {
                return Err(
                    "block group items in the extent tree beside a block-group tree".into(),
                );
            }
            _ => return Ok(()),
        };
        let end = key.objectid.checked_add(length).filter(|_| length > 0);
        let end = end
            .ok_or_else(|| format!("extent at {} has an invalid length {length}", key.objectid))?;
        if extents
            .last()
            .is_some_and(|&(_, prev_end)| prev_end > key.objectid)
        {
            return Err(format!(
                "extent at logical {} overlaps the one before",
                key.objectid
            ));
        }
        extents.push((key.objectid, end));
        Ok(())
    })?;
    if bg_tree {
        let root = find_root(&layout.roots, BG_TREE)
            .ok_or("the block-group tree feature is on but there is no such tree")?;
        let tree = Tree {
            name: "block-group",
            root: root.root,
            owner: Some(BG_TREE),
            shared: false,
        };
        reader.walk(&tree, blocks, &mut |key, data| match key.kind {
            BLOCK_GROUP_ITEM => collect_group(key, data),
            _ => Ok(()),
        })?;
    }
    Ok((extents, groups))
}

/// One block group per chunk with the same range and type, and `used` equal to the bytes of
/// the extents inside the chunk; every extent inside some chunk.
fn check_groups(
    chunks: &[Chunk],
    extents: &[(u64, u64)],
    groups: &[BlockGroup],
) -> Result<(), Doubt> {
    if groups.len() != chunks.len() {
        return Err(format!(
            "{} block groups for {} chunks",
            groups.len(),
            chunks.len()
        ));
    }
    let mut next = 0;
    for (chunk, group) in chunks.iter().zip(groups) {
        if (group.start, group.length, group.flags) != (chunk.logical, chunk.length, chunk.flags) {
            return Err(format!(
                "block group at logical {} does not match its chunk",
                group.start
            ));
        }
        let mut used: u64 = 0;
        while let Some(&(s, e)) = extents.get(next) {
            if s >= chunk.end() {
                break;
            }
            if s < chunk.logical || e > chunk.end() {
                return Err(format!(
                    "extent at logical {s} (+{}) is not inside one chunk",
                    e - s
                ));
            }
            used += e - s;
            next += 1;
        }
        if used != group.used {
            return Err(format!(
                "block group at logical {} says {} bytes are used, its extents add up to {used}",
                group.start, group.used
            ));
        }
    }
    if let Some(&(s, _)) = extents.get(next) {
        return Err(format!("extent at logical {s} lies in no chunk"));
    }
    Ok(())
}

/// Walks every live tree the root tree lists (beyond the ones already read), checking that
/// each file extent lies inside an extent item. Returns the number of trees walked and of
/// deleted subvolumes skipped.
fn cross_check(
    reader: &Reader<'_>,
    layout: &Layout,
    extents: &[(u64, u64)],
    blocks: &mut HashSet<u64>,
    file_extents: &mut u64,
) -> Result<(usize, usize), Doubt> {
    let mut shared = HashSet::new();
    let (mut walked, mut dead) = (3, 0);
    for &(key, item) in &layout.roots {
        if key.kind != ROOT_ITEM || matches!(key.objectid, EXTENT_TREE | DEV_TREE | BG_TREE) {
            continue;
        }
        // A deleted subvolume is freed a piece at a time: its root item can point at blocks
        // already released. Its remaining blocks are still in the extent tree.
        if item.refs == 0 || item.dropping != 0 {
            dead += 1;
            continue;
        }
        walked += 1;
        let name = format!("{} (root item {})", key.objectid as i64, key.offset);
        let tree = Tree {
            name: &name,
            root: item.root,
            owner: None,
            shared: true,
        };
        reader.walk(&tree, &mut shared, &mut |key, data| {
            if key.kind != EXTENT_DATA
                || data
                    .get(20)
                    .is_some_and(|&t| t != FILE_EXTENT_REG && t != FILE_EXTENT_PREALLOC)
            {
                return Ok(());
            }
            let at = le64(data, 21)?;
            let len = le64(data, 29)?;
            if at != 0 {
                *file_extents += 1;
                if !covered(extents, at, len) {
                    return Err(format!(
                        "a file extent at logical {at} (+{len}) is in no extent item"
                    ));
                }
            }
            Ok(())
        })?;
    }
    blocks.extend(shared);
    Ok((walked, dead))
}

/// Whether `at..at + len` lies inside one extent.
fn covered(extents: &[(u64, u64)], at: u64, len: u64) -> bool {
    let i = extents.partition_point(|&(s, _)| s <= at);
    i.checked_sub(1)
        .and_then(|i| extents.get(i))
        .is_some_and(|&(_, e)| at.checked_add(len).is_some_and(|end| end <= e))
}

/// Logical ranges of `chunk` covered by no extent.
fn gaps(chunk: &Chunk, extents: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let first = extents.partition_point(|&(_, e)| e <= chunk.logical);
    let mut out = Vec::new();
    let mut at = chunk.logical;
    for &(s, e) in extents[first..]
        .iter()
        .take_while(|&&(s, _)| s < chunk.end())
    {
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
    }
    if at < chunk.end() {
        out.push((at, chunk.end()));
    }
    out
}
