//! "Back Up Drive…": a card saved as a small image file with its block map, only the blocks its
//! filesystems use read ([`blockprint::backup`]). Reachable from the menu at any time but while
//! writing or formatting; its question lists the drives and chooses one, a save chooser names
//! the file, a worker frees, opens and reads the drive while its page shows progress, and it
//! ends on a page of its own. While it runs nothing else starts, and the window asks before it
//! closes.
//!
//! ```text
//!  Ask ──► ChooseDrive ──► DriveChosen ──► ChooseFile ──► FileChosen ──► Start ─► Worker(…)
//!           (question)       │ changed: asked again ◄──────┘ changed          └─► Ended
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blockprint::backup::BackupError;
use blockprint::drives::{Context, Drive, GuardKind};
use blockprint::progress::Phase;
use blockprint::udisks::UdisksError;

use super::{Effect, Flow, Msg, Step};
use crate::gui::job::Stage;
use crate::gui::meter::Meter;

/// The endings a file name may have: each is saved in its own format; any other name gets
/// [`COMPRESSED`] added.
const AS_NAMED: [&str; 4] = ["zst", "xz", "gz", "img"];
/// What a name without one of [`AS_NAMED`]'s endings gets: a zstd-compressed image.
const COMPRESSED: &str = ".img.zst";
/// The longest drive name kept in a suggested file name, in characters.
const NAME_MAX: usize = 40;

/// The messages of "Back Up Drive…".
#[derive(Debug)]
pub enum BackupMsg {
    /// "Back Up Drive…" (the menu, or "Try Again"): the question.
    Ask,
    /// The question was answered with this drive, as it showed it (boxed: a drive is large).
    DriveChosen(Box<Drive>),
    /// The save chooser was answered: this drive (as the question showed it) into this file.
    FileChosen(Box<Drive>, PathBuf),
    /// The worker reports.
    Worker(BackupEvent),
    /// "Cancel" on the page: stops at once and asks nothing, since nothing is left behind.
    Cancel,
    /// The window was asked to close while backing up, and the user said to stop and quit.
    StopAndQuit,
    /// "Done" on the end page: back to where the user was.
    Done,
}

/// What the worker reports.
#[derive(Debug)]
pub enum BackupEvent {
    /// The engine began a phase: [`Phase::Mapping`] (the scan), [`Phase::Hashing`] (reading
    /// the used bytes, their total given) or [`Phase::Syncing`].
    Phase(Phase, Option<u64>),
    /// Used bytes read so far, and bytes of the file written so far (compressed).
    Progress {
        /// Of the used bytes.
        read: u64,
        /// Of the file.
        saved: u64,
    },
    /// It is over: the file saved, or why not.
    Ended(Result<BackupSummary, BackupFailure>),
}

/// What the window must do for it.
#[derive(Debug)]
pub enum BackupEffect {
    /// Ask which drive to back up, starting with `chosen`.
    ChooseDrive {
        /// The drives that may be backed up.
        drives: Vec<Drive>,
        /// The key of the one chosen to begin with.
        chosen: Option<String>,
    },
    /// Ask where to save the backup of `drive`, in `folder` (none: the home folder).
    ChooseFile {
        /// The drive, as the question showed it.
        drive: Drive,
        /// The folder of the last backup.
        folder: Option<PathBuf>,
    },
    /// Back `drive` up into `out` on a worker, suspend inhibited meanwhile.
    Start {
        /// The drive, as it is now.
        drive: Drive,
        /// The file (its format from its name).
        out: PathBuf,
    },
    /// Stop the worker.
    Cancel,
    /// Ask whether to stop backing up and quit.
    ConfirmQuit,
    /// The worker ended: allow suspend again, notify if the window is not in front.
    Ended,
}

/// What a backup made, for its end page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The image file.
    pub output: PathBuf,
    /// Its block map, beside it.
    pub bmap: PathBuf,
    /// The drive's size: the size of the image the file holds.
    pub image_size: u64,
    /// The bytes in use, those read and mapped.
    pub used_bytes: u64,
    /// The file's length.
    pub output_size: u64,
    /// Ranges in the block map.
    pub ranges: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why a backup was not saved.
#[derive(Debug, thiserror::Error)]
pub enum BackupFailure {
    /// udisksd could not free or open the drive (polkit's no among them).
    #[error(transparent)]
    Udisks(#[from] UdisksError),
    /// The descriptor udisksd handed over could not be used.
    #[error("cannot read {} through the descriptor udisksd opened", .device.display())]
    Open {
        /// The drive.
        device: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The engine failed (reading the drive, writing the file).
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The file would be on the drive being backed up, which is unmounted first.
    #[error(
        "'{}' is on {mount}, a partition of {}, which is unmounted before it is read",
        .path.display(), .device.display()
    )]
    OnTheDrive {
        /// The file chosen.
        path: PathBuf,
        /// Where that partition is mounted.
        mount: PathBuf,
        /// The drive.
        device: PathBuf,
    },
    /// Stopped before the engine began.
    #[error("cancelled; nothing was saved")]
    Cancelled,
}

impl BackupFailure {
    /// Whether it is the user's cancel, not a failure.
    pub fn cancelled(&self) -> bool {
        matches!(self, Self::Cancelled | Self::Backup(BackupError::Cancelled))
    }
}

/// A backup under way.
#[derive(Debug, Clone)]
pub struct BackupRun {
    /// The drive, as confirmed.
    pub drive: Drive,
    /// The file it goes to.
    pub out: PathBuf,
    /// The engine's phase; `None` while the drive is freed and opened.
    pub phase: Option<Phase>,
    /// The used bytes read, speed and time left.
    pub meter: Meter,
    /// Bytes of the file written so far.
    pub saved: u64,
    /// The stop was asked for and the worker has not ended yet.
    pub stopping: bool,
}

/// How a backup ended.
#[derive(Debug, Clone)]
pub enum BackupEnd {
    /// Saved.
    Saved(BackupSummary),
    /// Not saved, and why.
    Failed(Arc<BackupFailure>),
    /// The user stopped it: nothing was saved.
    Cancelled,
}

/// Where "Back Up Drive…" is.
#[derive(Debug, Default)]
pub enum BackupState {
    /// Not started (or its end was left).
    #[default]
    Idle,
    /// Under way.
    Running(Box<BackupRun>),
    /// Over: the run as it last was, and how it ended.
    Over(Box<BackupRun>, BackupEnd),
}

/// "Back Up Drive…" as the flow keeps it: where it is, and what it remembers for the next one.
#[derive(Debug, Default)]
pub struct Backup {
    /// Where it is.
    pub state: BackupState,
    /// The step it began from, where "Done" leads back.
    from: Option<Step>,
    /// The last file backed up to: the next save chooser opens in its folder.
    last_file: Option<PathBuf>,
    /// The key of the drive last backed up: the next question starts with it.
    last_drive: Option<String>,
}

impl Flow {
    /// Whether a drive is being backed up.
    pub fn backing_up(&self) -> bool {
        matches!(self.backup.state, BackupState::Running(_))
    }

    /// Whether the backup was asked to stop and is still ending.
    pub fn backup_stopping(&self) -> bool {
        matches!(&self.backup.state, BackupState::Running(run) if run.stopping)
    }

    /// The drives "Back Up Drive…" offers: those listed (all of them with *show all*) with
    /// media, but not one holding the running system, nor one whose filesystems cannot be
    /// let go of to be read whole (swap in use, RAID or LVM). A read-only card is offered:
    /// it is only read.
    pub fn backup_candidates(&self) -> Vec<&Drive> {
        self.drives
            .iter()
            .filter(|d| d.is_candidate(self.show_all) && d.size > 0)
            .filter(|d| {
                !d.guards(&Context::default()).iter().any(|g| {
                    matches!(
                        g.kind,
                        GuardKind::SystemMount { .. }
                            | GuardKind::SwapInUse { .. }
                            | GuardKind::RaidOrLvm { .. }
                    )
                })
            })
            .collect()
    }

    /// The drive the question starts with: the one chosen for writing, else the one last
    /// backed up, else the one last written, else the only one there is.
    fn backup_suggestion(&self, candidates: &[&Drive]) -> Option<String> {
        let listed = |key: &str| candidates.iter().any(|d| d.key == key);
        let chosen = self.selected.iter().find(|k| listed(k));
        let backed_up = self.backup.last_drive.as_ref().filter(|k| listed(k));
        let written = self.last.iter().map(|d| &d.key).find(|k| listed(k));
        match (chosen.or(backed_up).or(written), candidates) {
            (Some(key), _) => Some(key.clone()),
            (None, [only]) => Some(only.key.clone()),
            (None, _) => None,
        }
    }

    /// Handles a message of "Back Up Drive…".
    pub(super) fn backup_msg(&mut self, msg: BackupMsg) -> Vec<Effect> {
        match msg {
            BackupMsg::Ask => self.ask_backup(),
            BackupMsg::DriveChosen(drive) => match self.backup_drive_now(&drive) {
                Some(drive) => backup_effect(BackupEffect::ChooseFile {
                    drive,
                    folder: self
                        .backup
                        .last_file
                        .as_deref()
                        .and_then(Path::parent)
                        .map(Path::to_path_buf),
                }),
                None => self.ask_backup(),
            },
            BackupMsg::FileChosen(drive, path) => match self.backup_drive_now(&drive) {
                Some(drive) => self.start_backup(drive, &path),
                None => self.ask_backup(),
            },
            BackupMsg::Worker(event) => self.backup_event(event),
            BackupMsg::Cancel => self.stop_backup(),
            BackupMsg::StopAndQuit if self.backing_up() => {
                self.quit_when_stopped = true;
                self.stop_backup()
            }
            BackupMsg::StopAndQuit => vec![],
            BackupMsg::Done => {
                if !self.backing_up() {
                    self.backup.state = BackupState::Idle;
                    self.step = Some(self.backup.from.take().unwrap_or(Step::Image));
                }
                vec![]
            }
        }
    }

    /// While backing up: what `msg` does instead of its usual work, if it must not do that
    /// (start anything else, leave the page, close the window unasked); `None` otherwise.
    pub(super) fn while_backing_up(&mut self, msg: &Msg) -> Option<Vec<Effect>> {
        if !self.backing_up() {
            return None;
        }
        match msg {
            // Asked once: a second close while it stops is that answer already.
            Msg::CloseRequested if self.backup_stopping() => {
                self.quit_when_stopped = true;
                Some(vec![])
            }
            Msg::CloseRequested => Some(backup_effect(BackupEffect::ConfirmQuit)),
            Msg::OpenImage(_)
            | Msg::OpenBmap(_)
            | Msg::GoTo(_)
            | Msg::Back
            | Msg::Write
            | Msg::WriteConfirmed
            | Msg::WriteAnother
            | Msg::RetryFailed
            | Msg::FormatDrive
            | Msg::FormatConfirmed(_)
            | Msg::FormatDone
            | Msg::Eject => Some(vec![]),
            _ => None,
        }
    }

    /// The question with its list, unless something else runs.
    fn ask_backup(&self) -> Vec<Effect> {
        if self.writing() || self.formatting() || self.backing_up() {
            return vec![];
        }
        let candidates = self.backup_candidates();
        let chosen = self.backup_suggestion(&candidates);
        backup_effect(BackupEffect::ChooseDrive {
            drives: candidates.into_iter().cloned().collect(),
            chosen,
        })
    }

    /// The drive the user chose (as the question showed it) as it is now, if it may still be
    /// backed up and is the same drive: not another card put in its reader meanwhile. `None`
    /// also while something else runs.
    fn backup_drive_now(&self, confirmed: &Drive) -> Option<Drive> {
        if self.writing() || self.formatting() || self.backing_up() {
            return None;
        }
        self.backup_candidates()
            .into_iter()
            .find(|d| d.key == confirmed.key && confirmed.change_to(d).is_none())
            .cloned()
    }

    /// Starts backing `drive` up into the file chosen as `path` (see [`output_path`]); a file
    /// on the drive itself ends it at once, since the drive is unmounted first.
    fn start_backup(&mut self, drive: Drive, path: &Path) -> Vec<Effect> {
        let out = output_path(path);
        if self.step() != Step::Backup {
            self.backup.from = Some(self.step());
        }
        self.step = Some(Step::Backup);
        let mut run = Box::new(BackupRun {
            drive: drive.clone(),
            out: out.clone(),
            phase: None,
            meter: Meter::default(),
            saved: 0,
            stopping: false,
        });
        let on_drive = drive
            .volumes
            .iter()
            .flat_map(|v| &v.mount_points)
            .find(|m| out.starts_with(m));
        if let Some(mount) = on_drive.cloned() {
            let failure = BackupFailure::OnTheDrive {
                path: out,
                mount,
                device: drive.device.clone(),
            };
            self.backup.state = BackupState::Over(run, BackupEnd::Failed(Arc::new(failure)));
            return vec![];
        }
        run.meter
            .phase(Stage::Preparing, None, None, Instant::now());
        self.backup.state = BackupState::Running(run);
        self.backup.last_drive = Some(drive.key.clone());
        self.backup.last_file = Some(out.clone());
        backup_effect(BackupEffect::Start { drive, out })
    }

    fn stop_backup(&mut self) -> Vec<Effect> {
        match &mut self.backup.state {
            BackupState::Running(run) if !run.stopping => {
                run.stopping = true;
                backup_effect(BackupEffect::Cancel)
            }
            _ => vec![],
        }
    }

    fn backup_event(&mut self, event: BackupEvent) -> Vec<Effect> {
        let BackupState::Running(run) = &mut self.backup.state else {
            return vec![];
        };
        let now = Instant::now();
        match event {
            BackupEvent::Phase(phase, total) => {
                let stage = match phase {
                    Phase::Mapping => Stage::Preparing,
                    Phase::Hashing => Stage::Writing,
                    _ => Stage::Finishing,
                };
                run.phase = Some(phase);
                run.meter.phase(stage, Some(phase), total, now);
                vec![]
            }
            BackupEvent::Progress { read, saved } => {
                run.meter.progress(read, now);
                run.saved = saved;
                vec![]
            }
            BackupEvent::Ended(result) => {
                let BackupState::Running(run) = std::mem::take(&mut self.backup.state) else {
                    return vec![];
                };
                let end = match result {
                    Ok(summary) => BackupEnd::Saved(summary),
                    Err(e) if e.cancelled() => BackupEnd::Cancelled,
                    Err(e) => BackupEnd::Failed(Arc::new(e)),
                };
                self.backup.state = BackupState::Over(run, end);
                let mut effects = backup_effect(BackupEffect::Ended);
                if std::mem::take(&mut self.quit_when_stopped) {
                    effects.push(Effect::Close);
                }
                effects
            }
        }
    }
}

fn backup_effect(effect: BackupEffect) -> Vec<Effect> {
    vec![Effect::Backup(effect)]
}

/// The file a backup chosen as `path` is saved to: as named when the name ends in `.zst`,
/// `.xz`, `.gz` (compressed so) or `.img` (not compressed, sparse); any other name gets
/// `.img.zst` added.
pub fn output_path(path: &Path) -> PathBuf {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ending) if AS_NAMED.contains(&ending) => path.to_path_buf(),
        _ => {
            let mut name = path.as_os_str().to_os_string();
            name.push(COMPRESSED);
            PathBuf::from(name)
        }
    }
}

/// The file name the save chooser suggests: the drive's vendor and model (else the label of
/// its first partition that has one, else "drive") in characters safe in any file system,
/// `date` (`2025-05-01`), and `.img.zst`.
pub fn suggested_name(drive: &Drive, date: &str) -> String {
    let model = format!("{} {}", drive.vendor.trim(), drive.model.trim());
    let label = drive
        .volumes
        .iter()
        .map(|v| v.label.trim())
        .find(|l| !l.is_empty());
    let name = [model.as_str(), label.unwrap_or_default()]
        .into_iter()
        .map(safe)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "drive".to_owned());
    format!("{name}-{date}{COMPRESSED}")
}

/// `text` with every run of characters other than letters (of any script: every file system
/// a card is formatted with takes them), digits, `_` and `.` made one `-`, none at either
/// end, and at most [`NAME_MAX`] characters.
fn safe(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.chars().take(NAME_MAX).collect();
    out.trim_matches(['-', '.']).to_owned()
}
