//! "Format Drive…": a drive made empty again (one FAT partition over all of it, usable on any
//! computer), after a write or when a card shows only a few megabytes. Reachable from the menu
//! at any time but while writing; its question lists the drives and chooses one; it runs on a
//! worker while its page shows progress, and ends on a page of its own.

use std::sync::Arc;

use blockprint::drives::{Context, Drive, GuardKind, Severity};
use blockprint::udisks::UdisksError;

use super::{Effect, Flow, Step};

/// Where formatting is.
#[derive(Debug, Default)]
pub enum FormatState {
    /// Not started (or its end was left).
    #[default]
    Idle,
    /// Under way on this drive.
    Running(Drive),
    /// Over: the drive, and how it went.
    Over(Drive, Result<(), Arc<UdisksError>>),
}

impl Flow {
    /// Whether a drive is being formatted.
    pub fn formatting(&self) -> bool {
        matches!(self.format, FormatState::Running(_))
    }

    /// The drives "Format Drive…" offers: those listed, which nothing forbids writing (not
    /// mounted with the system, not read-only) and which need no question (a system drive
    /// only once its name was typed). The image does not matter here.
    pub fn format_candidates(&self) -> Vec<&Drive> {
        let context = Context {
            image: None,
            image_size: None,
        };
        self.drives
            .iter()
            .filter(|d| d.is_candidate(self.show_all) && d.size > 0)
            .filter(|d| {
                d.guards(&context).iter().all(|g| {
                    g.severity != Severity::Blocked
                        && (g.kind != GuardKind::System || self.confirmed_system.contains(&d.key))
                })
            })
            .collect()
    }

    /// The drive the question starts with: the one chosen, else the one last written, else
    /// the only one there is.
    fn format_suggestion(&self, candidates: &[&Drive]) -> Option<String> {
        let listed = |key: &str| candidates.iter().any(|d| d.key == key);
        let chosen = self.selected.iter().find(|k| listed(k));
        let last = self.last.iter().map(|d| &d.key).find(|k| listed(k));
        match (chosen.or(last), candidates) {
            (Some(key), _) => Some(key.clone()),
            (None, [only]) => Some(only.key.clone()),
            (None, _) => None,
        }
    }

    /// "Format Drive…": the question with its list.
    pub(super) fn ask_format(&self) -> Vec<Effect> {
        if self.writing() || self.formatting() {
            return vec![];
        }
        let candidates = self.format_candidates();
        let chosen = self.format_suggestion(&candidates);
        vec![Effect::ChooseFormat {
            drives: candidates.into_iter().cloned().collect(),
            chosen,
        }]
    }

    /// The user chose `confirmed` (as the question showed it) and accepted: formatted only if
    /// it is still there and the same drive, else asked again.
    pub(super) fn format(&mut self, confirmed: &Drive) -> Vec<Effect> {
        if self.writing() || self.formatting() {
            return vec![];
        }
        let now = self
            .format_candidates()
            .into_iter()
            .find(|d| d.key == confirmed.key && confirmed.change_to(d).is_none())
            .cloned();
        let Some(drive) = now else {
            return self.ask_format();
        };
        self.format = FormatState::Running(drive.clone());
        self.selected.retain(|k| *k != drive.key);
        self.step = Some(Step::Format);
        vec![Effect::Format(drive)]
    }

    /// The worker's answer.
    pub(super) fn formatted(&mut self, result: Result<(), UdisksError>) -> Vec<Effect> {
        let FormatState::Running(drive) = std::mem::take(&mut self.format) else {
            return vec![];
        };
        self.format = FormatState::Over(drive, result.map_err(Arc::new));
        if std::mem::take(&mut self.quit_when_stopped) {
            vec![Effect::Close]
        } else {
            vec![]
        }
    }
}
