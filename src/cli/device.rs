//! How the command line gets at the block devices it writes. Root opens them itself, as
//! bmaptool does (the engine's guards decide: `O_EXCL`, nothing mounted, nothing of the image
//! on it). Anyone else goes through udisksd, exactly as the desktop app does: its filesystems
//! are unmounted through UDisks2, and `Block.OpenDevice` hands over a descriptor once polkit
//! has said yes, asking for a password on this terminal through polkit's `pkttyagent` when
//! the session has no agent of its own. There is no setuid and no pkexec of ourselves; the
//! engine's guards then run on the descriptor udisksd opened.
//!
//! ```text
//!  DEST ─┬─ not a block device, or root ──► Target::open
//!        └─ a normal user ──► udisksd: the drive listed? ─► prepare (unmount) ─► OpenDevice
//!                                       (polkit; pkttyagent on a terminal)  ─► checked fd
//!  after writing: rescan, or power off (--power-off; the default for a removable drive
//!  written without root)
//! ```
//!
//! Without udisksd a normal user gets one line: run with sudo, or start udisksd.

#[cfg(feature = "gui")]
mod agent;
#[cfg(feature = "gui")]
mod through;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use anyhow::bail;
use blockprint::source::{LocalFile, RandomAccess};
use blockprint::target::{Target, TargetOptions};

use super::Output;
use super::output::escape_controls;

/// Whether to power a drive off once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PowerOff {
    /// `--power-off`.
    Always,
    /// `--no-power-off`.
    Never,
    /// Neither: a removable drive written through udisksd is powered off.
    Default,
}

impl PowerOff {
    /// From the two flags.
    pub(super) fn from_flags(on: bool, off: bool) -> Self {
        match (on, off) {
            (true, _) => Self::Always,
            (_, true) => Self::Never,
            _ => Self::Default,
        }
    }
}

/// The devices a command opens, and the connection to udisksd once one needed it.
pub(super) struct Devices<'a> {
    out: &'a Output,
    #[cfg(feature = "gui")]
    through: through::Through,
}

impl<'a> Devices<'a> {
    /// Nothing opened yet.
    pub(super) fn new(out: &'a Output) -> Self {
        Self {
            out,
            #[cfg(feature = "gui")]
            through: through::Through::default(),
        }
    }

    /// Opens `path` for writing: a file, or a block device as root, by the engine itself; a
    /// block device for anyone else through udisksd.
    pub(super) fn open(&mut self, path: &Path, options: &TargetOptions) -> anyhow::Result<Target> {
        let block = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device());
        if !block || is_root() {
            return Ok(Target::open(path, options)?);
        }
        self.open_unprivileged(path, options)
    }

    #[cfg(feature = "gui")]
    fn open_unprivileged(
        &mut self,
        path: &Path,
        options: &TargetOptions,
    ) -> anyhow::Result<Target> {
        match self.through.connect(self.out) {
            Ok(()) => self.through.open(path, options, self.out),
            Err(reason) => direct_or_refuse(path, options, &reason),
        }
    }

    #[cfg(not(feature = "gui"))]
    fn open_unprivileged(
        &mut self,
        path: &Path,
        options: &TargetOptions,
    ) -> anyhow::Result<Target> {
        direct_or_refuse(
            path,
            options,
            "this build of blockprint has no UDisks2 support",
        )
    }

    /// Opens `path` to back it up: a file, or a block device as root, directly (the engine
    /// checks its mounts); a block device for anyone else read-only through udisksd, its
    /// filesystems unmounted first when `unmount` and one is mounted read-write.
    pub(super) fn open_read(
        &mut self,
        path: &Path,
        unmount: bool,
    ) -> anyhow::Result<Box<dyn RandomAccess>> {
        let block = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device());
        if block && !is_root() && !readable(path) {
            return self.read_unprivileged(path, unmount);
        }
        if block && unmount {
            unmount_writable(path, self.out)?;
        }
        let file = LocalFile::open(path).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot open '{}' to back it up", path.display()))
        })?;
        Ok(Box::new(file))
    }

    #[cfg(feature = "gui")]
    fn read_unprivileged(
        &mut self,
        path: &Path,
        unmount: bool,
    ) -> anyhow::Result<Box<dyn RandomAccess>> {
        match self.through.connect(self.out) {
            Ok(()) => Ok(Box::new(self.through.open_read(path, unmount, self.out)?)),
            Err(reason) => bail!(
                "cannot read '{}' without root: {reason}; run blockprint with sudo, or start \
                 udisksd (package udisks2) so that polkit can allow it",
                path.display()
            ),
        }
    }

    #[cfg(not(feature = "gui"))]
    fn read_unprivileged(
        &mut self,
        path: &Path,
        _unmount: bool,
    ) -> anyhow::Result<Box<dyn RandomAccess>> {
        bail!(
            "cannot read '{}' without root: this build of blockprint has no UDisks2 support; \
             run blockprint with sudo",
            path.display()
        )
    }

    /// After a device is written and closed: has its new partitions appear, and powers it off
    /// when `power` says so, saying what was done. A failure here is a warning: the image is
    /// on the drive.
    pub(super) fn finish(&mut self, path: &Path, power: PowerOff) {
        #[cfg(feature = "gui")]
        self.through.finish(path, power, self.out);
        #[cfg(not(feature = "gui"))]
        if power == PowerOff::Always {
            self.out.warn(format_args!(
                "'{}' is not powered off: this build of blockprint has no UDisks2 support",
                path.display()
            ));
        }
    }
}

/// Whether this process runs as root.
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Without udisksd: a user allowed to write the device (a member of its group) writes it
/// directly; anyone else gets one line saying what to do.
fn direct_or_refuse(path: &Path, options: &TargetOptions, reason: &str) -> anyhow::Result<Target> {
    if writable(path) {
        return Ok(Target::open(path, options)?);
    }
    bail!(
        "cannot write '{}' without root: {reason}; run blockprint with sudo, or start udisksd \
         (package udisks2) so that polkit can allow it",
        path.display()
    )
}

/// Whether the real user may open `path` for writing.
fn writable(path: &Path) -> bool {
    may(path, libc::W_OK)
}

/// Whether the real user may open `path` for reading.
fn readable(path: &Path) -> bool {
    may(path, libc::R_OK)
}

/// Whether the real user may open `path` as `mode` says (`access(2)`).
fn may(path: &Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    unsafe { libc::access(name.as_ptr(), mode) == 0 }
}

/// A backup's error, with `--unmount` named where a mounted filesystem refused it.
pub(super) fn with_unmount_hint(error: blockprint::backup::BackupError) -> anyhow::Error {
    match error {
        blockprint::backup::BackupError::Mounted { .. } => {
            anyhow::anyhow!("{error} (--unmount unmounts it for you)")
        }
        other => other.into(),
    }
}

/// `--unmount` where blockprint opens the device itself: each filesystem of it mounted
/// read-write is unmounted (`umount(2)`), saying so, until none is left.
fn unmount_writable(path: &Path, out: &Output) -> anyhow::Result<()> {
    use blockprint::backup::{BackupError, check_source};
    let mut done = Vec::new();
    loop {
        match check_source(path) {
            Ok(_) => return Ok(()),
            Err(BackupError::Mounted {
                device,
                mount_point,
            }) if !done.contains(&mount_point) => {
                let Ok(name) = std::ffi::CString::new(mount_point.as_bytes()) else {
                    bail!("cannot unmount '{mount_point}': the name holds a NUL byte");
                };
                // SAFETY: `name` is a NUL-terminated string that outlives the call.
                if unsafe { libc::umount2(name.as_ptr(), 0) } != 0 {
                    let e = std::io::Error::last_os_error();
                    bail!(
                        "cannot unmount /dev/{device} from '{}': {e}; close what uses it \
                         (fuser -m '{}') and try again",
                        escape_controls(&mount_point),
                        escape_controls(&mount_point)
                    );
                }
                out.info(format_args!(
                    "unmounted /dev/{device} from '{}'",
                    escape_controls(&mount_point)
                ));
                done.push(mount_point);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
