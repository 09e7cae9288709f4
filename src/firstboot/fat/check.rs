//! A bounded, read-only check of what the FAT library will follow, made before it follows it.
//!
//! fatfs takes every FAT value that is not free, bad or end-of-chain for the next cluster, and
//! every non-zero first cluster of a folder entry for the first one; for cluster 0 or 1, or
//! one past the last, its arithmetic overflows (a panic with overflow checks, a wrong sector
//! without), and a loop would keep it reading. A card's FAT must not reach it unchecked:
//!
//! ```text
//!  boot sector ─► Geometry (64-bit arithmetic; refuses what fatfs would miscompute)
//!  root folder (FAT12/16: its region; FAT32: its chain) ─► every entry, even past the end
//!  marker (fatfs writes new entries there): first cluster 0 or in 2..clusters+2, then each
//!  next value in range up to end-of-chain, every cluster once ─► the folders below, as many
//!  levels down as the paths asked for go
//! ```

mod name;

use std::io::{self, Read, Seek, SeekFrom};

use name::{Long, short_name};

/// The most clusters a FAT can number: above this, cluster numbers reach the values that
/// mean bad and end-of-chain (fatfs panics when asked to free one of those).
const MAX_CLUSTERS: u64 = 0x0FFF_FFF5;

/// The most folder entries one check reads (32 MiB of folders; a boot partition has a few
/// thousand entries).
const MAX_SLOTS: u64 = 1 << 20;

/// Bytes of the FAT read at a time.
const BLOCK: u64 = 4096;

/// What a FAT boot sector says, checked to be safe for fatfs. Offsets are in bytes from the
/// start of the volume.
#[derive(Debug)]
pub(crate) struct Geometry {
    /// 12, 16 or 32: the width of a FAT entry.
    bits: u8,
    cluster_bytes: u64,
    /// The FAT copy fatfs reads (the first, or the active one when mirroring is off).
    fat_start: u64,
    fat_bytes: u64,
    /// FAT12/16's fixed root folder region (sectors, as fatfs reads it whole).
    root_start: u64,
    root_bytes: u64,
    data_start: u64,
    clusters: u32,
    /// FAT32's first cluster of the root folder.
    root_cluster: u32,
}

impl Geometry {
    /// Checks the BIOS parameter block of a FAT boot sector against a volume of `len` bytes,
    /// in 64-bit arithmetic: every region inside the volume, the FAT large enough for the
    /// clusters and small enough for fatfs's 32-bit sums, FAT32's root folder a cluster that
    /// exists and its active FAT one of its copies.
    pub(crate) fn parse(boot: &[u8; 512], len: u64) -> Result<Self, String> {
        let u16_at = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
        let u32_at = |at: usize| u16_at(at) | u16_at(at + 2) << 16;
        let bytes_per_sector = u16_at(11);
        let per_cluster = u64::from(boot[13]);
        let (reserved, fats, root_entries) = (u16_at(14), u64::from(boot[16]), u16_at(17));
        let total = match u16_at(19) {
            0 => u32_at(32),
            n => n,
        };
        let per_fat = match u16_at(22) {
            0 => u32_at(36),
            n => n,
        };
        if boot[510..512] != [0x55, 0xAA] {
            return Err("its boot sector has no 0x55AA signature".into());
        }
        if !matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
            || !per_cluster.is_power_of_two()
            || per_cluster > 128
        {
            return Err(format!(
                "its boot sector gives impossible sizes ({bytes_per_sector}-byte sectors, \
                 {per_cluster} per cluster)"
            ));
        }
        if reserved == 0 || fats == 0 || per_fat == 0 || total == 0 {
            return Err(
                "its boot sector leaves out the reserved sectors, the FAT or the size".into(),
            );
        }
        let root_sectors = (root_entries * 32).div_ceil(bytes_per_sector);
        let data_start = reserved + fats * per_fat + root_sectors;
        if data_start >= total || total * bytes_per_sector > len {
            return Err(format!(
                "its boot sector says it has {total} sectors of {bytes_per_sector} bytes (data \
                 from sector {data_start}), which does not fit the partition's {len} bytes"
            ));
        }
        let clusters = (total - data_start) / per_cluster;
        if clusters > MAX_CLUSTERS {
            return Err(format!(
                "its boot sector gives {clusters} clusters, more than a FAT can number"
            ));
        }
        let bits: u8 = match clusters {
            ..4085 => 12,
            4085..65525 => 16,
            _ => 32,
        };
        let fat_bytes = per_fat * bytes_per_sector;
        if fat_bytes * 8 < (clusters + 2) * u64::from(bits) {
            return Err(format!(
                "its FAT ({per_fat} sectors) is too small for its {clusters} clusters"
            ));
        }
        if fat_bytes * 8 > u64::from(u32::MAX) {
            return Err(format!(
                "its FAT ({fat_bytes} bytes) is larger than any FAT needs (512 MiB)"
            ));
        }
        let (mut copy, mut root_cluster) = (0, 0);
        if bits == 32 {
            root_cluster = u32_at(44);
            if !(2..clusters + 2).contains(&root_cluster) {
                return Err(format!(
                    "its root directory starts at cluster {root_cluster}, which does not exist"
                ));
            }
            let flags = u16_at(40);
            if flags & 0x80 != 0 {
                copy = flags & 0x0F;
                if copy >= fats {
                    return Err(format!(
                        "its boot sector makes FAT copy {} of {fats} the one in use",
                        copy + 1
                    ));
                }
            }
        }
        let sectors = |n: u64| n * bytes_per_sector;
        Ok(Self {
            bits,
            cluster_bytes: sectors(per_cluster),
            fat_start: sectors(reserved + copy * per_fat),
            fat_bytes,
            root_start: sectors(reserved + fats * per_fat),
            root_bytes: if bits == 32 { 0 } else { sectors(root_sectors) },
            data_start: sectors(data_start),
            clusters: u32::try_from(clusters).map_err(|_| "too many clusters".to_owned())?,
            root_cluster: u32::try_from(root_cluster).unwrap_or(0),
        })
    }

    /// Whether cluster `n` exists: 2 up to the last one.
    fn is_cluster(&self, n: u32) -> bool {
        (2..u64::from(self.clusters) + 2).contains(&u64::from(n))
    }
}

/// Checks the root folder of the FAT on `volume` and `depth` levels of folders below it
/// (0: the root's entries only): every entry's first cluster and cluster chain. A damaged
/// FAT is an `InvalidData` error naming the entry and the cluster, and what to do.
pub(crate) fn check<V: Read + Seek>(volume: &mut V, g: &Geometry, depth: usize) -> io::Result<()> {
    let words = usize::try_from((u64::from(g.clusters) + 2) / 64 + 1).unwrap_or(usize::MAX);
    let mut checker = Checker {
        g,
        volume,
        block: None,
        seen: vec![0; words],
        slots: 0,
    };
    checker.run(depth)
}

/// A FAT found damaged: what is wrong, and what to do about it.
fn damaged(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the FAT is damaged: {what}; write the image again, or run fsck.vfat on it"),
    )
}

/// A folder to read: a region of the volume (FAT12/16's root), or clusters.
enum Folder {
    Region,
    Clusters(Vec<u32>),
}

struct Checker<'a, V> {
    g: &'a Geometry,
    volume: &'a mut V,
    /// The block of the FAT last read: its offset in the FAT and its bytes.
    block: Option<(u64, Vec<u8>)>,
    /// One bit per cluster met in a chain.
    seen: Vec<u64>,
    /// Folder entries read so far.
    slots: u64,
}

impl<V: Read + Seek> Checker<'_, V> {
    fn run(&mut self, depth: usize) -> io::Result<()> {
        let root = if self.g.bits == 32 {
            // fatfs starts looking for free clusters at FSInfo's hint, which may be 0 or 1.
            if self.entry(0)? == 0 || self.entry(1)? == 0 {
                return Err(damaged(
                    "its reserved entries 0 and 1 are marked free".to_owned(),
                ));
            }
            Folder::Clusters(self.chain("the root folder", self.g.root_cluster, true)?)
        } else {
            Folder::Region
        };
        let mut level = vec![(String::new(), root)];
        for below in (0..=depth).rev() {
            let mut next = Vec::new();
            for (path, folder) in &level {
                self.folder(path, folder, below > 0, &mut next)?;
            }
            level = next;
        }
        Ok(())
    }

    /// Counts `more` folder entries to read (those of `what`), against the check's limit.
    fn count(&mut self, more: u64, what: &str) -> io::Result<()> {
        if self.slots + more > MAX_SLOTS {
            return Err(damaged(format!(
                "its folders ({what} among them) hold more than {MAX_SLOTS} entries"
            )));
        }
        self.slots += more;
        Ok(())
    }

    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        self.volume.seek(SeekFrom::Start(at))?;
        self.volume.read_exact(buf)
    }

    /// The FAT's byte at `at` (from the FAT's start; inside it).
    fn fat_byte(&mut self, at: u64) -> io::Result<u8> {
        let start = at / BLOCK * BLOCK;
        let block = match self.block.take() {
            Some((s, bytes)) if s == start => bytes,
            _ => {
                let n = BLOCK.min(self.g.fat_bytes.saturating_sub(start));
                let mut bytes = vec![0; usize::try_from(n).unwrap_or(0)];
                self.read_at(self.g.fat_start + start, &mut bytes)?;
                bytes
            }
        };
        let byte = usize::try_from(at - start)
            .ok()
            .and_then(|i| block.get(i).copied());
        self.block = Some((start, block));
        byte.ok_or_else(|| damaged(format!("byte {at} of its FAT is past the FAT's end")))
    }

    /// FAT entry `n` (below clusters + 2, so inside the FAT).
    fn entry(&mut self, n: u32) -> io::Result<u32> {
        let n64 = u64::from(n);
        let (at, width) = match self.g.bits {
            12 => (n64 + n64 / 2, 2),
            16 => (n64 * 2, 2),
            _ => (n64 * 4, 4),
        };
        let mut value = 0;
        for i in (0..width).rev() {
            value = value << 8 | u32::from(self.fat_byte(at + i)?);
        }
        Ok(match self.g.bits {
            12 if n % 2 == 1 => value >> 4,
            12 => value & 0xFFF,
            32 => value & 0x0FFF_FFFF,
            _ => value,
        })
    }

    /// Walks the chain of `what` from cluster `first` (not 0) to its end: every cluster must
    /// exist and be met once in the whole check. Returns the clusters when `keep`.
    fn chain(&mut self, what: &str, first: u32, keep: bool) -> io::Result<Vec<u32>> {
        let range = format!("clusters run from 2 to {}", u64::from(self.g.clusters) + 1);
        if !self.g.is_cluster(first) {
            return Err(damaged(format!(
                "{what} starts at cluster {first}, which does not exist ({range})"
            )));
        }
        // The first value meaning end-of-chain; the one below means bad.
        let end = match self.g.bits {
            12 => 0xFF8,
            16 => 0xFFF8,
            _ => 0x0FFF_FFF8,
        };
        let (mut clusters, mut at) = (Vec::new(), first);
        loop {
            let (word, bit) = (at as usize / 64, at % 64);
            let Some(seen) = self.seen.get_mut(word) else {
                return Err(damaged(format!("{what} reaches cluster {at}")));
            };
            if *seen & 1 << bit != 0 {
                return Err(damaged(format!(
                    "{what} comes back to cluster {at}, which is already in it or in another \
                     file or folder"
                )));
            }
            *seen |= 1 << bit;
            if keep {
                clusters.push(at);
                self.count(self.g.cluster_bytes / 32, what)?;
            }
            let next = self.entry(at)?;
            if next >= end {
                return Ok(clusters);
            }
            if next == 0 || next == end - 1 {
                let mark = if next == 0 { "free" } else { "bad" };
                return Err(damaged(format!(
                    "cluster {at} of {what} is marked {mark} in the FAT"
                )));
            }
            if !self.g.is_cluster(next) {
                return Err(damaged(format!(
                    "{what} goes from cluster {at} to {next}, which does not exist ({range})"
                )));
            }
            at = next;
        }
    }

    /// Checks every entry of `folder` (at `path`, "" for the root). With `descend`, its
    /// folders go into `below`, with their clusters.
    fn folder(
        &mut self,
        path: &str,
        folder: &Folder,
        descend: bool,
        below: &mut Vec<(String, Folder)>,
    ) -> io::Result<()> {
        let (g, mut long) = (self.g, Long::default());
        let spans: Vec<(u64, u64)> = match folder {
            Folder::Region => {
                self.count(g.root_bytes / 32, "the root folder")?;
                vec![(g.root_start, g.root_bytes)]
            }
            // Counted when their chain was walked; every cluster is at least 2.
            Folder::Clusters(clusters) => (clusters.iter())
                .map(|&c| {
                    (
                        g.data_start + u64::from(c - 2) * g.cluster_bytes,
                        g.cluster_bytes,
                    )
                })
                .collect(),
        };
        for (at, len) in spans {
            let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
            self.read_at(at, &mut bytes)?;
            for e in bytes.chunks_exact(32) {
                let attributes = e[11];
                if matches!(e[0], 0x00 | 0xE5) {
                    long = Long::default();
                    continue;
                }
                if attributes & 0x0F == 0x0F {
                    long.push(e);
                    continue;
                }
                let taken = std::mem::take(&mut long);
                if attributes & 0x08 != 0
                    || e[..11] == *b".          "
                    || e[..11] == *b"..         "
                {
                    continue;
                }
                let name = taken.name(e).unwrap_or_else(|| short_name(e));
                let full = if path.is_empty() {
                    name
                } else {
                    format!("{path}/{name}")
                };
                let word = |at: usize| u32::from(u16::from_le_bytes([e[at], e[at + 1]]));
                let high = if g.bits == 32 { word(20) } else { 0 };
                let first = high << 16 | word(26);
                if first == 0 {
                    continue;
                }
                let keep = descend && attributes & 0x10 != 0;
                let clusters = self.chain(&format!("'{full}'"), first, keep)?;
                if keep {
                    below.push((full, Folder::Clusters(clusters)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
