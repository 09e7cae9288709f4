//! Reading local images with `O_DIRECT`: large aligned reads straight from the disk.
//!
//! Through the page cache, every byte of a multi-GiB image is first copied into cache pages
//! that are never read again, which costs as much CPU time as hashing it (more in a virtual
//! machine, where each new cache page can fault in the host) and evicts what the user had
//! cached. A direct read moves the data from the disk into our own buffer, so reading one
//! image while hashing it needs no more than one core for the hashing. Reads that are not
//! aligned (the partial last block of an image, a caller's unaligned buffer) and filesystems
//! that refuse `O_DIRECT` (tmpfs) use the ordinary descriptor.
//!
//! Neither do bytes the page cache already holds (an image just downloaded, made or written
//! before): a direct read would fetch them from the disk again, while a read through the cache
//! is a copy in memory, several times faster. Before each direct read, `mincore(2)` on a
//! mapping of the file that is never touched says whether every page of it is cached.

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
    /// Which of the file's pages the page cache holds (`None`: unknown, read directly).
    cached: Option<Residency>,
}

/// A shared read-only mapping of a file, never read through: only `mincore(2)` looks at it,
/// which tells which pages the page cache holds without reading or faulting any of them.
#[derive(Debug)]
struct Residency {
    addr: std::ptr::NonNull<libc::c_void>,
    len: usize,
    page: usize,
}

// SAFETY: the mapping is never dereferenced; it is only passed to mincore(2) and munmap(2),
// which any thread may call.
unsafe impl Send for Residency {}
// SAFETY: as for Send; mincore(2) on a shared mapping needs no exclusion.
unsafe impl Sync for Residency {}

impl Residency {
    /// Maps `file` (of `len` bytes); `None` where it cannot be mapped.
    fn new(file: &File, len: u64) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(len).ok().filter(|&len| len > 0)?;
        // SAFETY: sysconf reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        // SAFETY: a new mapping chosen by the kernel, of an open descriptor; nothing of ours
        // is overwritten, and the mapping is only ever given to mincore and munmap.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED || page == 0 {
            return None;
        }
        Some(Self {
            addr: std::ptr::NonNull::new(addr)?,
            len,
            page,
        })
    }

    /// Whether every page of `len` bytes at `offset` is in the page cache.
    fn holds(&self, offset: u64, len: usize) -> bool {
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        let first = start / self.page * self.page;
        let end = start.saturating_add(len).min(self.len);
        if first >= end {
            return false;
        }
        let mut pages = vec![0u8; (end - first).div_ceil(self.page)];
        // SAFETY: `first..end` lies inside the mapping, and `pages` has one byte per page of
        // it, as mincore(2) writes.
        let rc = unsafe {
            libc::mincore(
                self.addr.as_ptr().cast::<u8>().add(first).cast(),
                end - first,
                pages.as_mut_ptr(),
            )
        };
        rc == 0 && pages.iter().all(|&p| p & 1 == 1)
    }
}

impl Drop for Residency {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.addr.as_ptr(), self.len) };
    }
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
            cached: Residency::new(&file, a.len()),
            file,
            usable: AtomicBool::new(true),
        })
    }

    /// One direct read of `buf` at `offset`, or `None` when it cannot be direct (not aligned,
    /// or refused) or need not be (the page cache holds all of it); then the caller reads
    /// through the page cache.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Option<io::Result<usize>> {
        let aligned = (buf.as_ptr() as usize).is_multiple_of(ALIGN)
            && buf.len().is_multiple_of(ALIGN)
            && offset.is_multiple_of(ALIGN as u64);
        if !aligned || buf.is_empty() || !self.usable.load(Ordering::Relaxed) {
            return None;
        }
        if self
            .cached
            .as_ref()
            .is_some_and(|cached| cached.holds(offset, buf.len()))
        {
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
    fn pages_the_cache_holds_are_told_apart_from_those_it_does_not() {
        use std::os::fd::AsRawFd;
        // Under target/ (a disk filesystem), where pages can be dropped from the cache.
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).expect("target/");
        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        let path = dir.path().join("f");
        let data = vec![7u8; 1024 * ALIGN];
        std::fs::write(&path, &data).expect("write");
        let file = File::open(&path).expect("open");
        file.sync_all().expect("sync");
        // SAFETY: advisory only.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let cached = Residency::new(&file, data.len() as u64).expect("mapped");
        assert!(!cached.holds(0, data.len()), "dropped pages are not cached");
        let mut buf = vec![0; 8 * ALIGN];
        file.read_at(&mut buf, 0).expect("read");
        assert!(cached.holds(0, 8 * ALIGN), "pages just read are cached");
        assert!(
            !cached.holds(0, data.len()),
            "a range only partly cached is not"
        );
        assert!(
            !cached.holds(data.len() as u64, ALIGN),
            "nothing past the end"
        );
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
