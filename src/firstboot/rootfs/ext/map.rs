//! Where a file's blocks are: ext4's extent tree, or ext2/3's direct and indirect block
//! pointers, each walked without recursion and only as far as the blocks asked for.

use std::io::{Read, Seek};
use std::ops::Range;

use super::{Ext, FLAG_EXTENTS, FLAG_INLINE_DATA, Inode, Result};
use crate::le::{u16_at, u32_at};

/// Nodes of an extent tree waiting to be read at most.
const MAX_PENDING: usize = 4096;
/// An extent tree is at most this deep (as Linux allows).
const MAX_DEPTH: u16 = 5;
const EXTENT_MAGIC: u16 = 0xF30A;

/// A run of a file's blocks: `len` blocks from logical block `logical` at `physical`, or
/// reading as zeros (an unwritten extent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) logical: u64,
    pub(super) physical: u64,
    pub(super) len: u64,
    pub(super) zeros: bool,
}

impl<R: Read + Seek> Ext<R> {
    /// The runs of `inode`'s blocks that overlap the logical blocks `want`.
    pub(super) fn map(&mut self, inode: &Inode, want: Range<u64>) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        if inode.flags & FLAG_INLINE_DATA != 0 {
            return Err(format!("inode {} keeps its data inline", inode.number));
        }
        if inode.flags & FLAG_EXTENTS != 0 {
            self.extents(&inode.block, &want, &mut runs)?;
        } else {
            self.indirect(&inode.block, &want, &mut runs)?;
        }
        Ok(runs)
    }

    /// Walks an extent tree from its root in `i_block`, without recursion.
    fn extents(&mut self, root: &[u8; 60], want: &Range<u64>, runs: &mut Vec<Run>) -> Result<()> {
        let mut pending: Vec<(Option<u64>, Option<u16>)> = vec![(None, None)];
        while let Some((at, expect)) = pending.pop() {
            let node = match at {
                None => root.to_vec(),
                Some(block) => self.block(block)?,
            };
            let (magic, count, max, depth) = (
                u16_at(&node, 0),
                usize::from(u16_at(&node, 2)),
                usize::from(u16_at(&node, 4)),
                u16_at(&node, 6),
            );
            let fits = count <= max && 12 + max * 12 <= node.len();
            if magic != EXTENT_MAGIC || !fits || depth > MAX_DEPTH {
                return Err(format!("a damaged extent tree node (at {at:?})"));
            }
            if expect.is_some_and(|d| d != depth) {
                return Err(format!(
                    "an extent tree node at depth {depth}, not {expect:?}"
                ));
            }
            let entry = |i: usize| &node[12 + i * 12..24 + i * 12];
            let mut last_end = 0;
            for i in 0..count {
                let e = entry(i);
                let logical = u64::from(u32_at(e, 0));
                if logical < last_end {
                    return Err("extent tree entries out of order".into());
                }
                if depth > 0 {
                    let end = match i + 1 < count {
                        true => u64::from(u32_at(entry(i + 1), 0)),
                        false => u64::MAX,
                    };
                    last_end = logical + 1;
                    if logical < want.end && end > want.start {
                        let child = u64::from(u32_at(e, 4)) | (u64::from(u16_at(e, 8)) << 32);
                        pending.push((Some(child), Some(depth - 1)));
                    }
                    continue;
                }
                let raw = u64::from(u16_at(e, 4));
                let (len, zeros) = if raw > 32768 {
                    (raw - 32768, true)
                } else {
                    (raw, false)
                };
                let physical = u64::from(u32_at(e, 8)) | (u64::from(u16_at(e, 6)) << 32);
                if len == 0 || physical == 0 || physical + len > self.geometry.blocks {
                    return Err(format!("an extent of {len} blocks at block {physical}"));
                }
                last_end = logical + len;
                if logical < want.end && logical + len > want.start {
                    runs.push(Run {
                        logical,
                        physical,
                        len,
                        zeros,
                    });
                }
            }
            if pending.len() > MAX_PENDING {
                return Err("an extent tree too wide to read".into());
            }
        }
        Ok(())
    }

    /// Follows ext2/3's twelve direct pointers and its single, double and triple indirect
    /// blocks, as far as they reach into `want`, without recursion.
    fn indirect(&mut self, block: &[u8; 60], want: &Range<u64>, runs: &mut Vec<Run>) -> Result<()> {
        let per = self.geometry.block_size / 4;
        let overlaps = |start: u64, span: u64| start < want.end && start + span > want.start;
        let pointer = |slot: usize| u64::from(u32_at(block, slot * 4));
        // (pointer, level: 0 for a data block, its first logical block)
        let mut pending: Vec<(u64, u32, u64)> = Vec::new();
        for slot in 0..12 {
            let logical = slot as u64;
            if pointer(slot) != 0 && overlaps(logical, 1) {
                pending.push((pointer(slot), 0, logical));
            }
        }
        let mut start = 12;
        for level in 1..=3 {
            let span = per.pow(level);
            let at = pointer(11 + level as usize);
            if at != 0 && overlaps(start, span) {
                pending.push((at, level, start));
            }
            start += span;
        }
        while let Some((at, level, start)) = pending.pop() {
            if level == 0 {
                self.offset(at, 0)?;
                runs.push(Run {
                    logical: start,
                    physical: at,
                    len: 1,
                    zeros: false,
                });
                continue;
            }
            let data = self.block(at)?;
            let span = per.pow(level - 1);
            for (i, raw) in data.chunks_exact(4).enumerate() {
                let child = u64::from(u32_at(raw, 0));
                let logical = start + i as u64 * span;
                if child != 0 && overlaps(logical, span) {
                    pending.push((child, level - 1, logical));
                }
            }
        }
        Ok(())
    }
}
