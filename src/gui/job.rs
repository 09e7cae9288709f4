//! The write job: everything from "Write" to "Safe to remove", on a worker thread.
//!
//! ```text
//!  App ──Request──► run() on a blocking thread ─┬─ udisks.prepare   (unmount)      Preparing
//!                                               ├─ udisks.open      (polkit, fd)
//!                                               ├─ copy::copy ──Event──► Throttle ──► JobEvent
//!                                               │                 Writing · Verifying · Finishing
//!                                               └─ udisks.finish    (rescan, power off)
//!  App ◄──JobEvent (≤ 10 Hz, the last of each phase always sent) ── send()
//! ```
//!
//! The device is opened only through udisksd (`Block.OpenDevice`), so polkit decides and the
//! app never needs root. Cancelling is a [`CancelToken`]: the copy stops at the next chunk and
//! the outcome is [`Outcome::Cancelled`], never an error.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;
use blockprint::copy::{self, CopyError, CopyOptions};
use blockprint::drives::Drive;
use blockprint::progress::{CancelToken, Event, Phase};
use blockprint::source::{Input, InputError, Opener, SourceError};
use blockprint::target::{Target, TargetError};
use blockprint::udisks::{Removal, Udisks, UdisksError};

/// What to write where.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image.
    pub image: Input,
    /// Its block map, already checked (signature included); `None` writes every byte.
    pub bmap: Option<Arc<Bmap>>,
    /// The drive, as it was when the user confirmed.
    pub drive: Drive,
    /// Read everything back after writing and compare.
    pub verify: bool,
    /// Power the drive off (or eject it) when done.
    pub power_off: bool,
    /// Cancelled when the user skips the rest of the read-back.
    pub skip_verify: CancelToken,
}

/// The stages a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Unmounting, asking for permission, opening.
    Preparing,
    /// Writing the mapped ranges (each checked against its checksum as it streams).
    Writing,
    /// Reading everything back from the drive.
    Verifying,
    /// Writing the held-back start, flushing, powering off.
    Finishing,
}

impl Stage {
    /// The stage an engine phase belongs to; `after_readback` tells the final flush from
    /// the one that follows the writes.
    fn of(phase: Phase, reading_done: bool) -> Stage {
        match phase {
            Phase::ReadBack | Phase::Verifying => Stage::Verifying,
            Phase::WritingHeader => Stage::Finishing,
            Phase::Syncing if reading_done => Stage::Finishing,
            _ => Stage::Writing,
        }
    }
}

/// What the job reports.
#[derive(Debug)]
pub enum JobEvent {
    /// A new phase: its stage, the engine's phase (none while preparing or powering off), and
    /// the bytes it will process when known.
    Phase {
        /// The stage.
        stage: Stage,
        /// The engine's phase.
        phase: Option<Phase>,
        /// Its work in bytes.
        total: Option<u64>,
    },
    /// Bytes done in the current phase (cumulative).
    Progress(u64),
    /// The end, whatever it was.
    Finished(Outcome),
}

/// How a job ended.
#[derive(Debug)]
pub enum Outcome {
    /// Written (and verified as asked).
    Done(Summary),
    /// Stopped by the user; `touched` says whether the drive was written to at all.
    Cancelled {
        /// Whether anything was written.
        touched: bool,
    },
    /// Failed; `touched` as above.
    Failed {
        /// Why.
        error: JobError,
        /// Whether anything was written.
        touched: bool,
    },
}

/// A finished write.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Wall time from Write to the end.
    pub elapsed: Duration,
    /// Bytes written.
    pub written: u64,
    /// Ranges in the bmap (0 without one).
    pub ranges: usize,
    /// Ranges whose checksum matched while writing.
    pub ranges_verified: usize,
    /// Whether everything was read back and compared.
    pub read_back: bool,
    /// Whether the user skipped the read-back that was asked for.
    pub skipped: bool,
    /// How the drive was made safe to remove, or why it could not be (the data is fine).
    pub removal: Result<Removal, String>,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// udisksd refused or failed (authorisation, busy, gone).
    #[error(transparent)]
    Udisks(#[from] UdisksError),
    /// The image location is not usable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The image cannot be opened or decoded.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The device refused.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The copy failed (read error, checksum, read-back mismatch).
    #[error(transparent)]
    Copy(#[from] CopyError),
}

/// Runs the job, reporting through `send`; returns when it is over (the last event sent is
/// always [`JobEvent::Finished`]).
pub fn run(
    udisks: &Udisks,
    request: &Request,
    cancel: &CancelToken,
    send: &mut dyn FnMut(JobEvent),
) {
    let started = Instant::now();
    let mut touched = false;
    let outcome = match write(udisks, request, cancel, send, &mut touched) {
        Ok(None) => Outcome::Cancelled { touched },
        Err(JobError::Copy(CopyError::Cancelled { .. })) => Outcome::Cancelled { touched: true },
        Err(error) => Outcome::Failed { error, touched },
        Ok(Some(report)) => {
            send(JobEvent::Phase {
                stage: Stage::Finishing,
                phase: None,
                total: None,
            });
            let removal = finish(udisks, request);
            Outcome::Done(Summary {
                elapsed: started.elapsed(),
                written: report.mapped_bytes,
                ranges: report.ranges,
                ranges_verified: report.ranges_verified,
                read_back: report.read_back,
                skipped: request.verify && !report.read_back,
                removal,
            })
        }
    };
    send(JobEvent::Finished(outcome));
}

/// Prepares, opens and writes; `Ok(None)` when cancelled before anything was written.
fn write(
    udisks: &Udisks,
    request: &Request,
    cancel: &CancelToken,
    send: &mut dyn FnMut(JobEvent),
    touched: &mut bool,
) -> Result<Option<copy::CopyReport>, JobError> {
    send(JobEvent::Phase {
        stage: Stage::Preparing,
        phase: None,
        total: None,
    });
    udisks.prepare(&request.drive)?;
    let opened = Opener::new().open(&request.image)?;
    let mut source = opened.source;
    let bmap = request.bmap.as_deref();
    copy::check_source(&*source, bmap)?;
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let device = udisks.open(&request.drive)?;
    let mut target = Target::from_block_file(device.file, &request.drive.device, device.direct)?;
    if cancel.is_cancelled() {
        return Ok(None);
    }
    *touched = true;
    let options = CopyOptions {
        verify_checksums: true,
        verify_readback: request.verify,
        skip_readback: Some(request.skip_verify.clone()),
        ..CopyOptions::default()
    };
    let mut throttle = Throttle::new(Duration::from_millis(100));
    let mut sink = |event: &Event| {
        throttle.feed(event, Instant::now(), &mut *send);
        ControlFlow::Continue(())
    };
    let report = copy::copy(&mut *source, bmap, &mut target, &options, &mut sink, cancel);
    throttle.flush(&mut *send);
    // Closed before udisksd rescans the partition table and powers the drive off.
    drop(target);
    Ok(Some(report?))
}

fn finish(udisks: &Udisks, request: &Request) -> Result<Removal, String> {
    let result = if request.power_off {
        udisks.finish(&request.drive)
    } else {
        udisks.rescan(&request.drive).map(|()| Removal::Nothing)
    };
    result.map_err(|e| e.to_string())
}

/// Passes phase changes at once and progress at most every `interval`, never dropping the
/// last count of a phase (it is sent before the next phase, or by [`flush`](Self::flush)).
pub struct Throttle {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: Option<u64>,
    reading_done: bool,
}

impl Throttle {
    /// A throttle that sends progress at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_sent: None,
            pending: None,
            reading_done: false,
        }
    }

    /// Takes one engine event seen at `now`.
    pub fn feed(&mut self, event: &Event, now: Instant, send: &mut dyn FnMut(JobEvent)) {
        match event {
            Event::PhaseStarted { phase, total_bytes } => {
                self.flush(send);
                send(JobEvent::Phase {
                    stage: Stage::of(*phase, self.reading_done),
                    phase: Some(*phase),
                    total: *total_bytes,
                });
                if *phase == Phase::ReadBack {
                    self.reading_done = true;
                }
                self.last_sent = Some(now);
            }
            Event::Progress { done_bytes, .. } => {
                let due = self
                    .last_sent
                    .is_none_or(|at| now.duration_since(at) >= self.interval);
                if due {
                    send(JobEvent::Progress(*done_bytes));
                    self.last_sent = Some(now);
                    self.pending = None;
                } else {
                    self.pending = Some(*done_bytes);
                }
            }
            // The app writes one drive per job: the engine tags nothing.
            Event::RangeVerified { .. }
            | Event::Warning(_)
            | Event::Target { .. }
            | Event::TargetDone { .. }
            | Event::TargetFailed { .. } => {}
        }
    }

    /// Sends the count held back, if any.
    pub fn flush(&mut self, send: &mut dyn FnMut(JobEvent)) {
        if let Some(done) = self.pending.take() {
            send(JobEvent::Progress(done));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(events: &[(Event, u64)]) -> Vec<String> {
        let start = Instant::now();
        let mut throttle = Throttle::new(Duration::from_millis(100));
        let mut out = Vec::new();
        let mut send = |e: JobEvent| {
            out.push(match e {
                JobEvent::Phase { stage, phase, .. } => format!("{stage:?}/{phase:?}"),
                JobEvent::Progress(n) => n.to_string(),
                JobEvent::Finished(_) => "end".into(),
            });
        };
        for (event, ms) in events {
            throttle.feed(event, start + Duration::from_millis(*ms), &mut send);
        }
        throttle.flush(&mut send);
        out
    }

    fn progress(phase: Phase, done_bytes: u64) -> Event {
        Event::Progress { phase, done_bytes }
    }

    fn started(phase: Phase) -> Event {
        Event::PhaseStarted {
            phase,
            total_bytes: None,
        }
    }

    #[test]
    fn progress_is_thinned_to_ten_hertz_but_each_phase_ends_on_its_last_count() {
        let events = [
            (started(Phase::Writing), 0),
            (progress(Phase::Writing, 1), 10),
            (progress(Phase::Writing, 2), 50),
            (progress(Phase::Writing, 3), 120),
            (progress(Phase::Writing, 4), 130),
            (started(Phase::Syncing), 140),
            (started(Phase::ReadBack), 150),
            (progress(Phase::ReadBack, 9), 160),
            (started(Phase::WritingHeader), 170),
            (started(Phase::Syncing), 175),
            (progress(Phase::Syncing, 7), 180),
        ];
        assert_eq!(
            collect(&events),
            [
                "Writing/Some(Writing)",
                "3",
                "4",
                "Writing/Some(Syncing)",
                "Verifying/Some(ReadBack)",
                "9",
                "Finishing/Some(WritingHeader)",
                "Finishing/Some(Syncing)",
                "7",
            ]
        );
    }
}
