//! Random access to a drive through a descriptor someone else opened: udisksd's
//! `Block.OpenDevice` hands a desktop user one, read-only and usually with `O_DIRECT`, and no
//! path the user could open again.
//!
//! A direct descriptor takes only reads whose buffer, length and offset are multiples of the
//! logical block size. Aligned reads (the backup's 8 MiB chunks) go straight to the drive;
//! any other read (the scanner's small metadata reads) is served from an aligned bounce
//! buffer covering it, so every caller can read any byte range.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;

use super::RandomAccess;
use super::direct::ALIGN;
use crate::target::AlignedBuf;

/// Bytes of the largest bounce read: larger unaligned reads are split.
const BOUNCE: usize = 1 << 20;

/// A drive (or file) read through a descriptor that was handed over.
#[derive(Debug)]
pub struct Descriptor {
    file: File,
    name: String,
    len: u64,
    direct: bool,
}

impl Descriptor {
    /// Wraps `file`, named `name` in messages; `direct` says it was opened with `O_DIRECT`
    /// (then unaligned reads go through a bounce buffer). Its length is where it ends.
    pub fn new(mut file: File, name: &str, direct: bool) -> io::Result<Self> {
        let len = file.seek(io::SeekFrom::End(0))?;
        Ok(Self {
            file,
            name: name.to_owned(),
            len,
            direct,
        })
    }

    /// Fills `buf` from `offset`; a read that returns nothing is the end of the drive.
    fn fill(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads `buf` at `offset` through aligned bounce reads of at most [`BOUNCE`] bytes.
    fn bounce(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let align = ALIGN as u64;
        let mut bounce = AlignedBuf::new(BOUNCE);
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let start = at / align * align;
            let skip = usize::try_from(at - start).unwrap_or(0);
            let want = (buf.len() - done + skip).min(BOUNCE);
            let span = want.div_ceil(ALIGN) * ALIGN;
            // The drive's last block may be shorter than the span: read what there is.
            let there = usize::try_from(self.len.saturating_sub(start)).unwrap_or(usize::MAX);
            let read = span.min(there.div_ceil(ALIGN) * ALIGN);
            let mut got = 0;
            while got < read {
                match self
                    .file
                    .read_at(&mut bounce[got..read], start + got as u64)
                {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let n = want.min(got).saturating_sub(skip);
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf[done..done + n].copy_from_slice(&bounce[skip..skip + n]);
            done += n;
        }
        Ok(())
    }
}

impl RandomAccess for Descriptor {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let aligned = (buf.as_ptr() as usize).is_multiple_of(ALIGN)
            && buf.len().is_multiple_of(ALIGN)
            && offset.is_multiple_of(ALIGN as u64);
        if buf.is_empty() {
            Ok(())
        } else if !self.direct || aligned {
            self.fill(buf, offset)
        } else {
            self.bounce(buf, offset)
        }
    }

    fn reads_direct(&self) -> bool {
        self.direct
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(Range {
            store: Descriptor {
                file: self.file.try_clone()?,
                name: self.name.clone(),
                len: self.len,
                direct: self.direct,
            },
            position: offset,
            end: offset.saturating_add(len).min(self.len),
        }))
    }
}

/// A sequential reader of a range of a [`Descriptor`] (its own clone of the descriptor).
struct Range {
    store: Descriptor,
    position: u64,
    end: u64,
}

impl Read for Range {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let n = buf.len().min(left).min(BOUNCE);
        if n == 0 {
            return Ok(0);
        }
        self.store.read_exact_at(self.position, &mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;

    /// A file of `len` patterned bytes, opened with `O_DIRECT` (under target/, a disk
    /// filesystem, which takes it), as udisksd opens a drive.
    fn direct_file(len: usize) -> (tempfile::TempDir, Vec<u8>, Descriptor) {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).expect("target/");
        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        let path = dir.path().join("drive");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .expect("O_DIRECT under target/");
        let store = Descriptor::new(file, "drive", true).expect("wrap");
        (dir, data, store)
    }

    #[test]
    fn unaligned_reads_of_a_direct_descriptor_are_served_whole() {
        let len = 3 * BOUNCE + 5000;
        let (_dir, data, store) = direct_file(len);
        assert_eq!(store.len(), len as u64);
        for (offset, n) in [
            (0, 512),
            (17, 100),
            (4095, 2),
            (BOUNCE - 3, BOUNCE + 10),
            (len - 700, 700),
        ] {
            let mut buf = vec![0; n];
            store
                .read_exact_at(offset as u64, &mut buf)
                .expect("read inside the drive");
            assert_eq!(buf, data[offset..offset + n], "{n} bytes at {offset}");
        }
        let mut aligned = AlignedBuf::new(2 * ALIGN);
        store
            .read_exact_at(ALIGN as u64, &mut aligned)
            .expect("aligned");
        assert_eq!(aligned[..], data[ALIGN..3 * ALIGN]);
    }

    #[test]
    fn reading_past_the_end_is_unexpected_eof_and_streams_stop_there() {
        let (_dir, data, store) = direct_file(10_000);
        let mut buf = vec![0; 100];
        let e = store
            .read_exact_at(9_950, &mut buf)
            .expect_err("past the end");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut all = Vec::new();
        store
            .stream(3, 20_000)
            .expect("stream")
            .read_to_end(&mut all)
            .expect("read");
        assert_eq!(all, data[3..]);
    }
}
