//! Why a backup failed: each error names the source or the output, the offset where it
//! happened, and what to do about it.

use std::io;
use std::path::PathBuf;

use super::Format;

/// Why a backup could not be made. Whatever the error, no output file and no bmap are left.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The source has no bytes.
    #[error("'{source_name}' is empty; there is nothing to back up")]
    Empty {
        /// The file or device.
        source_name: String,
    },
    /// A read of the source failed.
    #[error(
        "cannot read '{source_name}' at offset {offset}: the card, drive or file fails there; check the reader and the card (blockprint check-card), or copy what can be read with ddrescue first"
    )]
    Read {
        /// The file or device.
        source_name: String,
        /// Where the read failed: the first 4 KiB block that could not be read.
        offset: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The source ended before the size it had when the backup began.
    #[error(
        "'{source_name}' ended at offset {offset}, but had {size} bytes when the backup began; was it removed or changed meanwhile? Plug it in again and start over"
    )]
    Shrunk {
        /// The file or device.
        source_name: String,
        /// Where its data ended.
        offset: u64,
        /// Its size when the backup began.
        size: u64,
    },
    /// A partition (or the device itself, or something stacked on it) is mounted writable.
    #[error(
        "/dev/{device} is mounted read-write on {mount_point}, so its filesystem may change while it is read and the image would not be consistent; unmount it (or remount it read-only) and try again"
    )]
    Mounted {
        /// The kernel name of the mounted device (`sdb2`).
        device: String,
        /// Where.
        mount_point: String,
    },
    /// A partition is in use as swap.
    #[error("/dev/{device} is in use as swap; turn it off (swapoff) and try again")]
    Swap {
        /// The kernel name of the swap device.
        device: String,
    },
    /// The output would replace the source.
    #[error("'{}' is the source itself; give another name for the backup", .path.display())]
    SameFile {
        /// The output path given.
        path: PathBuf,
    },
    /// The bmap would be written over the backup itself.
    #[error("the bmap cannot go to '{}', the backup itself; give --bmap another name", .path.display())]
    BmapIsOutput {
        /// The path given for both.
        path: PathBuf,
    },
    /// The output path names no file in a folder (empty, `/`, a path ending in `..`).
    #[error("'{}' names a folder, not a file; give the path of the backup file to make", .path.display())]
    NotAFile {
        /// The output path given.
        path: PathBuf,
    },
    /// The output's folder cannot be opened, or a new file cannot be made in it.
    #[error(
        "cannot create the backup '{}' in '{}': make sure the folder exists and you may write to it",
        .path.display(), .folder.display()
    )]
    Create {
        /// The output (or bmap) path.
        path: PathBuf,
        /// Its folder.
        folder: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error(
        "cannot write the backup '{}' at byte {offset} of it{}",
        .path.display(),
        if .source.raw_os_error() == Some(libc::ENOSPC) {
            "; the disk it is on is full: free space there, or choose another folder"
        } else {
            ""
        }
    )]
    Write {
        /// The output (or bmap) being written.
        path: PathBuf,
        /// Byte offset in the output file.
        offset: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Flushing, syncing or renaming the finished output failed.
    #[error("cannot {op} the backup '{}'", .path.display())]
    Finish {
        /// What was being done: "sync", "put in place".
        op: &'static str,
        /// The output (or bmap).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A compression level the format does not have.
    #[error("{format} has no compression level {level}; choose one from {min} to {max}")]
    Level {
        /// The format.
        format: Format,
        /// The level asked for.
        level: i32,
        /// Its lowest level.
        min: i32,
        /// Its highest level.
        max: i32,
    },
    /// The compressor could not be started.
    #[error("cannot start the {format} compressor: {message}")]
    Encoder {
        /// The format.
        format: Format,
        /// What the library said.
        message: String,
    },
    /// The bmap of the scan could not be built (an image too fragmented for a bmap).
    #[error("cannot make the bmap of '{source_name}': {message}")]
    Bmap {
        /// The file or device.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The bmap could not be signed.
    #[error(transparent)]
    Sign(#[from] crate::signature::SignError),
    /// The reader thread could not be started or ended without a word.
    #[error("the reading thread of the backup failed")]
    Thread,
    /// Stopped by the cancel token or the progress sink.
    #[error("cancelled; nothing was left behind")]
    Cancelled,
}
