//! Where an image is written: a regular file, a block device, or `/dev/null`.
//!
//! A block device is opened `O_EXCL` (the kernel's own guard, the last line of defence) and
//! `O_DIRECT`, so progress counts bytes that reached the device and there is no minute-long
//! flush at 99%. Then the device *opened* is checked, by its `fstat` number and never by the
//! path again (which may name another device by now): nothing of it (no partition, nothing
//! stacked on it) may be mounted or be swap, and it must share no storage with the image or
//! the bmap being read (see [`sysfs::overlap`]). When the kernel refuses the open, the same
//! checks, by the path, only choose the words of the refusal. Direct I/O needs aligned
//! offsets, lengths and memory; unaligned pieces (a partial last block) go through a
//! read-modify-write of the sectors they touch.
//! Without `O_DIRECT` (refused by the driver) writes are buffered with an `fdatasync` every
//! [`SYNC_INTERVAL`] bytes.
//!
//! A path under `/dev/` that does not exist is an error, never a new regular file. A regular
//! file is written unnamed and named on [`Target::commit`]; its path is resolved once, at open,
//! following only the caller's or root's symbolic links (see `target/file.rs`).

mod aligned;
mod at;
mod error;
mod file;
mod readahead;
mod shared;
mod size;
mod sys;
pub mod sysfs;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) use aligned::AlignedBuf;
pub use error::{Op, PlaceError, TargetError};
pub use file::{open_unnamed_in, replace_file};
pub(crate) use shared::SharedWriter;
use sys::{direct_if_possible, ioctl_int, ioctl_u64, is_null, read_window};

/// Buffered writes to a block device are flushed this often, so neither memory nor the final
/// sync grows with the image.
pub const SYNC_INTERVAL: u64 = 32 << 20;

/// The alignment of direct I/O on regular files: a page, which covers every filesystem's
/// logical block size in use.
const FILE_ALIGN: u64 = 4096;

/// Size of the scratch buffer for read-back and unaligned writes.
const SCRATCH: usize = 4 << 20;

/// What kind of destination a [`Target`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A regular file: truncated to the image size, holes left as holes.
    File,
    /// A block device.
    BlockDevice,
    /// `/dev/null` (or another null sink): writes are discarded.
    Null,
}

/// Checks done when opening a target for writing.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Refuse a block device whose `/sys/block/<name>/removable` is not 1 (`--removable-device`).
    pub removable_only: bool,
    /// Files being read (image, bmap) that must not be on the target, nor be the target.
    pub protected: Vec<PathBuf>,
}

/// An open destination.
#[derive(Debug)]
pub struct Target {
    file: File,
    path: PathBuf,
    kind: TargetKind,
    capacity: Option<u64>,
    sector: u64,
    direct: bool,
    unsynced: u64,
    scratch: Option<AlignedBuf>,
    /// A file target's new file, to be given its name on [`Target::commit`].
    pending: Option<file::Pending>,
}

/// `_IOR(0x12, 114, size_t)`.
const BLKGETSIZE64: libc::Ioctl = 0x8008_1272u32 as libc::Ioctl;
/// `_IO(0x12, 104)`.
const BLKSSZGET: libc::Ioctl = 0x1268;

impl Target {
    /// Opens `path` for writing an image, after the safety checks of [`TargetOptions`] and of
    /// the module documentation. A regular file is created if missing but not yet truncated:
    /// that happens in [`Target::prepare`], once every check has passed.
    pub fn open(path: &Path, options: &TargetOptions) -> Result<Self, TargetError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(io_error(Op::Examine, path, None, source)),
        };
        let Some(meta) = meta else {
            if path.starts_with("/dev") {
                return Err(TargetError::NoSuchDevice {
                    path: path.to_path_buf(),
                });
            }
            return Self::open_file(path, options);
        };
        let file_type = meta.file_type();
        if file_type.is_block_device() {
            Self::open_block_device(path, options)
        } else if file_type.is_file() {
            Self::open_file(path, options)
        } else if file_type.is_char_device() && is_null(meta.rdev()) && !options.removable_only {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| io_error(Op::Open, path, None, e))?;
            Ok(Self::new(file, path, TargetKind::Null, None, 512, false))
        } else {
            let what = if file_type.is_dir() {
                "a directory"
            } else if file_type.is_char_device() {
                "a character device"
            } else {
                "a special file"
            };
            Err(TargetError::Unsupported {
                path: path.to_path_buf(),
                what,
            })
        }
    }

    /// Opens a device or file read-only (for `verify`), with `O_DIRECT` on block devices so the
    /// data comes from the device, not from the page cache.
    pub fn open_readonly(path: &Path) -> Result<Self, TargetError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(Op::Open, path, None, e))?;
        if !meta.file_type().is_block_device() {
            if !meta.is_file() {
                return Err(TargetError::Unsupported {
                    path: path.to_path_buf(),
                    what: "neither a block device nor a regular file",
                });
            }
            let open = |flags| OpenOptions::new().read(true).custom_flags(flags).open(path);
            let (file, direct) =
                direct_if_possible(open).map_err(|e| io_error(Op::Open, path, None, e))?;
            let sector = if direct { FILE_ALIGN } else { 512 };
            return Ok(Self::new(
                file,
                path,
                TargetKind::File,
                Some(meta.len()),
                sector,
                direct,
            ));
        }
        let open = |flags| OpenOptions::new().read(true).custom_flags(flags).open(path);
        let (file, direct) =
            direct_if_possible(open).map_err(|e| io_error(Op::Open, path, None, e))?;
        Self::from_block_file(file, path, direct)
    }

    /// Wraps an already opened block device (for example an fd from UDisks2 `OpenDevice`).
    pub fn from_block_file(file: File, path: &Path, direct: bool) -> Result<Self, TargetError> {
        let capacity =
            ioctl_u64(&file, BLKGETSIZE64).map_err(|e| io_error(Op::Examine, path, None, e))?;
        let sector = ioctl_int(&file, BLKSSZGET)
            .ok()
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| s.is_power_of_two() && *s >= 512)
            .unwrap_or(512);
        Ok(Self::new(
            file,
            path,
            TargetKind::BlockDevice,
            Some(capacity),
            sector,
            direct,
        ))
    }

    fn new(
        file: File,
        path: &Path,
        kind: TargetKind,
        capacity: Option<u64>,
        sector: u64,
        direct: bool,
    ) -> Self {
        Self {
            file,
            path: path.to_path_buf(),
            kind,
            capacity,
            sector,
            direct,
            unsynced: 0,
            scratch: None,
            pending: None,
        }
    }

    /// A regular file is written with `O_DIRECT` too where its filesystem allows (not tmpfs):
    /// through the page cache, a large image costs as much CPU time again in page handling,
    /// and the disk idles until the final sync, which then takes as long as the writes. The
    /// checks run on the file the path resolved to, the one that will be replaced.
    fn open_file(path: &Path, options: &TargetOptions) -> Result<Self, TargetError> {
        let dest = file::FileDest::resolve(path)?;
        if let Some((dev, ino)) = dest.existing() {
            for file in &options.protected {
                if let Ok(other) = std::fs::metadata(file)
                    && other.dev() == dev
                    && other.ino() == ino
                {
                    return Err(TargetError::SameFile {
                        path: path.to_path_buf(),
                        file: file.clone(),
                    });
                }
            }
            if options.removable_only {
                return Err(TargetError::NotRemovable {
                    path: path.to_path_buf(),
                    reason: "it is a regular file".into(),
                });
            }
        }
        let (file, direct, pending) = dest.create(true)?;
        let sector = if direct { FILE_ALIGN } else { 512 };
        let mut target = Self::new(file, path, TargetKind::File, None, sector, direct);
        target.pending = Some(pending);
        Ok(target)
    }

    /// Ends a successful write: a file target gets its name now, replacing what was there.
    /// Call after the last [`Target::sync`]; nothing to do for devices.
    pub fn commit(&mut self) -> Result<(), TargetError> {
        if let Some(mut pending) = self.pending.take() {
            pending.place(&self.file)?;
        }
        Ok(())
    }

    fn open_block_device(path: &Path, options: &TargetOptions) -> Result<Self, TargetError> {
        let open = |flags| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_EXCL | flags)
                .open(path)
        };
        let (file, direct) = match direct_if_possible(open) {
            Ok(opened) => opened,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // Refused already; sysfs may know why.
                if let Some(id) = sysfs::node_id(path) {
                    check_block_device(path, id, None, options)?;
                }
                return Err(TargetError::Busy {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(io_error(Op::Open, path, None, e)),
        };
        Self::checked_block_file(file, path, direct, options)
    }

    /// Wraps a block device opened by someone else (udisksd's `OpenDevice`, for a caller
    /// without root) after the checks [`Target::open`] makes on the device it opened, on
    /// this descriptor: nothing of it mounted, swap or stacked on, no storage shared with
    /// the files being read, removable when asked.
    pub fn checked_block_file(
        file: File,
        path: &Path,
        direct: bool,
        options: &TargetOptions,
    ) -> Result<Self, TargetError> {
        let meta = file
            .metadata()
            .map_err(|e| io_error(Op::Examine, path, None, e))?;
        if !meta.file_type().is_block_device() {
            return Err(TargetError::Unsupported {
                path: path.to_path_buf(),
                what: "no longer a block device (it was replaced while being opened)",
            });
        }
        let id = sysfs::DevId::from_dev_t(meta.rdev());
        check_block_device(path, id, Some(&file), options)?;
        Self::from_block_file(file, path, direct)
    }

    /// The path given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File, block device or null sink.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// Capacity in bytes of a block device (or size of a file opened read-only).
    pub fn capacity(&self) -> Option<u64> {
        self.capacity
    }

    /// Whether I/O bypasses the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes `data` at `offset`.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), TargetError> {
        if self.kind == TargetKind::Null || data.is_empty() {
            return Ok(());
        }
        if !self.direct || self.is_aligned(offset, data) {
            self.file
                .write_all_at(data, offset)
                .map_err(|e| io_error(Op::Write, &self.path, Some(offset), e))?;
            if !self.direct && self.kind == TargetKind::BlockDevice {
                self.unsynced += data.len() as u64;
                if self.unsynced >= SYNC_INTERVAL {
                    self.sync()?;
                }
            }
            return Ok(());
        }
        self.write_unaligned(offset, data)
    }

    /// Checks that `end` bytes fit on a block device, for images whose size was not known in
    /// advance; anything else has room.
    pub fn check_room(&self, end: u64) -> Result<(), TargetError> {
        match self.capacity {
            Some(capacity) if self.kind == TargetKind::BlockDevice && end > capacity => {
                Err(TargetError::Overflow {
                    path: self.path.clone(),
                    capacity,
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether [`Target::write_at`] of `data` at `offset` is a plain positional write (no
    /// read-modify-write, no null sink), which a [`SharedWriter`] may do from another thread.
    pub(crate) fn is_plain_write(&self, offset: u64, data: &[u8]) -> bool {
        self.kind != TargetKind::Null && (!self.direct || self.is_aligned(offset, data))
    }

    /// Counts bytes written through [`SharedWriter`]s, so buffered block-device writes are
    /// still flushed every [`SYNC_INTERVAL`].
    pub(crate) fn count_written(&mut self, bytes: u64) -> Result<(), TargetError> {
        if !self.direct && self.kind == TargetKind::BlockDevice {
            self.unsynced += bytes;
            if self.unsynced >= SYNC_INTERVAL {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Writes `len` zero bytes at `offset`.
    pub fn zero(&mut self, offset: u64, len: u64) -> Result<(), TargetError> {
        let zeros = AlignedBuf::new(SCRATCH);
        let mut done = 0;
        while done < len {
            let n = usize::try_from(len - done).unwrap_or(SCRATCH).min(SCRATCH);
            self.write_at(offset + done, &zeros[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    /// Reads `offset..offset + len`, handing it to `consume` piece by piece, in order.
    pub fn read_range(
        &mut self,
        offset: u64,
        len: u64,
        mut consume: impl FnMut(&[u8]),
    ) -> Result<(), TargetError> {
        let align = if self.direct { self.sector } else { 1 };
        let mut scratch = self
            .scratch
            .take()
            .unwrap_or_else(|| AlignedBuf::new(SCRATCH));
        let result = (|| {
            let end = offset + len;
            let mut pos = offset;
            while pos < end {
                let window_start = pos / align * align;
                let window_end = (end.div_ceil(align) * align).min(window_start + SCRATCH as u64);
                let n = usize::try_from(window_end - window_start).unwrap_or(SCRATCH);
                let skip = usize::try_from(pos - window_start).unwrap_or(0);
                let take = usize::try_from((end - pos).min(window_end - pos)).unwrap_or(0);
                self.read_window(&mut scratch[..n], window_start, skip + take)?;
                consume(&scratch[skip..skip + take]);
                pos += take as u64;
            }
            Ok(())
        })();
        self.scratch = Some(scratch);
        result
    }

    /// Flushes everything written to stable storage.
    pub fn sync(&mut self) -> Result<(), TargetError> {
        self.unsynced = 0;
        if self.kind == TargetKind::Null {
            return Ok(());
        }
        self.file
            .sync_all()
            .map_err(|e| io_error(Op::Sync, &self.path, None, e))
    }

    /// Drops the kernel's cached blocks of a block device (`BLKFLSBUF`, on the descriptor
    /// the target holds: no path is opened again), so what is read next comes from the device;
    /// whether that worked. The kernel allows it to root only; `O_DIRECT` reads need none.
    pub(crate) fn drop_cached_blocks(&self) -> bool {
        use std::os::fd::AsRawFd;
        /// `_IO(0x12, 97)`.
        const BLKFLSBUF: libc::Ioctl = 0x1261;
        if self.kind != TargetKind::BlockDevice {
            return false;
        }
        // SAFETY: BLKFLSBUF takes no argument and touches no memory of ours; the descriptor
        // is open for as long as `self` is.
        unsafe { libc::ioctl(self.file.as_raw_fd(), BLKFLSBUF, 0) == 0 }
    }

    fn is_aligned(&self, offset: u64, data: &[u8]) -> bool {
        offset.is_multiple_of(self.sector)
            && (data.len() as u64).is_multiple_of(self.sector)
            && (data.as_ptr() as usize).is_multiple_of(self.sector as usize)
    }

    /// Read-modify-write of the whole sectors under `offset..offset + data.len()`.
    fn write_unaligned(&mut self, offset: u64, data: &[u8]) -> Result<(), TargetError> {
        let sector = self.sector;
        let mut scratch = self
            .scratch
            .take()
            .unwrap_or_else(|| AlignedBuf::new(SCRATCH));
        let result = (|| {
            let end = offset + data.len() as u64;
            let mut pos = offset;
            while pos < end {
                let window_start = pos / sector * sector;
                let window_end = (end.div_ceil(sector) * sector).min(window_start + SCRATCH as u64);
                let piece_end = end.min(window_end);
                let n = usize::try_from(window_end - window_start).unwrap_or(SCRATCH);
                let window = &mut scratch[..n];
                if pos > window_start {
                    let head = usize::try_from(sector).unwrap_or(512);
                    self.read_window(&mut window[..head], window_start, 0)?;
                }
                if piece_end < window_end {
                    let tail = usize::try_from(sector).unwrap_or(512);
                    self.read_window(&mut window[n - tail..], window_end - sector, 0)?;
                }
                let at = usize::try_from(pos - window_start).unwrap_or(0);
                let from = usize::try_from(pos - offset).unwrap_or(0);
                let len = usize::try_from(piece_end - pos).unwrap_or(0);
                window[at..at + len].copy_from_slice(&data[from..from + len]);
                self.file
                    .write_all_at(window, window_start)
                    .map_err(|e| io_error(Op::Write, &self.path, Some(window_start), e))?;
                // A file's last sector may have gone past the image's end: cut it back.
                let intended = self.capacity.unwrap_or(0).max(piece_end);
                if self.kind == TargetKind::File && window_end > intended {
                    self.file
                        .set_len(intended)
                        .map_err(|e| io_error(Op::Resize, &self.path, None, e))?;
                }
                pos = piece_end;
            }
            Ok(())
        })();
        self.scratch = Some(scratch);
        result
    }

    fn read_window(&self, buf: &mut [u8], offset: u64, need: usize) -> Result<(), TargetError> {
        read_window(&self.file, buf, offset, need)
            .map_err(|e| io_error(Op::Read, &self.path, Some(offset), e))
    }
}

/// The checks of [`TargetOptions`] and of the module documentation on the block device
/// numbered `id`, which `path` names (`opened`, if open: a loop device's backing file is then
/// asked of it).
fn check_block_device(
    path: &Path,
    id: sysfs::DevId,
    opened: Option<&File>,
    options: &TargetOptions,
) -> Result<(), TargetError> {
    if options.removable_only {
        sysfs::check_removable(id).map_err(|reason| TargetError::NotRemovable {
            path: path.to_path_buf(),
            reason,
        })?;
    }
    for file in &options.protected {
        if let Some(how) = sysfs::overlap(file, id, opened) {
            return Err(TargetError::HoldsSource {
                path: path.to_path_buf(),
                file: file.clone(),
                how,
            });
        }
    }
    let uses = sysfs::uses(&sysfs::stack(id));
    if !uses.is_empty() {
        let uses: Vec<String> = uses.iter().map(ToString::to_string).collect();
        return Err(TargetError::InUse {
            path: path.to_path_buf(),
            uses: uses.join(", "),
        });
    }
    Ok(())
}

fn io_error(op: Op, path: &Path, offset: Option<u64>, source: io::Error) -> TargetError {
    let failed = [libc::EIO, libc::ENODEV, libc::ENXIO, libc::ENOMEDIUM];
    if source.raw_os_error().is_some_and(|e| failed.contains(&e)) {
        return TargetError::DeviceFailed {
            op,
            path: path.to_path_buf(),
            offset,
            source,
        };
    }
    TargetError::Io {
        op,
        path: path.to_path_buf(),
        offset,
        source,
    }
}
