//! The primary superblock: feature bits, state, checksum and the geometry every other
//! structure is located from. Anything unknown, unclean or implausible is a refusal.

use super::crc::crc32c;
use crate::le::{u16_at, u32_at, u64_at};

/// Byte offset of the primary superblock, and its size.
pub(super) const OFFSET: u64 = 1024;
pub(super) const SIZE: usize = 1024;
/// `s_magic`.
pub(super) const MAGIC: u16 = 0xEF53;

// Compatible features: never a reason to refuse, but sparse_super2 moves the backups.
pub(super) const COMPAT_HAS_JOURNAL: u32 = 0x4;
pub(super) const COMPAT_SPARSE_SUPER2: u32 = 0x200;

// Read-only compatible features.
pub(super) const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_LARGE_FILE: u32 = 0x2;
const RO_COMPAT_HUGE_FILE: u32 = 0x8;
pub(super) const RO_COMPAT_GDT_CSUM: u32 = 0x10;
const RO_COMPAT_DIR_NLINK: u32 = 0x20;
const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
const RO_COMPAT_QUOTA: u32 = 0x100;
pub(super) const RO_COMPAT_BIGALLOC: u32 = 0x200;
pub(super) const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
const RO_COMPAT_READONLY: u32 = 0x1000;
const RO_COMPAT_PROJECT: u32 = 0x2000;
const RO_COMPAT_VERITY: u32 = 0x8000;
const RO_COMPAT_ORPHAN_PRESENT: u32 = 0x10000;

/// The read-only compatible features whose block accounting is understood. Left out on
/// purpose: btree_dir (0x4, never used), has_snapshot (0x80: next3 snapshots keep an
/// exclude bitmap), replica (0x800) and shared_blocks (0x4000, deduplicated images).
const RO_COMPAT_KNOWN: u32 = RO_COMPAT_SPARSE_SUPER
    | RO_COMPAT_LARGE_FILE
    | RO_COMPAT_HUGE_FILE
    | RO_COMPAT_GDT_CSUM
    | RO_COMPAT_DIR_NLINK
    | RO_COMPAT_EXTRA_ISIZE
    | RO_COMPAT_QUOTA
    | RO_COMPAT_BIGALLOC
    | RO_COMPAT_METADATA_CSUM
    | RO_COMPAT_READONLY
    | RO_COMPAT_PROJECT
    | RO_COMPAT_VERITY
    | RO_COMPAT_ORPHAN_PRESENT;

// Incompatible features.
const INCOMPAT_FILETYPE: u32 = 0x2;
pub(super) const INCOMPAT_RECOVER: u32 = 0x4;
pub(super) const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
pub(super) const INCOMPAT_META_BG: u32 = 0x10;
pub(super) const INCOMPAT_EXTENTS: u32 = 0x40;
pub(super) const INCOMPAT_64BIT: u32 = 0x80;
pub(super) const INCOMPAT_MMP: u32 = 0x100;
pub(super) const INCOMPAT_FLEX_BG: u32 = 0x200;
const INCOMPAT_EA_INODE: u32 = 0x400;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
const INCOMPAT_LARGEDIR: u32 = 0x4000;
const INCOMPAT_INLINE_DATA: u32 = 0x8000;
const INCOMPAT_ENCRYPT: u32 = 0x10000;
const INCOMPAT_CASEFOLD: u32 = 0x20000;

/// The incompatible features whose block accounting is understood. Left out on purpose:
/// compression (0x1, never merged), dirdata (0x1000, Lustre), and recover and journal_dev,
/// which get their own refusals.
const INCOMPAT_KNOWN: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_META_BG
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_MMP
    | INCOMPAT_FLEX_BG
    | INCOMPAT_EA_INODE
    | INCOMPAT_CSUM_SEED
    | INCOMPAT_LARGEDIR
    | INCOMPAT_INLINE_DATA
    | INCOMPAT_ENCRYPT
    | INCOMPAT_CASEFOLD;

/// `s_state` bits.
const STATE_VALID: u16 = 0x1;
const STATE_ERROR: u16 = 0x2;

/// Offset of `s_checksum`, the CRC32C of everything before it.
pub(super) const CHECKSUM_AT: usize = 0x3FC;

/// What the superblock says, checked and in the units the scan uses (u64 blocks).
#[derive(Debug, Clone)]
pub(super) struct Superblock {
    pub block_size: u64,
    /// log2 of the blocks per cluster (0 without bigalloc).
    pub cluster_bits: u32,
    pub blocks_count: u64,
    pub free_blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u64,
    pub clusters_per_group: u64,
    pub inodes_per_group: u64,
    pub inode_size: u64,
    /// Bytes per group descriptor (32 without 64bit).
    pub desc_size: u64,
    pub groups: u64,
    /// Blocks of the whole descriptor table.
    pub desc_blocks: u64,
    pub reserved_gdt_blocks: u64,
    pub first_meta_bg: u64,
    /// Blocks of one group's inode table.
    pub inode_table_blocks: u64,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub backup_bgs: [u64; 2],
    pub journal_inum: u64,
    pub mmp_block: u64,
    pub uuid: [u8; 16],
    /// Seed of every metadata_csum checksum but the superblock's own.
    pub csum_seed: u32,
}

impl Superblock {
    /// Parses and checks the 1024 bytes of the primary superblock.
    pub(super) fn parse(raw: &[u8]) -> Result<Self, String> {
        if raw.len() < SIZE || u16_at(raw, 0x38) != MAGIC {
            return Err("no ext2/3/4 superblock magic".into());
        }
        let compat = u32_at(raw, 0x5C);
        let incompat = u32_at(raw, 0x60);
        let ro_compat = u32_at(raw, 0x64);
        if ro_compat & RO_COMPAT_METADATA_CSUM != 0 {
            if raw[0x175] != 1 {
                return Err(format!("unknown metadata checksum type {}", raw[0x175]));
            }
            let stored = u32_at(raw, CHECKSUM_AT);
            let computed = crc32c(!0, &raw[..CHECKSUM_AT]);
            if stored != computed {
                return Err(format!(
                    "the superblock checksum is wrong (stored {stored:#010x}, computed {computed:#010x})"
                ));
            }
        }
        if incompat & INCOMPAT_RECOVER != 0 {
            return Err(
                "the journal needs recovery (needs_recovery): replaying it may allocate blocks \
                        the bitmaps still call free"
                    .into(),
            );
        }
        if incompat & INCOMPAT_JOURNAL_DEV != 0 {
            return Err(
                "this is an external journal device (journal_dev), not a filesystem".into(),
            );
        }
        let unknown = incompat & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(format!("unknown incompatible feature bits {unknown:#x}"));
        }
        let unknown = ro_compat & !RO_COMPAT_KNOWN;
        if unknown != 0 {
            return Err(format!(
                "unknown read-only compatible feature bits {unknown:#x}"
            ));
        }
        let state = u16_at(raw, 0x3A);
        if state & STATE_ERROR != 0 {
            return Err(format!(
                "the filesystem has errors (s_state {state:#x}): run e2fsck"
            ));
        }
        if state != STATE_VALID {
            return Err(format!(
                "the filesystem was not cleanly unmounted (s_state {state:#x})"
            ));
        }
        let rev_level = u32_at(raw, 0x4C);
        if rev_level > 1 {
            return Err(format!("unknown revision level {rev_level}"));
        }

        let log_block = u32_at(raw, 0x18);
        if log_block > 6 {
            return Err(format!(
                "unsupported block size (s_log_block_size {log_block})"
            ));
        }
        let block_size = 1024u64 << log_block;
        let bigalloc = ro_compat & RO_COMPAT_BIGALLOC != 0;
        let log_cluster = u32_at(raw, 0x1C);
        let cluster_bits = match log_cluster.checked_sub(log_block) {
            Some(bits) if bigalloc && bits <= 16 => bits,
            Some(0) if !bigalloc => 0,
            _ => {
                return Err(format!(
                    "implausible cluster size (s_log_cluster_size {log_cluster}, s_log_block_size {log_block})"
                ));
            }
        };
        let sixty_four = incompat & INCOMPAT_64BIT != 0;
        let hi = |at| {
            if sixty_four {
                u64::from(u32_at(raw, at)) << 32
            } else {
                0
            }
        };
        let blocks_count = u64::from(u32_at(raw, 0x4)) | hi(0x150);
        let free_blocks_count = u64::from(u32_at(raw, 0xC)) | hi(0x158);
        let first_data_block = u64::from(u32_at(raw, 0x14));
        let blocks_per_group = u64::from(u32_at(raw, 0x20));
        let clusters_per_group = if bigalloc {
            u64::from(u32_at(raw, 0x24))
        } else {
            blocks_per_group
        };
        let inodes_per_group = u64::from(u32_at(raw, 0x28));
        let inodes_count = u64::from(u32_at(raw, 0x0));

        // The superblock sits at byte 1024: in block 1 for 1 KiB blocks, which leaves block 0
        // outside every group, unless bigalloc starts group 0 at block 0 anyway.
        let expected_first = u64::from(block_size == 1024 && !bigalloc);
        if first_data_block != expected_first {
            return Err(format!(
                "implausible s_first_data_block {first_data_block} for {block_size}-byte blocks"
            ));
        }
        let bits_per_block = block_size * 8;
        if clusters_per_group == 0 || clusters_per_group > bits_per_block {
            return Err(format!(
                "implausible clusters per group ({clusters_per_group})"
            ));
        }
        if blocks_per_group != clusters_per_group << cluster_bits {
            return Err(format!(
                "blocks per group ({blocks_per_group}) and clusters per group ({clusters_per_group}) disagree"
            ));
        }
        if inodes_per_group == 0 || inodes_per_group > bits_per_block {
            return Err(format!("implausible inodes per group ({inodes_per_group})"));
        }
        let inode_size = if rev_level == 0 {
            128
        } else {
            u64::from(u16_at(raw, 0x58))
        };
        if inode_size < 128 || inode_size > block_size || !inode_size.is_power_of_two() {
            return Err(format!("implausible inode size ({inode_size})"));
        }
        let desc_size = if sixty_four {
            u64::from(u16_at(raw, 0xFE))
        } else {
            32
        };
        if !(32..=1024).contains(&desc_size)
            || !desc_size.is_power_of_two()
            || (sixty_four && desc_size < 64)
        {
            return Err(format!("implausible group descriptor size ({desc_size})"));
        }
        if blocks_count <= first_data_block {
            return Err(format!("implausible block count ({blocks_count})"));
        }
        let groups = (blocks_count - first_data_block).div_ceil(blocks_per_group);
        if groups > u64::from(u32::MAX) {
            return Err(format!("implausible group count ({groups})"));
        }
        if inodes_count != groups * inodes_per_group {
            return Err(format!(
                "the inode count ({inodes_count}) is not {groups} groups of {inodes_per_group} inodes"
            ));
        }
        let desc_blocks = (groups * desc_size).div_ceil(block_size);
        let reserved_gdt_blocks = u64::from(u16_at(raw, 0xCE));
        if reserved_gdt_blocks > block_size / 4 {
            return Err(format!(
                "implausible reserved GDT block count ({reserved_gdt_blocks})"
            ));
        }
        let first_meta_bg = u64::from(u32_at(raw, 0x104));
        if incompat & INCOMPAT_META_BG != 0 && first_meta_bg > desc_blocks {
            return Err(format!(
                "s_first_meta_bg ({first_meta_bg}) is past the descriptor table ({desc_blocks} blocks)"
            ));
        }
        let journal_inum = u64::from(u32_at(raw, 0xE0));
        if compat & COMPAT_HAS_JOURNAL != 0 && (journal_inum == 0 || journal_inum > inodes_count) {
            return Err(format!("implausible journal inode number ({journal_inum})"));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&raw[0x68..0x78]);
        let csum_seed = if incompat & INCOMPAT_CSUM_SEED != 0 {
            u32_at(raw, 0x270)
        } else {
            crc32c(!0, &uuid)
        };
        Ok(Superblock {
            block_size,
            cluster_bits,
            blocks_count,
            free_blocks_count,
            first_data_block,
            blocks_per_group,
            clusters_per_group,
            inodes_per_group,
            inode_size,
            desc_size,
            groups,
            desc_blocks,
            reserved_gdt_blocks,
            first_meta_bg,
            inode_table_blocks: (inodes_per_group * inode_size).div_ceil(block_size),
            compat,
            incompat,
            ro_compat,
            backup_bgs: [u64::from(u32_at(raw, 0x24C)), u64::from(u32_at(raw, 0x250))],
            journal_inum,
            mmp_block: u64_at(raw, 0x168),
            uuid,
            csum_seed,
        })
    }

    pub(super) fn has_incompat(&self, bit: u32) -> bool {
        self.incompat & bit != 0
    }

    pub(super) fn has_ro_compat(&self, bit: u32) -> bool {
        self.ro_compat & bit != 0
    }

    pub(super) fn has_compat(&self, bit: u32) -> bool {
        self.compat & bit != 0
    }

    /// Whether descriptors carry checksums, which is what makes BLOCK_UNINIT trustworthy.
    pub(super) fn has_group_csums(&self) -> bool {
        self.has_ro_compat(RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)
    }

    /// Descriptors per descriptor block: the size of a meta_bg meta-group.
    pub(super) fn descs_per_block(&self) -> u64 {
        self.block_size / self.desc_size
    }

    /// The block holding the primary superblock: 1 with 1 KiB blocks, else 0.
    pub(super) fn primary_super_block(&self) -> u64 {
        OFFSET / self.block_size
    }

    /// First block of group `g`.
    pub(super) fn group_start(&self, g: u64) -> u64 {
        self.first_data_block + g * self.blocks_per_group
    }

    /// One past the last block of group `g` (the last group may be short).
    pub(super) fn group_end(&self, g: u64) -> u64 {
        (self.group_start(g) + self.blocks_per_group).min(self.blocks_count)
    }

    /// Bitmap bits of group `g` that stand for real clusters.
    pub(super) fn clusters_in_group(&self, g: u64) -> u64 {
        (self.group_end(g) - self.group_start(g)).div_ceil(1 << self.cluster_bits)
    }

    /// `ext2fs_bg_has_super`: whether group `g` keeps a superblock copy.
    pub(super) fn has_super(&self, g: u64) -> bool {
        if g == 0 {
            return true;
        }
        if self.has_compat(COMPAT_SPARSE_SUPER2) {
            return g == self.backup_bgs[0] || g == self.backup_bgs[1];
        }
        if g <= 1 || !self.has_ro_compat(RO_COMPAT_SPARSE_SUPER) {
            return true;
        }
        g % 2 == 1 && (is_power_of(g, 3) || is_power_of(g, 5) || is_power_of(g, 7))
    }

    /// The block of group `g`'s superblock copy, if it has one.
    pub(super) fn super_block(&self, g: u64) -> u64 {
        if g == 0 {
            self.primary_super_block()
        } else {
            self.group_start(g)
        }
    }

    /// Whether group `g` keeps its descriptors the old way (the whole table after each
    /// superblock copy) rather than in its meta-group.
    pub(super) fn old_style_gdt(&self, g: u64) -> bool {
        !self.has_incompat(INCOMPAT_META_BG) || g / self.descs_per_block() < self.first_meta_bg
    }

    /// Descriptor blocks after each old-style superblock copy, not counting the reserved ones.
    pub(super) fn old_gdt_blocks(&self) -> u64 {
        if self.has_incompat(INCOMPAT_META_BG) {
            self.first_meta_bg
        } else {
            self.desc_blocks
        }
    }

    /// With meta_bg, whether group `g` holds a copy of its meta-group's descriptor block:
    /// the 1st, 2nd and last group of each meta-group do.
    pub(super) fn has_meta_bg_gdt(&self, g: u64) -> bool {
        if self.old_style_gdt(g) {
            return false;
        }
        let per = self.descs_per_block();
        let at = g % per;
        at == 0 || at == 1 || at == per - 1
    }

    /// Where descriptor block `i` of the primary table is (`ext2fs_descriptor_block_loc2`).
    pub(super) fn gdt_block(&self, i: u64) -> u64 {
        if !self.has_incompat(INCOMPAT_META_BG) || i < self.first_meta_bg {
            return self.primary_super_block() + 1 + i;
        }
        let g = i * self.descs_per_block();
        self.super_block(g) + u64::from(self.has_super(g))
    }

    /// The filesystem's name as blkid gives it: ext4 when it uses anything ext3 lacks.
    pub(super) fn name(raw: &[u8]) -> &'static str {
        if raw.len() < SIZE {
            return "ext4";
        }
        let incompat = u32_at(raw, 0x60);
        let ro_compat = u32_at(raw, 0x64);
        let ext3_incompat = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG;
        let ext3_ro_compat = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | 0x4;
        if incompat & !ext3_incompat != 0 || ro_compat & !ext3_ro_compat != 0 {
            "ext4"
        } else if u32_at(raw, 0x5C) & COMPAT_HAS_JOURNAL != 0 {
            "ext3"
        } else {
            "ext2"
        }
    }
}

/// Whether `n` is `base` to some power ≥ 1.
fn is_power_of(mut n: u64, base: u64) -> bool {
    while n >= base {
        if n == base {
            return true;
        }
        if !n.is_multiple_of(base) {
            return false;
        }
        n /= base;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_super_groups_are_0_1_and_powers_of_3_5_7() {
        let with: Vec<u64> = (0..400)
            .filter(|&n| {
                n <= 1
                    || (n % 2 == 1 && (is_power_of(n, 3) || is_power_of(n, 5) || is_power_of(n, 7)))
            })
            .collect();
        assert_eq!(with, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125, 243, 343]);
    }
}
