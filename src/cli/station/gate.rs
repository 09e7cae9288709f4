//! Which drives the station writes: one that appears after it started (a stick plugged in, a
//! card put in a reader that was there already), with media, and that passes the guards.
//! Never a drive that was there with its medium when the station started, never a system
//! drive, never one larger than `--max-size`, and each medium once: a written card that stays
//! (a loop device, a reader that cannot power off) is taken again only once its medium went.

use std::collections::HashSet;

use blockprint::drives::{Context, Drive, Severity};
use blockprint::size::human;

/// What to do with a drive that appeared or changed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Write it.
    Take,
    /// Leave it, and say why (once per medium).
    Skip(String),
    /// Nothing to do or to say.
    Quiet,
}

/// The station's rules and what it has seen.
pub(super) struct Gate {
    all: bool,
    max_size: u64,
    image_size: Option<u64>,
    /// Drives whose medium was there at the start, by key.
    at_start: HashSet<String>,
    /// Drives taken (being written, or written and still there).
    taken: HashSet<String>,
    /// Drives whose skipping was said.
    told: HashSet<String>,
}

impl Gate {
    pub(super) fn new(all: bool, max_size: u64, image_size: Option<u64>) -> Self {
        Self {
            all,
            max_size,
            image_size,
            at_start: HashSet::new(),
            taken: HashSet::new(),
            told: HashSet::new(),
        }
    }

    /// A drive there when the station started: left alone while its medium stays.
    pub(super) fn was_there(&mut self, drive: &Drive) {
        if has_medium(drive) {
            self.at_start.insert(drive.key.clone());
        }
    }

    /// A drive went away: whatever comes at its place next is new.
    pub(super) fn removed(&mut self, key: &str) {
        self.at_start.remove(key);
        self.taken.remove(key);
        self.told.remove(key);
    }

    /// A drive appeared or changed.
    pub(super) fn judge(&mut self, drive: &Drive) -> Verdict {
        let key = &drive.key;
        if !has_medium(drive) {
            // A reader emptied: its next card is a new one.
            self.removed(key);
            return Verdict::Quiet;
        }
        if self.taken.contains(key) || self.at_start.contains(key) {
            return Verdict::Quiet;
        }
        let Some(reason) = self.refusal(drive) else {
            self.taken.insert(key.clone());
            return Verdict::Take;
        };
        if self.told.insert(key.clone()) {
            Verdict::Skip(reason)
        } else {
            Verdict::Quiet
        }
    }

    /// Why `drive` is not written, if it is not.
    fn refusal(&self, drive: &Drive) -> Option<String> {
        if drive.optical {
            return Some("an optical drive".into());
        }
        if !drive.is_candidate(self.all) {
            return Some(
                "not a removable drive (--all also takes internal and loop devices)".into(),
            );
        }
        if drive.read_only {
            return Some("write-protected (a lock switch, or a read-only device)".into());
        }
        if drive.size > self.max_size {
            return Some(format!(
                "larger than --max-size ({} > {})",
                human(drive.size),
                human(self.max_size)
            ));
        }
        if let Some(image) = self.image_size.filter(|&size| drive.size < size) {
            return Some(format!(
                "smaller than the image ({} < {})",
                human(drive.size),
                human(image)
            ));
        }
        let context = Context {
            image: None,
            image_size: self.image_size,
        };
        drive
            .guards(&context)
            .into_iter()
            .find(|g| g.severity == Severity::Blocked)
            .map(|g| g.reason)
    }
}

fn has_medium(drive: &Drive) -> bool {
    drive.media_available && drive.size > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stick(key: &str, size: u64) -> Drive {
        Drive {
            key: key.into(),
            device: format!("/dev/{key}").into(),
            size,
            bus: "usb".into(),
            removable: true,
            media_available: true,
            ..Drive::default()
        }
    }

    #[test]
    fn only_new_media_within_the_limits() {
        let mut gate = Gate::new(false, 64_000_000_000, Some(4_000_000_000));
        let old = stick("sdb", 32_000_000_000);
        gate.was_there(&old);
        assert_eq!(gate.judge(&old), Verdict::Quiet);
        let new = stick("sdc", 32_000_000_000);
        assert_eq!(gate.judge(&new), Verdict::Take);
        // Its partitions appearing once written change it: still the same card.
        assert_eq!(gate.judge(&new), Verdict::Quiet);
        let big = stick("sdd", 500_000_000_000);
        assert!(matches!(gate.judge(&big), Verdict::Skip(r) if r.contains("--max-size")));
        assert_eq!(gate.judge(&big), Verdict::Quiet, "said once");
        let small = stick("sde", 2_000_000_000);
        assert!(matches!(gate.judge(&small), Verdict::Skip(r) if r.contains("smaller")));
    }

    #[test]
    fn a_reader_emptied_and_filled_again_gives_a_new_card() {
        let mut gate = Gate::new(false, u64::MAX, None);
        let mut reader = stick("mmcblk0", 16_000_000_000);
        gate.was_there(&reader);
        assert_eq!(gate.judge(&reader), Verdict::Quiet);
        reader.media_available = false;
        assert_eq!(gate.judge(&reader), Verdict::Quiet);
        reader.media_available = true;
        assert_eq!(gate.judge(&reader), Verdict::Take);
    }

    #[test]
    fn loop_and_internal_drives_need_all() {
        let internal = Drive {
            removable: false,
            bus: "sata".into(),
            ..stick("sda", 32_000_000_000)
        };
        let mut gate = Gate::new(false, u64::MAX, None);
        assert!(matches!(gate.judge(&internal), Verdict::Skip(r) if r.contains("--all")));
        let mut gate = Gate::new(true, u64::MAX, None);
        assert_eq!(gate.judge(&internal), Verdict::Take);
    }
}
