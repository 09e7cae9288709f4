//! Where image bytes come from.
//!
//! The copy engine reads an image strictly forward: it skips to the start of each mapped range
//! and reads the range. [`ImageSource`] is that contract, so a local file (which can really
//! seek), a decompressor or a network stream (which read and discard to skip) are alike to it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A forward-only stream of image bytes.
pub trait ImageSource: Read + Send {
    /// A name for messages: the path or URL the user gave.
    fn name(&self) -> &str;

    /// The image size in bytes, when known before reading it all.
    fn size(&self) -> Option<u64>;

    /// The offset of the next byte [`Read::read`] returns.
    fn position(&self) -> u64;

    /// Moves forward to `offset`. A source that cannot seek reads and discards; moving
    /// backwards is an error. Reaching the end of the data first is [`io::ErrorKind::UnexpectedEof`].
    fn skip_to(&mut self, offset: u64) -> io::Result<()>;

    /// The local file behind the source, if it is one, so the engine can refuse to overwrite
    /// the device that holds it.
    fn local_path(&self) -> Option<&Path> {
        None
    }
}

/// An uncompressed image in a local file.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    path: PathBuf,
    name: String,
    size: u64,
    position: u64,
}

impl FileSource {
    /// Opens a regular file (or a block device, whose size is its capacity).
    pub fn open(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::FileTypeExt;
        let mut file = File::open(path)?;
        let kind = file.metadata()?.file_type();
        if !kind.is_file() && !kind.is_block_device() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is neither a regular file nor a block device",
            ));
        }
        let size = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        {
            use std::os::fd::AsRawFd;
            // SAFETY: advisory only.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            size,
            position: 0,
        })
    }
}

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl ImageSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        Some(self.size)
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if offset < self.position {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot seek backwards from {} to {offset}", self.position),
            ));
        }
        if offset > self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "offset {offset} is past the end of the image ({} bytes)",
                    self.size
                ),
            ));
        }
        if offset != self.position {
            self.file.seek(SeekFrom::Start(offset))?;
            self.position = offset;
        }
        Ok(())
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_forward_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("img");
        std::fs::write(&path, b"0123456789").expect("write");
        let mut src = FileSource::open(&path).expect("open");
        assert_eq!(src.size(), Some(10));
        src.skip_to(4).expect("forward");
        let mut two = [0u8; 2];
        src.read_exact(&mut two).expect("read");
        assert_eq!(&two, b"45");
        assert_eq!(src.position(), 6);
        assert_eq!(
            src.skip_to(2).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            src.skip_to(11).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
