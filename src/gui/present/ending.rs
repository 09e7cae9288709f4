//! The end of a write, on the page and in the desktop notification: for one drive its own
//! end, for several what became of each and of the whole.

use blockprint::copy::SpeedClass;
use blockprint::scan::{StreamRegion, Verdict};
use blockprint::udisks::Removal;
use gettextrs::gettext;

use crate::gui::customise::words;
use crate::gui::flow::DriveWrite;
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::job::{Outcome, Summary, Written};
use crate::gui::wording::{counterfeit_but_written, duration, size, user_error};
use crate::gui::write_line::{LineState, WriteLine};
use crate::gui::write_page::{Ending, Look};

use super::write::line;

/// What the Write page shows once the write is over: the one drive's end, or every drive's;
/// `image` is the name of the image written; `again`, whether the drive is still there to be
/// written again (a card pulled out is not: "Try Again" is not offered for it).
pub fn ending(drives: &[DriveWrite], image: &str, again: bool) -> Ending {
    match drives {
        [
            DriveWrite {
                outcome: Some(outcome),
                drive,
                ..
            },
        ] => one(outcome, &Next::new(drive, image), again),
        _ => several(drives),
    }
}

/// What a written drive is for, to say what to do with it.
pub(super) struct Next {
    /// A memory card rather than a stick or a disk.
    card: bool,
    /// The image is a Raspberry Pi system.
    pi: bool,
}

impl Next {
    /// From the drive and the image's name. Neither is certain, so the words stay true when
    /// the guess is wrong: a card reader's model names it a card; a Pi system's file names
    /// (Raspberry Pi OS, and the Pi builds of others) say "raspios", "raspberry" or "rpi".
    pub(super) fn new(drive: &blockprint::drives::Drive, image: &str) -> Self {
        let model = format!("{} {}", drive.vendor, drive.model).to_lowercase();
        let image = image.to_lowercase();
        Self {
            card: drive.bus == "sdio"
                || ["card", "sd/mmc", "reader"]
                    .iter()
                    .any(|w| model.contains(w)),
            pi: ["raspios", "raspberry", "raspbian", "rpi"]
                .iter()
                .any(|w| image.contains(w)),
        }
    }
}

/// The notification's title and body.
pub fn notification(drives: &[DriveWrite], image: &str) -> (String, String) {
    match drives {
        [
            DriveWrite {
                outcome: Some(Outcome::Cancelled { .. }),
                ..
            },
        ] => (gettext("Writing Stopped"), String::new()),
        _ => {
            let ending = ending(drives, image, false);
            (ending.title, ending.body)
        }
    }
}

/// The end of a write to one drive.
fn one(outcome: &Outcome, next: &Next, again: bool) -> Ending {
    let (title, body, look, details) = match outcome {
        Outcome::Done(summary) => (
            done_title(summary, next),
            done_body(summary, next),
            Look::Done,
            done_details(summary),
        ),
        Outcome::Cancelled { touched } => (
            gettext("Writing Stopped"),
            if *touched {
                gettext(
                    "The drive is only partly written and will not work: write it again, or \
                     format it to use it for files.",
                )
            } else {
                gettext("Nothing was written to the drive.")
            },
            Look::Stopped,
            None,
        ),
        Outcome::Failed { error, touched } => {
            let error = user_error(&**error);
            let then = if error_refused_card(outcome) {
                String::new()
            } else if *touched {
                gettext(
                    "The drive is partly written: write it again, or format it, before using it.",
                )
            } else {
                gettext("Nothing was written to the drive.")
            };
            let body = format!("{} {then}", error.body).trim_end().to_owned();
            (error.title, body, Look::Failed, Some(error.details))
        }
    };
    let image_at_fault = matches!(outcome, Outcome::Failed { error, .. } if error.image_at_fault());
    Ending {
        title,
        body,
        look,
        lines: vec![],
        details,
        retry: again && look != Look::Done && !image_at_fault && !error_refused_card(outcome),
        retry_failed: false,
        image_at_fault,
        eject: matches!(outcome, Outcome::Done(summary) if summary.removal.is_err()),
    }
}

/// The end of a write to several drives.
pub(super) fn several(drives: &[DriveWrite]) -> Ending {
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
                 format them to use them for files.",
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
            "A drive that is not written will not work: write it again, or format it, \
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
            Some(Outcome::Done(summary)) => removal_details(summary),
            _ => None,
        })
        .collect();
    Ending {
        title,
        body,
        look,
        lines: drives.iter().map(line).collect(),
        details: (!details.is_empty()).then(|| details.join("\n\n")),
        retry: false,
        retry_failed: drives.iter().any(DriveWrite::needs_retry),
        image_at_fault: drives.iter().any(
            |d| matches!(&d.outcome, Some(Outcome::Failed { error, .. }) if error.image_at_fault()),
        ),
        eject: false,
    }
}

/// The line of a drive of several, once its write is over.
pub(super) fn ended_line(name: String, outcome: &Outcome) -> WriteLine {
    let touched = |touched: bool| {
        if touched {
            gettext("Partly written.")
        } else {
            gettext("Nothing was written.")
        }
    };
    let (status, detail, state) = match outcome {
        Outcome::Done(summary) => (
            if removable(summary) {
                gettext("Safe to remove")
            } else {
                gettext("Written")
            },
            done_line(summary),
            LineState::Done,
        ),
        Outcome::Failed { error, touched: t } => (
            gettext("Failed"),
            format!("{} {}", user_error(&**error).body, touched(*t)),
            LineState::Failed,
        ),
        Outcome::Cancelled { touched: t } => (gettext("Stopped"), touched(*t), LineState::Failed),
    };
    WriteLine {
        name,
        status,
        bar: None,
        detail,
        state,
    }
}

/// Whether the drive was powered off or ejected, so it may be pulled out now.
fn removable(summary: &Summary) -> bool {
    matches!(summary.removal, Ok(Removal::PoweredOff | Removal::Ejected))
}

/// "Wrote 812 MB in 2 minutes."
fn wrote(summary: &Summary) -> String {
    gettext_f(
        // Translators: "Wrote 812 MB in 2 minutes."
        "Wrote {size} in {duration}.",
        &[
            ("size", &size(summary.written)),
            ("duration", &duration(summary.elapsed)),
        ],
    )
}

/// "Your Card Is Ready and Checked": checked only when everything was read back.
fn done_title(summary: &Summary, next: &Next) -> String {
    match (next.card, summary.read_back) {
        (true, true) => gettext("Your Card Is Ready and Checked"),
        (true, false) => gettext("Your Card Is Ready"),
        (false, true) => gettext("Your Drive Is Ready and Checked"),
        (false, false) => gettext("Your Drive Is Ready"),
    }
}

/// What to do now, whether it was checked, whether it may be pulled out; the amount and time
/// last. The ranges and checksums are for Technical Details.
fn done_body(summary: &Summary, next: &Next) -> String {
    let mut parts = Vec::new();
    if next.pi {
        parts.push(if next.card {
            gettext("Put the card in your Raspberry Pi and switch it on.")
        } else {
            gettext("Plug the drive into your Raspberry Pi and switch it on.")
        });
    }
    parts.push(if summary.read_back {
        gettext("Everything written was read back and matches the image.")
    } else if summary.skipped {
        gettext("Reading it back was skipped, so a bad card would go unnoticed.")
    } else {
        gettext("It was not read back (verification is off in Preferences).")
    });
    if summary.rewritten > 0 {
        parts.push(rewritten(summary.rewritten));
    }
    if let Some(fake) = summary.capacity.as_ref().filter(|c| !c.is_genuine()) {
        parts.push(counterfeit_but_written(fake));
    }
    if let Some(written) = &summary.first_boot {
        parts.push(settings_applied(written));
    }
    parts.extend(summary.write_speed.map(speed));
    parts.push(match &summary.removal {
        Ok(Removal::PoweredOff) => gettext("It is powered off: you can take it out now."),
        Ok(Removal::Ejected) => gettext("It is ejected: you can take it out now."),
        Ok(Removal::Nothing) => gettext("Eject it in your file manager before taking it out."),
        Err(_) => gettext("It could not be powered off: eject it before taking it out."),
    });
    parts.extend(
        summary
            .streamed
            .as_ref()
            .map(|found| found.regions.iter().map(|r| r.skipped).sum())
            .filter(|&n: &u64| n > 0)
            .map(left_out),
    );
    parts.push(wrote(summary));
    parts.join(" ")
}

/// "2.9 GB that its filesystems do not use was left out."
fn left_out(bytes: u64) -> String {
    gettext_f(
        // Translators: {size} is a size such as "2.9 GB".
        "{size} that its filesystems do not use was left out.",
        &[("size", &size(bytes))],
    )
}

/// Whether the write failed because the card was refused as counterfeit: its own words say
/// what to do (use another card), not "write it again".
fn error_refused_card(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed { error, .. } if error.card_refused())
}

/// "2 ranges did not read back the first time: they were written again and now match."
fn rewritten(n: usize) -> String {
    ngettext_f(
        "One range did not read back the first time: it was written again and now matches.",
        "{n} ranges did not read back the first time: they were written again and now match.",
        n as u64,
        &[("n", &n.to_string())],
    )
}

/// What the drive's measured write speed means: "It writes 9.2 MB per second: below the 10 MB
/// per second of Class 10, so expect a slow system."
fn speed(bytes_per_second: f64) -> String {
    let rate = size(bytes_per_second as u64);
    match SpeedClass::of(bytes_per_second) {
        SpeedClass::U3 => gettext_f(
            // Translators: {speed} is a size such as "45.2 MB".
            "It writes {speed} per second: fast enough for anything.",
            &[("speed", &rate)],
        ),
        SpeedClass::Class10 => gettext_f(
            // Translators: {speed} is a size such as "12.5 MB".
            "It writes {speed} per second: fast enough for a system.",
            &[("speed", &rate)],
        ),
        SpeedClass::Class(class) => gettext_f(
            // Translators: {speed} is a size such as "9.2 MB"; {class} a number (2, 4 or 6).
            "It writes only {speed} per second (Class {class}): below the 10 MB per second of Class 10, so expect a slow system.",
            &[("speed", &rate), ("class", &class.to_string())],
        ),
        SpeedClass::BelowClass2 => gettext_f(
            // Translators: {speed} is a size such as "1.1 MB".
            "It writes only {speed} per second, slower than any speed class: it is worn out or not what it claims to be. Use another for a system.",
            &[("speed", &rate)],
        ),
    }
}

/// For Technical Details after a write: the checksums that matched, and why the drive could
/// not be powered off.
fn done_details(summary: &Summary) -> Option<String> {
    let mut parts = Vec::new();
    if summary.ranges > 0 {
        parts.push(ngettext_f(
            "{verified} of {n} range matched its checksum.",
            "{verified} of {n} ranges matched their checksums.",
            summary.ranges as u64,
            &[
                ("verified", &summary.ranges_verified.to_string()),
                ("n", &summary.ranges.to_string()),
            ],
        ));
    }
    if let Some(written) = &summary.first_boot {
        parts.push(gettext_f(
            // Translators: "First-boot files (systemd): firstrun.sh, cmdline.txt."
            "First-boot files ({format}): {files}.",
            &[
                ("format", written.applied.format.name()),
                ("files", &written.applied.files.join(", ")),
            ],
        ));
    }
    if let Some(found) = &summary.streamed {
        parts.extend(found.regions.iter().map(region_details));
    }
    parts.extend(removal_details(summary));
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// What a region of an image without a block map held, for Technical Details: "partition 2
/// (MBR type 0x83), ext4: 2.5 GB free, 2.4 GB of it left out." (the place and the reasons are
/// the engine's words).
fn region_details(region: &StreamRegion) -> String {
    let place = &region.finding.place;
    match &region.finding.verdict {
        Verdict::Free { fs, .. } => gettext_f(
            // Translators: "partition 2 (MBR type 0x83), ext4: 2.5 GB free, 2.4 GB of it left
            // out." What is free but not left out was passed before it was proven free.
            "{place}, {fs}: {free} free, {skipped} of it left out.",
            &[
                ("place", place),
                ("fs", fs),
                ("free", &size(region.finding.free)),
                ("skipped", &size(region.skipped)),
            ],
        ),
        Verdict::MapWhole { fs, reason } => gettext_f(
            // Translators: {reason} is in English, from the scanner.
            "{place}, {fs}: written whole ({reason}).",
            &[("place", place), ("fs", fs), ("reason", reason)],
        ),
    }
}

/// "Settings applied and read back: hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home."
pub(super) fn settings_applied(written: &Written) -> String {
    gettext_f(
        // Translators: {settings} is a list such as "hostname pi-kitchen, user alex, SSH
        // keys 1, Wi-Fi Home".
        "Settings applied and read back: {settings}.",
        &[("settings", &words::summary(&written.settings.settings))],
    )
}

/// Why a written drive could not be powered off, for Technical Details: the words above say
/// only what it means (eject it by hand), not udisksd's reason.
fn removal_details(summary: &Summary) -> Option<String> {
    summary
        .removal
        .as_ref()
        .err()
        .map(|error| user_error(&**error).details)
}

/// The line of a drive of several that is written.
fn done_line(summary: &Summary) -> String {
    let mut parts = vec![wrote(summary)];
    parts.push(if summary.read_back {
        gettext("Read back and compared.")
    } else if summary.skipped {
        gettext("Reading back was skipped.")
    } else {
        gettext("Not read back.")
    });
    if summary.rewritten > 0 {
        parts.push(rewritten(summary.rewritten));
    }
    if summary.capacity.as_ref().is_some_and(|c| !c.is_genuine()) {
        parts.push(gettext("Counterfeit: holds less than it claims."));
    }
    if summary.first_boot.is_some() {
        parts.push(gettext("Settings applied and read back."));
    }
    if let Some(speed) = summary.write_speed {
        parts.push(gettext_f(
            // Translators: {speed} is a size such as "45.2 MB".
            "{speed} per second.",
            &[("speed", &size(speed as u64))],
        ));
    }
    if summary.removal.is_err() {
        parts.push(gettext(
            "Could not be powered off: eject it before removing it.",
        ));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests;
