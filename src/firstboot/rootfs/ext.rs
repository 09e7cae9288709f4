//! Just enough of ext2, ext3 and ext4 to tell whether a few paths exist: the superblock, the
//! group descriptors, inodes, the two ways a file's blocks are found (ext4's extent tree,
//! ext2/3's direct and indirect block pointers), directory entries and symlink targets.
//!
//! Read-only, through any `Read + Seek` view of the filesystem, and distrustful: every
//! number from the disk is checked before it is used as a size, an offset or a count; the
//! extent tree is walked without recursion, its depth and magic checked at every node;
//! every read is charged to a budget (per lookup, and for the whole filesystem), so no
//! image, however crafted, makes it read for ever. What it does not understand (an unknown
//! incompatible feature, a journal that needs replaying, an encrypted directory, a value in
//! an extended-attribute inode) is an error, which the caller takes as "unknown", never as
//! "absent". Checksums (metadata_csum) are not verified: nothing here is written, and a
//! damaged block fails the checks of what it holds.
//!
//! Directories are scanned block by block, every entry of every block, which also reads a
//! hashed (htree) directory: its index blocks look like blocks of one empty entry. Inline
//! directories (the `inline_data` feature) are read from the inode and its `system.data`
//! extended attribute.

use std::io::{Read, Seek, SeekFrom};

use self::geometry::{Geometry, INCOMPAT_64BIT, INCOMPAT_FILETYPE, INCOMPAT_INLINE_DATA};
use crate::le::{u16_at, u32_at};

mod geometry;
mod map;

/// What a failed read or check is: words for whoever wants to know why it is unknown.
pub(super) type Result<T> = std::result::Result<T, String>;

/// The root directory's inode number.
pub(super) const ROOT: u32 = 2;
/// Bytes one lookup may read (see [`Ext::new_lookup`]).
pub(super) const LOOKUP_BUDGET: u64 = 16 << 20;
/// A symlink's target is at most this long (Linux's `PATH_MAX`).
const MAX_LINK: u64 = 4096;

// Inode flags (i_flags).
const FLAG_ENCRYPT: u32 = 0x800;
const FLAG_EXTENTS: u32 = 0x8_0000;
const FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// bg_flags: the group's inode table was never written.
const INODE_UNINIT: u16 = 0x1;

/// One inode, as far as lookups need it.
#[derive(Debug, Clone)]
pub(super) struct Inode {
    /// Its number.
    pub(super) number: u32,
    mode: u16,
    size: u64,
    flags: u32,
    /// 512-byte sectors it holds, its extended-attribute block included.
    sectors: u64,
    file_acl: u64,
    /// `i_block`: block pointers, an extent tree's root, a fast symlink's target or inline
    /// data.
    block: [u8; 60],
    /// The extended attributes kept in the inode, after its fixed fields (may be empty).
    in_inode: Vec<u8>,
}

impl Inode {
    fn kind(&self) -> u16 {
        self.mode & 0xF000
    }

    /// Whether it is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.kind() == 0x4000
    }

    /// Whether it is a regular file.
    pub(super) fn is_file(&self) -> bool {
        self.kind() == 0x8000
    }

    /// Whether it is a symbolic link.
    pub(super) fn is_symlink(&self) -> bool {
        self.kind() == 0xA000
    }
}

/// An ext2/3/4 filesystem, open for lookups.
pub(super) struct Ext<R> {
    disk: R,
    geometry: Geometry,
    /// Bytes the current lookup may still read.
    lookup_left: u64,
    /// Bytes every lookup together may still read.
    total_left: u64,
}

impl<R: Read + Seek> Ext<R> {
    /// The filesystem on `disk` (read from its first byte), which may read `budget` bytes in
    /// all, or why it cannot be read.
    pub(super) fn open(disk: R, budget: u64) -> Result<Self> {
        let mut fs = Self {
            disk,
            geometry: Geometry::empty(),
            lookup_left: budget.min(LOOKUP_BUDGET),
            total_left: budget,
        };
        let mut raw = [0u8; 1024];
        fs.read(1024, &mut raw)?;
        fs.geometry = Geometry::parse(&raw)?;
        Ok(fs)
    }

    /// Bytes left of the budget given to [`Ext::open`].
    pub(super) fn budget_left(&self) -> u64 {
        self.total_left
    }

    /// Starts a new lookup, with [`LOOKUP_BUDGET`] to read (or what is left of the whole).
    pub(super) fn new_lookup(&mut self) {
        self.lookup_left = LOOKUP_BUDGET.min(self.total_left);
    }

    /// Reads `buf.len()` bytes at `offset`, charged to the budgets.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() as u64;
        if n > self.lookup_left || n > self.total_left {
            return Err(format!(
                "a lookup would read more than its budget of {LOOKUP_BUDGET} bytes"
            ));
        }
        self.lookup_left -= n;
        self.total_left -= n;
        self.disk
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.disk.read_exact(buf))
            .map_err(|e| format!("cannot read {n} bytes at byte {offset}: {e}"))
    }

    /// The byte `within` bytes into block `block`, which must lie in the filesystem.
    fn offset(&self, block: u64, within: u64) -> Result<u64> {
        if block == 0 || block >= self.geometry.blocks {
            return Err(format!("block {block} is outside the filesystem"));
        }
        block
            .checked_mul(self.geometry.block_size)
            .and_then(|at| at.checked_add(within))
            .ok_or_else(|| format!("block {block} is past any disk"))
    }

    /// Block `block` of the filesystem.
    fn block(&mut self, block: u64) -> Result<Vec<u8>> {
        let at = self.offset(block, 0)?;
        let mut buf =
            vec![0; usize::try_from(self.geometry.block_size).map_err(|e| e.to_string())?];
        self.read(at, &mut buf)?;
        Ok(buf)
    }

    /// Inode `number`.
    pub(super) fn inode(&mut self, number: u32) -> Result<Inode> {
        let g = self.geometry.clone();
        if number == 0 || u64::from(number) > g.inodes {
            return Err(format!("inode {number} does not exist"));
        }
        let index = u64::from(number - 1);
        let (group, slot) = (index / g.inodes_per_group, index % g.inodes_per_group);
        let per_block = g.block_size / g.desc_size;
        let block = g
            .descriptor_block(group / per_block)
            .ok_or_else(|| format!("the descriptor of group {group} is past any disk"))?;
        let at = self.offset(block, group % per_block * g.desc_size)?;
        let mut desc = vec![0u8; usize::try_from(g.desc_size).map_err(|e| e.to_string())?];
        self.read(at, &mut desc)?;
        let hi = match g.incompat & INCOMPAT_64BIT != 0 {
            true => u64::from(u32_at(&desc, 0x28)) << 32,
            false => 0,
        };
        let table = u64::from(u32_at(&desc, 0x8)) | hi;
        if u16_at(&desc, 0x12) & INODE_UNINIT != 0 {
            return Err(format!("inode {number} is in a group never initialised"));
        }
        let table_blocks = (g.inodes_per_group * g.inode_size).div_ceil(g.block_size);
        if table
            .checked_add(table_blocks)
            .is_none_or(|end| end > g.blocks)
        {
            return Err(format!(
                "the inode table of group {group} is outside the filesystem"
            ));
        }
        let at = self.offset(table, slot * g.inode_size)?;
        let mut raw = vec![0u8; usize::try_from(g.inode_size).map_err(|e| e.to_string())?];
        self.read(at, &mut raw)?;
        if u16_at(&raw, 0x1A) == 0 {
            return Err(format!("inode {number} is not in use (no links)"));
        }
        let extra = if raw.len() > 128 {
            usize::from(u16_at(&raw, 0x80))
        } else {
            0
        };
        let in_inode = match raw.get(128 + extra..) {
            Some(rest) if extra % 4 == 0 => rest.to_vec(),
            _ => {
                return Err(format!(
                    "inode {number} has impossible extra fields ({extra})"
                ));
            }
        };
        let mut block = [0u8; 60];
        block.copy_from_slice(&raw[0x28..0x64]);
        Ok(Inode {
            number,
            mode: u16_at(&raw, 0),
            size: u64::from(u32_at(&raw, 0x4)) | (u64::from(u32_at(&raw, 0x6C)) << 32),
            flags: u32_at(&raw, 0x20),
            sectors: u64::from(u32_at(&raw, 0x1C)),
            file_acl: u64::from(u32_at(&raw, 0x68)) | (u64::from(u16_at(&raw, 0x76)) << 32),
            block,
            in_inode,
        })
    }

    /// The inode number `name` has in directory `dir`, or `None` when it has none.
    pub(super) fn find(&mut self, dir: &Inode, name: &[u8]) -> Result<Option<u32>> {
        if dir.flags & FLAG_ENCRYPT != 0 {
            return Err(format!("directory inode {} is encrypted", dir.number));
        }
        let typed = self.geometry.incompat & INCOMPAT_FILETYPE != 0;
        let bs = self.geometry.block_size;
        if dir.flags & FLAG_INLINE_DATA != 0 {
            if name == b".." {
                return Ok(Some(u32_at(&dir.block, 0)));
            }
            if let Some(found) = entries(&dir.block[4..], name, typed, bs)? {
                return Ok(Some(found));
            }
            let more = self.inline_value(dir)?;
            return entries(&more, name, typed, bs);
        }
        let count = self.blocks_for(dir.size)?;
        let mut runs = self.map(dir, 0..count)?;
        runs.sort_by_key(|r| r.logical);
        for run in runs.iter().filter(|r| !r.zeros) {
            for k in 0..run.len {
                if run.logical + k >= count {
                    break;
                }
                let data = self.block(run.physical + k)?;
                if let Some(found) = entries(&data, name, typed, bs)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// How many blocks hold `size` bytes, if reading them fits one lookup's budget.
    fn blocks_for(&self, size: u64) -> Result<u64> {
        let bs = self.geometry.block_size;
        let count = size.div_ceil(bs);
        if count > LOOKUP_BUDGET / bs {
            return Err(format!("{size} bytes are more than a lookup reads"));
        }
        Ok(count)
    }

    /// The target of symlink `link`.
    pub(super) fn link(&mut self, link: &Inode) -> Result<Vec<u8>> {
        if link.flags & FLAG_ENCRYPT != 0 {
            return Err(format!("symlink inode {} is encrypted", link.number));
        }
        if link.size > MAX_LINK {
            return Err(format!(
                "symlink inode {} is {} bytes long",
                link.number, link.size
            ));
        }
        let n = usize::try_from(link.size).map_err(|e| e.to_string())?;
        if link.flags & FLAG_INLINE_DATA != 0 {
            let mut target = link.block[..n.min(60)].to_vec();
            if n > 60 {
                target.extend(self.inline_value(link)?);
            }
            if target.len() < n {
                return Err(format!("symlink inode {} is cut short", link.number));
            }
            target.truncate(n);
            return Ok(target);
        }
        let ea = if link.file_acl != 0 {
            self.geometry.cluster_size / 512
        } else {
            0
        };
        if link.flags & FLAG_EXTENTS == 0 && n < 60 && link.sectors <= ea {
            return Ok(link.block[..n].to_vec());
        }
        let bs = usize::try_from(self.geometry.block_size).map_err(|e| e.to_string())?;
        let count = self.blocks_for(link.size)?;
        let mut target = vec![0u8; usize::try_from(count).map_err(|e| e.to_string())? * bs];
        for run in self.map(link, 0..count)? {
            for k in 0..run.len.min(count.saturating_sub(run.logical)) {
                let at = usize::try_from(run.logical + k).map_err(|e| e.to_string())? * bs;
                if !run.zeros {
                    let data = self.block(run.physical + k)?;
                    target[at..at + bs].copy_from_slice(&data);
                }
            }
        }
        target.truncate(n);
        Ok(target)
    }

    /// The value of the `system.data` extended attribute kept in the inode: the part of its
    /// inline data that does not fit `i_block`.
    fn inline_value(&self, inode: &Inode) -> Result<Vec<u8>> {
        if self.geometry.incompat & INCOMPAT_INLINE_DATA == 0 {
            return Err("inline data on a filesystem without the feature".into());
        }
        let area = &inode.in_inode;
        let bad = || format!("inode {} has damaged inline data", inode.number);
        if area.len() < 4 || u32_at(area, 0) != 0xEA02_0000 {
            return Ok(Vec::new());
        }
        let entries = &area[4..];
        let mut at = 0;
        while at + 16 <= entries.len() && u32_at(entries, at) != 0 {
            let e = &entries[at..];
            let name_len = usize::from(e[0]);
            let name = e.get(16..16 + name_len).ok_or_else(bad)?;
            if e[1] == 7 && name == b"data" {
                if u32_at(e, 4) != 0 {
                    return Err(format!(
                        "inode {} keeps its data in another inode",
                        inode.number
                    ));
                }
                let from = usize::from(u16_at(e, 2));
                let len = usize::try_from(u32_at(e, 8)).map_err(|_| bad())?;
                let value = from.checked_add(len).and_then(|end| entries.get(from..end));
                return value.map(<[u8]>::to_vec).ok_or_else(bad);
            }
            at += (16 + name_len + 3) & !3;
        }
        Ok(Vec::new())
    }
}

/// The inode number of `name` among the directory entries in `data` (a directory block, or
/// a piece of an inline directory), or `None`; entries whose lengths do not fit are an error.
fn entries(data: &[u8], name: &[u8], typed: bool, block_size: u64) -> Result<Option<u32>> {
    let mut at = 0;
    while at + 8 <= data.len() {
        let raw = usize::from(u16_at(data, at + 4));
        let len = match raw {
            0 | 65535 if block_size == 65536 => 65536,
            n => n,
        };
        let name_len = match typed {
            true => usize::from(data[at + 6]),
            false => usize::from(u16_at(data, at + 6)),
        };
        if len < 12 || len % 4 != 0 || at + len > data.len() || 8 + name_len > len {
            return Err(format!(
                "a directory entry of {len} bytes at byte {at} does not fit"
            ));
        }
        let inode = u32_at(data, at);
        if inode != 0 && &data[at + 8..at + 8 + name_len] == name {
            return Ok(Some(inode));
        }
        at += len;
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
