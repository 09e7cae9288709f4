//! One allocation group: its AGF (btree roots and counters), its free list (AGFL), and the
//! free extents that both free-space btrees and the counters agree on.

use super::{Check, Fields, Geometry, btree, crc32c, read};
use crate::source::RandomAccess;

/// Totals over all allocation groups, for `--explain`.
#[derive(Default)]
pub(super) struct Summary {
    /// Free extents listed by the bnobt.
    pub extents: u64,
    /// Free blocks in them.
    pub blocks: u64,
    /// Blocks on the free lists, kept mapped.
    pub agfl_blocks: u64,
}

/// The "no block" value of AG block pointers.
const NULL_AGBLOCK: u32 = u32::MAX;

/// Adds the free byte ranges of allocation group `agno` to `free`, after checking them.
pub(super) fn free_space(
    region: &dyn RandomAccess,
    geo: &Geometry,
    agno: u32,
    free: &mut Vec<(u64, u64)>,
    summary: &mut Summary,
) -> Check<()> {
    let first_block = u64::from(agno) * geo.ag_blocks;
    let ag_len = geo.ag_blocks.min(geo.blocks.saturating_sub(first_block));
    let ag_start = geo.byte_of(agno, 0)?;
    let agf_at = ag_start
        .checked_add(geo.sector)
        .ok_or("an AGF lies past the end of the region")?;
    let agf = read(region, agf_at, geo.sector, "AGF")?;
    let f = Fields(&agf);
    let bad = |what: &str| format!("the AGF of allocation group {agno} is not valid ({what})");
    if f.take::<4>(0)? != *b"XAGF" || f.u32(4)? != 1 {
        return Err(bad("magic or version"));
    }
    if f.u32(8)? != agno || u64::from(f.u32(12)?) != ag_len {
        return Err(bad("sequence number or length"));
    }
    if geo.v5 && !crc32c::verify(&agf, 216) {
        return Err(format!(
            "the AGF checksum of allocation group {agno} is wrong"
        ));
    }
    if geo.v5 && f.take::<16>(64)? != geo.meta_uuid {
        return Err(bad("uuid"));
    }
    let ag = btree::Ag {
        agno,
        start: ag_start,
        len: ag_len,
    };
    let free_blocks = u64::from(f.u32(52)?);
    let longest = f.u32(56)?;
    let max_records = usize::try_from(ag_len).unwrap_or(usize::MAX);
    let bno = btree::walk(
        region,
        geo,
        &ag,
        &btree::BNO,
        f.u32(16)?,
        f.u32(28)?,
        max_records,
    )?;
    let cnt = btree::walk(
        region,
        geo,
        &ag,
        &btree::CNT,
        f.u32(20)?,
        f.u32(32)?,
        bno.records.len(),
    )?;

    // The cntbt indexes the same extents by size: the same set, in its own order.
    let mut by_size = bno.records.clone();
    by_size.sort_unstable_by_key(|&(start, count)| (count, start));
    if by_size != cnt.records {
        return Err(format!(
            "the free-space btrees of allocation group {agno} disagree ({} extents by block, {} by size)",
            bno.records.len(),
            cnt.records.len()
        ));
    }
    let total: u64 = bno.records.iter().map(|&(_, count)| u64::from(count)).sum();
    if total != free_blocks {
        return Err(format!(
            "allocation group {agno}: the bnobt lists {total} free blocks but the AGF counts {free_blocks}"
        ));
    }
    let max = bno
        .records
        .iter()
        .map(|&(_, count)| count)
        .max()
        .unwrap_or(0);
    if max != longest {
        return Err(format!(
            "allocation group {agno}: the longest free extent is {max} blocks but the AGF says {longest}"
        ));
    }

    let agfl = free_list(region, geo, &ag, f.u32(40)?, f.u32(44)?, f.u32(48)?)?;
    let ranges: Vec<(u64, u64)> = bno
        .records
        .iter()
        .map(|&(start, count)| {
            let from = ag_start + u64::from(start) * geo.block;
            (from, from + u64::from(count) * geo.block)
        })
        .collect();

    // Blocks known to be in use must not be listed free: a free list that claims them is
    // corrupt, and nothing in it can be trusted.
    let mut used = vec![
        (ag_start, ag_start + 4 * geo.sector, "the AG headers"),
        (geo.log_start, geo.log_start + geo.log_len, "the log"),
    ];
    let block_of = |bno: u32| {
        let at = ag_start + u64::from(bno) * geo.block;
        (at, at + geo.block)
    };
    used.extend(
        agfl.iter()
            .map(|&b| (block_of(b).0, block_of(b).1, "the AGFL")),
    );
    used.extend(
        bno.blocks
            .iter()
            .map(|&b| (block_of(b).0, block_of(b).1, "a bnobt block")),
    );
    used.extend(
        cnt.blocks
            .iter()
            .map(|&b| (block_of(b).0, block_of(b).1, "a cntbt block")),
    );
    for (start, end, what) in used {
        let next = ranges.partition_point(|&(_, free_end)| free_end <= start);
        if ranges
            .get(next)
            .is_some_and(|&(free_start, _)| free_start < end)
        {
            return Err(format!(
                "allocation group {agno} lists {what} (bytes {start}..{end}) as free space"
            ));
        }
    }

    summary.extents += ranges.len() as u64;
    summary.blocks += total;
    summary.agfl_blocks += agfl.len() as u64;
    free.extend(ranges);
    Ok(())
}

/// The blocks on the AGFL, a small reserve taken out of the btrees for their own growth.
fn free_list(
    region: &dyn RandomAccess,
    geo: &Geometry,
    ag: &btree::Ag,
    first: u32,
    last: u32,
    count: u32,
) -> Check<Vec<u32>> {
    let agno = ag.agno;
    let agfl = read(region, ag.start + 3 * geo.sector, geo.sector, "AGFL")?;
    let f = Fields(&agfl);
    let header = if geo.v5 {
        if f.take::<4>(0)? != *b"XAFL" || f.u32(4)? != agno || f.take::<16>(8)? != geo.meta_uuid {
            return Err(format!(
                "the AGFL header of allocation group {agno} is not valid"
            ));
        }
        if !crc32c::verify(&agfl, 32) {
            return Err(format!(
                "the AGFL checksum of allocation group {agno} is wrong"
            ));
        }
        36
    } else {
        0
    };
    let size = (agfl.len() - header) / 4;
    let (first, last, count) = (first as usize, last as usize, count as usize);
    if count == 0 {
        return Ok(Vec::new());
    }
    let active = match (first < size && last < size, last >= first) {
        (false, _) => None,
        (true, true) => Some(last - first + 1),
        (true, false) => Some(size - first + last + 1),
    };
    if active != Some(count) {
        return Err(format!(
            "the AGFL of allocation group {agno} is inconsistent (first {first}, last {last}, count {count}, size {size})"
        ));
    }
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let bno = f.u32(header + 4 * ((first + i) % size))?;
        if bno == NULL_AGBLOCK || u64::from(bno) >= ag.len {
            return Err(format!(
                "the AGFL of allocation group {agno} holds block {bno}, outside the group"
            ));
        }
        blocks.push(bno);
    }
    Ok(blocks)
}
