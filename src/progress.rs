//! Progress events, the sink that receives them, and cancellation.
//!
//! Every long operation of the engine (copy, create, verify) reports through one typed,
//! push-based event stream and takes a [`CancelToken`]. Events are counters, never fractions,
//! and are sent from the thread that called the operation, so a sink needs no locking.
//! Throttling belongs in the adapter (terminal bar, GUI), which must not drop the last event.
//!
//! A copy writes to a list of targets, often of one: what happens to each target comes tagged
//! with its place in the list ([`Event::Target`]), what concerns the image (its checksums,
//! warnings) comes untagged, so a sink is written once for any number of targets.
//!
//! Any `FnMut(&Event) -> ControlFlow<()>` is a sink. This one keeps the bytes written to each
//! target and stops the copy once any of them passes 1 GiB:
//!
//! ```
//! use std::ops::ControlFlow;
//! use blockprint::progress::{Event, Phase, ProgressSink, TargetEvent};
//!
//! let mut written = [0u64; 2];
//! let mut sink = |event: &Event| {
//!     if let Event::Target {
//!         index,
//!         event: TargetEvent::Progress { phase: Phase::Writing, done_bytes },
//!     } = event
//!     {
//!         written[*index] = *done_bytes;
//!     }
//!     if written.iter().any(|&bytes| bytes > 1 << 30) {
//!         ControlFlow::Break(())
//!     } else {
//!         ControlFlow::Continue(())
//!     }
//! };
//! let at = |index, done_bytes| Event::Target {
//!     index,
//!     event: TargetEvent::Progress { phase: Phase::Writing, done_bytes },
//! };
//! assert_eq!(sink.event(&at(1, 4096)), ControlFlow::Continue(()));
//! assert_eq!(sink.event(&at(0, 2 << 30)), ControlFlow::Break(()));
//! ```

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::copy::{CopyError, CopyReport};

/// A stage of an operation. Each starts with [`Event::PhaseStarted`], or for one target of a
/// copy with [`TargetEvent::PhaseStarted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Finding the mapped areas of an image file (create).
    Mapping,
    /// Reading and hashing mapped ranges of an image (create).
    Hashing,
    /// Zeroing the first and last MiB of a block device, so no old partition table survives.
    Wiping,
    /// Writing the mapped ranges, checking each range's checksum as it streams.
    Writing,
    /// Flushing written data to the device.
    Syncing,
    /// Reading the written ranges back from the device and comparing them.
    ReadBack,
    /// Writing the first-boot settings into the boot partition of a written image and
    /// reading them back (before the held-back start).
    Settings,
    /// Writing the held-back start of the image (partition table, boot sector) last.
    WritingHeader,
    /// Checking a device or file against the checksums of a bmap (verify).
    Verifying,
    /// Writing self-identifying blocks over a drive's advertised capacity and reading them
    /// back, to find how much it really holds (a counterfeit card claims more).
    Probing,
    /// Writing a test pattern over the whole drive (the surface test).
    SurfaceWrite,
    /// Reading the surface test's pattern back and listing what differs.
    SurfaceRead,
    /// Writing ranges again that did not read back as written, and reading them again.
    Rewriting,
}

/// Something the engine wants the user to know that does not stop the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Every block of the image is mapped: a bmap then saves nothing, and the image's holes were
    /// probably expanded (copied or decompressed without keeping them sparse).
    AllMapped {
        /// The image file.
        image: PathBuf,
    },
    /// The device refused `O_DIRECT`; writes go through the page cache with periodic syncs.
    BufferedFallback {
        /// The device.
        device: PathBuf,
    },
    /// A range has no checksum in the bmap, so it is written without being verified.
    RangesWithoutChecksum {
        /// How many ranges have no checksum.
        count: usize,
    },
}

/// One progress event.
#[derive(Debug, Clone)]
pub enum Event {
    /// A phase begins. `total_bytes` is the work it will do, when known.
    PhaseStarted {
        /// The phase.
        phase: Phase,
        /// Bytes the phase will process, if known.
        total_bytes: Option<u64>,
    },
    /// Bytes processed so far in the current phase (cumulative).
    Progress {
        /// The phase the count belongs to.
        phase: Phase,
        /// Bytes processed since the phase started.
        done_bytes: u64,
    },
    /// A mapped range's data matched its checksum.
    RangeVerified {
        /// Index of the range in the bmap.
        index: usize,
        /// First block of the range.
        first: u64,
        /// Last block of the range (inclusive).
        last: u64,
    },
    /// A non-fatal condition.
    Warning(Warning),
    /// Something that happened to one target of a copy ([`crate::copy::copy_to_all`]), each
    /// target on its own.
    Target {
        /// The target's index in the list given.
        index: usize,
        /// What happened to it.
        event: TargetEvent,
    },
}

/// What happens to one target of a copy. It ends with `Done` or, if it fails on its own while
/// the others go on, `Failed`; a failure of the copy as a whole (the image, a cancel) is in
/// the results only.
#[derive(Debug, Clone)]
pub enum TargetEvent {
    /// A phase of this target begins; as [`Event::PhaseStarted`].
    PhaseStarted {
        /// The phase.
        phase: Phase,
        /// Bytes the phase will process, if known.
        total_bytes: Option<u64>,
    },
    /// Bytes this target has processed in its current phase; as [`Event::Progress`].
    Progress {
        /// The phase the count belongs to.
        phase: Phase,
        /// Bytes processed since the phase started.
        done_bytes: u64,
    },
    /// The target is written (and read back, if asked) and closed: nothing of the copy holds
    /// it open any more, so it may be powered off while the others go on. The same report is
    /// its result.
    Done(CopyReport),
    /// The target failed (or hung) and was dropped; the others go on. The same error is its
    /// result.
    Failed(Arc<CopyError>),
}

impl TargetEvent {
    /// The event as the operation's own, for a sink that knows of one target; `None` for its
    /// end, which is the operation's result.
    pub(crate) fn untagged(&self) -> Option<Event> {
        match *self {
            TargetEvent::PhaseStarted { phase, total_bytes } => {
                Some(Event::PhaseStarted { phase, total_bytes })
            }
            TargetEvent::Progress { phase, done_bytes } => {
                Some(Event::Progress { phase, done_bytes })
            }
            TargetEvent::Done(_) | TargetEvent::Failed(_) => None,
        }
    }
}

/// Receives progress events. Returning [`ControlFlow::Break`] cancels the operation, exactly as
/// [`CancelToken::cancel`] would.
pub trait ProgressSink {
    /// Called for every event, on the thread that started the operation.
    fn event(&mut self, event: &Event) -> ControlFlow<()>;
}

impl<F: FnMut(&Event) -> ControlFlow<()>> ProgressSink for F {
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        self(event)
    }
}

/// A sink that ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&mut self, _event: &Event) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A cheap, clonable flag that asks a running operation to stop at the next chunk.
#[derive(Debug, Default, Clone)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every operation holding a clone of this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for signal handlers that set it (e.g. `signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// Sends events to a sink and folds its answer and the token into one "stop now?" question.
pub(crate) struct Reporter<'a> {
    sink: &'a mut dyn ProgressSink,
    cancel: &'a CancelToken,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(sink: &'a mut dyn ProgressSink, cancel: &'a CancelToken) -> Self {
        Self { sink, cancel }
    }

    /// Delivers `event`; a `Break` from the sink cancels the token.
    pub(crate) fn emit(&mut self, event: Event) {
        if self.sink.event(&event).is_break() {
            self.cancel.cancel();
        }
    }

    pub(crate) fn phase(&mut self, phase: Phase, total_bytes: Option<u64>) {
        self.emit(Event::PhaseStarted { phase, total_bytes });
    }

    pub(crate) fn progress(&mut self, phase: Phase, done_bytes: u64) {
        self.emit(Event::Progress { phase, done_bytes });
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub(crate) fn token(&self) -> &CancelToken {
        self.cancel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_from_sink_cancels() {
        let token = CancelToken::new();
        let mut sink = |e: &Event| match e {
            Event::Warning(_) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        };
        let mut reporter = Reporter::new(&mut sink, &token);
        reporter.phase(Phase::Writing, Some(10));
        assert!(!token.is_cancelled());
        reporter.emit(Event::Warning(Warning::RangesWithoutChecksum { count: 1 }));
        assert!(token.is_cancelled());
        assert!(reporter.cancelled());
    }

    #[test]
    fn a_targets_phases_and_progress_untag_and_its_end_does_not() {
        let progress = TargetEvent::Progress {
            phase: Phase::ReadBack,
            done_bytes: 7,
        };
        assert!(matches!(
            progress.untagged(),
            Some(Event::Progress {
                phase: Phase::ReadBack,
                done_bytes: 7
            })
        ));
        let error = CopyError::ThreadFailed { thread: "a test" };
        assert!(TargetEvent::Failed(Arc::new(error)).untagged().is_none());
    }

    #[test]
    fn clones_share_the_flag() {
        let token = CancelToken::new();
        let other = token.clone();
        other.cancel();
        assert!(token.is_cancelled());
    }
}
