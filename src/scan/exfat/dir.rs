//! exFAT directories: finding the allocation bitmaps and the up-case table in the root, and
//! walking the whole tree to prove that every cluster a file or directory uses is allocated.
//!
//! A file's clusters are contiguous when its stream extension says NoFatChain (the FAT
//! entries are then meaningless, often 0), and otherwise follow the FAT. Every cluster is
//! claimed at most once (which also ends loops); a cluster claimed twice, outside the heap,
//! or free in the allocation bitmap maps the volume whole.

use super::boot::Geometry;
use crate::le::{u16_at, u32_at, u64_at};
use crate::source::RandomAccess;

/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 256;
/// Most directory entries read in the whole tree.
const MAX_ENTRIES: u64 = 1 << 24;
/// The largest directory exFAT allows (256 MiB).
const MAX_DIR_BYTES: u64 = 256 << 20;

/// An allocation the root directory describes: (first cluster, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub first: u32,
    pub bytes: u64,
}

/// What the root directory holds besides files.
#[derive(Debug, Default)]
pub(crate) struct Root {
    /// The root directory's own contents.
    pub bytes: Vec<u8>,
    /// Its clusters.
    pub clusters: Vec<u32>,
    /// Allocation bitmaps, indexed by the FAT they belong to (BitmapFlags bit 0).
    pub bitmaps: Vec<(u64, Extent)>,
    pub upcase: Vec<Extent>,
}

/// What the walk saw.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Walked {
    pub directories: u64,
    pub files: u64,
    pub clusters: u64,
}

pub(crate) struct Walker<'a> {
    pub region: &'a dyn RandomAccess,
    pub g: &'a Geometry,
    /// The active FAT, indexed by cluster number.
    pub fat: &'a [u32],
    /// Clusters claimed so far (bit n = cluster n).
    pub seen: Vec<u64>,
    pub stats: Walked,
    read: u64,
}

/// The checksum of a directory entry set, leaving out its own field (bytes 2-3).
pub(crate) fn set_checksum(set: &[u8]) -> u16 {
    let mut sum = 0u16;
    for (i, &b) in set.iter().enumerate() {
        if i == 2 || i == 3 {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u16::from(b));
    }
    sum
}

impl<'a> Walker<'a> {
    pub fn new(region: &'a dyn RandomAccess, g: &'a Geometry, fat: &'a [u32]) -> Self {
        Walker {
            region,
            g,
            fat,
            seen: vec![0; (g.clusters as usize + 2).div_ceil(64)],
            stats: Walked::default(),
            read: 0,
        }
    }

    /// The clusters of an allocation: `count` contiguous from `first` with NoFatChain,
    /// otherwise `count` along the FAT (or up to the end of the chain when `count` is None).
    /// Checks range and termination only; [`Walker::claim`] checks allocation.
    pub fn clusters(
        &self,
        first: u32,
        count: Option<u64>,
        contiguous: bool,
        what: &str,
    ) -> Result<Vec<u32>, String> {
        let limit = u64::from(self.g.clusters);
        if contiguous {
            let count = count.unwrap_or(1);
            let last = u64::from(first) + count;
            if !self.g.is_cluster(first) || last > limit + 2 {
                return Err(format!(
                    "{what} spans clusters {first}..{last}, outside the heap (2..{})",
                    limit + 2
                ));
            }
            return Ok((first..last as u32).collect());
        }
        let mut out = Vec::new();
        let mut at = first;
        loop {
            if !self.g.is_cluster(at) {
                return Err(format!(
                    "the FAT chain of {what} leads to cluster {at}, outside the heap"
                ));
            }
            out.push(at);
            if count.is_some_and(|c| out.len() as u64 >= c) {
                return Ok(out);
            }
            if out.len() as u64 > limit {
                return Err(format!("the FAT chain of {what} loops"));
            }
            match self.fat[at as usize] {
                0xFFFF_FFF8..=0xFFFF_FFFF => {
                    return match count {
                        Some(c) => Err(format!(
                            "the FAT chain of {what} ends after {} clusters, {c} needed",
                            out.len()
                        )),
                        None => Ok(out),
                    };
                }
                0xFFFF_FFF7 => {
                    return Err(format!("the FAT chain of {what} runs into a bad cluster"));
                }
                0 => {
                    return Err(format!(
                        "the FAT chain of {what} runs into a free FAT entry (cluster {at})"
                    ));
                }
                next => at = next,
            }
        }
    }

    /// Marks clusters as used by `what`: each once only, and allocated in `bitmap`.
    pub fn claim(&mut self, clusters: &[u32], bitmap: &[u8], what: &str) -> Result<(), String> {
        for &c in clusters {
            let (word, bit) = (c as usize / 64, c as usize % 64);
            if self.seen[word] & (1 << bit) != 0 {
                return Err(format!(
                    "cluster {c} is used twice (a loop or a cross-link, at {what})"
                ));
            }
            self.seen[word] |= 1 << bit;
            let i = (c - 2) as usize;
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                return Err(format!(
                    "{what} uses cluster {c}, which the allocation bitmap calls free"
                ));
            }
            self.stats.clusters += 1;
        }
        Ok(())
    }

    /// Reads the given clusters of a directory.
    fn read_clusters(&self, clusters: &[u32], what: &str) -> Result<Vec<u8>, String> {
        let bytes = clusters.len() as u64 * self.g.cluster;
        if bytes > MAX_DIR_BYTES {
            return Err(format!(
                "{what} has {bytes} bytes, more than exFAT's 256 MiB limit"
            ));
        }
        crate::scan::fat::read_clusters(
            self.region,
            clusters,
            self.g.cluster,
            |c| self.g.cluster_offset(c),
            what,
        )
    }

    /// Reads the root directory (a FAT chain with no length) and finds its bitmaps and
    /// up-case table.
    pub fn root(&self) -> Result<Root, String> {
        let clusters = self.clusters(self.g.root, None, false, "the root directory")?;
        let bytes = self.read_clusters(&clusters, "the root directory")?;
        let mut root = Root {
            clusters,
            ..Root::default()
        };
        for e in bytes.chunks_exact(32) {
            let extent = Extent {
                first: u32_at(e, 20),
                bytes: u64_at(e, 24),
            };
            match e[0] {
                0x00 => break,
                0x81 => root.bitmaps.push((u64::from(e[1] & 1), extent)),
                0x82 => root.upcase.push(extent),
                _ => {}
            }
        }
        root.bytes = bytes;
        Ok(root)
    }

    /// Walks the tree from the root, claiming every allocation against `bitmap`.
    pub fn walk(&mut self, root: &Root, bitmap: &[u8]) -> Result<(), String> {
        let mut stack = vec![(String::new(), root.bytes.clone(), 0usize)];
        while let Some((path, bytes, depth)) = stack.pop() {
            self.stats.directories += 1;
            for (child, clusters) in self.entries(&path, &bytes, depth == 0, bitmap)? {
                if depth + 1 > MAX_DEPTH {
                    return Err(format!(
                        "directories nest deeper than {MAX_DEPTH} levels at {child}"
                    ));
                }
                let data = self.read_clusters(&clusters, &child)?;
                stack.push((child, data, depth + 1));
            }
        }
        Ok(())
    }

    /// Checks one directory's entry sets; returns its subdirectories and their clusters.
    fn entries(
        &mut self,
        path: &str,
        bytes: &[u8],
        is_root: bool,
        bitmap: &[u8],
    ) -> Result<Vec<(String, Vec<u32>)>, String> {
        let entries: Vec<&[u8]> = bytes.chunks_exact(32).collect();
        let mut children = Vec::new();
        let mut i = 0;
        while i < entries.len() {
            let e = entries[i];
            let kind = e[0];
            if kind == 0x00 {
                break;
            }
            i += 1;
            if kind & 0x80 == 0 {
                continue; // unused or deleted
            }
            self.read += 1;
            if self.read > MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} directory entries"));
            }
            let place = format!(
                "entry {} of {}",
                i - 1,
                if path.is_empty() { "/" } else { path }
            );
            match kind {
                // Bitmaps and the up-case table are claimed by the caller.
                0x81 | 0x82 if is_root => {}
                0x83 => {}
                0x85 => {
                    let count = usize::from(e[1]);
                    if !(2..=18).contains(&count) || i + count > entries.len() {
                        return Err(format!(
                            "the file entry set at {place} is malformed ({count} secondary entries)"
                        ));
                    }
                    let set: Vec<u8> = entries[i - 1..i + count].concat();
                    if set_checksum(&set) != u16_at(e, 2) {
                        return Err(format!("the file entry set at {place} has a bad checksum"));
                    }
                    i += count;
                    if let Some(child) = self.file(path, &place, &set, bitmap)? {
                        children.push(child);
                    }
                }
                0xA0..=0xBF => {
                    // Benign primaries (volume GUID, TexFAT padding, ACLs): skip their
                    // secondaries, but claim what they allocate.
                    i += usize::from(e[1]);
                    if u16_at(e, 4) & 1 != 0 {
                        self.allocation(
                            e[4] & 2 != 0,
                            u32_at(e, 20),
                            u64_at(e, 24),
                            bitmap,
                            &place,
                        )?;
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown or misplaced directory entry type {kind:#04x} at {place}"
                    ));
                }
            }
        }
        Ok(children)
    }

    /// Claims one allocation (a file's data, a vendor allocation); returns its clusters.
    fn allocation(
        &mut self,
        contiguous: bool,
        first: u32,
        bytes: u64,
        bitmap: &[u8],
        what: &str,
    ) -> Result<Vec<u32>, String> {
        if first == 0 {
            if bytes != 0 {
                return Err(format!("{what} has {bytes} bytes but no clusters"));
            }
            return Ok(Vec::new());
        }
        let count = bytes.div_ceil(self.g.cluster);
        if count == 0 {
            return Err(format!("{what} has a first cluster but no bytes"));
        }
        let clusters = self.clusters(first, Some(count), contiguous, what)?;
        self.claim(&clusters, bitmap, what)?;
        Ok(clusters)
    }

    /// Checks a file entry set (file, stream extension, names, maybe vendor entries).
    fn file(
        &mut self,
        path: &str,
        place: &str,
        set: &[u8],
        bitmap: &[u8],
    ) -> Result<Option<(String, Vec<u32>)>, String> {
        let attributes = u16_at(set, 4);
        let stream = &set[32..64];
        if stream[0] != 0xC0 {
            return Err(format!(
                "the file entry set at {place} has no stream extension"
            ));
        }
        let name_len = usize::from(stream[3]);
        let mut name = Vec::new();
        for e in set[64..].chunks_exact(32) {
            match e[0] {
                0xC1 => name.extend(
                    e[2..32]
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]])),
                ),
                // Benign secondaries: vendor extensions, and allocations to claim.
                0xE0..=0xFF => {
                    if e[1] & 1 != 0 {
                        self.allocation(
                            e[1] & 2 != 0,
                            u32_at(e, 20),
                            u64_at(e, 24),
                            bitmap,
                            place,
                        )?;
                    }
                }
                other => {
                    return Err(format!(
                        "unexpected entry type {other:#04x} inside the file entry set at {place}"
                    ));
                }
            }
        }
        name.truncate(name_len);
        let full = format!("{path}/{}", String::from_utf16_lossy(&name));
        self.stats.files += u64::from(attributes & 0x10 == 0);
        let flags = stream[1];
        let valid = u64_at(stream, 8);
        let first = u32_at(stream, 20);
        let bytes = u64_at(stream, 24);
        if valid > bytes {
            return Err(format!(
                "{full}: valid data length {valid} exceeds its length {bytes}"
            ));
        }
        if flags & 1 == 0 {
            if first != 0 || bytes != 0 {
                return Err(format!(
                    "{full} has clusters though its allocation is marked impossible"
                ));
            }
            return Ok(None);
        }
        let clusters = self.allocation(flags & 2 != 0, first, bytes, bitmap, &full)?;
        if attributes & 0x10 != 0 {
            if clusters.is_empty() {
                return Err(format!("directory {full} has no clusters"));
            }
            return Ok(Some((full, clusters)));
        }
        Ok(None)
    }
}
