//! Reading local images with `O_DIRECT`: large aligned reads straight from the disk.
//!
//! Through the page cache, every byte of a multi-GiB image is first copied into cache pages
//! that are never read again, which costs as much CPU time as hashing it (more in a virtual
//! machine, where each new cache page can fault in the host) and evicts what the user had
//! cached. A direct read moves the data from the disk into our own buffer, so reading one
//! image while hashing it needs no more than one core for the hashing. Reads that are not
//! aligned (the partial last block of an image, a caller's unaligned buffer) and filesystems
//! that refuse `O_DIRECT` (tmpfs) use the ordinary descriptor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Offsets, lengths and buffers of direct reads are multiples of this: a page, which covers
/// the logical block size of every disk in use.
pub(crate) const ALIGN: usize = 4096;

/// A second descriptor on a local file, opened with `O_DIRECT`.
#[derive(Debug)]
pub(crate) struct Direct {
    file: File,
    /// Cleared when a direct read is refused, so later reads go straight to the fallback.
    usable: AtomicBool,
}

impl Direct {
    /// Opens `path` again with `O_DIRECT`, if the filesystem allows and it is still the file
    /// `same` (not replaced meanwhile).
    pub(crate) fn open(path: &Path, same: &File) -> Option<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        let (a, b) = (file.metadata().ok()?, same.metadata().ok()?);
        (a.dev() == b.dev() && a.ino() == b.ino()).then(|| Self {
            file,
            usable: AtomicBool::new(true),
        })
    }

    /// One direct read of `buf` at `offset`, or `None` when it cannot be direct (not aligned,
    /// or refused); then the caller reads through the page cache.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Option<io::Result<usize>> {
        let aligned = (buf.as_ptr() as usize).is_multiple_of(ALIGN)
            && buf.len().is_multiple_of(ALIGN)
            && offset.is_multiple_of(ALIGN as u64);
        if !aligned || buf.is_empty() || !self.usable.load(Ordering::Relaxed) {
            return None;
        }
        match self.file.read_at(buf, offset) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.usable.store(false, Ordering::Relaxed);
                None
            }
            result => Some(result),
        }
    }
}

/// One read of `file` at `offset` into `buf`: direct for the whole aligned blocks at its
/// start when possible, else through `file`. Returns the bytes read, 0 at the end.
pub(crate) fn read_at(
    direct: Option<&Direct>,
    file: &File,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    let blocks = buf.len() / ALIGN * ALIGN;
    if let Some(result) = direct.and_then(|d| d.read_at(&mut buf[..blocks], offset)) {
        return result;
    }
    file.read_at(buf, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::AlignedBuf;

    #[test]
    fn aligned_reads_go_direct_and_the_rest_through_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * ALIGN + 100).map(|i| (i % 249) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let file = File::open(&path).expect("open");
        let direct = Direct::open(&path, &file);
        let mut buf = AlignedBuf::new(4 * ALIGN);
        // Aligned: a whole-block read (short at the end of the file).
        let n = read_at(direct.as_ref(), &file, &mut buf, ALIGN as u64).expect("read");
        assert_eq!(&buf[..n], &data[ALIGN..]);
        // Unaligned offset and length: through the page cache.
        let n = read_at(direct.as_ref(), &file, &mut buf[..10], 5).expect("read");
        assert_eq!(&buf[..n], &data[5..15]);
        // At the end.
        let n = read_at(direct.as_ref(), &file, &mut buf, data.len() as u64).expect("read");
        assert_eq!(n, 0);
    }

    #[test]
    fn a_replaced_file_is_not_read_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").expect("write");
        let file = File::open(&path).expect("open");
        std::fs::remove_file(&path).expect("remove");
        std::fs::write(&path, b"new").expect("write");
        assert!(Direct::open(&path, &file).is_none());
    }
}
