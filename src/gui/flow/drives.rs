//! The drive list as the flow keeps it: what udisksd reports, which drives may be chosen and
//! why not, the choice itself (a system drive only once its name was typed), and why there may
//! be no list at all.

use blockprint::drives::{Context, Drive, Guard, GuardKind, Severity};
use blockprint::udisks::{DriveEvent, UdisksError};

use super::{Effect, Flow};

/// Why there is no drive list.
#[derive(Debug, thiserror::Error)]
pub enum DrivesError {
    /// udisksd could not be reached at start.
    #[error(transparent)]
    Unavailable(#[from] UdisksError),
    /// udisksd stopped answering.
    #[error("lost udisksd: {0}")]
    Lost(String),
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
    /// The chosen drives still there that may be written, in the list's order.
    pub fn chosen(&self) -> Vec<&Drive> {
        // Only the chosen drives' guards: this runs for every action's enabled state.
        self.drives
            .iter()
            .filter(|d| self.selected.contains(&d.key) && d.is_candidate(self.show_all))
            .filter(|d| self.row(d).enabled)
            .collect()
    }

    /// The key of the drive known by `name`, its key or its device path (as the
    /// `select-drive` action takes it).
    pub fn drive_key(&self, name: &str) -> Option<&str> {
        self.drives
            .iter()
            .find(|d| d.key == name || d.device == std::path::Path::new(name))
            .map(|d| d.key.as_str())
    }

    /// The drive with `key`, if the list shows it.
    fn listed(&self, key: &str) -> Option<&Drive> {
        self.drives
            .iter()
            .find(|d| d.key == key && d.is_candidate(self.show_all))
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

    /// Unchooses the drives that left, or changed so they may no longer be written (while
    /// writing, the job finds out by itself).
    pub(super) fn forget_unchosen(&mut self) {
        let chosen: Vec<String> = self.chosen().iter().map(|d| d.key.clone()).collect();
        self.selected.retain(|k| chosen.contains(k));
    }

    /// Every removable drive that may be written without a question, added to those chosen.
    pub(super) fn select_all_suitable(&mut self) {
        for row in self.rows().into_iter().filter(|r| r.suitable) {
            if !self.selected.contains(&row.drive.key) {
                self.selected.push(row.drive.key);
            }
        }
    }

    /// On the drive step, with nothing chosen and the user not having chosen yet: the only
    /// suitable drive (removable, no question to ask) is chosen for them, as one card in one
    /// reader is the common case. Not the drive just written: "Write Another Drive" waits
    /// for the next card.
    pub(super) fn preselect_only_suitable(&mut self) {
        if !self.preselect
            || self.step() != super::Step::Drive
            || self.writing()
            || !self.selected.is_empty()
        {
            return;
        }
        let rows = self.rows();
        let mut suitable = rows.iter().filter(|r| r.suitable);
        if let (Some(only), None) = (suitable.next(), suitable.next())
            && !self.last.iter().any(|d| d.key == only.drive.key)
        {
            self.selected.push(only.drive.key.clone());
        }
    }

    /// The user took a drive out of those chosen: nothing is chosen for them from now on.
    pub(super) fn unselect(&mut self, key: &str) {
        self.preselect = false;
        self.selected.retain(|k| k != key);
    }

    pub(super) fn select(&mut self, key: String) -> Vec<Effect> {
        self.preselect = false;
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
    pub(super) fn may_choose(&self, key: &str) -> bool {
        let Some(row) = self.listed(key).map(|d| self.row(d)) else {
            return false;
        };
        let system = row.guards.iter().any(|g| g.kind == GuardKind::System);
        row.enabled && (!system || self.confirmed_system.iter().any(|k| k == key))
    }

    pub(super) fn drive_event(&mut self, event: DriveEvent) {
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
                self.drives_error = Some(DrivesError::Lost(why));
            }
        }
        if !self.writing() {
            self.forget_unchosen();
            self.preselect_only_suitable();
        }
    }
}
