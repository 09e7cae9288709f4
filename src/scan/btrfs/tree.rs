//! Reading and walking btrfs B-trees, trusting nothing.
//!
//! Every block read is checked like the kernel's tree checker does before using it: checksum,
//! the address and filesystem it claims, its level and generation against the pointer that led
//! to it, strictly sorted keys that stay within the range the parent promised, and leaf item
//! data laid out back to back from the end of the block. A block met twice in one tree means
//! a cycle (or corruption); file trees legitimately share blocks between snapshots, so their
//! walks skip what was already checked. The number of blocks read is capped by what the
//! filesystem could possibly hold.

use std::cell::Cell;
use std::collections::HashSet;

use super::chunk::ChunkMap;
use super::superblock::Superblock;
use super::{Doubt, le32, le64};
use crate::source::RandomAccess;

/// Size of a tree block header.
const HEADER: usize = 101;
/// Size of a leaf item header (key, data offset, data size).
const ITEM: usize = 25;
/// Size of a node's key pointer (key, child address, child generation).
const PTR: usize = 33;
/// Deepest level btrfs builds (levels 0 to 7).
const MAX_LEVEL: u8 = 7;

/// An item key; the derived order (objectid, type, offset) is btrfs' key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub objectid: u64,
    pub kind: u8,
    pub offset: u64,
}

impl Key {
    fn parse(b: &[u8], at: usize) -> Result<Self, Doubt> {
        Ok(Key {
            objectid: le64(b, at)?,
            kind: *b.get(at + 8).ok_or("key truncated")?,
            offset: le64(b, at + 9)?,
        })
    }
}

/// Where a tree starts, as a superblock or root item says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Root {
    pub bytenr: u64,
    pub level: u8,
    pub generation: u64,
}

/// What a walk does with each leaf item (key, item data); an error stops the walk.
pub(super) type Visit<'v> = dyn FnMut(Key, &[u8]) -> Result<(), Doubt> + 'v;

/// Which tree is walked, for checks and messages.
pub(super) struct Tree<'n> {
    pub name: &'n str,
    pub root: Root,
    /// The owner every block must carry (the global trees are never shared).
    pub owner: Option<u64>,
    /// Whether blocks may also belong to trees walked before (snapshots share subtrees).
    pub shared: bool,
}

/// A checked tree block.
struct Block {
    buf: Vec<u8>,
    level: u8,
    count: usize,
}

/// Reads tree blocks of one filesystem.
pub(super) struct Reader<'a> {
    pub region: &'a dyn RandomAccess,
    pub sb: &'a Superblock,
    pub chunks: &'a ChunkMap,
    reads: Cell<u64>,
    limit: u64,
}

/// Stack entry of a walk: a block to visit and what its parent promised about it.
struct Pending {
    logical: u64,
    level: u8,
    generation: u64,
    first: Option<Key>,
    below: Option<Key>,
}

impl<'a> Reader<'a> {
    /// A reader through `chunks`. The read budget allows every block of the filesystem to be
    /// read a few times over, which no honest walk needs.
    pub(super) fn new(
        region: &'a dyn RandomAccess,
        sb: &'a Superblock,
        chunks: &'a ChunkMap,
    ) -> Self {
        let limit = (sb.total_bytes / sb.nodesize)
            .saturating_mul(4)
            .saturating_add(1024);
        Self {
            region,
            sb,
            chunks,
            reads: Cell::new(0),
            limit,
        }
    }

    /// Reads and checks the block at `logical`, trying each copy until one passes.
    fn read(&self, want: &Pending, owner: Option<u64>) -> Result<Block, Doubt> {
        let n = self.reads.get() + 1;
        if n > self.limit {
            return Err(format!(
                "more than {} tree blocks to read: a loop or corruption",
                self.limit
            ));
        }
        self.reads.set(n);
        let size = usize::try_from(self.sb.nodesize).map_err(|_| "node size too large")?;
        let copies = self
            .chunks
            .copies(want.logical, self.sb.nodesize, self.sb.dev.devid)?;
        let mut first_error = None;
        for physical in copies {
            let mut buf = vec![0u8; size];
            let checked = match self.region.read_exact_at(physical, &mut buf) {
                Ok(()) => self.check(buf, want, owner),
                Err(e) => Err(format!(
                    "cannot read the tree block at logical {}: {e}",
                    want.logical
                )),
            };
            match checked {
                Ok(block) => return Ok(block),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error
            .unwrap_or_else(|| format!("tree block at logical {} has no copy", want.logical)))
    }

    /// The header checks of one copy.
    fn check(&self, buf: Vec<u8>, want: &Pending, owner: Option<u64>) -> Result<Block, Doubt> {
        let at = want.logical;
        if !self.sb.csum.verify(&buf) {
            return Err(format!(
                "tree block at logical {at}: {} checksum mismatch",
                self.sb.csum.name()
            ));
        }
        if le64(&buf, 0x30)? != at {
            return Err(format!("tree block at logical {at} claims another address"));
        }
        if buf.get(0x20..0x30) != Some(&self.sb.tree_fsid[..]) {
            return Err(format!(
                "tree block at logical {at} belongs to another filesystem"
            ));
        }
        let generation = le64(&buf, 0x50)?;
        if generation != want.generation || generation > self.sb.generation {
            return Err(format!(
                "tree block at logical {at} has generation {generation}, expected {}",
                want.generation
            ));
        }
        if let Some(owner) = owner
            && le64(&buf, 0x58)? != owner
        {
            return Err(format!(
                "tree block at logical {at} is not owned by tree {owner}"
            ));
        }
        let level = *buf.get(0x64).ok_or("header truncated")?;
        if level != want.level {
            return Err(format!(
                "tree block at logical {at} has level {level}, expected {}",
                want.level
            ));
        }
        let count = usize::try_from(le32(&buf, 0x60)?).unwrap_or(usize::MAX);
        let per = if level == 0 { ITEM } else { PTR };
        if count.saturating_mul(per) > buf.len() - HEADER || (level > 0 && count == 0) {
            return Err(format!(
                "tree block at logical {at} has an impossible item count {count}"
            ));
        }
        Ok(Block { buf, level, count })
    }

    /// Walks `tree` depth-first in key order: `item` gets every leaf item, and `seen` every
    /// block address.
    pub(super) fn walk(
        &self,
        tree: &Tree<'_>,
        seen: &mut HashSet<u64>,
        item: &mut Visit<'_>,
    ) -> Result<(), Doubt> {
        let name = tree.name;
        if tree.root.level > MAX_LEVEL {
            return Err(format!("{name} tree claims level {}", tree.root.level));
        }
        let mut stack = vec![Pending {
            logical: tree.root.bytenr,
            level: tree.root.level,
            generation: tree.root.generation,
            first: None,
            below: None,
        }];
        while let Some(want) = stack.pop() {
            if !seen.insert(want.logical) {
                if tree.shared {
                    continue;
                }
                return Err(format!(
                    "{name} tree reaches the block at logical {} twice",
                    want.logical
                ));
            }
            let block = self
                .read(&want, tree.owner)
                .map_err(|e| format!("{name} tree: {e}"))?;
            let keys = keys(&block, &want).map_err(|e| format!("{name} tree: {e}"))?;
            if block.level == 0 {
                let data_end = block.buf.len() - HEADER;
                let mut expected_end = data_end;
                for (i, key) in keys.into_iter().enumerate() {
                    let base = HEADER + i * ITEM;
                    let offset =
                        usize::try_from(le32(&block.buf, base + 17)?).unwrap_or(usize::MAX);
                    let size = usize::try_from(le32(&block.buf, base + 21)?).unwrap_or(usize::MAX);
                    if offset.checked_add(size) != Some(expected_end)
                        || HEADER + offset < HEADER + block.count * ITEM
                    {
                        return Err(format!(
                            "{name} tree: leaf at logical {} has misplaced item data",
                            want.logical
                        ));
                    }
                    expected_end = offset;
                    item(key, &block.buf[HEADER + offset..HEADER + offset + size])?;
                }
            } else {
                // Pushed in reverse so children are visited in key order.
                for i in (0..block.count).rev() {
                    let base = HEADER + i * PTR;
                    stack.push(Pending {
                        logical: le64(&block.buf, base + 17)?,
                        level: block.level - 1,
                        generation: le64(&block.buf, base + 25)?,
                        first: Some(keys[i]),
                        below: keys.get(i + 1).copied().or(want.below),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The keys of a block, checked to be strictly increasing, to start with the key the parent
/// pointer carries and to stay below the parent's next key.
fn keys(block: &Block, want: &Pending) -> Result<Vec<Key>, Doubt> {
    let per = if block.level == 0 { ITEM } else { PTR };
    let mut keys: Vec<Key> = Vec::with_capacity(block.count);
    for i in 0..block.count {
        let key = Key::parse(&block.buf, HEADER + i * per)?;
        if keys.last().is_some_and(|prev| *prev >= key) {
            return Err(format!(
                "block at logical {} has unsorted keys",
                want.logical
            ));
        }
        if want.below.is_some_and(|below| key >= below) {
            return Err(format!(
                "block at logical {} has keys beyond its parent's range",
                want.logical
            ));
        }
        keys.push(key);
    }
    if let Some(first) = want.first
        && keys.first() != Some(&first)
    {
        return Err(format!(
            "block at logical {} does not start with its parent's key",
            want.logical
        ));
    }
    Ok(keys)
}
