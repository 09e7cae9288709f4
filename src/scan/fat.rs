//! FAT12, FAT16 and FAT32: the filesystem of nearly every boot partition.
//!
//! ```text
//!  sector 0: BPB ──► geometry (FAT width from the cluster count only)
//!  reserved │ FAT 1 │ … │ FAT n │ root dir (12/16) │ cluster 2 │ cluster 3 │ … │ slack
//!  └──────────── always mapped ────────────────────┘ free iff 0 in EVERY FAT  └ mapped
//! ```
//!
//! A cluster is free only when its entry is 0 in every FAT copy, which also covers FAT32
//! with mirroring off. Bad (…F7) and reserved values are non-zero, so they stay mapped. A
//! dirty volume (Microsoft's flag in `FAT[1]`, or Linux's in the boot sector) is mapped whole,
//! and so is one whose directory tree references a free cluster (see [`walk`]).

mod bpb;
mod table;
#[cfg(test)]
pub(super) mod tests;
mod walk;

use super::fs::{Found, Parser, Verdict};
use crate::source::RandomAccess;

/// The FAT parser.
pub(crate) const PARSER: Parser = Parser {
    name: "FAT",
    detect,
    scan,
};

fn detect(region: &dyn RandomAccess) -> bool {
    bpb::boot_sector(region).is_some_and(|b| bpb::looks_like_fat(&b))
}

fn scan(region: &dyn RandomAccess) -> Verdict {
    let Some(boot) = bpb::boot_sector(region) else {
        return Verdict::whole("FAT", "cannot read the boot sector");
    };
    let g = match bpb::parse(&boot, region.len()) {
        Ok(g) => g,
        Err(reason) => return Verdict::whole("FAT", reason),
    };
    let fs = g.kind.name();
    Verdict::from_analysis(fs, free_clusters(region, &g))
}

/// The free byte ranges of a parsed FAT, with notes for `--explain`.
fn free_clusters(region: &dyn RandomAccess, g: &bpb::Geometry) -> Result<Found, String> {
    // Linux sets bit 0 of this byte while mounted (FAT_STATE_DIRTY), and fsck.fat reports it.
    if g.state & 1 != 0 {
        return Err(format!(
            "the volume was not cleanly unmounted (dirty flag in the boot sector: {:#04x})",
            g.state
        ));
    }
    let table = table::read(region, g)?;
    if g.mirrored && !table.differing.is_empty() {
        return Err(format!(
            "the FAT copies differ (copy {} against copy 1), though they are mirrored",
            table.differing[0] + 1
        ));
    }
    // Every copy a reader might follow is walked: one when they agree, each one otherwise.
    let walked = walk::walk(region, g, &table, &table.entries)?;
    for &copy in &table.differing {
        let mut entries = Vec::with_capacity(table.entries.len());
        table::decode(region, g, copy, |_, v| entries.push(v))?;
        walk::walk(region, g, &table, &entries)
            .map_err(|e| format!("following FAT copy {}: {e}", copy + 1))?;
    }

    let mut free = Vec::new();
    let mut free_clusters = 0u64;
    let end = g.clusters + 2;
    let mut n = 2;
    while n < end {
        if !table.free_in_all.get(n as usize) {
            n += 1;
            continue;
        }
        let start = n;
        while n < end && table.free_in_all.get(n as usize) {
            n += 1;
        }
        free_clusters += u64::from(n - start);
        free.push((g.cluster_offset(start), g.cluster_offset(n)));
    }

    let mut notes = vec![
        format!(
            "{}: {}-byte sectors, {}-byte clusters, {} clusters, {free_clusters} free in every FAT",
            g.kind.name(),
            g.sector,
            g.cluster,
            g.clusters
        ),
        format!(
            "{} FAT{} of {} bytes, {}",
            g.fats,
            if g.fats == 1 { "" } else { "s" },
            g.fat_sectors * g.sector,
            match (g.mirrored, table.differing.is_empty()) {
                (true, _) => "mirrored".to_owned(),
                (false, true) => format!(
                    "mirroring off (active copy {}), copies identical",
                    table.copy + 1
                ),
                (false, false) => format!(
                    "mirroring off (active copy {}), copies differ",
                    table.copy + 1
                ),
            }
        ),
        format!(
            "mapped: reserved region, FATs{} and cluster 2 onwards from byte {}",
            if g.kind == bpb::Kind::Fat32 {
                ""
            } else {
                ", root directory region"
            },
            g.data_start()
        ),
        format!(
            "directory walk: {} directories, {} files, {} clusters on chains, all allocated in every FAT",
            walked.directories, walked.files, walked.clusters
        ),
    ];
    notes.extend(tail_notes(g.bytes(), g.cluster_offset(end), region.len()));
    Ok((free, notes))
}

/// What a FAT-family filesystem keeps mapped after its data: the slack past the last whole
/// cluster (`data_end`), and the rest of the region past the filesystem's end.
pub(super) fn tail_notes(fs_bytes: u64, data_end: u64, region_len: u64) -> Vec<String> {
    let mut notes = Vec::new();
    if fs_bytes > data_end {
        notes.push(format!(
            "mapped: {} bytes after the last cluster",
            fs_bytes - data_end
        ));
    }
    if fs_bytes < region_len {
        notes.push(format!(
            "mapped: {} bytes of the region after the filesystem",
            region_len - fs_bytes
        ));
    }
    notes
}

/// Reads the `clusters` of a directory (FAT or exFAT) into one buffer; `what` names the
/// directory in errors. The caller bounds how many clusters there may be.
pub(super) fn read_clusters(
    region: &dyn RandomAccess,
    clusters: &[u32],
    cluster: u64,
    offset: impl Fn(u32) -> u64,
    what: &str,
) -> Result<Vec<u8>, String> {
    let size = usize::try_from(cluster)
        .ok()
        .filter(|&s| s > 0)
        .ok_or("implausible cluster size")?;
    let mut data = vec![0u8; clusters.len() * size];
    for (chunk, &c) in data.chunks_exact_mut(size).zip(clusters) {
        region
            .read_exact_at(offset(c), chunk)
            .map_err(|e| format!("cannot read {what} (cluster {c}): {e}"))?;
    }
    Ok(data)
}
