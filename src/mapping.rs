//! The mapped (allocated) areas of a sparse file, in blocks.
//!
//! FIEMAP first, always with `FIEMAP_FLAG_SYNC` so dirty data is flushed before the filesystem
//! answers (early FIEMAP implementations returned empty maps for unflushed data). Where the
//! filesystem has no FIEMAP (tmpfs), `SEEK_DATA`/`SEEK_HOLE`. Preallocated (unwritten) extents
//! count as mapped, as in bmaptool: the image's author may rely on them reading as zeros.
//!
//! Extents are rounded outwards to whole blocks and merged, and clipped to the file size.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

/// How the map was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The `FS_IOC_FIEMAP` ioctl.
    Fiemap,
    /// `lseek` with `SEEK_DATA` and `SEEK_HOLE`.
    SeekHole,
}

/// An inclusive run of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First block.
    pub first: u64,
    /// Last block (inclusive).
    pub last: u64,
}

/// The filesystem's block size for `file`: `FIGETBSZ`, or `st_blksize` when the ioctl fails or
/// answers 0 (bmaptool's rule).
pub fn block_size(file: &File) -> io::Result<u64> {
    let mut size: libc::c_int = 0;
    // SAFETY: FIGETBSZ writes one int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FIGETBSZ, &mut size as *mut libc::c_int) };
    if rc == 0 && size > 0 {
        return Ok(u64::try_from(size).unwrap_or(4096));
    }
    Ok(file.metadata()?.blksize())
}

/// The mapped blocks of the first `size` bytes of `file`, in blocks of `block_size`.
pub fn mapped_extents(
    file: &File,
    size: u64,
    block_size: u64,
) -> io::Result<(Vec<Extent>, Method)> {
    let mut merger = Merger::new(size.div_ceil(block_size), block_size);
    match fiemap(file, size, &mut merger) {
        Ok(()) => return Ok((merger.finish(), Method::Fiemap)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOTTY)) => {}
        Err(e) => return Err(e),
    }
    let mut merger = Merger::new(size.div_ceil(block_size), block_size);
    seek_holes(file, size, &mut merger)?;
    Ok((merger.finish(), Method::SeekHole))
}

/// Collects byte extents as merged, clipped block extents.
struct Merger {
    blocks: u64,
    block_size: u64,
    extents: Vec<Extent>,
}

impl Merger {
    fn new(blocks: u64, block_size: u64) -> Self {
        Self {
            blocks,
            block_size,
            extents: Vec::new(),
        }
    }

    /// Adds the bytes `start..end`, rounded outwards to blocks.
    fn add(&mut self, start: u64, end: u64) {
        if end <= start || self.blocks == 0 {
            return;
        }
        let first = start / self.block_size;
        let last = ((end - 1) / self.block_size).min(self.blocks - 1);
        if first > last {
            return;
        }
        match self.extents.last_mut() {
            Some(prev) if first <= prev.last.saturating_add(1) => prev.last = prev.last.max(last),
            _ => self.extents.push(Extent { first, last }),
        }
    }

    fn finish(self) -> Vec<Extent> {
        self.extents
    }
}

const FIGETBSZ: libc::Ioctl = 2;
/// `_IOWR('f', 11, struct fiemap)`.
const FS_IOC_FIEMAP: libc::Ioctl = 0xC020_660Bu32 as libc::Ioctl;
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const FIEMAP_EXTENT_LAST: u32 = 0x1;
/// Extents per call: bmaptool's 256 KiB result buffer.
const EXTENTS_PER_CALL: usize = (256 * 1024 - 32) / 56;

#[repr(C)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; EXTENTS_PER_CALL],
}

fn fiemap(file: &File, size: u64, merger: &mut Merger) -> io::Result<()> {
    // SAFETY: Fiemap is plain integers, for which all-zero bytes are a valid value.
    let mut request: Box<Fiemap> = unsafe { Box::new_zeroed().assume_init() };
    let mut start = 0;
    while start < size {
        request.start = start;
        request.length = size - start;
        request.flags = FIEMAP_FLAG_SYNC;
        request.mapped_extents = 0;
        request.extent_count = EXTENTS_PER_CALL as u32;
        // SAFETY: the kernel reads the header and writes at most `extent_count` extents into
        // the array that follows it, all inside the boxed struct.
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                FS_IOC_FIEMAP,
                &mut *request as *mut Fiemap,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let count = (request.mapped_extents as usize).min(EXTENTS_PER_CALL);
        if count == 0 {
            break;
        }
        let mut last_flags = 0;
        for extent in &request.extents[..count] {
            merger.add(extent.logical, extent.logical.saturating_add(extent.length));
            start = extent.logical.saturating_add(extent.length);
            last_flags = extent.flags;
        }
        if last_flags & FIEMAP_EXTENT_LAST != 0 {
            break;
        }
    }
    Ok(())
}

fn seek_holes(file: &File, size: u64, merger: &mut Merger) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let seek = |offset: u64, whence: libc::c_int| -> io::Result<Option<u64>> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: lseek on a valid fd has no memory effects.
        let rc = unsafe { libc::lseek(fd, offset, whence) };
        if rc >= 0 {
            return Ok(u64::try_from(rc).ok());
        }
        let err = io::Error::last_os_error();
        // ENXIO: no data at or after the offset.
        if err.raw_os_error() == Some(libc::ENXIO) {
            Ok(None)
        } else {
            Err(err)
        }
    };
    let mut offset = 0;
    while offset < size {
        let Some(data) = seek(offset, libc::SEEK_DATA)? else {
            break;
        };
        if data >= size {
            break;
        }
        let hole = seek(data, libc::SEEK_HOLE)?.unwrap_or(size).min(size);
        merger.add(data, hole.max(data + 1));
        offset = hole.max(data + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merger_rounds_outwards_merges_and_clips() {
        let mut m = Merger::new(10, 4096);
        m.add(100, 200); // inside block 0
        m.add(4096, 8193); // blocks 1-2, adjacent: merged
        m.add(5 * 4096, 5 * 4096); // empty: ignored
        m.add(7 * 4096 + 1, 100 * 4096); // clipped to block 9
        assert_eq!(
            m.finish(),
            vec![Extent { first: 0, last: 2 }, Extent { first: 7, last: 9 }]
        );
    }
}
