//! The superblock: the geometry every other structure is found from, and the features that
//! decide whether this reader can read the filesystem at all.

use super::Result;
use crate::le::{u16_at, u32_at};

// Features (s_feature_*), only those reading depends on.
const COMPAT_SPARSE_SUPER2: u32 = 0x200;
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
pub(super) const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_META_BG: u32 = 0x10;
pub(super) const INCOMPAT_64BIT: u32 = 0x80;
pub(super) const INCOMPAT_INLINE_DATA: u32 = 0x8000;
/// The incompatible features this reader can read through: filetype, meta_bg, extents,
/// 64bit, mmp, flex_bg, ea_inode, csum_seed, largedir, inline_data, encrypt and casefold
/// (an encrypted directory is still refused, inode by inode). Not compression (0x1, never
/// merged), needs_recovery (0x4), journal_dev (0x8) or dirdata (0x1000, Lustre's).
const INCOMPAT_READABLE: u32 =
    0x2 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000;

/// The superblock's geometry, checked.
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    pub(super) block_size: u64,
    pub(super) cluster_size: u64,
    pub(super) blocks: u64,
    pub(super) first_data_block: u64,
    pub(super) blocks_per_group: u64,
    pub(super) inodes_per_group: u64,
    pub(super) inodes: u64,
    pub(super) inode_size: u64,
    pub(super) desc_size: u64,
    pub(super) compat: u32,
    pub(super) ro_compat: u32,
    pub(super) incompat: u32,
    pub(super) first_meta_bg: u64,
    pub(super) backup_bgs: [u64; 2],
}

impl Geometry {
    /// A placeholder until the superblock is read.
    pub(super) fn empty() -> Self {
        Self {
            block_size: 1024,
            cluster_size: 1024,
            blocks: 0,
            first_data_block: 0,
            blocks_per_group: 1,
            inodes_per_group: 1,
            inodes: 0,
            inode_size: 128,
            desc_size: 32,
            compat: 0,
            ro_compat: 0,
            incompat: 0,
            first_meta_bg: 0,
            backup_bgs: [0; 2],
        }
    }

    /// Reads and checks the 1024 bytes of the primary superblock.
    pub(super) fn parse(raw: &[u8; 1024]) -> Result<Self> {
        if u16_at(raw, 0x38) != 0xEF53 {
            return Err("no ext2/3/4 superblock".into());
        }
        let (compat, incompat, ro_compat) =
            (u32_at(raw, 0x5C), u32_at(raw, 0x60), u32_at(raw, 0x64));
        if incompat & INCOMPAT_RECOVER != 0 {
            return Err("its journal needs replaying".into());
        }
        let unknown = incompat & !INCOMPAT_READABLE;
        if unknown != 0 {
            return Err(format!("it has incompatible features {unknown:#x}"));
        }
        let rev = u32_at(raw, 0x4C);
        let (log_block, log_cluster) = (u32_at(raw, 0x18), u32_at(raw, 0x1C));
        if rev > 1 || log_block > 6 || log_cluster < log_block || log_cluster > log_block + 16 {
            return Err(format!(
                "revision {rev}, block size 2^{log_block} KiB, cluster size 2^{log_cluster} KiB"
            ));
        }
        let block_size = 1024u64 << log_block;
        let wide = incompat & INCOMPAT_64BIT != 0;
        let hi = |at| {
            if wide {
                u64::from(u32_at(raw, at)) << 32
            } else {
                0
            }
        };
        let blocks = u64::from(u32_at(raw, 0x4)) | hi(0x150);
        let first_data_block = u64::from(u32_at(raw, 0x14));
        let blocks_per_group = u64::from(u32_at(raw, 0x20));
        let inodes_per_group = u64::from(u32_at(raw, 0x28));
        let inodes = u64::from(u32_at(raw, 0x0));
        let inode_size = if rev == 0 {
            128
        } else {
            u64::from(u16_at(raw, 0x58))
        };
        let desc_size = if wide {
            u64::from(u16_at(raw, 0xFE))
        } else {
            32
        };
        let bad = |what: &str| Err(format!("its superblock has an impossible {what}"));
        if first_data_block > 1 || blocks <= first_data_block {
            return bad("block count or first data block");
        }
        if blocks_per_group == 0 || inodes_per_group == 0 || inodes_per_group > block_size * 8 {
            return bad("group size");
        }
        if !(128..=block_size).contains(&inode_size) || !inode_size.is_power_of_two() {
            return bad("inode size");
        }
        if !(32..=1024).contains(&desc_size)
            || !desc_size.is_power_of_two()
            || (wide && desc_size < 64)
        {
            return bad("group descriptor size");
        }
        let groups = (blocks - first_data_block).div_ceil(blocks_per_group);
        if inodes == 0
            || groups
                .checked_mul(inodes_per_group)
                .is_none_or(|n| inodes > n)
        {
            return bad("inode count");
        }
        Ok(Self {
            block_size,
            cluster_size: 1024 << log_cluster,
            blocks,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            inodes,
            inode_size,
            desc_size,
            compat,
            ro_compat,
            incompat,
            first_meta_bg: u64::from(u32_at(raw, 0x104)),
            backup_bgs: [u64::from(u32_at(raw, 0x24C)), u64::from(u32_at(raw, 0x250))],
        })
    }

    /// Whether group `g` starts with a copy of the superblock (and the descriptors).
    pub(super) fn has_super(&self, g: u64) -> bool {
        let power_of = |mut n: u64, base: u64| {
            while n > 1 && n.is_multiple_of(base) {
                n /= base;
            }
            n == 1
        };
        if g == 0 {
            true
        } else if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            self.backup_bgs.contains(&g)
        } else if self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            true
        } else {
            g == 1 || power_of(g, 3) || power_of(g, 5) || power_of(g, 7)
        }
    }

    /// The block holding descriptor block `index` of the table (meta_bg spreads them: each
    /// block then sits in the first group it describes, after any superblock copy).
    pub(super) fn descriptor_block(&self, index: u64) -> Option<u64> {
        if self.incompat & INCOMPAT_META_BG == 0 || index < self.first_meta_bg {
            return self.first_data_block.checked_add(1)?.checked_add(index);
        }
        let group = index.checked_mul(self.block_size / self.desc_size)?;
        let start = group
            .checked_mul(self.blocks_per_group)?
            .checked_add(self.first_data_block)?;
        let skip = u64::from(self.has_super(group))
            + u64::from(self.block_size == 1024 && index == 0 && self.first_data_block == 0);
        start.checked_add(skip)
    }
}
