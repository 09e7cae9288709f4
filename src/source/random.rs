//! Random access to the bytes of an image as stored: a local file, an HTTP resource whose
//! server honours Range requests, or a slice of either (a member of an uncompressed tar).
//!
//! Archives are listed with small positional reads (zip's central directory, tar headers, the
//! xz index) and their data is then streamed from an offset, so nothing is read twice and a
//! remote archive is not downloaded to be listed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::direct::{self, ALIGN, Direct};
use crate::target::AlignedBuf;

/// Positional access to a byte store of known length. Shared across threads.
pub trait RandomAccess: Send + Sync {
    /// A name for messages: the path or URL.
    fn name(&self) -> &str;

    /// Length in bytes.
    fn len(&self) -> u64;

    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`; fewer bytes than asked is [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// A sequential reader of `offset..offset + len`.
    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>>;

    /// Says `offset..offset + len` will be read soon. A store that cannot go back (a stream
    /// being scanned as it passes) keeps those bytes when they pass; others ignore it.
    fn will_need(&self, offset: u64, len: u64) {
        let _ = (offset, len);
    }

    /// The local file behind it, if any.
    fn local_path(&self) -> Option<&Path> {
        None
    }

    /// Whether its aligned reads bypass the page cache (a descriptor opened with `O_DIRECT`).
    fn reads_direct(&self) -> bool {
        false
    }
}

/// Reads `len` bytes at `offset` into a new vector.
pub(crate) fn read_vec(store: &dyn RandomAccess, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    store.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

/// A local file.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    path: PathBuf,
    name: String,
    len: u64,
}

impl LocalFile {
    /// Opens a regular file or block device for reading.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = super::file::open_image_file(path)?;
        let len = super::file::size_of(&file)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            len,
        })
    }
}

impl RandomAccess for LocalFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(FileRange {
            direct: Direct::open(&self.path, &self.file).map(|d| (d, AlignedBuf::new(WINDOW))),
            file: self.file.try_clone()?,
            position: offset,
            end: offset.saturating_add(len).min(self.len),
            window: (0, 0),
        }))
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// Bytes per direct read of a file range.
const WINDOW: usize = 4 << 20;

/// Sequential positional reads of a file range (a clone of the descriptor, so several
/// readers of one file never share an offset). Where the file can be read with `O_DIRECT`
/// (see [`super::direct`]), aligned windows of [`WINDOW`] bytes are read into a buffer of
/// its own and served from there: a compressed image then never passes through the page cache.
struct FileRange {
    file: File,
    /// The direct descriptor and its buffer.
    direct: Option<(Direct, AlignedBuf)>,
    position: u64,
    end: u64,
    /// The file offset and length of the bytes in the direct buffer.
    window: (u64, usize),
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = match self.direct.as_mut() {
            Some((direct, window)) => {
                let (start, len) = self.window;
                if self.position < start || self.position >= start + len as u64 {
                    let start = self.position / ALIGN as u64 * ALIGN as u64;
                    let len = direct::read_at(Some(direct), &self.file, window, start)?;
                    self.window = (start, len);
                }
                let (start, len) = self.window;
                let from = usize::try_from(self.position - start).unwrap_or(usize::MAX);
                let n = want.min(len.saturating_sub(from));
                buf[..n].copy_from_slice(&window[from..from + n]);
                n
            }
            None => self.file.read_at(&mut buf[..want], self.position)?,
        };
        self.position += n as u64;
        Ok(n)
    }
}

/// Bytes in memory: an image already read, a test, or a fuzzer's input.
#[derive(Debug, Clone)]
pub struct Memory {
    data: Arc<[u8]>,
    name: String,
}

impl Memory {
    /// `data`, named `name` in messages.
    pub fn new(data: &[u8], name: &str) -> Self {
        Self {
            data: data.into(),
            name: name.to_owned(),
        }
    }
}

impl RandomAccess for Memory {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let slice = start
            .checked_add(buf.len())
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(slice);
        Ok(())
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        let end = usize::try_from(offset.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        Ok(Box::new(io::Cursor::new(self.data[start..end].to_vec())))
    }
}

/// `len` bytes of another store from `offset`: a member of an uncompressed archive.
pub struct Slice {
    inner: Arc<dyn RandomAccess>,
    offset: u64,
    len: u64,
    name: String,
}

impl Slice {
    /// The part `offset..offset + len` of `inner`, named `name` in messages.
    pub fn new(inner: Arc<dyn RandomAccess>, offset: u64, len: u64, name: String) -> Self {
        let len = len.min(inner.len().saturating_sub(offset));
        Self {
            inner,
            offset,
            len,
            name,
        }
    }
}

impl RandomAccess for Slice {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read past the end of '{}'", self.name),
            ));
        }
        self.inner.read_exact_at(self.offset + offset, buf)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let len = len.min(self.len.saturating_sub(offset));
        self.inner.stream(self.offset + offset, len)
    }

    fn local_path(&self) -> Option<&Path> {
        self.inner.local_path()
    }
}

impl std::fmt::Debug for dyn RandomAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RandomAccess({}, {} bytes)", self.name(), self.len())
    }
}
