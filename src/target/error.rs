//! Why a target cannot be used or written, or a file not be put in place; every variant names
//! the path.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::sysfs::Overlap;
use crate::size::human;

/// Why a target cannot be used or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A `/dev/` path that does not exist.
    #[error("'{}' does not exist; check the device name (`lsblk` lists drives)", .path.display())]
    NoSuchDevice {
        /// The path given.
        path: PathBuf,
    },
    /// Neither a block device, a regular file nor a null sink.
    #[error("'{}' is {what}; the destination must be a block device or a regular file", .path.display())]
    Unsupported {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Only removable devices were asked for, and this one is not.
    #[error("'{}' is not a removable device ({reason}), and only a removable one was asked for", .path.display())]
    NotRemovable {
        /// The device.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// Mounted, swap, or with LVM/LUKS/md on it.
    #[error("device '{}' is in use: {uses}; unmount or stop it first", .path.display())]
    InUse {
        /// The device.
        path: PathBuf,
        /// Every use found, joined.
        uses: String,
    },
    /// The device holds the image or bmap being read, or shares storage with it.
    #[error("device '{}' holds '{}', which is being read ({how}); write to another device", .path.display(), .file.display())]
    HoldsSource {
        /// The device.
        path: PathBuf,
        /// The protected file.
        file: PathBuf,
        /// How writing the device would change the file.
        how: Overlap,
    },
    /// The destination file is the image or bmap itself.
    #[error("'{}' is the same file as '{}'; choose another destination", .path.display(), .file.display())]
    SameFile {
        /// The destination.
        path: PathBuf,
        /// The protected file.
        file: PathBuf,
    },
    /// `O_EXCL` refused: something holds the device that sysfs does not show.
    #[error("device '{}' is busy: another program holds it (a mount in another namespace, or another writer); close it and try again", .path.display())]
    Busy {
        /// The device.
        path: PathBuf,
    },
    /// The image does not fit.
    #[error("the image needs {} ({needed} bytes) but '{}' holds only {} ({capacity} bytes); use a larger device", human(*.needed), .path.display(), human(*.capacity))]
    TooSmall {
        /// The device.
        path: PathBuf,
        /// Its capacity.
        capacity: u64,
        /// The image size.
        needed: u64,
    },
    /// A stream of unknown size turned out larger than the device.
    #[error("the image is larger than '{}', which holds {} ({capacity} bytes); nothing past that was written, use a larger device", .path.display(), human(*.capacity))]
    Overflow {
        /// The device.
        path: PathBuf,
        /// Its capacity.
        capacity: u64,
    },
    /// The device (or the disk under a file) reported an I/O error or went away: a failing,
    /// fake or pulled card, or a bad reader.
    #[error(
        "cannot {op} '{}'{}; the card or its reader is failing, or it was removed: try another card or reader, and write it again before use",
        .path.display(),
        .offset.map(|o| format!(" at offset {o}")).unwrap_or_default()
    )]
    DeviceFailed {
        /// What was being done.
        op: Op,
        /// The destination.
        path: PathBuf,
        /// Byte offset, for reads and writes.
        offset: Option<u64>,
        /// The error the kernel gave.
        #[source]
        source: io::Error,
    },
    /// An operation on the device neither finished nor failed within the copy's stall limit:
    /// a hung card or reader. The thread waiting for it is left behind.
    #[error(
        "'{}' stopped responding: a {op}{} has not finished after {secs} s; the card or its reader hangs: unplug it, try another card or reader, and write it again before use",
        .path.display(),
        .offset.map(|o| format!(" at offset {o}")).unwrap_or_default()
    )]
    Stalled {
        /// What was being done.
        op: Op,
        /// The destination.
        path: PathBuf,
        /// Byte offset, for reads and writes.
        offset: Option<u64>,
        /// How long it had been waiting, in seconds.
        secs: u64,
    },
    /// A regular-file destination could not be resolved, or not be given its name safely.
    #[error(transparent)]
    Place(#[from] PlaceError),
    /// Any other I/O failure, with the operation and offset.
    #[error("cannot {op} '{}'{}", .path.display(), .offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Io {
        /// What was being done.
        op: Op,
        /// The destination.
        path: PathBuf,
        /// Byte offset, for reads and writes.
        offset: Option<u64>,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// What was being done to a target when it failed or hung; shown as the verb ("cannot
/// write", "a sync has not finished").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Opening it (or duplicating its descriptor).
    Open,
    /// Asking what it is and how large.
    Examine,
    /// Setting a file's size.
    Resize,
    /// Reading from it.
    Read,
    /// Writing to it.
    Write,
    /// Flushing what was written.
    Sync,
    /// Giving a new file its name.
    Rename,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Examine => "examine",
            Op::Resize => "resize",
            Op::Read => "read",
            Op::Write => "write",
            Op::Sync => "sync",
            Op::Rename => "rename",
        })
    }
}

/// Why a new regular file was not put in place of a name (see `target/file.rs`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaceError {
    /// A symbolic link on the way belongs to someone other than the caller or root.
    #[error(
        "'{}' is a symbolic link of user {owner}, not yours or root's, so it is not followed (its owner could point it at any file): instead of '{}', give the path of the file itself, or remove the link",
        .link.display(),
        .path.display()
    )]
    UntrustedLink {
        /// The path given.
        path: PathBuf,
        /// Where the link is.
        link: PathBuf,
        /// Its owner's user id.
        owner: u32,
    },
    /// The path names a folder, a device or another special file.
    #[error("'{}' is {what}; give the path of a regular file", .path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The name was changed by someone else between opening and naming the new file.
    #[error(
        "'{}' was {what} while the new file was being written, so nothing was put in its place and whatever is there now was left alone: someone else changes that folder; find out who, or write to a folder only you can change",
        .path.display()
    )]
    Changed {
        /// The path given.
        path: PathBuf,
        /// What happened to it.
        what: &'static str,
    },
    /// A system call failed.
    #[error("cannot {op} '{}'", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
