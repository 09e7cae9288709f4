//! Level A (chunk coverage): which device bytes belong to a chunk at all.
//!
//! The chunk tree says where each chunk's stripes sit; the device tree lists the same
//! allocations from the device's side (DEV_EXTENT items). The two are checked against each
//! other one to one, and against the device's `bytes_used`: a byte outside every device extent
//! is then free in both views. Any disagreement is corruption, and maps the filesystem whole.

use std::collections::HashSet;

use super::chunk::{Chunk, ChunkMap};
use super::superblock::{DevItem, MIXED_GROUPS, Superblock};
use super::tree::{Key, Reader, Root, Tree};
use super::{Doubt, Ranges, le64};
use crate::source::RandomAccess;

const ROOT_TREE: u64 = 1;
const CHUNK_TREE: u64 = 3;
pub(super) const DEV_TREE: u64 = 4;
const FIRST_CHUNK_TREE: u64 = 256;
const DEV_ITEMS: u64 = 1;
pub(super) const ROOT_ITEM: u8 = 132;
const DEV_EXTENT: u8 = 204;
const DEV_ITEM: u8 = 216;
const CHUNK_ITEM: u8 = 228;

/// A tree root recorded in the root tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct RootItem {
    pub root: Root,
    /// References from directories; 0 for a deleted subvolume still being cleaned up.
    pub refs: u32,
    /// Non-zero objectid while a tree is being dropped part by part.
    pub dropping: u64,
}

impl RootItem {
    fn parse(data: &[u8]) -> Result<Self, Doubt> {
        Ok(Self {
            root: Root {
                bytenr: le64(data, 176)?,
                level: *data.get(238).ok_or("root item truncated")?,
                generation: le64(data, 160)?,
            },
            refs: super::le32(data, 216)?,
            dropping: le64(data, 220)?,
        })
    }
}

/// What level A learns, and level B builds on.
pub(super) struct Layout {
    pub chunks: ChunkMap,
    /// Every ROOT_ITEM of the root tree, in key order.
    pub roots: Vec<(Key, RootItem)>,
    /// (device offset, length) of every device extent, sorted and disjoint.
    pub dev_extents: Vec<(u64, u64)>,
    /// Blocks of the chunk, root and device trees.
    pub blocks: HashSet<u64>,
}

impl Layout {
    /// Reads the chunk, root and device trees and checks them against each other.
    pub(super) fn read(region: &dyn RandomAccess, sb: &Superblock) -> Result<Self, Doubt> {
        let mut blocks = HashSet::new();
        let (chunks, dev) = chunk_tree(region, sb, &mut blocks)?;
        if dev != sb.dev {
            return Err("the chunk tree's device item disagrees with the superblock's".into());
        }
        let reader = Reader::new(region, sb, &chunks);
        let mut roots = Vec::new();
        let root = Root {
            bytenr: sb.root,
            level: sb.root_level,
            generation: sb.generation,
        };
        let tree = Tree {
            name: "root",
            root,
            owner: Some(ROOT_TREE),
            shared: false,
        };
        reader.walk(&tree, &mut blocks, &mut |key, data| {
            if key.kind == ROOT_ITEM {
                roots.push((key, RootItem::parse(data)?));
            }
            Ok(())
        })?;
        let dev_root = find_root(&roots, DEV_TREE).ok_or("the root tree has no device tree")?;
        let mut dev_extents = Vec::new();
        let tree = Tree {
            name: "device",
            root: dev_root.root,
            owner: Some(DEV_TREE),
            shared: false,
        };
        reader.walk(&tree, &mut blocks, &mut |key, data| {
            if key.kind == DEV_EXTENT {
                if key.objectid != sb.dev.devid {
                    return Err(format!(
                        "a device extent belongs to device {}",
                        key.objectid
                    ));
                }
                dev_extents.push((key.offset, le64(data, 24)?, le64(data, 16)?));
            }
            Ok(())
        })?;
        check_extents(&chunks, &dev_extents, &dev)?;
        Ok(Self {
            chunks,
            roots,
            dev_extents: dev_extents.iter().map(|&(at, len, _)| (at, len)).collect(),
            blocks,
        })
    }

    /// Device bytes (below `device`) in no device extent.
    pub(super) fn free_outside_chunks(&self, device: u64) -> Ranges {
        let used: Ranges = self
            .dev_extents
            .iter()
            .map(|&(at, len)| (at, at + len))
            .collect();
        used.complement(device)
    }
}

/// The root item of tree `id` (key offset 0).
pub(super) fn find_root(roots: &[(Key, RootItem)], id: u64) -> Option<RootItem> {
    roots
        .iter()
        .find(|(key, _)| key.objectid == id && key.offset == 0)
        .map(|&(_, item)| item)
}

/// Reads the chunk tree through the bootstrap chunks: every chunk, and the one device item.
fn chunk_tree(
    region: &dyn RandomAccess,
    sb: &Superblock,
    blocks: &mut HashSet<u64>,
) -> Result<(ChunkMap, DevItem), Doubt> {
    let bootstrap = ChunkMap::new(sb.sys_chunks.clone())?;
    let reader = Reader::new(region, sb, &bootstrap);
    let mixed = sb.incompat & MIXED_GROUPS != 0;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut devs = Vec::new();
    let root = Root {
        bytenr: sb.chunk_root,
        level: sb.chunk_root_level,
        generation: sb.chunk_root_generation,
    };
    let tree = Tree {
        name: "chunk",
        root,
        owner: Some(CHUNK_TREE),
        shared: false,
    };
    reader.walk(&tree, blocks, &mut |key, data| {
        match (key.objectid, key.kind) {
            (FIRST_CHUNK_TREE, CHUNK_ITEM) => {
                let (chunk, size) = Chunk::parse(key.offset, data, sb.sectorsize, mixed)?;
                if size != data.len() {
                    return Err(format!(
                        "chunk item at logical {} has trailing bytes",
                        key.offset
                    ));
                }
                chunks.push(chunk);
            }
            (DEV_ITEMS, DEV_ITEM) => {
                let dev = DevItem::parse(data)?;
                if dev.devid != key.offset {
                    return Err(format!(
                        "device item {} is filed under key {}",
                        dev.devid, key.offset
                    ));
                }
                devs.push(dev);
            }
            _ => {}
        }
        Ok(())
    })?;
    let [dev] = <[DevItem; 1]>::try_from(devs).map_err(|devs| {
        format!(
            "the chunk tree lists {} devices, the superblock one",
            devs.len()
        )
    })?;
    for sys in &sb.sys_chunks {
        if !chunks.contains(sys) {
            return Err(format!(
                "the superblock's system chunk at logical {} is not in the chunk tree",
                sys.logical
            ));
        }
    }
    Ok((ChunkMap::new(chunks)?, dev))
}

/// Device extents (offset, length, chunk) must be exactly the stripes of the chunks on this
/// device, disjoint, inside the device, and add up to its `bytes_used`.
fn check_extents(
    chunks: &ChunkMap,
    extents: &[(u64, u64, u64)],
    dev: &DevItem,
) -> Result<(), Doubt> {
    let mut stripes = Vec::new();
    for chunk in chunks.chunks() {
        for stripe in &chunk.stripes {
            if stripe.devid != dev.devid {
                return Err(format!(
                    "chunk at logical {} has a stripe on device {}",
                    chunk.logical, stripe.devid
                ));
            }
            stripes.push((stripe.offset, chunk.stripe_size, chunk.logical));
        }
    }
    stripes.sort_unstable();
    if stripes != extents {
        let first = stripes.iter().zip(extents).find(|(a, b)| a != b);
        return Err(match first {
            Some((stripe, extent)) => format!(
                "chunk stripes and device extents disagree: stripe (offset, length, chunk) {stripe:?} vs device extent {extent:?}"
            ),
            None => format!(
                "{} chunk stripes but {} device extents",
                stripes.len(),
                extents.len()
            ),
        });
    }
    let mut end = 0;
    let mut total: u64 = 0;
    for &(at, len, _) in extents {
        let stop = at
            .checked_add(len)
            .filter(|&stop| len > 0 && at >= end && stop <= dev.total_bytes);
        end = stop.ok_or_else(|| {
            format!("device extent at {at} (+{len}) overlaps another or leaves the device")
        })?;
        total += len;
    }
    if total != dev.bytes_used {
        return Err(format!(
            "device extents add up to {total} bytes, the device item says {} are used",
            dev.bytes_used
        ));
    }
    Ok(())
}
