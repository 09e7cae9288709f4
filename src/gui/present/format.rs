//! "Format Drive…" on its page: what is being done to which drive, then how it ended and
//! what to do next.

use gettextrs::gettext;

use crate::gui::flow::{Flow, FormatState};
use crate::gui::format_page::{FormatEnd, FormatView};
use crate::gui::i18n::gettext_f;
use crate::gui::wording::{drive_name, user_error};

/// What the format page shows.
pub fn view(flow: &Flow) -> FormatView {
    match &flow.format {
        FormatState::Idle => FormatView::default(),
        FormatState::Running(drive) => FormatView {
            running: Some(gettext_f(
                // Translators: {drive} is "SanDisk Ultra (32.0 GB)".
                "Formatting {drive}…",
                &[("drive", &drive_name(drive))],
            )),
            end: None,
        },
        FormatState::Over(drive, Ok(())) => FormatView {
            running: None,
            end: Some(FormatEnd {
                title: gettext("Drive Formatted"),
                body: gettext_f(
                    "{drive} is empty, with one partition over all of it: use it for files on \
                     any computer, or write an image to it.",
                    &[("drive", &drive_name(drive))],
                ),
                ok: true,
                details: None,
            }),
        },
        FormatState::Over(drive, Err(error)) => {
            let words = user_error(&**error);
            FormatView {
                running: None,
                end: Some(FormatEnd {
                    title: gettext("The Drive Could Not Be Formatted"),
                    body: gettext_f(
                        // Translators: {reason} is a sentence or two on what went wrong.
                        "{reason} {drive} may be partly erased: format it again before using it.",
                        &[("reason", &words.body), ("drive", &drive_name(drive))],
                    ),
                    ok: false,
                    details: Some(words.details),
                }),
            }
        }
    }
}
