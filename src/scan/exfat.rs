//! exFAT: free clusters come from the allocation bitmap, never the FAT.
//!
//! ```text
//!  main boot region 0-11 │ backup 12-23 │ … │ FAT(s) │ … │ cluster heap: 2, 3, … │ slack
//!  └──────────────── always mapped ─────────────────────┘ free iff clear in every  └ mapped
//!                                                          allocation bitmap
//! ```
//!
//! Files whose clusters are contiguous (NoFatChain) leave their FAT entries at 0, so a FAT
//! says nothing about what is used: only the allocation bitmap, found in the root directory
//! (entry type 0x81; bit i is cluster i + 2), does. TexFAT volumes have two, and a cluster
//! is free only if both say so. The boot checksum must verify, the volume must be clean, and
//! a walk of the whole tree must find every cluster in use allocated in the bitmap.

mod boot;
mod dir;
#[cfg(test)]
mod tests;

use super::fs::{Found, Parser, Verdict};
use crate::source::RandomAccess;

/// The exFAT parser.
pub(crate) const PARSER: Parser = Parser {
    name: "exFAT",
    detect: boot::looks_like_exfat,
    scan,
};

fn scan(region: &dyn RandomAccess) -> Verdict {
    Verdict::from_analysis("exFAT", free_clusters(region))
}

/// Reads FAT `copy`, entries 0..clusters+2.
fn read_fat(region: &dyn RandomAccess, g: &boot::Geometry, copy: u64) -> Result<Vec<u32>, String> {
    let count = g.clusters as usize + 2;
    let mut raw = vec![0u8; count * 4];
    region
        .read_exact_at(g.fat_start(copy), &mut raw)
        .map_err(|e| format!("cannot read FAT {}: {e}", copy + 1))?;
    let fat: Vec<u32> = raw
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    if fat[0] != 0xFFFF_FFF8 {
        return Err(format!(
            "FAT {} does not begin with the media entry 0xfffffff8 ({:#010x}): the FAT is not where the boot sector says",
            copy + 1,
            fat[0]
        ));
    }
    Ok(fat)
}

fn free_clusters(region: &dyn RandomAccess) -> Result<Found, String> {
    let g = boot::parse(region)?;
    let fat = read_fat(region, &g, g.active)?;
    let mut walker = dir::Walker::new(region, &g, &fat);
    let root = walker.root()?;

    // One allocation bitmap per FAT, each long enough for every cluster, in contiguous
    // clusters (Linux reads them without following the FAT: the chain must agree).
    let bitmap_bytes = (g.clusters as usize).div_ceil(8);
    let mut indexes: Vec<u64> = root.bitmaps.iter().map(|(i, _)| *i).collect();
    indexes.sort_unstable();
    if indexes != (0..g.fats).collect::<Vec<_>>() {
        return Err(format!(
            "the root directory has {} allocation bitmap(s) for {} FAT(s)",
            root.bitmaps.len(),
            g.fats
        ));
    }
    let [upcase] = root.upcase.as_slice() else {
        return Err(format!(
            "the root directory has {} up-case tables (1 expected)",
            root.upcase.len()
        ));
    };
    let mut bitmaps = vec![Vec::new(); root.bitmaps.len()];
    let mut bitmap_clusters = Vec::new();
    for &(index, extent) in &root.bitmaps {
        let what = format!("allocation bitmap {}", index + 1);
        if extent.bytes < bitmap_bytes as u64 {
            return Err(format!(
                "{what} has {} bytes, too few for {} clusters",
                extent.bytes, g.clusters
            ));
        }
        let count = extent.bytes.div_ceil(g.cluster);
        let chain = walker.clusters(extent.first, Some(count), false, &what)?;
        if chain.windows(2).any(|w| w[1] != w[0] + 1) {
            return Err(format!(
                "{what} is fragmented: readers that assume it contiguous would disagree"
            ));
        }
        let mut bits = vec![0u8; bitmap_bytes];
        region
            .read_exact_at(g.cluster_offset(extent.first), &mut bits)
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        bitmaps[index as usize] = bits;
        bitmap_clusters.push((what, chain));
    }
    let active = &bitmaps[g.active as usize];

    // Everything in use must be allocated in the bitmap of the active FAT.
    walker.claim(&root.clusters, active, "the root directory")?;
    for (what, chain) in &bitmap_clusters {
        walker.claim(chain, active, what)?;
    }
    let upcase_clusters = walker.clusters(
        upcase.first,
        Some(upcase.bytes.div_ceil(g.cluster).max(1)),
        false,
        "the up-case table",
    )?;
    walker.claim(&upcase_clusters, active, "the up-case table")?;
    walker.walk(&root, active)?;

    let used = |c: u32| {
        let i = (c - 2) as usize;
        walker.seen[c as usize / 64] & (1 << (c % 64)) != 0
            || bitmaps.iter().any(|b| b[i / 8] & (1 << (i % 8)) != 0)
    };
    let mut free = Vec::new();
    let mut free_clusters = 0u64;
    let end = g.clusters + 2;
    let mut c = 2;
    while c < end {
        if used(c) {
            c += 1;
            continue;
        }
        let start = c;
        while c < end && !used(c) {
            c += 1;
        }
        free_clusters += u64::from(c - start);
        free.push((g.cluster_offset(start), g.cluster_offset(c)));
    }

    let stats = walker.stats;
    let mut notes = vec![
        format!(
            "exFAT {}.{:02}, serial {:08X}: {}-byte sectors, {}-byte clusters, {} clusters, {free_clusters} free in every allocation bitmap",
            g.revision >> 8,
            g.revision & 0xFF,
            g.serial,
            g.sector,
            g.cluster,
            g.clusters
        ),
        format!(
            "mapped: boot regions, {} FAT(s) and everything before the cluster heap at byte {}; the bitmap(s) and up-case table",
            g.fats,
            g.cluster_offset(2)
        ),
        format!(
            "directory walk: {} directories, {} files, {} clusters in use, all allocated in the bitmap",
            stats.directories, stats.files, stats.clusters
        ),
    ];
    notes.extend(super::fat::tail_notes(
        g.bytes(),
        g.cluster_offset(end),
        region.len(),
    ));
    Ok((free, notes))
}
