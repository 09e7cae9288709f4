//! The app's state machine, without GTK: image → drive → confirm → progress → done, failed
//! or cancelled. The window component feeds it [`Msg`]s and carries out the [`Effect`]s it
//! returns (dialogs, threads, page switches), so every rule of the flow is tested here.

use std::sync::Arc;

use blockprint::bmap::Bmap;
use blockprint::drives::{Context, Drive, Guard, GuardKind, Severity};
use blockprint::progress::CancelToken;
use blockprint::source::Input;
use blockprint::udisks::DriveEvent;

use super::inspect::{BmapState, ImageInfo};
use super::job::{JobEvent, Outcome, Request, Stage};
use super::progress::Meter;

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

/// Where the write is.
#[derive(Debug, Default)]
pub enum WriteState {
    /// Not started.
    #[default]
    Idle,
    /// Running.
    Running(Meter),
    /// Over: the outcome.
    Over(Outcome),
}

/// What can happen.
#[derive(Debug)]
pub enum Msg {
    /// An image was chosen (file, drop, URL, command line).
    OpenImage(Input),
    /// A block map was chosen for the current image.
    OpenBmap(Input),
    /// The worker read the image.
    Inspected(Result<ImageInfo, String>),
    /// The worker created a block map from the filesystems.
    Scanned(Result<Bmap, String>),
    /// The user asked for a block map from the filesystems.
    ScanBmap,
    /// Go to a step (the header's back button, "Change", "Next").
    GoTo(Step),
    /// A drive appeared, changed or left; or udisksd was lost.
    Drive(DriveEvent),
    /// udisksd could not be reached at start.
    DrivesUnavailable(String),
    /// Show every drive (already confirmed) or only the usual ones.
    ShowAll(bool),
    /// The user picked a drive (by key).
    SelectDrive(String),
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
}

/// What the window must do.
#[derive(Debug)]
pub enum Effect {
    /// Read an image (and an explicitly chosen block map) on a worker.
    Inspect(Input, Option<Input>),
    /// Scan the image's filesystems on a worker.
    Scan(Input),
    /// Ask for the system drive's name to be typed.
    AskSystemDrive(Drive),
    /// Ask to confirm erasing this drive.
    ConfirmWrite(Drive),
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
    /// The chosen drive's key.
    pub selected: Option<String>,
    /// System drives whose name was typed.
    confirmed_system: Vec<String>,
    /// The write.
    pub write: WriteState,
    /// The drive of the last write started.
    last: Option<Drive>,
    /// Preferences at the time of writing.
    pub verify: bool,
    /// Power off when done.
    pub power_off: bool,
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

    /// The chosen drive, if it is still there and may be written.
    pub fn chosen(&self) -> Option<&Drive> {
        let key = self.selected.as_ref()?;
        // Only the chosen drive's guards: this runs for every action's enabled state.
        let drive = self.listed(key)?;
        self.row(drive).enabled.then_some(drive)
    }

    /// The drive with `key`, if the list shows it.
    fn listed(&self, key: &str) -> Option<&Drive> {
        self.drives
            .iter()
            .find(|d| d.key == key && d.is_candidate(self.show_all))
    }

    /// The stage on screen while writing.
    pub fn stage(&self) -> Option<Stage> {
        match &self.write {
            WriteState::Running(meter) => Some(meter.stage),
            _ => None,
        }
    }

    /// The drive of the last write started (it may have been powered off since).
    pub fn last_drive(&self) -> Option<&Drive> {
        self.last.as_ref()
    }

    /// The drive "Restore Drive" acts on: the chosen one, else the last one written if it is
    /// still there.
    pub fn restore_target(&self) -> Option<&Drive> {
        self.chosen().or_else(|| {
            let last = self.last.as_ref()?;
            self.drives.iter().find(|d| d.key == last.key)
        })
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
        RowState {
            selected: enabled && self.selected.as_ref() == Some(&drive.key),
            drive: drive.clone(),
            guards,
            enabled,
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
                return vec![Effect::Inspect(input, None)];
            }
            Msg::OpenBmap(bmap) => {
                let Some(image) = self.image.as_ref().map(|i| i.input.clone()) else {
                    return vec![];
                };
                self.busy = Some(Busy::Reading);
                return vec![Effect::Inspect(image, Some(bmap))];
            }
            Msg::Inspected(result) => {
                self.busy = None;
                match result {
                    Ok(info) => {
                        self.image = Some(info);
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
            Msg::Drive(event) => self.drive_event(event),
            Msg::DrivesUnavailable(why) => self.drives_error = Some(why),
            Msg::ShowAll(all) => {
                self.show_all = all;
                if self.chosen().is_none() {
                    self.selected = None;
                }
            }
            Msg::SelectDrive(key) => return self.select(key),
            Msg::SystemDriveConfirmed(key) => {
                self.confirmed_system.push(key.clone());
                return self.select(key);
            }
            Msg::Write => {
                if self.step() != Step::Image
                    && self.image_ready()
                    && !self.writing()
                    && let Some(drive) = self.chosen()
                {
                    return vec![Effect::ConfirmWrite(drive.clone())];
                }
            }
            Msg::WriteConfirmed => return self.start(),
            Msg::Cancel if self.writing() => return vec![Effect::ConfirmCancel],
            Msg::CancelConfirmed if self.writing() => return vec![Effect::CancelJob],
            Msg::SkipVerify => {
                if let WriteState::Running(meter) = &self.write
                    && meter.stage == Stage::Verifying
                {
                    return vec![Effect::SkipVerify];
                }
            }
            Msg::Cancel | Msg::CancelConfirmed => {}
            Msg::Job(event) => return self.job_event(event),
            Msg::WriteAnother => {
                if !self.writing() {
                    self.write = WriteState::Idle;
                    self.selected = None;
                    self.step = Some(Step::Drive);
                }
            }
        }
        vec![]
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
        let system = row.guards.iter().any(|g| g.kind == GuardKind::System);
        if system && !self.confirmed_system.contains(&key) {
            return vec![Effect::AskSystemDrive(row.drive)];
        }
        self.selected = Some(key);
        vec![]
    }

    fn start(&mut self) -> Vec<Effect> {
        let (Some(image), Some(drive)) = (self.image.as_ref(), self.chosen()) else {
            return vec![];
        };
        if self.writing() || image.blocked() {
            return vec![];
        }
        let request = Request {
            image: image.input.clone(),
            bmap: image.usable_bmap().cloned(),
            drive: drive.clone(),
            verify: self.verify,
            power_off: self.power_off,
            skip_verify: CancelToken::new(),
        };
        self.last = Some(drive.clone());
        self.write = WriteState::Running(Meter::default());
        self.step = Some(Step::Write);
        vec![Effect::Start(Box::new(request))]
    }

    fn job_event(&mut self, event: JobEvent) -> Vec<Effect> {
        let WriteState::Running(meter) = &mut self.write else {
            return vec![];
        };
        match event {
            JobEvent::Phase {
                stage,
                phase,
                total,
            } => meter.phase(stage, phase, total, std::time::Instant::now()),
            JobEvent::Progress(done) => meter.progress(done, std::time::Instant::now()),
            JobEvent::Finished(outcome) => {
                self.write = WriteState::Over(outcome);
                return vec![Effect::Ended];
            }
        }
        vec![]
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
        // A chosen drive that went away, or changed so it may no longer be written, is
        // unchosen (while writing, the job finds out by itself).
        if !self.writing() && self.chosen().is_none() {
            self.selected = None;
        }
    }
}

#[cfg(test)]
mod tests;
