//! The truth about a card: how much it really holds ([`probe()`]), and whether every byte of it
//! keeps what is written ([`surface()`]).
//!
//! Counterfeit cards and sticks advertise far more than their flash holds. Beyond the real end
//! they either wrap around (a write lands on the card's start, over what is there) or throw
//! writes away (reads give zeros, old data or garbage), and many keep the last writes in a RAM
//! cache so that a quick read-back looks fine. Both tests write blocks that name their own
//! offset and carry a random tag of the run, with `O_DIRECT`, flush, and read back only then,
//! so a block found in the wrong place, from another run or not at all tells what the card
//! does.
//!
//! * [`probe()`] takes seconds: a few hundred 4 KiB sample blocks spread over the advertised
//!   capacity so that a wrap at any multiple of 1 MiB makes two of them collide, then passes
//!   closer and closer to the real end (see `card/analysis.rs` for the placement). It writes
//!   about 15 MiB on a genuine card, at most about 45 MiB on a counterfeit.
//! * [`surface()`] writes and reads the whole card, as f3write and f3read do, and lists the
//!   byte ranges that did not come back.
//!
//! Both erase the drive. Neither leaves anything that looks like a partition table or a
//! filesystem: no sector they write ends in the MBR signature or starts like a GPT header, and
//! the first and last MiB are zeroed at the end (on cancellation too, where the drive allows).
//! The drive is only ever reached through the open [`Target`], which may be a descriptor
//! handed over by UDisks2: its path is opened again only, as root, to drop the kernel's cached
//! blocks of it (`BLKFLSBUF`), which direct I/O does not need.
//!
//! Both run on a thread of their own, on a duplicate of the target's descriptor, and each of
//! their writes, reads and flushes is watched (`card/watched.rs`): a card or reader that hangs
//! is given up after the stall limit, as a copy gives it up, with [`ProbeError::Stalled`].

mod analysis;
mod keep;
mod pattern;
mod probe;
mod report;
mod surface;
#[cfg(test)]
mod tests;
mod watched;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{CapacityReport, Finding, ProbeError, SurfaceReport, decimal};

use crate::progress::{CancelToken, Event, ProgressSink, Reporter};
use crate::target::{AlignedBuf, Op, Target, TargetError, TargetKind};
use keep::Keeping;
use probe::{ENDS, Engine, Fault, Medium};
use watched::Leash;

/// Bad ranges listed in a [`SurfaceReport`]; more are only counted.
pub const MAX_BAD_RANGES: usize = 1000;

/// The smallest drive either test runs on.
const MIN_CAPACITY: u64 = 2 << 20;

/// Finds out how much `target`, a block device, really holds. A genuine drive is left as it
/// was (what the probe overwrote is read first and put back,
/// [`CapacityReport::restored`]); a counterfeit's data is lost to its own faults.
///
/// `progress` gets the bytes done and the bytes to do (an upper bound, reached at the end);
/// `cancel` stops the probe at the next block, with [`ProbeError::Cancelled`]. A counterfeit
/// is no error: the report says so ([`CapacityReport::is_counterfeit`]).
///
/// A write, read or flush that has not finished after `stall_limit` (`None`: no limit) ends
/// the probe at once with [`ProbeError::Stalled`]; the thread waiting for the drive is left
/// behind with its own descriptor and buffers, and touches the drive no more once it wakes.
pub fn probe(
    target: &mut Target,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &CancelToken,
    stall_limit: Option<Duration>,
) -> Result<CapacityReport, ProbeError> {
    let drive = Drive::new(target)?;
    let cancel = cancel.clone();
    let mut forward = |(done, total)| progress(done, total);
    watched::run(drive, stall_limit, &mut forward, move |drive, report| {
        let mut progress = |done, total| report((done, total));
        run_probe(drive, &mut progress, &cancel)
    })
}

/// The probe itself, on the drive's thread.
fn run_probe(
    drive: &mut Drive,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &CancelToken,
) -> Result<CapacityReport, ProbeError> {
    let started = Instant::now();
    let (device, claimed) = (drive.device.clone(), drive.capacity);
    let mut keeping = Keeping::new(drive);
    let tag = crate::nonce::fresh_u64();
    let probed = Engine::new(&mut keeping, &device, claimed, tag, progress, cancel).run()?;
    // A genuine drive gets back every byte the probe overwrote; a block it will not take
    // back leaves the probe's there (the report says so).
    let restored = probed.verdict.finding == Finding::Genuine
        && match keeping.restore() {
            Ok(all) => all,
            Err(Fault::Fatal(source)) => {
                return Err(ProbeError::Device {
                    device,
                    offset: None,
                    source: Box::new(source),
                });
            }
            Err(Fault::Media | Fault::Buffered) => false,
        };
    Ok(CapacityReport {
        restored,
        device,
        claimed,
        usable: probed.verdict.usable,
        finding: probed.verdict.finding,
        checked: probed.checked,
        lost: probed.verdict.lost,
        passes: probed.passes,
        written: probed.written,
        elapsed: started.elapsed(),
    })
}

/// Writes a pattern over every byte of `target`, a block device, reads it all back and lists
/// what differs; with [`Phase::SurfaceWrite`](crate::progress::Phase::SurfaceWrite) and
/// [`Phase::SurfaceRead`](crate::progress::Phase::SurfaceRead) progress. Erases it. Bad
/// regions are no error: they are in the report. A hung drive is given up after
/// `stall_limit`, as in [`probe()`].
pub fn surface(
    target: &mut Target,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
    stall_limit: Option<Duration>,
) -> Result<SurfaceReport, ProbeError> {
    let drive = Drive::new(target)?;
    let (stop, inner) = (cancel.clone(), cancel.clone());
    // A sink that asks to stop cancels the token, as a reporter on this thread would.
    let mut forward = |event: Event| {
        if sink.event(&event).is_break() {
            stop.cancel();
        }
    };
    watched::run(drive, stall_limit, &mut forward, move |drive, report| {
        let mut events = |event: &Event| {
            report(event.clone());
            std::ops::ControlFlow::Continue(())
        };
        let mut reporter = Reporter::new(&mut events, &inner);
        surface::run(drive, &mut reporter)
    })
}

/// The drive under test, on a duplicate of the target's descriptor; every operation on it is
/// watched through its [`Leash`].
pub(crate) struct Drive {
    target: Target,
    device: PathBuf,
    capacity: u64,
    leash: Arc<Leash>,
}

impl Drive {
    /// Checks that `target` is a block device worth testing, whose reads can come from it
    /// rather than from the page cache, and takes a duplicate of it.
    fn new(target: &mut Target) -> Result<Self, ProbeError> {
        let device = target.path().to_path_buf();
        let what = match target.kind() {
            TargetKind::BlockDevice => None,
            TargetKind::File => Some("a regular file"),
            TargetKind::Null => Some("a null device"),
        };
        if let Some(what) = what {
            return Err(ProbeError::NotADrive { device, what });
        }
        let capacity = target.capacity().unwrap_or(0);
        if capacity < MIN_CAPACITY {
            return Err(ProbeError::TooSmall { device, capacity });
        }
        if !target.is_direct() && !is_root() {
            return Err(ProbeError::Buffered { device });
        }
        let target = target.hand_over().map_err(|source| ProbeError::Device {
            device: device.clone(),
            offset: None,
            source: Box::new(source),
        })?;
        Ok(Self {
            target,
            device,
            capacity,
            leash: Arc::default(),
        })
    }

    fn failed(&self, source: TargetError, offset: Option<u64>) -> ProbeError {
        ProbeError::Device {
            device: self.device.clone(),
            offset,
            source: Box::new(source),
        }
    }

    /// Runs `io` on the target as the operation `op` at `offset`, watched; refused once the
    /// drive was given up.
    fn watched<R>(
        &mut self,
        op: Op,
        offset: Option<u64>,
        io: impl FnOnce(&mut Target) -> Result<R, TargetError>,
    ) -> Result<R, TargetError> {
        let Some(_op) = self.leash.begin(op, offset) else {
            return Err(TargetError::Stalled {
                op,
                path: self.device.clone(),
                offset,
                secs: 0,
            });
        };
        io(&mut self.target)
    }

    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), TargetError> {
        self.watched(Op::Write, Some(offset), |target| {
            target.write_at(offset, data)
        })
    }

    /// Fills `out` from `offset`.
    fn read_into(&mut self, offset: u64, out: &mut [u8]) -> Result<(), TargetError> {
        self.watched(Op::Read, Some(offset), |target| {
            let mut at = 0;
            target.read_range(offset, out.len() as u64, |piece| {
                let end = (at + piece.len()).min(out.len());
                out[at..end].copy_from_slice(&piece[..end - at]);
                at = end;
            })
        })
    }

    /// Syncs, and drops the kernel's cached blocks of the drive; without direct I/O, that
    /// must work.
    fn flush(&mut self) -> Result<(), ProbeError> {
        Medium::flush(self).map_err(|fault| match fault {
            Fault::Fatal(e) => self.failed(e, None),
            Fault::Media | Fault::Buffered => ProbeError::Buffered {
                device: self.device.clone(),
            },
        })
    }

    /// Zeroes the first and last MiB (or the whole of a smaller drive) and flushes.
    fn zero_ends(&mut self) -> Result<(), ProbeError> {
        let len = ENDS.min(self.capacity);
        let zeros = AlignedBuf::new(len as usize);
        for start in [0, self.capacity - len] {
            self.write_at(start, &zeros[..len as usize])
                .map_err(|e| self.failed(e, Some(start)))?;
        }
        self.flush()
    }
}

impl Medium for Drive {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Fault> {
        self.write_at(offset, data).map_err(fault)
    }

    fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Fault> {
        self.read_into(offset, out).map_err(fault)
    }

    fn flush(&mut self) -> Result<(), Fault> {
        self.watched(Op::Sync, None, Target::sync)
            .map_err(Fault::Fatal)?;
        let dropped = self.watched(Op::Sync, None, |target| Ok(target.drop_cached_blocks()));
        if !dropped.map_err(Fault::Fatal)? && !self.target.is_direct() {
            return Err(Fault::Buffered);
        }
        Ok(())
    }
}

/// An I/O error of the medium (a block that cannot be written or read) is an outcome of the
/// test; anything else ends it.
fn fault(error: TargetError) -> Fault {
    if is_media_error(&error) {
        Fault::Media
    } else {
        Fault::Fatal(error)
    }
}

/// Whether `error` is the drive failing at one place (EIO and its kin), not the drive gone.
pub(crate) fn is_media_error(error: &TargetError) -> bool {
    let source = match error {
        TargetError::DeviceFailed { source, .. } | TargetError::Io { source, .. } => source,
        _ => return false,
    };
    matches!(
        source.raw_os_error(),
        Some(libc::EIO | libc::EILSEQ | libc::ENODATA | libc::EBADMSG)
    )
}

/// Whether this process runs as root (which may drop a device's cached blocks).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
