//! The words for each drive of a write to several, while it is written and once it is over,
//! and for the end of such a write as a whole.

use blockprint::drives::Drive;
use gettextrs::gettext;

use crate::gui::drive_line::{DriveLine, LineState};
use crate::gui::flow::DriveWrite;
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::job::{Outcome, Summary};
use crate::gui::wording::{self, size, user_error};
use crate::gui::write_page::{Ending, Look, amount, pace};

use super::ending::{removable, wrote};

/// "SanDisk Ultra (32.0 GB, /dev/sdb)".
pub fn drive_name(drive: &Drive) -> String {
    gettext_f(
        // Translators: one drive of a list, such as "SanDisk Ultra (32.0 GB, /dev/sdb)".
        "{drive} ({size}, {device})",
        &[
            ("drive", &drive.display_name()),
            ("size", &size(drive.size)),
            ("device", &drive.device.display().to_string()),
        ],
    )
}

/// One drive's line: its stage, bar and pace while written; what became of it after.
pub fn line(written: &DriveWrite) -> DriveLine {
    let name = drive_name(&written.drive);
    if let Some(outcome) = &written.outcome {
        return ended(name, outcome);
    }
    if let Some(error) = &written.dropped {
        return DriveLine {
            name,
            status: gettext("Failed"),
            bar: None,
            detail: user_error(&**error).details,
            state: LineState::Failed,
        };
    }
    let meter = &written.meter;
    let detail = [amount(meter), pace(meter)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    DriveLine {
        name,
        status: wording::stage(meter.stage),
        bar: Some(meter.fraction()),
        detail,
        state: LineState::Running,
    }
}

fn ended(name: String, outcome: &Outcome) -> DriveLine {
    let touched = |touched: bool| {
        if touched {
            gettext("Partly written.")
        } else {
            gettext("Nothing was written.")
        }
    };
    let (status, detail, state) = match outcome {
        Outcome::Done(summary) => (removal(summary), done(summary), LineState::Done),
        Outcome::Failed { error, touched: t } => (
            gettext("Failed"),
            format!("{} {}", user_error(&**error).body, touched(*t)),
            LineState::Failed,
        ),
        Outcome::Cancelled { touched: t } => (gettext("Stopped"), touched(*t), LineState::Failed),
    };
    DriveLine {
        name,
        status,
        bar: None,
        detail,
        state,
    }
}

fn removal(summary: &Summary) -> String {
    if removable(summary) {
        gettext("Safe to remove")
    } else {
        gettext("Written")
    }
}

fn done(summary: &Summary) -> String {
    let mut parts = vec![wrote(summary)];
    parts.push(if summary.read_back {
        gettext("Read back and compared.")
    } else if summary.skipped {
        gettext("Reading back was skipped.")
    } else {
        gettext("Not read back.")
    });
    if let Err(why) = &summary.removal {
        parts.push(gettext_f(
            "Could not be powered off ({why}): eject it before removing it.",
            &[("why", why)],
        ));
    }
    parts.join(" ")
}

/// The end of a write to several drives.
pub fn several(drives: &[DriveWrite]) -> Ending {
    let n = drives.len() as u64;
    let count = |k: usize| k.to_string();
    let failed = drives
        .iter()
        .filter(|d| matches!(d.outcome, Some(Outcome::Failed { .. })))
        .count();
    let written: Vec<&Summary> = drives
        .iter()
        .filter_map(|d| match &d.outcome {
            Some(Outcome::Done(summary)) => Some(summary),
            _ => None,
        })
        .collect();
    let unwritten = drives.len() - written.len();
    let (title, body, look) = if unwritten == 0 {
        let removable = written.iter().all(|s| removable(s));
        let all = ngettext_f(
            "The drive is written.",
            "All {n} drives are written.",
            n,
            &[("n", &count(drives.len()))],
        );
        let (title, then) = if removable {
            (
                gettext("Safe to Remove"),
                gettext("They are powered off: you can remove them."),
            )
        } else {
            (
                gettext("Writing Done"),
                gettext("Eject them in your file manager before removing them."),
            )
        };
        (title, format!("{all} {then}"), Look::Done)
    } else if failed == 0 && written.is_empty() {
        (
            gettext("Writing Stopped"),
            gettext(
                "The drives are only partly written and will not work: write them again, or \
                 restore them to use them for files.",
            ),
            Look::Stopped,
        )
    } else {
        let title = ngettext_f(
            "{bad} of {n} Drive Not Written",
            "{bad} of {n} Drives Not Written",
            n,
            &[("bad", &count(unwritten)), ("n", &count(drives.len()))],
        );
        let mut body = gettext(
            "A drive that is not written will not work: write it again, or restore it, \
             before using it.",
        );
        if !written.is_empty() {
            body.push(' ');
            body.push_str(&gettext("The others are written and can be used."));
        }
        // Stopped by the user, nothing failed: a warning, not an error.
        let look = if failed > 0 {
            Look::Failed
        } else {
            Look::Stopped
        };
        (title, body, look)
    };
    let details: Vec<String> = drives
        .iter()
        .filter_map(|d| match &d.outcome {
            Some(Outcome::Failed { error, .. }) => Some(user_error(&**error).details),
            _ => None,
        })
        .collect();
    Ending::Several {
        title,
        body,
        look,
        lines: drives.iter().map(line).collect(),
        details: (!details.is_empty()).then(|| details.join("\n\n")),
        retry_failed: drives.iter().any(DriveWrite::needs_retry),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use blockprint::target::TargetError;
    use blockprint::udisks::Removal;

    use super::*;
    use crate::gui::job::JobError;
    use crate::gui::progress::Meter;

    fn written(name: &str, outcome: Outcome) -> DriveWrite {
        DriveWrite {
            drive: Drive {
                vendor: "SanDisk".into(),
                model: "Ultra".into(),
                size: 32_000_000_000,
                device: format!("/dev/{name}").into(),
                ..Drive::default()
            },
            meter: Meter::default(),
            dropped: None,
            outcome: Some(outcome),
        }
    }

    fn done(removal: Result<Removal, String>) -> Outcome {
        Outcome::Done(Summary {
            elapsed: Duration::from_secs(75),
            written: 812_000_000,
            ranges: 43,
            ranges_verified: 43,
            read_back: true,
            skipped: false,
            removal,
        })
    }

    #[test]
    fn the_end_of_several_drives_says_which_failed_and_what_to_do() {
        let failed = Outcome::Failed {
            error: Arc::new(JobError::Target(TargetError::DeviceFailed {
                op: blockprint::target::Op::Write,
                path: "/dev/sdc".into(),
                offset: Some(1 << 20),
                source: std::io::Error::from_raw_os_error(libc::EIO),
            })),
            touched: true,
        };
        let drives = [
            written("sdb", done(Ok(Removal::PoweredOff))),
            written("sdc", failed),
        ];
        let Ending::Several {
            title,
            body,
            look,
            lines,
            details,
            retry_failed,
        } = several(&drives)
        else {
            panic!("several drives end as several");
        };
        assert_eq!(title, "1 of 2 Drives Not Written");
        assert!(
            body.ends_with("The others are written and can be used."),
            "{body}"
        );
        assert_eq!((look, retry_failed), (Look::Failed, true));
        assert_eq!(lines[0].name, "SanDisk Ultra (32.0\u{a0}GB, /dev/sdb)");
        assert_eq!(
            (lines[0].status.as_str(), lines[0].state),
            ("Safe to remove", LineState::Done)
        );
        assert_eq!(
            lines[0].detail,
            "Wrote 812.0\u{a0}MB in 2 minutes. Read back and compared."
        );
        assert_eq!(lines[1].state, LineState::Failed);
        assert!(lines[1].detail.contains("worn-out or fake card"));
        assert!(lines[1].detail.ends_with("Partly written."));
        assert!(details.is_some_and(|d| d.contains("/dev/sdc")));
    }

    #[test]
    fn a_stop_after_one_drive_is_done_leaves_that_one_written_and_warns_only() {
        let drives = [
            written("sdb", done(Ok(Removal::PoweredOff))),
            written("sdc", Outcome::Cancelled { touched: true }),
        ];
        let Ending::Several {
            title,
            look,
            lines,
            retry_failed,
            ..
        } = several(&drives)
        else {
            panic!("several");
        };
        assert_eq!(title, "1 of 2 Drives Not Written");
        assert_eq!((look, retry_failed), (Look::Stopped, true));
        assert_eq!(
            (lines[1].status.as_str(), lines[1].detail.as_str()),
            ("Stopped", "Partly written.")
        );
    }

    #[test]
    fn several_drives_all_written_are_safe_to_remove_only_if_all_are() {
        let all_off = [
            written("sdb", done(Ok(Removal::PoweredOff))),
            written("sdc", done(Ok(Removal::Ejected))),
        ];
        let Ending::Several { title, body, .. } = several(&all_off) else {
            panic!("several");
        };
        assert_eq!(title, "Safe to Remove");
        assert_eq!(
            body,
            "All 2 drives are written. They are powered off: you can remove them."
        );
        let one_on = [
            written("sdb", done(Ok(Removal::PoweredOff))),
            written("sdc", done(Err("busy".into()))),
        ];
        let Ending::Several {
            title,
            lines,
            retry_failed,
            ..
        } = several(&one_on)
        else {
            panic!("several");
        };
        assert_eq!((title.as_str(), retry_failed), ("Writing Done", false));
        assert!(lines[1].detail.contains("Could not be powered off (busy)"));
    }
}
