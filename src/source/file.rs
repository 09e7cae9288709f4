//! An uncompressed image in a local file: real seeks, positional reads, direct where aligned.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::ImageSource;
use super::direct::{self, Direct};

/// An uncompressed image in a local file.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    /// The same file opened with `O_DIRECT`, for the aligned reads (see [`super::direct`]).
    direct: Option<Direct>,
    path: PathBuf,
    name: String,
    size: u64,
    position: u64,
}

impl FileSource {
    /// Opens a regular file (or a block device, whose size is its capacity).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = open_image_file(path)?;
        let size = size_of(&file)?;
        // The kernel reads further ahead for a file announced as sequential (for the reads
        // that cannot be direct).
        // SAFETY: advisory only; no memory is involved.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
        Ok(Self {
            direct: Direct::open(path, &file),
            file,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            size,
            position: 0,
        })
    }
}

/// Opens an image for reading, refusing what is neither a regular file nor a block device.
pub(super) fn open_image_file(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() && !kind.is_block_device() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is neither a regular file nor a block device",
        ));
    }
    Ok(file)
}

/// The size of a file or the capacity of a block device.
pub(super) fn size_of(file: &File) -> io::Result<u64> {
    let mut handle = file;
    let size = handle.seek(SeekFrom::End(0))?;
    handle.seek(SeekFrom::Start(0))?;
    Ok(size)
}

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = direct::read_at(self.direct.as_ref(), &self.file, buf, self.position)?;
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
            return Err(super::backwards(&self.name, self.position, offset));
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
        self.position = offset;
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
