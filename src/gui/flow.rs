//! The app's state machine, without GTK: image → drives → confirm → progress → done, failed
//! or cancelled, for one drive or several at once. The window component feeds it [`Msg`]s and carries out the [`Effect`]s it
//! returns (dialogs, threads, page switches), so every rule of the flow is tested here.

use std::sync::Arc;

use blockprint::bmap::Bmap;
use blockprint::drives::{Context, Drive, Guard, GuardKind, Severity};
use blockprint::progress::CancelToken;
use blockprint::source::Input;
use blockprint::udisks::DriveEvent;

use super::inspect::{BmapState, ImageInfo};
use super::job::{JobEvent, Request, Stage};

mod writing;

pub use writing::{DriveWrite, WriteState};

/// The three steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Choose the image.
    Image,
    /// Choose the drive.
    Drive,
    /// Write it.
    Write,
}

/// What can happen.
#[derive(Debug)]
pub enum Msg {
    /// An image was chosen (file, drop, URL, command line).
    OpenImage(Input),
    /// A block map was chosen for the current image.
    OpenBmap(Input),
    /// The worker read the image.
    Inspected(Result<Box<ImageInfo>, String>),
    /// The worker created a block map from the filesystems.
    Scanned(Result<Bmap, String>),
    /// The user asked for a block map from the filesystems.
    ScanBmap,
    /// Go to a step (the header's back button, "Change", "Next").
    GoTo(Step),
    /// A drive appeared, changed or left; or udisksd was lost (boxed: a drive's description
    /// is large, the other messages are small).
    Drive(Box<DriveEvent>),
    /// udisksd could not be reached at start.
    DrivesUnavailable(String),
    /// Show every drive (already confirmed) or only the usual ones.
    ShowAll(bool),
    /// The user added a drive (by key) to those to write.
    SelectDrive(String),
    /// The user took a drive (by key) out of those to write.
    UnselectDrive(String),
    /// The user activated a drive's row: in or out.
    ToggleDrive(String),
    /// "Select All Suitable": every removable drive that may be written without a question.
    SelectAllSuitable,
    /// The user typed the system drive's name correctly.
    SystemDriveConfirmed(String),
    /// "Write" pressed.
    Write,
    /// The write confirmation was accepted.
    WriteConfirmed,
    /// "Cancel" pressed while writing.
    Cancel,
    /// The cancel confirmation was accepted.
    CancelConfirmed,
    /// "Skip Verification" pressed while reading back.
    SkipVerify,
    /// An event from the write job.
    Job(JobEvent),
    /// "Write Another Drive": same image, back to the drive list.
    WriteAnother,
    /// "Retry Failed Drives": those that failed or were stopped, and are still there, again.
    RetryFailed,
    /// The preference "only signed images" changed: the open image is judged again.
    RequireSignature(bool),
}

/// What the window must do.
#[derive(Debug)]
pub enum Effect {
    /// Read an image (and an explicitly chosen block map) on a worker; with `true`, an
    /// unsigned block map is refused.
    Inspect(Input, Option<Input>, bool),
    /// Scan the image's filesystems on a worker.
    Scan(Input),
    /// Ask for the system drive's name to be typed.
    AskSystemDrive(Drive),
    /// Ask to confirm erasing these drives.
    ConfirmWrite(Vec<Drive>),
    /// Start the job.
    Start(Box<Request>),
    /// Ask whether to stop writing.
    ConfirmCancel,
    /// Stop the job.
    CancelJob,
    /// Skip the rest of the read-back.
    SkipVerify,
    /// The job ended: uninhibit suspend, notify if unfocused.
    Ended,
}

/// The whole state.
#[derive(Debug, Default)]
pub struct Flow {
    step: Option<Step>,
    /// The image, once read.
    pub image: Option<ImageInfo>,
    /// Reading the image (or scanning it) is under way.
    pub busy: Option<Busy>,
    /// The last error reading the image.
    pub image_error: Option<String>,
    /// Every drive udisksd knows, in arrival order.
    pub drives: Vec<Drive>,
    /// Why there is no drive list at all.
    pub drives_error: Option<String>,
    /// Show all drives, not only removable ones.
    pub show_all: bool,
    /// The chosen drives' keys, in the order chosen.
    pub selected: Vec<String>,
    /// System drives whose name was typed.
    confirmed_system: Vec<String>,
    /// The write.
    pub write: WriteState,
    /// The drives of the last write started.
    last: Vec<Drive>,
    /// The drives the confirmation being asked names, as they were then.
    confirming: Vec<Drive>,
    /// Preferences at the time of writing.
    pub verify: bool,
    /// Power off when done.
    pub power_off: bool,
    /// Only images whose block map is signed by a trusted key.
    pub require_signature: bool,
}

/// What a worker is doing for the Image step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Reading the image and its block map.
    Reading,
    /// Scanning its filesystems.
    Scanning,
}

/// One drive as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    /// The drive.
    pub drive: Drive,
    /// Its guards, gravest first.
    pub guards: Vec<Guard>,
    /// Whether it can be chosen.
    pub enabled: bool,
    /// Whether it is chosen.
    pub selected: bool,
    /// Whether "Select All Suitable" takes it.
    pub suitable: bool,
}

impl Flow {
    /// A flow with the user's preferences.
    pub fn new(verify: bool, power_off: bool, show_all: bool) -> Self {
        Self {
            verify,
            power_off,
            show_all,
            ..Self::default()
        }
    }

    /// The step on screen.
    pub fn step(&self) -> Step {
        self.step.unwrap_or(Step::Image)
    }

    /// Whether the image step may be left for the drive step.
    pub fn image_ready(&self) -> bool {
        self.busy.is_none() && self.image.as_ref().is_some_and(|i| !i.blocked())
    }

    /// Whether a job is running (the window must not close quietly).
    pub fn writing(&self) -> bool {
        matches!(self.write, WriteState::Running(_))
    }

    /// The chosen drives still there that may be written, in the list's order.
    pub fn chosen(&self) -> Vec<&Drive> {
        // Only the chosen drives' guards: this runs for every action's enabled state.
        self.drives
            .iter()
            .filter(|d| self.selected.contains(&d.key) && d.is_candidate(self.show_all))
            .filter(|d| self.row(d).enabled)
            .collect()
    }

    /// The drive with `key`, if the list shows it.
    fn listed(&self, key: &str) -> Option<&Drive> {
        self.drives
            .iter()
            .find(|d| d.key == key && d.is_candidate(self.show_all))
    }

    /// The stage on screen while writing (the least advanced drive's).
    pub fn stage(&self) -> Option<Stage> {
        self.write.stage()
    }

    /// The drives of the last write started (they may have been powered off since).
    pub fn last_drives(&self) -> &[Drive] {
        &self.last
    }

    /// The drive "Restore Drive" acts on: the one chosen, else the one last written if it is
    /// still there; none when there are several.
    pub fn restore_target(&self) -> Option<&Drive> {
        match (&self.chosen()[..], &self.last[..]) {
            ([drive], _) => Some(drive),
            ([], [last]) => self.drives.iter().find(|d| d.key == last.key),
            _ => None,
        }
    }

    /// The drives to list, with their guards.
    pub fn rows(&self) -> Vec<RowState> {
        self.drives
            .iter()
            .filter(|d| d.is_candidate(self.show_all))
            .map(|d| self.row(d))
            .collect()
    }

    /// One listed drive with its guards, for the image chosen.
    fn row(&self, drive: &Drive) -> RowState {
        let context = Context {
            image: self.image.as_ref().and_then(|i| i.input.as_path()),
            image_size: self.image.as_ref().and_then(|i| i.image_size),
        };
        let guards = drive.guards(&context);
        let enabled = guards.iter().all(|g| g.severity != Severity::Blocked);
        // No question to ask, and not so large it is likely someone's backup disk.
        let suitable = enabled
            && guards.iter().all(|g| {
                g.severity == Severity::Warning && !matches!(g.kind, GuardKind::Large { .. })
            });
        RowState {
            selected: enabled && self.selected.contains(&drive.key),
            drive: drive.clone(),
            guards,
            enabled,
            suitable,
        }
    }

    /// Handles one message; returns what the window must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::OpenImage(input) => {
                if self.writing() {
                    return vec![];
                }
                self.busy = Some(Busy::Reading);
                self.image_error = None;
                self.step = Some(Step::Image);
                return vec![Effect::Inspect(input, None, self.require_signature)];
            }
            Msg::OpenBmap(bmap) => {
                let Some(image) = self.image.as_ref().map(|i| i.input.clone()) else {
                    return vec![];
                };
                self.busy = Some(Busy::Reading);
                return vec![Effect::Inspect(image, Some(bmap), self.require_signature)];
            }
            Msg::Inspected(result) => {
                self.busy = None;
                match result {
                    Ok(info) => {
                        self.image = Some(*info);
                        self.image_error = None;
                    }
                    Err(e) => {
                        self.image = None;
                        self.image_error = Some(e);
                    }
                }
            }
            Msg::ScanBmap => {
                if let Some(image) = &self.image {
                    self.busy = Some(Busy::Scanning);
                    return vec![Effect::Scan(image.input.clone())];
                }
            }
            Msg::Scanned(result) => {
                self.busy = None;
                match (result, self.image.as_mut()) {
                    (Ok(bmap), Some(image)) => {
                        image.image_size = Some(bmap.image_size());
                        image.bmap = BmapState::Created {
                            bmap: Arc::new(bmap),
                        };
                        image.signature = super::inspect::SignatureState::NoBmap;
                    }
                    (Err(e), _) => self.image_error = Some(e),
                    (Ok(_), None) => {}
                }
            }
            Msg::GoTo(step) => self.go_to(step),
            Msg::Drive(event) => self.drive_event(*event),
            Msg::DrivesUnavailable(why) => self.drives_error = Some(why),
            Msg::ShowAll(all) => {
                self.show_all = all;
                self.forget_unchosen();
            }
            Msg::RequireSignature(required) => {
                let changed = required != self.require_signature;
                self.require_signature = required;
                if let Some(image) = self.image.as_ref().filter(|_| changed && !self.writing()) {
                    self.busy = Some(Busy::Reading);
                    let (input, bmap) = (image.input.clone(), image.chosen_bmap.clone());
                    return vec![Effect::Inspect(input, bmap, required)];
                }
            }
            Msg::SelectDrive(key) => return self.select(key),
            Msg::UnselectDrive(key) => self.selected.retain(|k| *k != key),
            Msg::ToggleDrive(key) if self.selected.contains(&key) => {
                self.selected.retain(|k| *k != key);
            }
            Msg::ToggleDrive(key) => return self.select(key),
            Msg::SelectAllSuitable if !self.writing() => {
                for row in self.rows().into_iter().filter(|r| r.suitable) {
                    if !self.selected.contains(&row.drive.key) {
                        self.selected.push(row.drive.key);
                    }
                }
            }
            Msg::SelectAllSuitable => {}
            Msg::SystemDriveConfirmed(key) => {
                self.confirmed_system.push(key.clone());
                return self.select(key);
            }
            Msg::Write => {
                let chosen = self.chosen();
                if self.step() != Step::Image
                    && self.image_ready()
                    && !self.writing()
                    && !chosen.is_empty()
                {
                    self.confirming = chosen.into_iter().cloned().collect();
                    return vec![Effect::ConfirmWrite(self.confirming.clone())];
                }
            }
            Msg::WriteConfirmed => return self.start(),
            Msg::Cancel if self.writing() => return vec![Effect::ConfirmCancel],
            Msg::CancelConfirmed if self.writing() => return vec![Effect::CancelJob],
            Msg::SkipVerify => {
                if self.stage() == Some(Stage::Verifying) {
                    return vec![Effect::SkipVerify];
                }
            }
            Msg::Cancel | Msg::CancelConfirmed => {}
            Msg::Job(event) => return self.job_event(event),
            Msg::WriteAnother => {
                if !self.writing() {
                    self.write = WriteState::Idle;
                    self.selected.clear();
                    self.step = Some(Step::Drive);
                }
            }
            Msg::RetryFailed => return self.retry_failed(),
        }
        vec![]
    }

    /// After a write to several drives: chooses those that failed or were stopped and may
    /// still be written, and asks to write them again.
    fn retry_failed(&mut self) -> Vec<Effect> {
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

    /// Unchooses the drives that left, or changed so they may no longer be written (while
    /// writing, the job finds out by itself).
    fn forget_unchosen(&mut self) {
        let chosen: Vec<String> = self.chosen().iter().map(|d| d.key.clone()).collect();
        self.selected.retain(|k| chosen.contains(k));
    }

    fn go_to(&mut self, step: Step) {
        if self.writing() {
            return;
        }
        match step {
            Step::Image => {
                self.write = WriteState::Idle;
                self.step = Some(Step::Image);
            }
            Step::Drive if self.image_ready() => {
                self.write = WriteState::Idle;
                self.step = Some(Step::Drive);
            }
            Step::Drive | Step::Write => {}
        }
    }

    fn select(&mut self, key: String) -> Vec<Effect> {
        let Some(row) = self.listed(&key).map(|d| self.row(d)) else {
            return vec![];
        };
        if !row.enabled || self.writing() {
            return vec![];
        }
        if !self.may_choose(&key) {
            return vec![Effect::AskSystemDrive(row.drive)];
        }
        if !self.selected.contains(&key) {
            self.selected.push(key);
        }
        vec![]
    }

    /// Whether the drive may be chosen without a question: not a system drive, or one whose
    /// name was typed.
    fn may_choose(&self, key: &str) -> bool {
        let Some(row) = self.listed(key).map(|d| self.row(d)) else {
            return false;
        };
        let system = row.guards.iter().any(|g| g.kind == GuardKind::System);
        row.enabled && (!system || self.confirmed_system.iter().any(|k| k == key))
    }

    fn start(&mut self) -> Vec<Effect> {
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
        let request = Request {
            image: image.input.clone(),
            bmap: image.usable_bmap().cloned(),
            drives: drives.clone(),
            verify: self.verify,
            power_off: self.power_off,
            skip_verify: CancelToken::new(),
        };
        self.write = WriteState::start(&drives);
        self.last = drives;
        self.step = Some(Step::Write);
        vec![Effect::Start(Box::new(request))]
    }

    fn job_event(&mut self, event: JobEvent) -> Vec<Effect> {
        if self.write.apply(event, std::time::Instant::now()) {
            vec![Effect::Ended]
        } else {
            vec![]
        }
    }

    fn drive_event(&mut self, event: DriveEvent) {
        match event {
            DriveEvent::Added(drive) | DriveEvent::Changed(drive) => {
                match self.drives.iter_mut().find(|d| d.key == drive.key) {
                    Some(known) => *known = drive,
                    None => self.drives.push(drive),
                }
            }
            DriveEvent::Removed { key } => {
                self.drives.retain(|d| d.key != key);
                self.confirmed_system.retain(|k| k != &key);
            }
            DriveEvent::Lost(why) => {
                self.drives.clear();
                self.drives_error = Some(why);
            }
        }
        if !self.writing() {
            self.forget_unchosen();
        }
    }
}

#[cfg(test)]
mod tests;
