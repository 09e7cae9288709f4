//! The internal journal (inode 8): every block it occupies, with the extent-tree or indirect
//! blocks that describe it, and its superblock, which must say the journal is empty.
//!
//! The journal's blocks are in the block bitmap like any file's; the scan checks they are
//! all marked used, since writing a free-looking journal block of garbage would let e2fsck
//! or the kernel replay it.

use super::group::Desc;
use super::superblock::{INCOMPAT_EXTENTS, Superblock};
use crate::le::{u16_at, u32_at};
use crate::source::RandomAccess;

/// `i_flags`: the inode's blocks are an extent tree.
const EXTENTS_FL: u32 = 0x8_0000;
/// `i_flags`: the inode's data is inline (a journal never is).
const INLINE_DATA_FL: u32 = 0x1000_0000;
/// Extent tree node magic.
const EXTENT_MAGIC: u16 = 0xF30A;
/// jbd2 superblock magic (big-endian on disk) and superblock block types (v1, v2).
const JBD2_MAGIC: u32 = 0xC03B_3998;
const JBD2_SUPERBLOCK_V1: u32 = 3;
const JBD2_SUPERBLOCK_V2: u32 = 4;
/// Deepest extent tree or indirection the walk follows.
const MAX_DEPTH: u32 = 5;

/// The blocks of the journal inode.
pub(super) struct Journal {
    /// Physical block ranges, data and mapping blocks alike (unsorted).
    pub blocks: Vec<(u64, u64)>,
    /// How many blocks that is.
    pub count: u64,
    /// Whether its superblock was read and says it is empty (a stream being scanned may not
    /// have reached it yet).
    pub checked: bool,
}

/// Reads the journal inode and its superblock: refuses when it cannot be read or is not
/// empty (`s_start` ≠ 0 means transactions are waiting to be replayed).
pub(super) fn read(
    fs: &dyn RandomAccess,
    sb: &Superblock,
    descs: &[Desc],
) -> Result<Journal, String> {
    let ino = sb.journal_inum;
    let inode = read_inode(fs, sb, descs, ino)?;
    let flags = u32_at(&inode, 0x20);
    if flags & INLINE_DATA_FL != 0 {
        return Err(format!("the journal inode {ino} has inline data"));
    }
    let mut walk = Walk {
        fs,
        sb,
        blocks: Vec::new(),
        count: 0,
        first: None,
    };
    let i_block = &inode[0x28..0x28 + 60];
    if flags & EXTENTS_FL != 0 {
        if !sb.has_incompat(INCOMPAT_EXTENTS) {
            return Err(format!(
                "the journal inode {ino} uses extents on a filesystem without them"
            ));
        }
        walk.extent_node(i_block, None)?;
    } else {
        walk.block_map(i_block)?;
    }
    let first = walk
        .first
        .ok_or_else(|| format!("the journal inode {ino} has no first block"))?;
    let mut jsb = [0u8; 32];
    match fs.read_exact_at(first * sb.block_size, &mut jsb) {
        // A stream that has not reached it (it often lies mid-filesystem): checked when a
        // later scan reads it; the superblock's needs-recovery flag was checked already.
        Err(e) if crate::scan::not_yet(&e) => {
            return Ok(Journal {
                blocks: walk.blocks,
                count: walk.count,
                checked: false,
            });
        }
        result => result.map_err(|e| format!("cannot read the journal superblock: {e}"))?,
    }
    let be32 = |at: usize| u32::from_be_bytes([jsb[at], jsb[at + 1], jsb[at + 2], jsb[at + 3]]);
    let kind = be32(4);
    if be32(0) != JBD2_MAGIC || !(kind == JBD2_SUPERBLOCK_V1 || kind == JBD2_SUPERBLOCK_V2) {
        return Err("the journal superblock is not valid".into());
    }
    let start = be32(0x1C);
    if start != 0 {
        return Err(format!(
            "the journal is not empty (s_start {start}): it holds transactions to replay"
        ));
    }
    Ok(Journal {
        blocks: walk.blocks,
        count: walk.count,
        checked: true,
    })
}

/// The on-disk inode `ino` (at least its first 128 bytes).
fn read_inode(
    fs: &dyn RandomAccess,
    sb: &Superblock,
    descs: &[Desc],
    ino: u64,
) -> Result<Vec<u8>, String> {
    let index = ino - 1;
    let group = usize::try_from(index / sb.inodes_per_group).map_err(|e| e.to_string())?;
    let desc = descs
        .get(group)
        .ok_or_else(|| format!("inode {ino} is in no group"))?;
    let at = desc.inode_table * sb.block_size + (index % sb.inodes_per_group) * sb.inode_size;
    let mut inode = vec![0u8; 128];
    fs.read_exact_at(at, &mut inode)
        .map_err(|e| format!("cannot read inode {ino}: {e}"))?;
    Ok(inode)
}

struct Walk<'a> {
    fs: &'a dyn RandomAccess,
    sb: &'a Superblock,
    blocks: Vec<(u64, u64)>,
    count: u64,
    /// Physical block of logical block 0.
    first: Option<u64>,
}

impl Walk<'_> {
    /// Records `len` blocks at `start`, refusing any outside the filesystem or more blocks
    /// than it has (a loop).
    fn add(&mut self, start: u64, len: u64) -> Result<(), String> {
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.sb.blocks_count);
        if start < self.sb.first_data_block || end.is_none() {
            return Err(format!(
                "the journal points outside the filesystem (block {start}, {len} blocks)"
            ));
        }
        self.count += len;
        if self.count > self.sb.blocks_count {
            return Err("the journal's block map loops".into());
        }
        self.blocks.push((start, start + len));
        Ok(())
    }

    fn read_block(&self, block: u64) -> Result<Vec<u8>, String> {
        let len = usize::try_from(self.sb.block_size).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; len];
        self.fs
            .read_exact_at(block * self.sb.block_size, &mut buf)
            .map_err(|e| format!("cannot read journal mapping block {block}: {e}"))?;
        Ok(buf)
    }

    /// One node of an extent tree (the root in `i_block`, or a whole block); `depth` is the
    /// depth its parent expects.
    fn extent_node(&mut self, node: &[u8], expected: Option<u16>) -> Result<(), String> {
        let bad = || "the journal's extent tree is damaged".to_string();
        if node.len() < 12 || u16_at(node, 0) != EXTENT_MAGIC {
            return Err(bad());
        }
        let entries = usize::from(u16_at(node, 2));
        let depth = u16_at(node, 6);
        if entries > (node.len() - 12) / 12
            || u32::from(depth) > MAX_DEPTH
            || expected.is_some_and(|e| e != depth)
        {
            return Err(bad());
        }
        for i in 0..entries {
            let entry = &node[12 + i * 12..24 + i * 12];
            if depth == 0 {
                let logical = u32_at(entry, 0);
                let mut len = u64::from(u16_at(entry, 4));
                if len > 32768 {
                    len -= 32768; // an unwritten extent, still allocated
                }
                let start = u64::from(u32_at(entry, 8)) | (u64::from(u16_at(entry, 6)) << 32);
                if logical == 0 && len > 0 {
                    self.first = Some(start);
                }
                self.add(start, len)?;
            } else {
                let child = u64::from(u32_at(entry, 4)) | (u64::from(u16_at(entry, 8)) << 32);
                self.add(child, 1)?;
                let block = self.read_block(child)?;
                self.extent_node(&block, Some(depth - 1))?;
            }
        }
        Ok(())
    }

    /// The classic map: 12 direct pointers, then single, double and triple indirect blocks.
    fn block_map(&mut self, i_block: &[u8]) -> Result<(), String> {
        for i in 0..15 {
            let ptr = u64::from(u32_at(i_block, i * 4));
            if ptr == 0 {
                continue;
            }
            if i == 0 {
                self.first = Some(ptr);
            }
            self.add(ptr, 1)?;
            match i {
                0..=11 => {}
                _ => self.indirect(ptr, (i - 11) as u32)?,
            }
        }
        Ok(())
    }

    /// An indirect block `level` levels above the data.
    fn indirect(&mut self, block: u64, level: u32) -> Result<(), String> {
        if level > MAX_DEPTH {
            return Err("the journal's block map is too deep".into());
        }
        let raw = self.read_block(block)?;
        for chunk in raw.chunks_exact(4) {
            let ptr = u64::from(u32_at(chunk, 0));
            if ptr == 0 {
                continue;
            }
            self.add(ptr, 1)?;
            if level > 1 {
                self.indirect(ptr, level - 1)?;
            }
        }
        Ok(())
    }
}
