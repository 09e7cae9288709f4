//! The main boot region of exFAT: the boot sector's geometry, checked against itself, the
//! region and the boot checksum of sector 11.

use crate::le::{u16_at, u32_at, u64_at};
use crate::source::RandomAccess;

/// The exFAT signature at byte 3.
pub(crate) const NAME: &[u8; 8] = b"EXFAT   ";

/// Most clusters held in memory (the FAT as `u32`s: 128 MiB). A 1 TiB volume of 128 KiB
/// clusters has 8 Mi; larger ones are mapped whole.
const MAX_CLUSTERS: u64 = 1 << 25;

/// Where everything is.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    /// Bytes per sector.
    pub sector: u64,
    /// Bytes per cluster.
    pub cluster: u64,
    /// Volume length in sectors.
    pub volume_sectors: u64,
    /// First FAT, in sectors.
    pub fat_offset: u64,
    /// Sectors per FAT.
    pub fat_sectors: u64,
    /// 1, or 2 for TexFAT.
    pub fats: u64,
    /// The FAT and allocation bitmap in use (VolumeFlags bit 0).
    pub active: u64,
    /// Start of cluster 2, in sectors.
    pub heap_offset: u64,
    /// Clusters in the heap: valid numbers are 2..clusters+2.
    pub clusters: u32,
    /// First cluster of the root directory.
    pub root: u32,
    pub revision: u16,
    pub serial: u32,
}

impl Geometry {
    /// Byte offset of FAT `copy`.
    pub fn fat_start(&self, copy: u64) -> u64 {
        (self.fat_offset + copy * self.fat_sectors) * self.sector
    }

    /// Byte offset of cluster `n` (2 or more).
    pub fn cluster_offset(&self, n: u32) -> u64 {
        self.heap_offset * self.sector + u64::from(n - 2) * self.cluster
    }

    /// Whether `n` is a cluster number of the heap.
    pub fn is_cluster(&self, n: u32) -> bool {
        n >= 2 && n - 2 < self.clusters
    }

    /// Bytes of the volume.
    pub fn bytes(&self) -> u64 {
        self.volume_sectors * self.sector
    }
}

/// Whether the region starts with an exFAT boot sector's name.
pub(crate) fn looks_like_exfat(region: &dyn RandomAccess) -> bool {
    let mut name = [0u8; 8];
    region.read_exact_at(3, &mut name).is_ok() && &name == NAME
}

/// The boot checksum of sectors 0-10 (exFAT specification §3.4): VolumeFlags (bytes 106-107)
/// and PercentInUse (112) are left out, since they change without the checksum being redone.
pub(crate) fn checksum(sectors: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (i, &b) in sectors.iter().enumerate() {
        if matches!(i, 106 | 107 | 112) {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u32::from(b));
    }
    sum
}

/// What VolumeFlags refuse: a dirty volume, or one whose medium failed.
pub(crate) fn check_flags(flags: u16) -> Result<(), String> {
    if flags & 0x2 != 0 {
        return Err(format!(
            "the volume is dirty (VolumeFlags {flags:#06x}): it was not cleanly unmounted"
        ));
    }
    if flags & 0x4 != 0 {
        return Err(format!(
            "the volume recorded a media failure (VolumeFlags {flags:#06x})"
        ));
    }
    Ok(())
}

/// Reads and checks the main boot region.
pub(crate) fn parse(region: &dyn RandomAccess) -> Result<Geometry, String> {
    let mut b = [0u8; 512];
    region
        .read_exact_at(0, &mut b)
        .map_err(|e| format!("cannot read the boot sector: {e}"))?;
    if &b[3..11] != NAME {
        return Err("no exFAT boot sector".into());
    }
    if b[0..3] != [0xEB, 0x76, 0x90] || b[510..512] != [0x55, 0xAA] {
        return Err("the boot sector's jump instruction or signature is wrong".into());
    }
    if b[11..64].iter().any(|&x| x != 0) {
        return Err(
            "bytes 11-63 of the boot sector are not zero (a FAT BPB where exFAT has none)".into(),
        );
    }
    let sector_shift = b[108];
    let cluster_shift = b[109];
    if !(9..=12).contains(&sector_shift) || u32::from(sector_shift) + u32::from(cluster_shift) > 25
    {
        return Err(format!(
            "bad sector or cluster size (BytesPerSectorShift {sector_shift}, SectorsPerClusterShift {cluster_shift})"
        ));
    }
    let sector = 1u64 << sector_shift;
    let per_cluster = 1u64 << cluster_shift;

    // The checksum covers the main boot region's first 11 sectors; sector 11 repeats it.
    let mut boot = vec![0u8; usize::try_from(12 * sector).map_err(|_| "sector too large")?];
    region
        .read_exact_at(0, &mut boot)
        .map_err(|e| format!("cannot read the main boot region: {e}"))?;
    let sectors = usize::try_from(11 * sector).map_err(|_| "sector too large")?;
    let sum = checksum(&boot[..sectors]);
    if let Some(bad) = boot[sectors..]
        .chunks_exact(4)
        .map(|w| u32_at(w, 0))
        .find(|&w| w != sum)
    {
        return Err(format!(
            "the boot checksum is wrong (sector 11 holds {bad:#010x}, sectors 0-10 sum to {sum:#010x})"
        ));
    }

    let revision = u16_at(&b, 104);
    if revision >> 8 != 1 {
        return Err(format!(
            "unknown exFAT revision {}.{:02} (FileSystemRevision)",
            revision >> 8,
            revision & 0xFF
        ));
    }
    let flags = u16_at(&b, 106);
    check_flags(flags)?;
    let fats = u64::from(b[110]);
    if !(1..=2).contains(&fats) {
        return Err(format!("{fats} FATs (NumberOfFats must be 1 or 2)"));
    }
    let active = u64::from(flags & 1);
    if active >= fats {
        return Err(format!(
            "the second FAT is active, but there is only one (VolumeFlags {flags:#06x})"
        ));
    }

    let volume_sectors = u64_at(&b, 72);
    let fat_offset = u64::from(u32_at(&b, 80));
    let fat_sectors = u64::from(u32_at(&b, 84));
    let heap_offset = u64::from(u32_at(&b, 88));
    let cluster_count = u64::from(u32_at(&b, 92));
    let root = u32_at(&b, 96);
    let g = Geometry {
        sector,
        cluster: sector * per_cluster,
        volume_sectors,
        fat_offset,
        fat_sectors,
        fats,
        active,
        heap_offset,
        clusters: u32_at(&b, 92),
        root,
        revision,
        serial: u32_at(&b, 100),
    };
    let bytes = volume_sectors
        .checked_mul(sector)
        .ok_or_else(|| "VolumeLength overflows".to_owned())?;
    if bytes < 1 << 20 {
        return Err(format!(
            "the volume is {bytes} bytes, less than exFAT's 1 MiB minimum"
        ));
    }
    if bytes > region.len() {
        return Err(format!(
            "the filesystem ({bytes} bytes) is larger than its region ({} bytes)",
            region.len()
        ));
    }
    if fat_offset < 24 {
        return Err(format!(
            "the FAT starts at sector {fat_offset}, inside the boot regions"
        ));
    }
    if cluster_count == 0 || cluster_count > MAX_CLUSTERS {
        return Err(format!(
            "{cluster_count} clusters (Blockprint checks 1 to {MAX_CLUSTERS} in memory)"
        ));
    }
    if fat_sectors * sector < (cluster_count + 2) * 4 {
        return Err(format!(
            "each FAT has {} bytes, too small for {cluster_count} clusters",
            fat_sectors * sector
        ));
    }
    if fat_offset + fats * fat_sectors > heap_offset {
        return Err(format!(
            "the FATs (sectors {fat_offset}..{}) run into the cluster heap (sector {heap_offset})",
            fat_offset + fats * fat_sectors
        ));
    }
    if heap_offset + cluster_count * per_cluster > volume_sectors {
        return Err(format!(
            "the cluster heap (sectors {heap_offset}..{}) runs past the volume's {volume_sectors} sectors",
            heap_offset + cluster_count * per_cluster
        ));
    }
    if !g.is_cluster(root) {
        return Err(format!(
            "the root directory starts at cluster {root}, outside the heap"
        ));
    }
    Ok(g)
}
