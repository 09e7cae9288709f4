//! The directory walk: a second, independent proof that nothing in use is called free.
//!
//! From the root, every directory and file chain is followed through the FAT, and every
//! cluster on it must be allocated (non-zero) in every FAT copy. A chain that touches a free,
//! bad or out-of-range cluster, a cluster reached twice (a loop or a cross-link), or a file
//! longer than its chain means the FAT cannot be trusted, and the filesystem is mapped whole.
//! Boot partitions are small, so reading every directory costs little.
//!
//! The walk is bounded: each cluster is visited at most once (which also ends loops), a
//! directory holds at most 65,536 entries (the FAT limit), the tree at most [`MAX_DEPTH`]
//! levels and [`MAX_ENTRIES`] entries in all.

use super::bpb::{Geometry, Kind};
use super::table::{Bits, Table};
use crate::source::RandomAccess;

/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 256;
/// Most directory entries read in the whole tree.
const MAX_ENTRIES: u64 = 1 << 24;
/// Most bytes in one directory: 65,536 entries of 32 bytes.
const MAX_DIR_BYTES: u64 = 65_536 * 32;

/// What the walk saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walked {
    pub directories: u64,
    pub files: u64,
    /// Clusters on some chain.
    pub clusters: u64,
}

/// Walks the tree following the chains of `entries` (one FAT copy).
pub(crate) fn walk(
    region: &dyn RandomAccess,
    g: &Geometry,
    table: &Table,
    entries: &[u32],
) -> Result<Walked, String> {
    let mut walker = Walker {
        region,
        g,
        table,
        entries,
        seen: Bits::new(entries.len()),
        stats: Walked::default(),
        read: 0,
    };
    let root = match g.kind {
        Kind::Fat32 => walker.directory_chain(g.root_cluster, "/")?,
        Kind::Fat12 | Kind::Fat16 => {
            let mut bytes =
                vec![0u8; usize::try_from(g.root_entries * 32).map_err(|_| "root too large")?];
            region
                .read_exact_at(g.root_dir_start(), &mut bytes)
                .map_err(|e| format!("cannot read the root directory: {e}"))?;
            bytes
        }
    };
    let mut stack = vec![(String::new(), root, 0usize)];
    while let Some((path, bytes, depth)) = stack.pop() {
        walker.stats.directories += 1;
        for child in walker.directory_entries(&path, &bytes)? {
            if depth + 1 > MAX_DEPTH {
                return Err(format!(
                    "directories nest deeper than {MAX_DEPTH} levels at {}",
                    child.0
                ));
            }
            let data = walker.directory_chain(child.1, &child.0)?;
            stack.push((child.0, data, depth + 1));
        }
    }
    Ok(walker.stats)
}

struct Walker<'a> {
    region: &'a dyn RandomAccess,
    g: &'a Geometry,
    table: &'a Table,
    entries: &'a [u32],
    seen: Bits,
    stats: Walked,
    /// Directory entries read so far.
    read: u64,
}

impl Walker<'_> {
    /// Follows the chain from `start`, checking each cluster; returns its clusters.
    fn chain(&mut self, start: u32, path: &str) -> Result<Vec<u32>, String> {
        let mut clusters = Vec::new();
        let mut at = start;
        loop {
            if !self.g.is_cluster(at) {
                return Err(format!(
                    "directory entry {path} leads to cluster {at}, outside clusters 2..{}",
                    u64::from(self.g.clusters) + 2
                ));
            }
            let i = at as usize;
            if self.seen.get(i) {
                return Err(format!(
                    "cluster {at} is reached twice (a loop or a cross-link, at {path})"
                ));
            }
            self.seen.set(i);
            if self.table.free_in_some.get(i) {
                return Err(format!(
                    "directory entry {path} points at a free cluster ({at})"
                ));
            }
            clusters.push(at);
            self.stats.clusters += 1;
            let next = self.entries[i];
            if next >= self.g.kind.end_of_chain() {
                return Ok(clusters);
            }
            if next == self.g.kind.bad() {
                return Err(format!(
                    "the chain of {path} runs into a bad cluster after cluster {at}"
                ));
            }
            at = next;
        }
    }

    /// Reads a directory's clusters.
    fn directory_chain(&mut self, start: u32, path: &str) -> Result<Vec<u8>, String> {
        let clusters = self.chain(start, path)?;
        let bytes = clusters.len() as u64 * self.g.cluster;
        if bytes > MAX_DIR_BYTES {
            return Err(format!(
                "directory {path} has {bytes} bytes, more than the 65,536 entries FAT allows"
            ));
        }
        super::read_clusters(
            self.region,
            &clusters,
            self.g.cluster,
            |c| self.g.cluster_offset(c),
            &format!("directory {path}"),
        )
    }

    /// Checks a directory's file entries and returns its subdirectories (path, first cluster).
    fn directory_entries(
        &mut self,
        path: &str,
        bytes: &[u8],
    ) -> Result<Vec<(String, u32)>, String> {
        let mut children = Vec::new();
        for raw in bytes.chunks_exact(32) {
            match raw[0] {
                0x00 => break,
                0xE5 => continue,
                _ => {}
            }
            self.read += 1;
            if self.read > MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} directory entries"));
            }
            let attr = raw[11];
            // Long-name pieces and the volume label own no clusters.
            if attr & 0x3F == 0x0F || attr & 0x08 != 0 {
                continue;
            }
            let name = short_name(raw);
            if name == "." || name == ".." {
                continue;
            }
            let child = format!("{path}/{name}");
            let high = if self.g.kind == Kind::Fat32 {
                u32::from(u16::from_le_bytes([raw[20], raw[21]])) << 16
            } else {
                0
            };
            let first = high | u32::from(u16::from_le_bytes([raw[26], raw[27]]));
            let size = u64::from(u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]));
            if attr & 0x10 != 0 {
                if first == 0 {
                    return Err(format!("directory {child} has no first cluster"));
                }
                children.push((child, first));
                continue;
            }
            self.stats.files += 1;
            if first == 0 {
                if size != 0 {
                    return Err(format!("file {child} has {size} bytes but no clusters"));
                }
                continue;
            }
            let chain = self.chain(first, &child)?;
            let needed = size.div_ceil(self.g.cluster);
            if (chain.len() as u64) < needed {
                return Err(format!(
                    "file {child} has {size} bytes but a chain of only {} clusters",
                    chain.len()
                ));
            }
        }
        Ok(children)
    }
}

/// An 8.3 name for messages ("CONFIG.TXT").
fn short_name(raw: &[u8]) -> String {
    let mut base = raw[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xE5;
    }
    let base = String::from_utf8_lossy(&base).trim_end().to_owned();
    let ext = String::from_utf8_lossy(&raw[8..11]).trim_end().to_owned();
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}
