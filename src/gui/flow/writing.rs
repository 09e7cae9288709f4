//! The write as the flow keeps it: started only with drives confirmed as they are now, one
//! entry per drive, with its meter while it runs and its outcome once over; the drives all
//! start together, each ends on its own, and those that failed can be written again.

use std::sync::Arc;
use std::time::Instant;

use blockprint::copy::CopyError;
use blockprint::drives::Drive;
use blockprint::progress::CancelToken;
use blockprint::udisks::{Removal, UdisksError};

use blockprint::firstboot::FirstBoot;

use super::{Effect, FirstBootSupport, Flow, Msg, Step};
use crate::gui::job::{JobEvent, Outcome, Request, Stage};
use crate::gui::meter::Meter;

/// The preferences the flow follows ([`Msg::Prefs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefs {
    /// Read back and compare after writing.
    pub verify: bool,
    /// Find out how much each drive really holds before writing it.
    pub check_capacity: bool,
    /// Power the drive off when done.
    pub power_off: bool,
    /// Only images whose block map is signed by a trusted key.
    pub require_signature: bool,
}

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

impl Flow {
    /// After a write to several drives: chooses those that failed or were stopped and may
    /// still be written, and asks to write them again.
    pub(super) fn retry_failed(&mut self) -> Vec<Effect> {
        let WriteState::Over(drives) = &self.write else {
            return vec![];
        };
        self.selected = drives
            .iter()
            .filter(|d| d.needs_retry())
            .map(|d| d.drive.key.clone())
            .filter(|key| self.may_choose(key))
            .collect();
        self.update(Msg::Write)
    }

    pub(super) fn start(&mut self) -> Vec<Effect> {
        let drives: Vec<Drive> = self.chosen().into_iter().cloned().collect();
        let Some(image) = self.image.as_ref() else {
            return vec![];
        };
        if self.writing() || image.blocked() || drives.is_empty() {
            return vec![];
        }
        // Only drives the user confirmed, each still the same (not another card put in its
        // reader meanwhile): otherwise the question is asked again, naming what is there now.
        let confirmed = |d: &Drive| {
            self.confirming
                .iter()
                .any(|c| c.key == d.key && c.change_to(d).is_none())
        };
        if !drives.iter().all(confirmed) {
            self.confirming.clone_from(&drives);
            return vec![Effect::ConfirmWrite(drives)];
        }
        self.confirming.clear();
        // Settings for an image known to have no first-boot mechanism are left out (and the
        // end says so); otherwise the catalog's word goes with them, or the card is looked at.
        let missing = matches!(self.first_boot_support, FirstBootSupport::Missing(_));
        self.first_boot_left_out = missing && self.first_boot.is_some();
        let first_boot = self.first_boot.as_ref().filter(|_| !missing).map(|choice| {
            Arc::new(FirstBoot {
                settings: choice.settings.clone(),
                declared: match self.first_boot_support {
                    FirstBootSupport::Declared(format) => Some(format),
                    _ => None,
                },
            })
        });
        let request = Request {
            image: image.input.clone(),
            bmap: image
                .usable_bmap()
                .filter(|_| !self.write_everything)
                .cloned(),
            everything: self.write_everything,
            drives: drives.clone(),
            verify: self.verify,
            check_capacity: self.check_capacity,
            power_off: self.power_off,
            skip_verify: CancelToken::new(),
            first_boot,
        };
        self.write = WriteState::start(&drives);
        self.last = drives;
        self.step = Some(Step::Write);
        vec![Effect::Start(Box::new(request))]
    }

    /// The drive a write ended on that could not be powered off, still there: "Eject" tries
    /// again (a desktop that mounted the new partitions at once keeps it busy).
    pub fn ejectable(&self) -> Option<&Drive> {
        let WriteState::Over(drives) = &self.write else {
            return None;
        };
        match &drives[..] {
            [
                DriveWrite {
                    drive,
                    outcome: Some(Outcome::Done(summary)),
                    ..
                },
            ] if summary.removal.is_err() => self.drives.iter().find(|d| d.key == drive.key),
            _ => None,
        }
    }

    pub(super) fn eject(&self) -> Vec<Effect> {
        self.ejectable()
            .map(|drive| vec![Effect::Eject(drive.clone())])
            .unwrap_or_default()
    }

    pub(super) fn ejected(&mut self, result: Result<Removal, UdisksError>) {
        if let WriteState::Over(drives) = &mut self.write
            && let [
                DriveWrite {
                    outcome: Some(Outcome::Done(summary)),
                    ..
                },
            ] = &mut drives[..]
        {
            summary.removal = result.map_err(Arc::new);
        }
    }

    pub(super) fn job_event(&mut self, event: JobEvent) -> Vec<Effect> {
        if !self.write.apply(event, Instant::now()) {
            return vec![];
        }
        self.stopping = false;
        if std::mem::take(&mut self.quit_when_stopped) {
            vec![Effect::Ended, Effect::Close]
        } else {
            vec![Effect::Ended]
        }
    }
}
