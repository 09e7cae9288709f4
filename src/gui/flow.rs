//! The app's state machine, without GTK: image → drives → confirm → progress → done, failed
//! or cancelled, for one drive or several at once. The window feeds it [`Msg`]s and carries
//! out the [`Effect`]s it returns (dialogs, threads, page switches, saved preferences), so
//! every rule of the app is here and tested; what the pages show follows from it alone
//! (`present`).

use blockprint::bmap::Bmap;
use blockprint::drives::Drive;
use blockprint::firstboot::{FirstBootError, Format, Settings, Unsupported};
use blockprint::source::Input;
use blockprint::udisks::{DriveEvent, UdisksError};

use super::inspect::{ImageInfo, InspectError};
use super::job::{JobEvent, Request, Stage};

mod backup;
mod drives;
mod format;
mod image;
mod writing;

pub use backup::{
    Backup, BackupEffect, BackupEnd, BackupEvent, BackupFailure, BackupMsg, BackupRun, BackupState,
    BackupSummary, output_path, suggested_name,
};
pub use drives::{DrivesError, RowState};
pub use format::FormatState;
pub use writing::{DriveWrite, Prefs, WriteState};

/// The three steps, and formatting a drive beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Choose the image.
    Image,
    /// Choose the drive.
    Drive,
    /// Write it.
    Write,
    /// "Format Drive…": its progress and its end.
    Format,
    /// "Choose OS…": an image from a catalog, instead of a file (step 1 too).
    Catalog,
    /// "Back Up Drive…": its progress and its end.
    Backup,
}

/// What can happen.
#[derive(Debug)]
pub enum Msg {
    /// An image was chosen (file, drop, URL, command line).
    OpenImage(Input),
    /// A block map was chosen for the current image.
    OpenBmap(Input),
    /// The worker read the image.
    Inspected(Result<Box<ImageInfo>, InspectError>),
    /// The worker created a block map from this image's filesystems, or could not.
    Scanned(Input, Result<Bmap, InspectError>),
    /// Make a block map from the open image's filesystems (a raw local file, as soon as it
    /// is open).
    ScanBmap,
    /// The user stopped the scan: the filesystems are read as the image is written instead.
    CancelScan,
    /// *Write Everything*: every byte of the image, not only what its filesystems use (an
    /// image without a block map of its own).
    WriteEverything(bool),
    /// Go to a step ("Change", "Next", "Start Over").
    GoTo(Step),
    /// The header's back button.
    Back,
    /// A drive appeared, changed or left; or udisksd was lost (boxed: a drive's description
    /// is large, the other messages are small).
    Drive(Box<DriveEvent>),
    /// udisksd could not be reached at start.
    DrivesUnavailable(UdisksError),
    /// The switch or the action asks to show every drive (which is confirmed first) or only
    /// the usual ones.
    AskShowAll(bool),
    /// The `show-all-drives` action: asks for the other of the two.
    ToggleShowAll,
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
    /// The cancel confirmation was accepted; with `quit`, the window closes once stopped.
    CancelConfirmed {
        /// Asked because the window was being closed.
        quit: bool,
    },
    /// "Skip Verification" pressed while reading back.
    SkipVerify,
    /// An event from the write job.
    Job(JobEvent),
    /// "Write Another Drive": same image, back to the drive list.
    WriteAnother,
    /// "Retry Failed Drives": those that failed or were stopped, and are still there, again.
    RetryFailed,
    /// The preferences, at start and whenever one changes. A change of "only signed images"
    /// judges the open image again.
    Prefs(Prefs),
    /// The window is asked to close (its close button, Ctrl+Q).
    CloseRequested,
    /// "Format Drive…".
    FormatDrive,
    /// The format question was accepted for this drive, as it showed it (boxed: a drive's
    /// description is large).
    FormatConfirmed(Box<Drive>),
    /// The worker formatted the drive, or could not.
    Formatted(Result<(), UdisksError>),
    /// "Done" on the format's end page.
    FormatDone,
    /// "Eject" after a write whose drive could not be powered off.
    Eject,
    /// The worker unmounted and powered off (or ejected) the drive, or could not.
    Ejected(Result<blockprint::udisks::Removal, UdisksError>),
    /// *Use Settings* in the First-Boot Settings window: the settings for the next writes
    /// (`None`: none). Boxed: the settings are large, the other messages small.
    FirstBoot(Option<Box<FirstBootChoice>>),
    /// The worker looked inside this image for its first-boot mechanism: the one found, or
    /// why there is none (the engine's words).
    FirstBootDetected(Input, Result<Format, Unsettable>),
    /// "Back Up Drive…": the question, the file chooser, the worker, the page (flow/backup.rs).
    Backup(BackupMsg),
}

/// What the window must do.
#[derive(Debug)]
pub enum Effect {
    /// Read an image (and an explicitly chosen block map) on a worker; with `true`, an
    /// unsigned block map is refused.
    Inspect(Input, Option<Input>, bool),
    /// Scan the image's filesystems on a worker.
    Scan(Input),
    /// Stop the scan under way.
    CancelScan,
    /// Ask whether to list every drive, system drives too.
    ConfirmShowAll,
    /// Remember in the preferences whether every drive is listed.
    SaveShowAll(bool),
    /// Ask for the system drive's name to be typed.
    AskSystemDrive(Drive),
    /// Ask to confirm erasing these drives.
    ConfirmWrite(Vec<Drive>),
    /// Start the job.
    Start(Box<Request>),
    /// Ask whether to stop writing; with `quit`, whether to stop and quit.
    ConfirmCancel {
        /// The window is being closed.
        quit: bool,
    },
    /// Stop the job.
    CancelJob,
    /// Skip the rest of the read-back.
    SkipVerify,
    /// The job ended: uninhibit suspend, notify if unfocused.
    Ended,
    /// Close the window.
    Close,
    /// Ask which drive to format, starting with `chosen`.
    ChooseFormat {
        /// The drives that may be formatted.
        drives: Vec<Drive>,
        /// The key of the one chosen to begin with.
        chosen: Option<String>,
    },
    /// Format this drive on a worker.
    Format(Drive),
    /// Unmount what the desktop mounted on this written drive, then power it off.
    Eject(Drive),
    /// Look inside this image (a plain file here) for its first-boot mechanism on a worker.
    DetectFirstBoot(Input),
    /// "Back Up Drive…": its questions, its worker and its end.
    Backup(BackupEffect),
}

/// The first-boot settings chosen for the next writes, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstBootChoice {
    /// The settings (the password only as its hash).
    pub settings: Settings,
    /// The profile they were loaded from or saved as, if any.
    pub profile: Option<String>,
    /// Whether a profile saved from them keeps the Wi-Fi password.
    pub remember: bool,
}

/// Why an image takes no first-boot settings: what the engine found (for the image page's
/// words) and its own message (for the tooltip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettable {
    /// What was found, when it was a verdict rather than a failure to look.
    pub why: Option<Unsupported>,
    /// The engine's message.
    pub details: String,
}

impl From<FirstBootError> for Unsettable {
    fn from(error: FirstBootError) -> Self {
        let details = error.to_string();
        let why = match error {
            FirstBootError::NoMechanism { why } => Some(why),
            _ => None,
        };
        Self { why, details }
    }
}

/// What the open image does at first boot, as far as can be known before it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FirstBootSupport {
    /// No image is open.
    #[default]
    Unknown,
    /// Its catalog entry names the mechanism (`init_format`).
    Declared(Format),
    /// Its files are being looked at.
    Detecting,
    /// Its boot partition holds this mechanism.
    Found(Format),
    /// It has none Blockprint knows: settings cannot be written to it.
    Missing(Unsettable),
    /// Compressed or remote: the written card is looked at instead.
    AfterWriting,
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
    pub image_error: Option<InspectError>,
    /// The image being read, until its answer comes.
    reading: Option<Input>,
    /// Why its filesystems could not be scanned (the whole image is written then).
    pub scan_error: Option<InspectError>,
    /// Every drive udisksd knows, in arrival order.
    pub drives: Vec<Drive>,
    /// Why there is no drive list at all.
    pub drives_error: Option<DrivesError>,
    /// Show all drives, not only removable ones.
    pub show_all: bool,
    /// Write every byte of the open image (*Write Everything*), not what its filesystems use.
    pub write_everything: bool,
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
    /// Read back and compare after writing (the preferences change only by [`Msg::Prefs`]).
    verify: bool,
    /// Find out how much each drive really holds first.
    check_capacity: bool,
    /// Power off when done.
    power_off: bool,
    /// Only images whose block map is signed by a trusted key.
    require_signature: bool,
    /// The stop was asked for and the job has not ended yet.
    stopping: bool,
    /// Close the window once the job has ended.
    quit_when_stopped: bool,
    /// The drive step may still choose the only suitable drive by itself: from entering it
    /// until the user chooses or unchooses a drive.
    preselect: bool,
    /// "Format Drive…".
    pub format: FormatState,
    /// "Back Up Drive…".
    pub backup: Backup,
    /// The first-boot settings for the next writes.
    pub first_boot: Option<FirstBootChoice>,
    /// What the open image does with them.
    pub first_boot_support: FirstBootSupport,
    /// The last write left the settings out: the image has no mechanism for them.
    pub first_boot_left_out: bool,
}

/// What a worker is doing for the Image step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Reading the image and its block map.
    Reading,
    /// Scanning its filesystems.
    Scanning,
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

    /// Whether the job was asked to stop and is still ending.
    pub fn stopping(&self) -> bool {
        self.writing() && self.stopping
    }

    /// Whether writes are read back and compared.
    pub fn verify(&self) -> bool {
        self.verify
    }

    /// The stage on screen while writing (the least advanced drive's).
    pub fn stage(&self) -> Option<Stage> {
        self.write.stage()
    }

    /// The drives of the last write started (they may have been powered off since).
    pub fn last_drives(&self) -> &[Drive] {
        &self.last
    }

    /// Handles one message; returns what the window must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        if let Some(effects) = self.while_backing_up(&msg) {
            return effects;
        }
        match msg {
            Msg::OpenImage(input) => {
                if self.writing() || self.formatting() {
                    return vec![];
                }
                let mut effects = self.stop_scan();
                self.busy = Some(Busy::Reading);
                self.image_error = None;
                self.write_everything = false;
                self.step = Some(Step::Image);
                self.reading = Some(input.clone());
                effects.push(Effect::Inspect(input, None, self.require_signature));
                return effects;
            }
            Msg::OpenBmap(bmap) => {
                let Some(image) = self.image.as_ref().map(|i| i.input.clone()) else {
                    return vec![];
                };
                self.busy = Some(Busy::Reading);
                self.reading = Some(image.clone());
                return vec![Effect::Inspect(image, Some(bmap), self.require_signature)];
            }
            Msg::Inspected(result) => {
                self.busy = None;
                self.scan_error = None;
                match result {
                    Ok(info) => {
                        let scan = info.scan_by_itself();
                        let mut effects: Vec<Effect> =
                            self.first_boot_support_of(&info).into_iter().collect();
                        self.image = Some(*info);
                        self.image_error = None;
                        if scan {
                            effects.extend(self.update(Msg::ScanBmap));
                            return effects;
                        }
                        self.reading = None;
                        return effects;
                    }
                    Err(e) => {
                        // Another image that cannot be read leaves the one open before (review
                        // finding 15); the same one read again (another block map, "only
                        // signed images") is judged anew, so it goes.
                        let other = self.reading.as_ref() != self.image.as_ref().map(|i| &i.input);
                        if !other {
                            self.image = None;
                            self.first_boot_support = FirstBootSupport::Unknown;
                        }
                        self.image_error = Some(e);
                    }
                }
                self.reading = None;
            }
            Msg::ScanBmap => {
                if let Some(image) = self.image.as_ref().filter(|_| self.busy.is_none()) {
                    self.busy = Some(Busy::Scanning);
                    self.scan_error = None;
                    return vec![Effect::Scan(image.input.clone())];
                }
            }
            Msg::CancelScan => return self.stop_scan(),
            Msg::WriteEverything(on) => {
                if !self.writing() {
                    self.write_everything = on;
                }
            }
            Msg::Scanned(input, result) => self.scanned(&input, result),
            Msg::GoTo(step) => self.go_to(step),
            // Back from either later step is the image: after a write, "Write Another Drive"
            // is the way to the drive list.
            Msg::Back => self.go_to(Step::Image),
            Msg::Drive(event) => self.drive_event(*event),
            Msg::DrivesUnavailable(why) => self.drives_error = Some(why.into()),
            Msg::AskShowAll(true) if !self.show_all => return vec![Effect::ConfirmShowAll],
            Msg::AskShowAll(all) => return self.update(Msg::ShowAll(all)),
            Msg::ToggleShowAll => return self.update(Msg::AskShowAll(!self.show_all)),
            Msg::ShowAll(all) => {
                self.show_all = all;
                self.forget_unchosen();
                self.preselect_only_suitable();
                return vec![Effect::SaveShowAll(all)];
            }
            Msg::Prefs(prefs) => {
                self.verify = prefs.verify;
                self.check_capacity = prefs.check_capacity;
                self.power_off = prefs.power_off;
                return self.require_signature(prefs.require_signature);
            }
            Msg::SelectDrive(key) => return self.select(key),
            Msg::UnselectDrive(key) => self.unselect(&key),
            Msg::ToggleDrive(key) if self.selected.contains(&key) => self.unselect(&key),
            Msg::ToggleDrive(key) => return self.select(key),
            Msg::SelectAllSuitable if !self.writing() => self.select_all_suitable(),
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
            Msg::Cancel if self.writing() && !self.stopping => {
                return vec![Effect::ConfirmCancel { quit: false }];
            }
            Msg::CancelConfirmed { quit } if self.writing() => {
                self.quit_when_stopped |= quit;
                if !self.stopping {
                    self.stopping = true;
                    return vec![Effect::CancelJob];
                }
            }
            Msg::SkipVerify => {
                if self.stage() == Some(Stage::Verifying) {
                    return vec![Effect::SkipVerify];
                }
            }
            Msg::Cancel | Msg::CancelConfirmed { .. } => {}
            Msg::Job(event) => return self.job_event(event),
            Msg::WriteAnother => {
                if !self.writing() {
                    self.write = WriteState::Idle;
                    self.selected.clear();
                    self.step = Some(Step::Drive);
                    self.preselect = true;
                    self.preselect_only_suitable();
                }
            }
            Msg::RetryFailed => return self.retry_failed(),
            // Closed again while stopping: that was the answer already; quit once stopped.
            // While formatting (seconds): quit once it is done.
            Msg::CloseRequested if self.stopping() || self.formatting() => {
                self.quit_when_stopped = true;
            }
            Msg::CloseRequested if self.writing() => {
                return vec![Effect::ConfirmCancel { quit: true }];
            }
            Msg::CloseRequested => return vec![Effect::Close],
            Msg::FormatDrive => return self.ask_format(),
            Msg::Backup(msg) => return self.backup_msg(msg),
            Msg::FormatConfirmed(drive) => return self.format(&drive),
            Msg::Formatted(result) => return self.formatted(result),
            Msg::Eject => return self.eject(),
            Msg::Ejected(result) => self.ejected(result),
            Msg::FormatDone => {
                if !self.formatting() {
                    self.format = FormatState::Idle;
                    self.go_to(Step::Image);
                }
            }
            Msg::FirstBoot(choice) => {
                if !self.writing() {
                    self.first_boot = choice.map(|c| *c);
                }
            }
            Msg::FirstBootDetected(input, result) => {
                let current = self.image.as_ref().is_some_and(|i| i.input == input);
                if current && self.first_boot_support == FirstBootSupport::Detecting {
                    self.first_boot_support = match result {
                        Ok(format) => FirstBootSupport::Found(format),
                        Err(why) => FirstBootSupport::Missing(why),
                    };
                }
            }
        }
        vec![]
    }

    /// Works out what the image just read does at first boot: its catalog entry's word, or a
    /// look inside a plain file here (the effect returned), or the card's after writing. The
    /// same image read again (another block map, a preference) keeps what was found.
    fn first_boot_support_of(&mut self, info: &ImageInfo) -> Option<Effect> {
        let same = self.image.as_ref().is_some_and(|i| i.input == info.input);
        if same && self.first_boot_support != FirstBootSupport::Unknown {
            return None;
        }
        let declared = match &info.input {
            Input::Catalog(chosen) => chosen
                .image
                .init_format
                .as_deref()
                .and_then(Format::from_init_format),
            _ => None,
        };
        if let Some(format) = declared {
            self.first_boot_support = FirstBootSupport::Declared(format);
            return None;
        }
        if info.layers.is_empty() && info.input.as_path().is_some() {
            self.first_boot_support = FirstBootSupport::Detecting;
            return Some(Effect::DetectFirstBoot(info.input.clone()));
        }
        self.first_boot_support = FirstBootSupport::AfterWriting;
        None
    }

    /// Whether *Customise…* may be used now: an image is open that is not known to lack a
    /// first-boot mechanism, and nothing is being written.
    pub fn may_customise(&self) -> bool {
        self.image.is_some()
            && !self.writing()
            && !matches!(self.first_boot_support, FirstBootSupport::Missing(_))
    }

    fn go_to(&mut self, step: Step) {
        if self.writing() || self.formatting() {
            return;
        }
        self.format = FormatState::Idle;
        self.backup.state = BackupState::Idle;
        match step {
            Step::Image => {
                self.write = WriteState::Idle;
                self.step = Some(Step::Image);
            }
            Step::Drive if self.image_ready() => {
                self.write = WriteState::Idle;
                self.step = Some(Step::Drive);
                self.preselect = true;
                self.preselect_only_suitable();
            }
            Step::Catalog => self.step = Some(Step::Catalog),
            Step::Drive | Step::Write | Step::Format | Step::Backup => {}
        }
    }
}

#[cfg(test)]
mod tests;
