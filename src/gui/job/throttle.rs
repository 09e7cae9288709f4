//! One drive's engine events, thinned for the window: phase changes at once, progress at most
//! ten times a second, and never the last count of a phase dropped.

use std::time::{Duration, Instant};

use blockprint::progress::{Phase, TargetEvent};

use super::{JobEvent, Stage};

/// Passes phase changes at once and progress at most every `interval`, never dropping the
/// last count of a phase (it is sent before the next phase, or by [`flush`](Self::flush)).
pub struct Throttle {
    drive: usize,
    interval: Duration,
    last_sent: Option<Instant>,
    pending: Option<u64>,
    reading_done: bool,
}

impl Throttle {
    /// A throttle for drive `drive` of the job, sending progress at most once per `interval`.
    pub fn new(drive: usize, interval: Duration) -> Self {
        Self {
            drive,
            interval,
            last_sent: None,
            pending: None,
            reading_done: false,
        }
    }

    /// Takes one of the drive's engine events, seen at `now`.
    pub fn feed(&mut self, event: &TargetEvent, now: Instant, send: &dyn Fn(JobEvent)) {
        let drive = self.drive;
        match event {
            TargetEvent::PhaseStarted { phase, total_bytes } => {
                self.flush(send);
                send(JobEvent::Phase {
                    drive,
                    stage: Stage::of(*phase, self.reading_done),
                    phase: Some(*phase),
                    total: *total_bytes,
                });
                if *phase == Phase::ReadBack {
                    self.reading_done = true;
                }
                self.last_sent = Some(now);
            }
            TargetEvent::Progress { done_bytes, .. } => {
                let due = self
                    .last_sent
                    .is_none_or(|at| now.duration_since(at) >= self.interval);
                if due {
                    send(JobEvent::Progress {
                        drive,
                        done: *done_bytes,
                    });
                    self.last_sent = Some(now);
                    self.pending = None;
                } else {
                    self.pending = Some(*done_bytes);
                }
            }
            // The job sees to a drive's end itself.
            TargetEvent::Done(_) | TargetEvent::Failed(_) => {}
        }
    }

    /// Sends the count held back, if any.
    pub fn flush(&mut self, send: &dyn Fn(JobEvent)) {
        if let Some(done) = self.pending.take() {
            send(JobEvent::Progress {
                drive: self.drive,
                done,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn collect(events: &[(TargetEvent, u64)]) -> Vec<String> {
        let start = Instant::now();
        let mut throttle = Throttle::new(3, Duration::from_millis(100));
        let out = RefCell::new(Vec::new());
        let send = |e: JobEvent| {
            out.borrow_mut().push(match e {
                JobEvent::Phase {
                    drive,
                    stage,
                    phase,
                    ..
                } => format!("{drive}:{stage:?}/{phase:?}"),
                JobEvent::Progress { drive, done } => format!("{drive}:{done}"),
                other => format!("{other:?}"),
            });
        };
        for (event, ms) in events {
            throttle.feed(event, start + Duration::from_millis(*ms), &send);
        }
        throttle.flush(&send);
        out.into_inner()
    }

    fn progress(phase: Phase, done_bytes: u64) -> TargetEvent {
        TargetEvent::Progress { phase, done_bytes }
    }

    fn started(phase: Phase) -> TargetEvent {
        TargetEvent::PhaseStarted {
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
                "3:Writing/Some(Writing)",
                "3:3",
                "3:4",
                "3:Writing/Some(Syncing)",
                "3:Verifying/Some(ReadBack)",
                "3:9",
                "3:Finishing/Some(WritingHeader)",
                "3:Finishing/Some(Syncing)",
                "3:7",
            ]
        );
    }
}
