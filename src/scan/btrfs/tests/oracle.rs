//! Independent views of an image's free space: btrfs-progs' own tree dumps (parsed from its
//! text output, not with the scanner's code), partclone's used-block map and bmaptool's holes.

use std::path::Path;

use crate::scan::Ranges;
use crate::scan::testing::{ranges, run};

/// A chunk as `dump-tree -t chunk` prints it.
#[derive(Debug, Clone)]
pub(super) struct OracleChunk {
    pub logical: u64,
    pub length: u64,
    pub kind: String,
    pub stripes: Vec<u64>,
}

/// What btrfs-progs says about an image.
#[derive(Debug)]
pub(super) struct Dump {
    pub size: u64,
    pub nodesize: u64,
    pub chunks: Vec<OracleChunk>,
    /// Device extents (offset, length).
    pub dev_extents: Vec<(u64, u64)>,
    /// Extent and metadata items (logical start, length).
    pub extents: Vec<(u64, u64)>,
    pub log_root: u64,
}

fn number_after(line: &str, word: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == word)?;
    words.next()?.trim_end_matches(')').parse().ok()
}

/// `(objectid TYPE offset)` of an item line.
fn key(line: &str) -> Option<(String, String, u64)> {
    let inside = line.split_once("key (")?.1.split_once(')')?.0;
    let mut parts = inside.split_whitespace();
    Some((
        parts.next()?.into(),
        parts.next()?.into(),
        parts.next()?.parse().ok()?,
    ))
}

impl Dump {
    pub(super) fn read(image: &Path) -> Dump {
        let img = image.to_str().expect("utf-8 path");
        let size = std::fs::metadata(image).expect("image").len();
        let sup = run("btrfs", &["inspect-internal", "dump-super", img]);
        let field = |name: &str| {
            sup.lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .filter(|r| r.starts_with('\t'))
                        .map(|r| r.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("dump-super has no {name}"))
        };
        let nodesize: u64 = field("nodesize").parse().expect("nodesize");
        let log_root: u64 = field("log_root").parse().expect("log_root");
        let mut chunks: Vec<OracleChunk> = Vec::new();
        for line in run(
            "btrfs",
            &["inspect-internal", "dump-tree", "-t", "chunk", img],
        )
        .lines()
        {
            if let Some((_, kind, offset)) = key(line) {
                if kind == "CHUNK_ITEM" {
                    chunks.push(OracleChunk {
                        logical: offset,
                        length: 0,
                        kind: String::new(),
                        stripes: Vec::new(),
                    });
                }
                continue;
            }
            let Some(chunk) = chunks.last_mut() else {
                continue;
            };
            if line.trim_start().starts_with("length ") && chunk.length == 0 {
                chunk.length = number_after(line, "length").expect("length");
                chunk.kind = line.split("type ").nth(1).expect("type").trim().to_owned();
            } else if line.trim_start().starts_with("stripe ") {
                chunk
                    .stripes
                    .push(number_after(line, "offset").expect("stripe offset"));
            }
        }
        let mut dev_extents = Vec::new();
        let mut pending = None;
        for line in run(
            "btrfs",
            &["inspect-internal", "dump-tree", "-t", "dev", img],
        )
        .lines()
        {
            if let Some((_, kind, offset)) = key(line) {
                pending = (kind == "DEV_EXTENT").then_some(offset);
            } else if let (Some(at), Some(len)) = (pending, number_after(line, "length")) {
                dev_extents.push((at, len));
                pending = None;
            }
        }
        let mut extents = Vec::new();
        for line in run(
            "btrfs",
            &["inspect-internal", "dump-tree", "-t", "extent", img],
        )
        .lines()
        {
            match key(line) {
                Some((start, kind, len)) if kind == "EXTENT_ITEM" => {
                    extents.push((start.parse().expect("start"), len))
                }
                Some((start, kind, _)) if kind == "METADATA_ITEM" => {
                    extents.push((start.parse().expect("start"), nodesize))
                }
                _ => {}
            }
        }
        assert!(
            !chunks.is_empty() && !dev_extents.is_empty() && !extents.is_empty(),
            "empty dumps of {img}"
        );
        Dump {
            size,
            nodesize,
            chunks,
            dev_extents,
            extents,
            log_root,
        }
    }

    /// Device offsets of every copy of logical `at`.
    pub(super) fn physical(&self, at: u64) -> Vec<u64> {
        let chunk = self
            .chunks
            .iter()
            .find(|c| c.logical <= at && at < c.logical + c.length)
            .unwrap_or_else(|| panic!("logical {at} is in no chunk"));
        chunk
            .stripes
            .iter()
            .map(|s| s + (at - chunk.logical))
            .collect()
    }

    /// Level A's view: device bytes in no device extent.
    pub(super) fn free_outside_chunks(&self) -> Ranges {
        let used: Ranges = self.dev_extents.iter().map(|&(s, l)| (s, s + l)).collect();
        used.complement(self.size)
    }

    /// The filesystem's view: outside device extents, plus chunk bytes in no extent item
    /// (at every stripe).
    pub(super) fn free(&self) -> Ranges {
        let mut free = self.free_outside_chunks();
        let used: Ranges = self.extents.iter().map(|&(s, l)| (s, s + l)).collect();
        for chunk in &self.chunks {
            let inside = ranges(&[(chunk.logical, chunk.logical + chunk.length)]);
            for &(s, e) in inside.subtract(&used).as_slice() {
                for stripe in &chunk.stripes {
                    let at = stripe + (s - chunk.logical);
                    free.add(at, at + (e - s));
                }
            }
        }
        free.normalize();
        free
    }

    /// The largest data extent (logical start, length).
    pub(super) fn largest_data_extent(&self) -> (u64, u64) {
        let data: Vec<&OracleChunk> = self
            .chunks
            .iter()
            .filter(|c| c.kind.starts_with("DATA|"))
            .collect();
        self.extents
            .iter()
            .filter(|&&(s, _)| {
                data.iter()
                    .any(|c| c.logical <= s && s < c.logical + c.length)
            })
            .copied()
            .max_by_key(|&(_, l)| l)
            .expect("a data extent")
    }
}

/// The logical address of tree `name`'s root (as `dump-tree -t root` names it, e.g. FS_TREE).
pub(super) fn tree_root(image: &Path, name: &str) -> u64 {
    let dump = run(
        "btrfs",
        &[
            "inspect-internal",
            "dump-tree",
            "-t",
            "root",
            image.to_str().expect("utf-8"),
        ],
    );
    let mut lines = dump.lines();
    lines
        .find(|l| l.contains(&format!("key ({name} ROOT_ITEM 0)")))
        .unwrap_or_else(|| panic!("no root item for {name}"));
    number_after(lines.next().expect("root item body"), "bytenr").expect("bytenr")
}

/// Where partclone 0.3.23 cannot serve as an oracle, found on these images: it marks whole
/// nodes (so its grain is the node size); it also marks every data extent's logical range as
/// if it were a device offset; and inside metadata chunks it marks blocks the extent tree
/// does not list (stale trees of older transactions, some never written). The scan is
/// compared with it outside those places, and with `dump-tree` everywhere.
pub(super) fn partclone_blind_spots(dump: &Dump) -> (u64, Ranges) {
    let grain = dump.nodesize;
    let mut blind = Ranges::new();
    for chunk in &dump.chunks {
        if chunk.kind.starts_with("DATA|") && !chunk.kind.contains("METADATA") {
            for &(s, l) in dump
                .extents
                .iter()
                .filter(|&&(s, _)| chunk.logical <= s && s < chunk.logical + chunk.length)
            {
                blind.add(s / grain * grain, (s + l).div_ceil(grain) * grain);
            }
        } else {
            for &at in &chunk.stripes {
                blind.add(at, at + chunk.length);
            }
        }
    }
    blind.normalize();
    (grain, blind)
}
