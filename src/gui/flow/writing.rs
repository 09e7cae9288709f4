//! The write as the flow keeps it: one entry per drive, with its meter while it runs and its
//! outcome once over; the drives all start together, each ends on its own.

use std::sync::Arc;
use std::time::Instant;

use blockprint::copy::CopyError;
use blockprint::drives::Drive;

use crate::gui::job::{JobEvent, Outcome, Stage};
use crate::gui::progress::Meter;

/// One drive of the write.
#[derive(Debug, Clone)]
pub struct DriveWrite {
    /// The drive, as confirmed.
    pub drive: Drive,
    /// Its progress.
    pub meter: Meter,
    /// Why it was dropped while the others go on (its outcome comes at the end).
    pub dropped: Option<Arc<CopyError>>,
    /// How it ended, once it has.
    pub outcome: Option<Outcome>,
}

impl DriveWrite {
    fn new(drive: Drive) -> Self {
        Self {
            drive,
            meter: Meter::default(),
            dropped: None,
            outcome: None,
        }
    }

    /// Whether it is still written (neither over nor dropped).
    pub fn running(&self) -> bool {
        self.outcome.is_none() && self.dropped.is_none()
    }

    /// Whether it failed or was stopped, so "Retry Failed Drives" writes it again.
    pub fn needs_retry(&self) -> bool {
        matches!(
            self.outcome,
            Some(Outcome::Failed { .. } | Outcome::Cancelled { .. })
        )
    }
}

/// Where the write is.
#[derive(Debug, Default)]
pub enum WriteState {
    /// Not started.
    #[default]
    Idle,
    /// Running: every drive of the job, in the order of the request.
    Running(Vec<DriveWrite>),
    /// Over: every drive with its outcome.
    Over(Vec<DriveWrite>),
}

impl WriteState {
    /// A write to these drives, starting.
    pub fn start(drives: &[Drive]) -> Self {
        Self::Running(drives.iter().cloned().map(DriveWrite::new).collect())
    }

    /// The drives of the write running or over (none when idle).
    pub fn drives(&self) -> &[DriveWrite] {
        match self {
            Self::Idle => &[],
            Self::Running(drives) | Self::Over(drives) => drives,
        }
    }

    /// The stage on screen while running: that of the least advanced drive still written.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Self::Running(drives) => drives
                .iter()
                .filter(|d| d.running())
                .map(|d| d.meter.stage)
                .min(),
            _ => None,
        }
    }

    /// Takes an event of the job; true when it is the job's last.
    pub fn apply(&mut self, event: JobEvent, now: Instant) -> bool {
        let Self::Running(drives) = self else {
            return false;
        };
        match event {
            JobEvent::Phase {
                drive,
                stage,
                phase,
                total,
            } => {
                if let Some(d) = drives.get_mut(drive) {
                    d.meter.phase(stage, phase, total, now);
                }
            }
            JobEvent::Progress { drive, done } => {
                if let Some(d) = drives.get_mut(drive) {
                    d.meter.progress(done, now);
                }
            }
            JobEvent::Dropped { drive, error } => {
                if let Some(d) = drives.get_mut(drive) {
                    d.dropped = Some(error);
                }
            }
            JobEvent::Ended { drive, outcome } => {
                if let Some(d) = drives.get_mut(drive) {
                    d.outcome = Some(outcome);
                }
            }
            JobEvent::Finished => {
                let mut drives = std::mem::take(drives);
                // The job ends every drive before it finishes; one it did not is shown as
                // stopped part-way, the cautious reading.
                for d in drives.iter_mut().filter(|d| d.outcome.is_none()) {
                    d.outcome = Some(Outcome::Cancelled { touched: true });
                }
                *self = Self::Over(drives);
                return true;
            }
        }
        false
    }
}
