//! The BIOS parameter block of sector 0: what makes a region FAT, and the geometry it gives.
//!
//! Every number the rest of the parser uses is checked here against the others: a BPB that
//! does not add up (FATs too small for the clusters, a data region past the filesystem end,
//! a filesystem larger than its region) is refused, never repaired.

use crate::le::{u16_at, u32_at};
use crate::source::RandomAccess;

/// The three FAT widths. Told by the cluster count alone (Microsoft's FAT specification,
/// "FAT type determination"), never by the "FAT32   " string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Fat12 => "FAT12",
            Kind::Fat16 => "FAT16",
            Kind::Fat32 => "FAT32",
        }
    }

    /// Bytes the FAT needs for `entries` entries.
    fn fat_bytes(self, entries: u64) -> u64 {
        match self {
            Kind::Fat12 => (entries * 3).div_ceil(2),
            Kind::Fat16 => entries * 2,
            Kind::Fat32 => entries * 4,
        }
    }

    /// The smallest end-of-chain value; values from here up end a chain.
    pub(crate) fn end_of_chain(self) -> u32 {
        match self {
            Kind::Fat12 => 0xFF8,
            Kind::Fat16 => 0xFFF8,
            Kind::Fat32 => 0x0FFF_FFF8,
        }
    }

    /// The bad-cluster mark.
    pub(crate) fn bad(self) -> u32 {
        self.end_of_chain() - 1
    }
}

/// The largest cluster count the parser holds in memory (one `u32` per cluster, 128 MiB):
/// 128 GiB of 4 KiB clusters, far beyond any boot partition. Larger FATs are mapped whole.
const MAX_CLUSTERS: u64 = 1 << 25;

/// Where everything is, in bytes from the start of the region.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub kind: Kind,
    /// Bytes per logical sector.
    pub sector: u64,
    /// Bytes per cluster.
    pub cluster: u64,
    /// Reserved sectors (boot sector, FSInfo, backup boot sector).
    pub reserved_sectors: u64,
    /// Number of FAT copies.
    pub fats: u64,
    /// Sectors per FAT copy.
    pub fat_sectors: u64,
    /// FAT12/16 root directory entries (0 on FAT32).
    pub root_entries: u64,
    /// Sectors of the whole filesystem.
    pub total_sectors: u64,
    /// Data clusters: valid cluster numbers are 2..clusters+2.
    pub clusters: u32,
    /// FAT32's first root directory cluster (0 on FAT12/16).
    pub root_cluster: u32,
    /// Whether every FAT copy is kept identical: always on FAT12/16; FAT32 unless
    /// BPB_ExtFlags bit 7 says only the active copy is written.
    pub mirrored: bool,
    /// The FAT copy in use when not mirrored (BPB_ExtFlags bits 0-3).
    pub active_fat: u64,
    /// The media byte, which `FAT[0]` repeats.
    pub media: u8,
    /// The byte where Linux keeps its "not cleanly unmounted" flag (bit 0): 0x25 on FAT12/16,
    /// 0x41 on FAT32.
    pub state: u8,
}

impl Geometry {
    /// Byte offset of FAT copy `copy`.
    pub fn fat_start(&self, copy: u64) -> u64 {
        (self.reserved_sectors + copy * self.fat_sectors) * self.sector
    }

    /// Byte offset of the FAT12/16 root directory region.
    pub fn root_dir_start(&self) -> u64 {
        self.fat_start(self.fats)
    }

    /// Bytes of the FAT12/16 root directory region.
    pub fn root_dir_bytes(&self) -> u64 {
        (self.root_entries * 32).div_ceil(self.sector) * self.sector
    }

    /// Byte offset of cluster 2, the first data cluster.
    pub fn data_start(&self) -> u64 {
        self.root_dir_start() + self.root_dir_bytes()
    }

    /// Byte offset of data cluster `n` (2 or more).
    pub fn cluster_offset(&self, n: u32) -> u64 {
        self.data_start() + u64::from(n - 2) * self.cluster
    }

    /// Size of the filesystem in bytes.
    pub fn bytes(&self) -> u64 {
        self.total_sectors * self.sector
    }

    /// Whether `n` is a data cluster number.
    pub fn is_cluster(&self, n: u32) -> bool {
        n >= 2 && n - 2 < self.clusters
    }
}

/// The FAT size in sectors: BPB_FATSz16, or FAT32's BPB_FATSz32 when that is 0.
fn fat_size(b: &[u8]) -> u32 {
    match u16_at(b, 22) {
        0 => u32_at(b, 36),
        n => u32::from(n),
    }
}

/// The cheap test: a FAT boot sector's shape. NTFS carries a BPB too, but says "NTFS    "
/// and has no FAT (NumFATs 0); exFAT says "EXFAT   " and zeroes the BPB.
pub(crate) fn looks_like_fat(b: &[u8; 512]) -> bool {
    let jump = (b[0] == 0xEB && b[2] == 0x90) || b[0] == 0xE9;
    let oem = &b[3..11];
    let bps = u16_at(b, 11);
    let spc = b[13];
    jump && oem != b"NTFS    "
        && oem != b"EXFAT   "
        && b[510..512] == [0x55, 0xAA]
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && spc.is_power_of_two()
        && b[16] >= 1
        && (b[21] == 0xF0 || b[21] >= 0xF8)
        && fat_size(b) != 0
}

/// Reads sector 0 of `region`.
pub(crate) fn boot_sector(region: &dyn RandomAccess) -> Option<[u8; 512]> {
    let mut b = [0u8; 512];
    region.read_exact_at(0, &mut b).ok()?;
    Some(b)
}

/// Parses and checks the BPB against itself and the region length.
pub(crate) fn parse(b: &[u8; 512], region_len: u64) -> Result<Geometry, String> {
    if !looks_like_fat(b) {
        return Err("sector 0 is not a FAT boot sector".into());
    }
    let sector = u64::from(u16_at(b, 11));
    let cluster = sector * u64::from(b[13]);
    let reserved_sectors = u64::from(u16_at(b, 14));
    let fats = u64::from(b[16]);
    let root_entries = u64::from(u16_at(b, 17));
    let fat16_size = u16_at(b, 22);
    let fat_sectors = u64::from(fat_size(b));
    let total_sectors = match u16_at(b, 19) {
        0 => u64::from(u32_at(b, 32)),
        n => u64::from(n),
    };
    if reserved_sectors == 0 {
        return Err(
            "the BPB has no reserved sectors (BPB_RsvdSecCnt 0): sector 0 would be a FAT".into(),
        );
    }
    if total_sectors == 0 {
        return Err("the BPB gives 0 total sectors (BPB_TotSec16 and BPB_TotSec32 both 0)".into());
    }
    let root_dir_sectors = (root_entries * 32).div_ceil(sector);
    let data_sector = reserved_sectors + fats * fat_sectors + root_dir_sectors;
    if data_sector >= total_sectors {
        return Err(format!(
            "the data region would start at sector {data_sector}, past the filesystem's {total_sectors} sectors"
        ));
    }
    let cluster_count = (total_sectors - data_sector) / u64::from(b[13]);
    let kind = match cluster_count {
        n if n < 4085 => Kind::Fat12,
        n if n < 65525 => Kind::Fat16,
        _ => Kind::Fat32,
    };
    // Linux and dosfstools tell FAT32 by the BPB's shape (BPB_FATSz16 0), Microsoft by the
    // cluster count: where they disagree, readers disagree on every FAT entry.
    let fat32_shape = fat16_size == 0;
    if fat32_shape != (kind == Kind::Fat32) {
        return Err(format!(
            "{cluster_count} clusters make this {}, but the BPB has the shape of {} (BPB_FATSz16 {fat16_size}): \
             readers disagree on the FAT width",
            kind.name(),
            if fat32_shape { "FAT32" } else { "FAT12/16" }
        ));
    }
    if cluster_count > MAX_CLUSTERS {
        return Err(format!(
            "{cluster_count} clusters: more than Blockprint checks in memory ({MAX_CLUSTERS})"
        ));
    }
    let clusters =
        u32::try_from(cluster_count).map_err(|_| "cluster count overflows".to_owned())?;
    let needed = kind.fat_bytes(cluster_count + 2);
    if fat_sectors * sector < needed {
        return Err(format!(
            "each FAT has {} bytes, too small for {cluster_count} clusters ({needed} bytes needed)",
            fat_sectors * sector
        ));
    }
    let bytes = total_sectors * sector;
    if bytes > region_len {
        return Err(format!(
            "the filesystem ({bytes} bytes) is larger than its region ({region_len} bytes)"
        ));
    }
    let mut geometry = Geometry {
        kind,
        sector,
        cluster,
        reserved_sectors,
        fats,
        fat_sectors,
        root_entries,
        total_sectors,
        clusters,
        root_cluster: 0,
        mirrored: true,
        active_fat: 0,
        media: b[21],
        state: b[0x25],
    };
    if kind == Kind::Fat32 {
        fat32_fields(b, &mut geometry)?;
    } else if root_entries == 0 {
        return Err(format!(
            "{} with no root directory entries (BPB_RootEntCnt 0)",
            kind.name()
        ));
    }
    Ok(geometry)
}

/// The FAT32 extension of the BPB.
fn fat32_fields(b: &[u8; 512], g: &mut Geometry) -> Result<(), String> {
    if g.root_entries != 0 {
        return Err(format!(
            "FAT32 with a fixed root directory region (BPB_RootEntCnt {})",
            g.root_entries
        ));
    }
    let version = u16_at(b, 42);
    if version != 0 {
        return Err(format!(
            "unknown FAT32 version {:#06x} (BPB_FSVer)",
            version
        ));
    }
    let flags = u16_at(b, 40);
    g.mirrored = flags & 0x80 == 0;
    g.active_fat = u64::from(flags & 0x0F);
    if !g.mirrored && g.active_fat >= g.fats {
        return Err(format!(
            "mirroring is off and the active FAT is copy {} of {} (BPB_ExtFlags {flags:#06x})",
            g.active_fat, g.fats
        ));
    }
    g.root_cluster = u32_at(b, 44);
    if !g.is_cluster(g.root_cluster) {
        return Err(format!(
            "the root directory starts at cluster {}, outside clusters 2..{}",
            g.root_cluster,
            u64::from(g.clusters) + 2
        ));
    }
    for (what, at) in [("FSInfo", 48), ("backup boot", 50)] {
        let sector = u64::from(u16_at(b, at));
        if sector != 0 && sector != 0xFFFF && sector >= g.reserved_sectors {
            return Err(format!(
                "the {what} sector ({sector}) lies outside the {} reserved sectors",
                g.reserved_sectors
            ));
        }
    }
    g.state = b[0x41];
    Ok(())
}
