//! The words for the end of a write, on the page and in the desktop notification.

use blockprint::udisks::Removal;
use gettextrs::gettext;

use crate::gui::flow::DriveWrite;
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::inspect::ImageInfo;
use crate::gui::job::{Outcome, Summary};
use crate::gui::wording::{duration, size, user_error};
use crate::gui::write_page::Ending;

/// What the Write page shows once the write is over: the one drive's end, or every drive's.
pub fn ending(drives: &[DriveWrite]) -> Ending {
    match drives {
        [
            DriveWrite {
                outcome: Some(outcome),
                ..
            },
        ] => one(outcome),
        _ => super::lines::several(drives),
    }
}

/// The end of a write to one drive.
fn one(outcome: &Outcome) -> Ending {
    match outcome {
        Outcome::Done(summary) => Ending::Done {
            title: done_title(summary),
            body: done_body(summary),
        },
        Outcome::Cancelled { touched } => Ending::Cancelled { touched: *touched },
        Outcome::Failed { error, touched } => {
            let mut error = user_error(&**error);
            error.body.push(' ');
            error.body.push_str(&if *touched {
                gettext(
                    "The drive is partly written: write it again, or restore it, before using it.",
                )
            } else {
                gettext("Nothing was written to the drive.")
            });
            Ending::Failed(error)
        }
    }
}

/// The notification's title and body.
pub fn notification(drives: &[DriveWrite]) -> (String, String) {
    match ending(drives) {
        Ending::Done { title, body } | Ending::Several { title, body, .. } => (title, body),
        Ending::Failed(e) => (e.title, e.body),
        Ending::Cancelled { .. } => (gettext("Writing Stopped"), String::new()),
    }
}

/// Whether the drive was powered off or ejected, so it may be pulled out now.
pub(super) fn removable(summary: &Summary) -> bool {
    matches!(summary.removal, Ok(Removal::PoweredOff | Removal::Ejected))
}

/// "Wrote 812 MB in 2 minutes."
pub(super) fn wrote(summary: &Summary) -> String {
    gettext_f(
        // Translators: "Wrote 812 MB in 2 minutes."
        "Wrote {size} in {duration}.",
        &[
            ("size", &size(summary.written)),
            ("duration", &duration(summary.elapsed)),
        ],
    )
}

fn done_title(summary: &Summary) -> String {
    if removable(summary) {
        gettext("Safe to Remove")
    } else {
        gettext("Writing Done")
    }
}

fn done_body(summary: &Summary) -> String {
    let mut parts = vec![wrote(summary)];
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
    parts.push(if summary.read_back {
        gettext("Everything was read back from the drive and compared.")
    } else if summary.skipped {
        gettext("Reading back from the drive was skipped, so a bad card would go unnoticed.")
    } else {
        gettext("The drive was not read back (verification is off in Preferences).")
    });
    parts.push(match &summary.removal {
        Ok(Removal::PoweredOff) => gettext("The drive is powered off: you can remove it."),
        Ok(Removal::Ejected) => gettext("The drive is ejected: you can remove it."),
        Ok(Removal::Nothing) => gettext("Eject the drive in your file manager before removing it."),
        Err(why) => gettext_f(
            "The drive could not be powered off ({why}): eject it in your file manager before \
             removing it.",
            &[("why", why)],
        ),
    });
    parts.join(" ")
}

/// "812 MB of 3.7 GB will be written" or "The whole image (3.7 GB) will be written".
pub fn bytes_line(image: &ImageInfo) -> String {
    match (image.usable_bmap(), image.image_size) {
        (Some(bmap), _) => gettext_f(
            "{mapped} of {size} will be written",
            &[
                ("mapped", &size(bmap.mapped_bytes())),
                ("size", &size(bmap.image_size())),
            ],
        ),
        (None, Some(full)) => gettext_f(
            "The whole image ({size}) will be written",
            &[("size", &size(full))],
        ),
        (None, None) => gettext("The whole image will be written"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_finished_write_says_what_was_checked_and_whether_the_drive_may_be_pulled() {
        let summary = Summary {
            elapsed: Duration::from_secs(75),
            written: 812_000_000,
            ranges: 43,
            ranges_verified: 43,
            read_back: true,
            skipped: false,
            removal: Ok(Removal::PoweredOff),
        };
        assert_eq!(done_title(&summary), "Safe to Remove");
        assert_eq!(
            done_body(&summary),
            "Wrote 812.0\u{a0}MB in 2 minutes. 43 of 43 ranges matched their checksums. \
             Everything was read back from the drive and compared. The drive is powered off: \
             you can remove it."
        );
        let failed_power_off = Summary {
            removal: Err("busy".into()),
            read_back: false,
            ..summary
        };
        assert_eq!(done_title(&failed_power_off), "Writing Done");
        assert!(done_body(&failed_power_off).contains("could not be powered off (busy)"));
        assert!(done_body(&failed_power_off).contains("not read back"));
    }
}
