//! Progress events, the sink that receives them, and cancellation.
//!
//! Every long operation of the engine (copy, create, verify) reports through one typed,
//! push-based event stream and takes a [`CancelToken`]. Events are counters, never fractions,
//! and are sent from the thread that called the operation, so a sink needs no locking.
//! Throttling belongs in the adapter (terminal bar, GUI), which must not drop the last event.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::copy::CopyReport;

/// A stage of an operation. Each starts with [`Event::PhaseStarted`].
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
    /// Writing the held-back start of the image (partition table, boot sector) last.
    WritingHeader,
    /// Checking a device or file against the checksums of a bmap (verify).
    Verifying,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// An event of one target of a copy to several ([`crate::copy::copy_to_all`]): its
    /// phases, progress and read-back, each target on its own.
    Target {
        /// The target's index in the list given.
        index: usize,
        /// What happened to it.
        event: Box<Event>,
    },
    /// A target of a copy to several is written (and read back, if asked) and closed: nothing
    /// of the copy holds it open any more, so it may be powered off while the others go on.
    TargetDone {
        /// The target's index in the list given.
        index: usize,
        /// What was done to it; the same report is in its result at the end.
        report: CopyReport,
    },
    /// A target of a copy to several failed (or hung) and was dropped; the others go on. The
    /// typed error is in that target's result at the end.
    TargetFailed {
        /// The target's index in the list given.
        index: usize,
        /// The error, as the user should read it.
        reason: String,
    },
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
    fn clones_share_the_flag() {
        let token = CancelToken::new();
        let other = token.clone();
        other.cancel();
        assert!(token.is_cancelled());
    }
}
