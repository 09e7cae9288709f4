//! The primary superblock: checksum, feature bits, geometry, and the bootstrap chunks.
//!
//! Only the primary copy at 64 KiB is read, as the kernel does when mounting. Everything that
//! would change where bytes live, or what they mean, is refused here: more than one device,
//! seeding, zoned devices, and every feature bit this parser was not written for.

use super::checksum::CsumType;
use super::chunk::{Chunk, SYSTEM};
use super::{Doubt, SUPER_OFFSET, SUPER_SIZE, le16, le32, le64};
use crate::source::RandomAccess;

/// `_BHRfS_M`.
pub(super) const MAGIC: &[u8; 8] = b"_BHRfS_M";
/// Offset of the magic in the superblock.
pub(super) const MAGIC_AT: u64 = 0x40;
const CHUNK_ITEM: u8 = 228;

/// Incompat bits this parser understands, by name. None of them moves data outside what the
/// chunk, device and extent trees describe.
const INCOMPAT_KNOWN: &[(u64, &str)] = &[
    (1 << 0, "mixed_backref"),
    (1 << 1, "default_subvol"),
    (1 << 2, "mixed_groups"),
    (1 << 3, "compress_lzo"),
    (1 << 4, "compress_zstd"),
    (1 << 5, "big_metadata"),
    (1 << 6, "extended_iref"),
    (1 << 7, "raid56"),
    (1 << 8, "skinny_metadata"),
    (1 << 9, "no_holes"),
    (1 << 10, "metadata_uuid"),
    (1 << 11, "raid1c34"),
];
/// Incompat bits btrfs defines that this parser refuses, and why.
const INCOMPAT_REFUSED: &[(u64, &str)] = &[
    (
        1 << 12,
        "zoned (zones are written sequentially and reset, not described by the trees read here)",
    ),
    (
        1 << 13,
        "extent_tree_v2 (several global roots, not understood)",
    ),
    (
        1 << 14,
        "raid_stripe_tree (logical-to-physical mapping outside the chunk tree)",
    ),
    (1 << 16, "simple_quota (extent ownership not understood)"),
];
pub(super) const MIXED_GROUPS: u64 = 1 << 2;
const METADATA_UUID: u64 = 1 << 10;

/// Compat-ro bits understood: the free-space tree (unused here: free space comes from the
/// extent tree), verity (items inside file trees) and the block-group tree.
const COMPAT_RO_KNOWN: u64 = 0b1111;
pub(super) const BLOCK_GROUP_TREE: u64 = 1 << 3;

/// Superblock flags that are harmless (header flags that mkfs also sets on the superblock).
const FLAGS_OK: u64 = 0b11;
const FLAG_NAMES: &[(u64, &str)] = &[
    (1 << 2, "the filesystem is marked as having errors"),
    (1 << 32, "it is a seeding device"),
    (
        1 << 33,
        "it is a metadata dump (btrfs-image) without file data",
    ),
    (
        1 << 34,
        "it is a metadata dump (btrfs-image) without file data",
    ),
    (1 << 35, "an fsid change was interrupted"),
    (1 << 36, "an fsid change was interrupted"),
];

/// The device described by the superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DevItem {
    pub devid: u64,
    pub total_bytes: u64,
    pub bytes_used: u64,
    pub uuid: [u8; 16],
    pub fsid: [u8; 16],
}

impl DevItem {
    /// Parses a `btrfs_dev_item` (98 bytes).
    pub(super) fn parse(b: &[u8]) -> Result<Self, Doubt> {
        Ok(Self {
            devid: le64(b, 0)?,
            total_bytes: le64(b, 8)?,
            bytes_used: le64(b, 16)?,
            uuid: uuid_at(b, 66)?,
            fsid: uuid_at(b, 82)?,
        })
    }
}

/// What the scan needs from the superblock.
#[derive(Debug)]
pub(super) struct Superblock {
    pub csum: CsumType,
    /// The UUID stamped in every tree block header (`metadata_uuid` when that feature is on).
    pub tree_fsid: [u8; 16],
    pub generation: u64,
    pub root: u64,
    pub root_level: u8,
    pub chunk_root: u64,
    pub chunk_root_level: u8,
    pub chunk_root_generation: u64,
    pub log_root: u64,
    pub total_bytes: u64,
    pub sectorsize: u64,
    pub nodesize: u64,
    pub compat_ro: u64,
    pub incompat: u64,
    pub dev: DevItem,
    /// The chunks of `sys_chunk_array`: enough to read the chunk tree.
    pub sys_chunks: Vec<Chunk>,
}

pub(super) fn uuid_at(b: &[u8], at: usize) -> Result<[u8; 16], Doubt> {
    super::field(b, at)
}

/// Reads and checks the primary superblock of `region`.
pub(super) fn read(region: &dyn RandomAccess) -> Result<Superblock, Doubt> {
    let mut b = vec![0u8; SUPER_SIZE];
    region
        .read_exact_at(SUPER_OFFSET, &mut b)
        .map_err(|e| format!("cannot read the superblock: {e}"))?;
    if b.get(0x40..0x48) != Some(&MAGIC[..]) {
        return Err("no btrfs magic at 64 KiB".into());
    }
    let raw_csum = le16(&b, 0xC4)?;
    let csum =
        CsumType::from_raw(raw_csum).ok_or_else(|| format!("unknown checksum type {raw_csum}"))?;
    if !csum.verify(&b) {
        return Err(format!(
            "the superblock {} checksum does not match",
            csum.name()
        ));
    }
    if le64(&b, 0x30)? != SUPER_OFFSET {
        return Err("the superblock at 64 KiB names another location as its own".into());
    }
    let flags = le64(&b, 0x38)?;
    if flags & !FLAGS_OK != 0 {
        let why = FLAG_NAMES
            .iter()
            .find(|(bit, _)| flags & bit != 0)
            .map_or_else(
                || format!("unknown superblock flags {flags:#x}"),
                |(_, why)| (*why).to_owned(),
            );
        return Err(why);
    }
    let compat = le64(&b, 0xAC)?;
    let compat_ro = le64(&b, 0xB4)?;
    let incompat = le64(&b, 0xBC)?;
    if compat != 0 {
        return Err(format!("unknown compat feature bits {compat:#x}"));
    }
    if compat_ro & !COMPAT_RO_KNOWN != 0 {
        return Err(format!(
            "unknown compat_ro feature bits {:#x}",
            compat_ro & !COMPAT_RO_KNOWN
        ));
    }
    if let Some((_, what)) = INCOMPAT_REFUSED.iter().find(|(bit, _)| incompat & bit != 0) {
        return Err(format!("feature {what}"));
    }
    let known = INCOMPAT_KNOWN.iter().fold(0, |all, (bit, _)| all | bit);
    if incompat & !known != 0 {
        return Err(format!(
            "unknown incompat feature bits {:#x}",
            incompat & !known
        ));
    }
    let num_devices = le64(&b, 0x88)?;
    if num_devices != 1 {
        return Err(format!(
            "{num_devices} devices: only single-device filesystems are scanned"
        ));
    }
    let sectorsize = u64::from(le32(&b, 0x90)?);
    let nodesize = u64::from(le32(&b, 0x94)?);
    if !sectorsize.is_power_of_two() || !(4096..=65536).contains(&sectorsize) {
        return Err(format!("sector size {sectorsize} is not supported"));
    }
    if !nodesize.is_power_of_two() || nodesize < sectorsize || nodesize > 65536 {
        return Err(format!("node size {nodesize} is invalid"));
    }
    let fsid = uuid_at(&b, 0x20)?;
    let tree_fsid = if incompat & METADATA_UUID != 0 {
        uuid_at(&b, 0x23B)?
    } else {
        fsid
    };
    let dev = DevItem::parse(b.get(0xC9..0x12B).unwrap_or_default())?;
    if dev.fsid != tree_fsid {
        return Err("the superblock's device item belongs to another filesystem".into());
    }
    let total_bytes = le64(&b, 0x70)?;
    if total_bytes != dev.total_bytes {
        return Err(format!(
            "filesystem size {total_bytes} differs from its one device's size {}",
            dev.total_bytes
        ));
    }
    if total_bytes > region.len() {
        return Err(format!(
            "the filesystem ({total_bytes} bytes) is larger than its region ({} bytes)",
            region.len()
        ));
    }
    let sb = Superblock {
        csum,
        tree_fsid,
        generation: le64(&b, 0x48)?,
        root: le64(&b, 0x50)?,
        root_level: b.get(0xC6).copied().unwrap_or(u8::MAX),
        chunk_root: le64(&b, 0x58)?,
        chunk_root_level: b.get(0xC7).copied().unwrap_or(u8::MAX),
        chunk_root_generation: le64(&b, 0xA4)?,
        log_root: le64(&b, 0x60)?,
        total_bytes,
        sectorsize,
        nodesize,
        compat_ro,
        incompat,
        dev,
        sys_chunks: sys_chunks(&b, sectorsize, incompat & MIXED_GROUPS != 0)?,
    };
    Ok(sb)
}

/// Parses `sys_chunk_array`: (disk key, chunk item) pairs, every one a SYSTEM chunk.
fn sys_chunks(b: &[u8], sectorsize: u64, mixed: bool) -> Result<Vec<Chunk>, Doubt> {
    const ARRAY_AT: usize = 0x32B;
    let size = usize::try_from(le32(b, 0xA0)?).unwrap_or(usize::MAX);
    let array = b
        .get(ARRAY_AT..ARRAY_AT.saturating_add(size))
        .filter(|_| size <= 2048)
        .ok_or_else(|| format!("sys_chunk_array size {size} exceeds 2048 bytes"))?;
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < array.len() {
        let key_type = array.get(at + 8).copied();
        if key_type != Some(CHUNK_ITEM) {
            return Err(format!(
                "sys_chunk_array holds a key of type {key_type:?} at byte {at}"
            ));
        }
        let logical = le64(array, at + 9)?;
        let body = array.get(at + 17..).unwrap_or_default();
        let (chunk, used) = Chunk::parse(logical, body, sectorsize, mixed)?;
        if chunk.flags & SYSTEM == 0 {
            return Err(format!(
                "sys_chunk_array holds a non-system chunk at logical {logical}"
            ));
        }
        chunks.push(chunk);
        at += 17 + used;
    }
    if chunks.is_empty() {
        return Err("sys_chunk_array is empty".into());
    }
    Ok(chunks)
}
