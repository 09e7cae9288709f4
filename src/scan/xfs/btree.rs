//! The two free-space btrees of an allocation group, walked to their leaves.
//!
//! Both index the same `(startblock, blockcount)` records: the bnobt by start, the cntbt by
//! size. The walk is depth-first in key order, so the leaves come out sorted; every block is
//! checked (magic, level, record count, siblings, and on v5 its checksum, address, uuid and
//! owner) and visited once, which bounds the walk on a hostile image.

use std::collections::HashSet;

use super::{Check, Fields, Geometry, crc32c, read};
use crate::source::RandomAccess;

/// Which tree: its block magics and its record order.
pub(super) struct Kind {
    name: &'static str,
    magic_v4: [u8; 4],
    magic_v5: [u8; 4],
    by_size: bool,
}

/// The by-block-number tree: free extents sorted by start.
pub(super) const BNO: Kind = Kind {
    name: "bnobt",
    magic_v4: *b"ABTB",
    magic_v5: *b"AB3B",
    by_size: false,
};

/// The by-size tree: the same extents sorted by (length, start).
pub(super) const CNT: Kind = Kind {
    name: "cntbt",
    magic_v4: *b"ABTC",
    magic_v5: *b"AB3C",
    by_size: true,
};

/// The allocation group being walked.
pub(super) struct Ag {
    pub agno: u32,
    /// Byte offset of its first block in the region.
    pub start: u64,
    /// Its length in blocks.
    pub len: u64,
}

/// A walked tree.
pub(super) struct Walked {
    /// Leaf records `(startblock, blockcount)`, in the tree's order.
    pub records: Vec<(u32, u32)>,
    /// The tree's own blocks.
    pub blocks: Vec<u32>,
}

/// Deeper than any real free-space btree can grow (the kernel's limit for them is lower).
const MAX_LEVELS: u32 = 9;
/// The "no sibling" pointer.
const NULL_AGBLOCK: u32 = u32::MAX;

/// Walks the tree rooted at `root` with `levels` levels; at most `max_records` leaf records.
pub(super) fn walk(
    region: &dyn RandomAccess,
    geo: &Geometry,
    ag: &Ag,
    kind: &Kind,
    root: u32,
    levels: u32,
    max_records: usize,
) -> Check<Walked> {
    let name = kind.name;
    let agno = ag.agno;
    if levels == 0 || levels > MAX_LEVELS {
        return Err(format!(
            "the {name} of allocation group {agno} has {levels} levels"
        ));
    }
    let header = if geo.v5 { 56 } else { 16 };
    let block_len = usize::try_from(geo.block).map_err(|_| "block size too large")?;
    let leaf_max = (block_len - header) / 8;
    let node_max = (block_len - header) / 12;
    let bad = |bno: u32, what: &str| {
        format!("{name} block {bno} of allocation group {agno} is not valid ({what})")
    };

    let mut stack = vec![(root, levels - 1)];
    let mut seen = HashSet::new();
    // The previous block seen on each level and its right sibling: each level must be one
    // chain, visited left to right.
    let mut previous: Vec<Option<(u32, u32)>> = vec![None; levels as usize];
    let mut records: Vec<(u32, u32)> = Vec::new();
    while let Some((bno, level)) = stack.pop() {
        if bno == 0 || u64::from(bno) >= ag.len {
            return Err(bad(bno, "outside the group"));
        }
        if !seen.insert(bno) {
            return Err(bad(bno, "reached twice"));
        }
        let at = ag.start + u64::from(bno) * geo.block;
        let block = read(region, at, geo.block, name)?;
        let f = Fields(&block);
        let magic = f.take::<4>(0)?;
        if magic != if geo.v5 { kind.magic_v5 } else { kind.magic_v4 } {
            return Err(bad(bno, "magic"));
        }
        if u32::from(f.u16(4)?) != level {
            return Err(bad(bno, "level"));
        }
        let count = usize::from(f.u16(6)?);
        let (left, right) = (f.u32(8)?, f.u32(12)?);
        if geo.v5 {
            if f.u64(16)? != at / 512 || f.take::<16>(32)? != geo.meta_uuid || f.u32(48)? != agno {
                return Err(bad(bno, "address, uuid or owner"));
            }
            if !crc32c::verify(&block, 52) {
                return Err(format!(
                    "{name} block {bno} of allocation group {agno} has a wrong checksum"
                ));
            }
        }
        let slot = previous
            .get_mut(level as usize)
            .ok_or_else(|| bad(bno, "level"))?;
        let linked = match *slot {
            None => left == NULL_AGBLOCK,
            Some((prev, prev_right)) => left == prev && prev_right == bno,
        };
        if !linked {
            return Err(bad(bno, "sibling pointers"));
        }
        *slot = Some((bno, right));

        if level == 0 {
            let lone_root = bno == root && levels == 1;
            if count > leaf_max || (count == 0 && !lone_root) {
                return Err(bad(bno, "record count"));
            }
            for i in 0..count {
                let record = (f.u32(header + 8 * i)?, f.u32(header + 8 * i + 4)?);
                check_record(record, records.last().copied(), kind, ag.len)
                    .map_err(|why| bad(bno, why))?;
                records.push(record);
            }
            if records.len() > max_records {
                return Err(format!(
                    "the {name} of allocation group {agno} has too many records"
                ));
            }
        } else {
            if count == 0 || count > node_max {
                return Err(bad(bno, "record count"));
            }
            let pointers = header + 8 * node_max;
            for i in (0..count).rev() {
                stack.push((f.u32(pointers + 4 * i)?, level - 1));
            }
        }
    }
    if previous
        .iter()
        .flatten()
        .any(|&(_, right)| right != NULL_AGBLOCK)
    {
        return Err(format!(
            "the {name} of allocation group {agno} has a level that ends early"
        ));
    }
    Ok(Walked {
        records,
        blocks: seen.into_iter().collect(),
    })
}

/// A leaf record must be a non-empty extent inside the group, after the one before it in the
/// tree's order (and, by start, not overlapping it).
fn check_record(
    record: (u32, u32),
    previous: Option<(u32, u32)>,
    kind: &Kind,
    ag_len: u64,
) -> Result<(), &'static str> {
    let (start, count) = (u64::from(record.0), u64::from(record.1));
    if count == 0 || start + count > ag_len {
        return Err("an extent outside the group");
    }
    let in_order = match previous {
        None => true,
        Some((prev_start, prev_count)) if kind.by_size => {
            (prev_count, prev_start) < (record.1, record.0)
        }
        Some((prev_start, prev_count)) => u64::from(prev_start) + u64::from(prev_count) <= start,
    };
    if in_order {
        Ok(())
    } else {
        Err("records out of order")
    }
}
