//! Block groups: their descriptors (checked against their checksums), where each group's
//! metadata lies, and each group's block bitmap — read from disk, or computed for a
//! BLOCK_UNINIT group exactly as the kernel's `ext4_init_block_bitmap` does.

use super::crc::{crc16, crc32c};
use super::superblock::{INCOMPAT_64BIT, INCOMPAT_FLEX_BG, RO_COMPAT_METADATA_CSUM, Superblock};
use crate::le::{u16_at, u32_at};
use crate::source::RandomAccess;

/// `bg_flags`: the block bitmap was never written; it is implied by the group's metadata.
const BLOCK_UNINIT: u16 = 0x2;
/// Offset of `bg_checksum` in a descriptor.
const CHECKSUM_AT: usize = 0x1E;

/// One group descriptor, with the `_hi` halves folded in.
#[derive(Debug, Clone)]
pub(super) struct Desc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    /// Free clusters, as the descriptor counts them.
    pub free: u64,
    pub flags: u16,
    pub bitmap_csum: u32,
}

/// Reads the primary descriptor table and checks every descriptor: its checksum when the
/// filesystem has them, and that its bitmaps and inode table lie inside the filesystem
/// (inside the group itself without flex_bg).
pub(super) fn read_descriptors(
    fs: &dyn RandomAccess,
    sb: &Superblock,
) -> Result<Vec<Desc>, String> {
    let bs = usize::try_from(sb.block_size).map_err(|e| e.to_string())?;
    let size = usize::try_from(sb.desc_size).map_err(|e| e.to_string())?;
    let per_block = sb.descs_per_block();
    let mut block = vec![0u8; bs];
    let mut descs = Vec::with_capacity(usize::try_from(sb.groups).unwrap_or(0));
    for g in 0..sb.groups {
        if g % per_block == 0 {
            let at = sb.gdt_block(g / per_block);
            if at >= sb.blocks_count {
                return Err(format!(
                    "descriptor block {} is past the end of the filesystem",
                    g / per_block
                ));
            }
            fs.read_exact_at(at * sb.block_size, &mut block)
                .map_err(|e| format!("cannot read descriptor block {at}: {e}"))?;
        }
        let offset = usize::try_from(g % per_block).map_err(|e| e.to_string())? * size;
        let raw = &block[offset..offset + size];
        verify_desc_checksum(sb, g, raw)?;
        let desc = parse(sb, raw);
        check_locations(sb, g, &desc)?;
        if desc.free > sb.clusters_in_group(g) {
            return Err(format!(
                "group {g} claims {} free clusters of {}",
                desc.free,
                sb.clusters_in_group(g)
            ));
        }
        descs.push(desc);
    }
    Ok(descs)
}

fn parse(sb: &Superblock, raw: &[u8]) -> Desc {
    let wide = sb.has_incompat(INCOMPAT_64BIT);
    let lo_hi32 = |lo: usize, hi: usize| {
        u64::from(u32_at(raw, lo))
            | if wide {
                u64::from(u32_at(raw, hi)) << 32
            } else {
                0
            }
    };
    let lo_hi16 = |lo: usize, hi: usize| {
        u32::from(u16_at(raw, lo))
            | if wide {
                u32::from(u16_at(raw, hi)) << 16
            } else {
                0
            }
    };
    Desc {
        block_bitmap: lo_hi32(0x0, 0x20),
        inode_bitmap: lo_hi32(0x4, 0x24),
        inode_table: lo_hi32(0x8, 0x28),
        free: u64::from(lo_hi16(0xC, 0x2C)),
        flags: u16_at(raw, 0x12),
        bitmap_csum: lo_hi16(0x18, 0x38),
    }
}

/// `ext2fs_group_desc_csum`: CRC32C of seed, group and descriptor for metadata_csum (low 16
/// bits kept), CRC16 of uuid, group and descriptor for uninit_bg; the checksum field itself
/// is left out.
fn desc_checksum(sb: &Superblock, g: u64, raw: &[u8]) -> u16 {
    // Group numbers are 32-bit on disk; a filesystem with more groups has been refused.
    let group = (g as u32).to_le_bytes();
    if sb.has_ro_compat(RO_COMPAT_METADATA_CSUM) {
        let mut crc = crc32c(sb.csum_seed, &group);
        crc = crc32c(crc, &raw[..CHECKSUM_AT]);
        crc = crc32c(crc, &[0, 0]);
        crc = crc32c(crc, &raw[CHECKSUM_AT + 2..]);
        crc as u16
    } else {
        let mut crc = crc16(!0, &sb.uuid);
        crc = crc16(crc, &group);
        crc = crc16(crc, &raw[..CHECKSUM_AT]);
        crc16(crc, &raw[CHECKSUM_AT + 2..])
    }
}

fn verify_desc_checksum(sb: &Superblock, g: u64, raw: &[u8]) -> Result<(), String> {
    if !sb.has_group_csums() {
        return Ok(());
    }
    let stored = u16_at(raw, CHECKSUM_AT);
    let computed = desc_checksum(sb, g, raw);
    if stored == computed {
        Ok(())
    } else {
        Err(format!(
            "the descriptor checksum of group {g} is wrong (stored {stored:#06x}, computed {computed:#06x})"
        ))
    }
}

/// Like the kernel's `ext4_check_descriptors`: bitmaps and inode table inside the
/// filesystem, and inside their own group unless flex_bg lets them move.
fn check_locations(sb: &Superblock, g: u64, d: &Desc) -> Result<(), String> {
    let (first, end) = if sb.has_incompat(INCOMPAT_FLEX_BG) {
        (sb.first_data_block, sb.blocks_count)
    } else {
        (sb.group_start(g), sb.group_end(g))
    };
    let inside =
        |start: u64, len: u64| start >= first && start.checked_add(len).is_some_and(|e| e <= end);
    if !inside(d.block_bitmap, 1) {
        return Err(format!(
            "the block bitmap of group {g} is at an impossible block ({})",
            d.block_bitmap
        ));
    }
    if !inside(d.inode_bitmap, 1) {
        return Err(format!(
            "the inode bitmap of group {g} is at an impossible block ({})",
            d.inode_bitmap
        ));
    }
    if !inside(d.inode_table, sb.inode_table_blocks) {
        return Err(format!(
            "the inode table of group {g} is at an impossible block ({})",
            d.inode_table
        ));
    }
    Ok(())
}

/// Whether group `g`'s bitmap is to be computed rather than read: BLOCK_UNINIT counts only
/// with descriptor checksums, and those were all verified by [`read_descriptors`].
pub(super) fn is_uninit(sb: &Superblock, d: &Desc) -> bool {
    sb.has_group_csums() && d.flags & BLOCK_UNINIT != 0
}

/// The blocks of group `g`'s superblock copy, descriptor blocks and reserved descriptor
/// blocks, which always start the group. This is the kernel's count
/// (`ext4_num_base_meta_clusters`), which with meta_bg also counts reserved blocks after
/// the old-style table where e2fsprogs does not: the larger of the two.
pub(super) fn base_metadata(sb: &Superblock, g: u64) -> Option<(u64, u64)> {
    let has_super = sb.has_super(g);
    let start = sb.super_block(g);
    let len = if sb.old_style_gdt(g) {
        if has_super {
            1 + sb.old_gdt_blocks() + sb.reserved_gdt_blocks
        } else {
            0
        }
    } else {
        u64::from(has_super) + u64::from(sb.has_meta_bg_gdt(g))
    };
    (len > 0).then(|| (start, (start + len).min(sb.blocks_count)))
}

/// Every block range of group `g`'s own metadata, wherever it lies: superblock copy,
/// descriptor and reserved descriptor blocks, both bitmaps and the whole inode table.
pub(super) fn metadata(sb: &Superblock, g: u64, d: &Desc) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(4);
    if g == 0 {
        // Block 0 and the first 2 KiB (boot sector and primary superblock), in no group
        // with 1 KiB blocks.
        out.push((0, sb.primary_super_block() + 1));
    }
    out.extend(base_metadata(sb, g));
    out.push((d.block_bitmap, d.block_bitmap + 1));
    out.push((d.inode_bitmap, d.inode_bitmap + 1));
    out.push((d.inode_table, d.inode_table + sb.inode_table_blocks));
    out
}

/// A group's block bitmap: one bit per cluster, least significant bit first.
pub(super) struct Bitmap {
    bytes: Vec<u8>,
}

impl Bitmap {
    pub(super) fn is_used(&self, bit: u64) -> bool {
        usize::try_from(bit / 8)
            .ok()
            .and_then(|i| self.bytes.get(i))
            .is_none_or(|byte| byte & (1 << (bit % 8)) != 0)
    }

    fn set(&mut self, bit: u64) {
        if let Some(byte) = usize::try_from(bit / 8)
            .ok()
            .and_then(|i| self.bytes.get_mut(i))
        {
            *byte |= 1 << (bit % 8);
        }
    }

    /// Free bits among the first `n`.
    pub(super) fn count_free(&self, n: u64) -> u64 {
        let whole = usize::try_from(n / 8)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let mut free: u64 = self.bytes[..whole]
            .iter()
            .map(|b| u64::from(b.count_zeros()))
            .sum();
        for bit in (whole as u64 * 8)..n {
            free += u64::from(!self.is_used(bit));
        }
        free
    }

    /// Runs of free bits among the first `n`, as half-open bit ranges.
    pub(super) fn free_runs(&self, n: u64) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut bit = 0;
        while bit < n {
            let byte = usize::try_from(bit / 8)
                .ok()
                .and_then(|i| self.bytes.get(i))
                .copied();
            match byte {
                Some(0xFF) if bit % 8 == 0 => bit += 8,
                None => break,
                Some(_) => {
                    if self.is_used(bit) {
                        bit += 1;
                    } else {
                        let start = bit;
                        while bit < n && !self.is_used(bit) {
                            bit += 1;
                        }
                        runs.push((start, bit));
                    }
                }
            }
        }
        runs
    }
}

/// Group `g`'s block bitmap. A BLOCK_UNINIT group's is computed (its on-disk block may be a
/// hole or garbage); any other is read, and with metadata_csum its checksum verified. `None`
/// when a stream being scanned has not reached it yet ([`crate::scan::StreamScan`]).
pub(super) fn block_bitmap(
    fs: &dyn RandomAccess,
    sb: &Superblock,
    g: u64,
    d: &Desc,
) -> Result<Option<Bitmap>, String> {
    let bs = usize::try_from(sb.block_size).map_err(|e| e.to_string())?;
    if is_uninit(sb, d) {
        return Ok(Some(computed(sb, g, d, bs)));
    }
    let mut bytes = vec![0u8; bs];
    match fs.read_exact_at(d.block_bitmap * sb.block_size, &mut bytes) {
        Err(e) if crate::scan::not_yet(&e) => return Ok(None),
        result => result.map_err(|e| format!("cannot read the block bitmap of group {g}: {e}"))?,
    }
    if sb.has_ro_compat(RO_COMPAT_METADATA_CSUM) {
        let len = usize::try_from(sb.clusters_per_group / 8).map_err(|e| e.to_string())?;
        let mut computed = crc32c(sb.csum_seed, &bytes[..len.min(bs)]);
        // Descriptors of 32 bytes keep only the low half.
        if sb.desc_size < 0x3A {
            computed &= 0xFFFF;
        }
        if computed != d.bitmap_csum {
            return Err(format!(
                "the block bitmap checksum of group {g} is wrong (stored {:#010x}, computed {computed:#010x})",
                d.bitmap_csum
            ));
        }
    }
    Ok(Some(Bitmap { bytes }))
}

/// `ext4_init_block_bitmap`: all free but the group's superblock copy and descriptor blocks,
/// and its bitmaps and inode table where they lie inside the group; the bits past the end
/// of a short last group are set.
fn computed(sb: &Superblock, g: u64, d: &Desc, bs: usize) -> Bitmap {
    let mut bitmap = Bitmap { bytes: vec![0; bs] };
    let start = sb.group_start(g);
    let end = sb.group_end(g);
    let mut mark = |from: u64, to: u64| {
        for block in from.max(start)..to.min(end) {
            bitmap.set((block - start) >> sb.cluster_bits);
        }
    };
    if let Some((from, to)) = base_metadata(sb, g) {
        mark(from, to);
    }
    mark(d.block_bitmap, d.block_bitmap + 1);
    mark(d.inode_bitmap, d.inode_bitmap + 1);
    mark(d.inode_table, d.inode_table + sb.inode_table_blocks);
    for bit in sb.clusters_in_group(g)..(bs as u64 * 8) {
        bitmap.set(bit);
    }
    bitmap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_runs_and_counts_skip_padding() {
        let bitmap = Bitmap {
            bytes: vec![0b1111_0001, 0xFF, 0x00, 0b1000_0000],
        };
        assert_eq!(bitmap.free_runs(30), [(1, 4), (16, 30)]);
        assert_eq!(bitmap.count_free(30), 3 + 14);
        assert_eq!(bitmap.free_runs(32), [(1, 4), (16, 31)]);
        assert_eq!(bitmap.count_free(32), 3 + 15);
    }
}
