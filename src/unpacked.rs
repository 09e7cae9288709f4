//! A compressed or remote image decoded to a sparse temporary file, for the filesystem scan,
//! which needs random access: what `blockprint scan` does with an image that has none of its
//! own (a gzip, bzip2, zstd, lz4 or single-block xz stream, stdin). An image with random
//! access is scanned through its store instead, and `copy` and the app never decode to a
//! file: they read a stream's filesystems as it passes.
//!
//! The file is made with `O_TMPFILE`: it has no name, so nothing is left behind however the
//! process ends (a second Ctrl-C, SIGKILL, a crash). It is reached through
//! `/proc/self/fd/N` while open. A filesystem without `O_TMPFILE` gets a named file, created
//! exclusively and removed on drop.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use blockprint::progress::CancelToken;
use blockprint::scan::BLOCK;
use blockprint::source::read_full;
use blockprint::target::open_unnamed_in;

/// Why the decoded copy could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnpackError {
    /// The temporary file cannot be created in this folder.
    #[error("cannot create a temporary file in '{}'", .dir.display())]
    Create {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The image could not be decoded.
    #[error(transparent)]
    Read(io::Error),
    /// The temporary file cannot be written (a full disk, most likely).
    #[error("cannot write the temporary file in '{}'", .dir.display())]
    Write {
        /// Its folder.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Stopped by the user.
    #[error("interrupted while decoding the image; nothing was written")]
    Cancelled,
}

/// Writes the decoded image to `temp`, leaving all-zero 4 KiB blocks as holes (the scan reads
/// them as zeros just the same, and the temporary file stays small). Stops when `cancel` is.
pub(crate) fn unpack(
    source: &mut dyn Read,
    temp: &Temporary,
    cancel: &CancelToken,
) -> Result<(), UnpackError> {
    let file = &temp.file;
    let write_error = |source| UnpackError::Write {
        dir: temp.dir.clone(),
        source,
    };
    let mut buf = vec![0u8; 4 << 20];
    let mut offset = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(UnpackError::Cancelled);
        }
        let got = read_full(&mut *source, &mut buf).map_err(UnpackError::Read)?;
        for (i, block) in buf[..got].chunks(BLOCK as usize).enumerate() {
            if block.iter().any(|&b| b != 0) {
                file.write_all_at(block, offset + (i as u64) * BLOCK)
                    .map_err(write_error)?;
            }
        }
        offset += got as u64;
        if got < buf.len() {
            break;
        }
    }
    file.set_len(offset).map_err(write_error)?;
    Ok(())
}

/// A temporary file in a chosen folder that disappears with the process.
pub(crate) struct Temporary {
    file: File,
    dir: PathBuf,
    /// A path that opens the file while `file` is open.
    pub(crate) path: PathBuf,
    /// The name to remove on drop, when the file has one.
    named: Option<PathBuf>,
}

impl Temporary {
    /// Creates the file in `dir`, without a name where the filesystem allows.
    pub(crate) fn new(dir: &Path) -> Result<Self, UnpackError> {
        let context = |source| UnpackError::Create {
            dir: dir.to_path_buf(),
            source,
        };
        let anonymous = open_unnamed_in(dir, 0o600, 0).map_err(context)?;
        let (file, named) = match anonymous {
            Some(file) => (file, None),
            None => {
                let name = dir.join(format!(".blockprint-scan-{}.img", std::process::id()));
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&name)
                    .map_err(context)?;
                (file, Some(name))
            }
        };
        let path = match &named {
            Some(name) => name.clone(),
            None => PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
        };
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
            path,
            named,
        })
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(name) = &self.named {
            // Nothing else to do if it is already gone.
            let _ = std::fs::remove_file(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_has_no_name_and_holds_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let temp = Temporary::new(dir.path()).expect("temporary");
        let mut data = vec![0u8; 3 * BLOCK as usize];
        data[BLOCK as usize + 7] = 42;
        unpack(&mut &data[..], &temp, &CancelToken::new()).expect("unpack");
        assert_eq!(std::fs::read(&temp.path).expect("read back"), data);
        let names = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(names, 0, "an O_TMPFILE file leaves no name in the folder");
    }

    #[test]
    fn a_cancelled_unpack_stops_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let temp = Temporary::new(dir.path()).expect("temporary");
        let cancel = CancelToken::new();
        cancel.cancel();
        let data = [1u8; 100];
        let err = unpack(&mut &data[..], &temp, &cancel).expect_err("cancelled");
        assert!(err.to_string().contains("interrupted"), "{err}");
    }
}
