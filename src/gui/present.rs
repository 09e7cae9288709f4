//! What the window shows, worked out from the [`Flow`] alone: every word, every row and every
//! choice of what to show or offer, so that the pages only put it on screen and all of it is
//! tested without a display. The words about engine facts and errors come from `wording`.

mod backup;
mod drives;
mod ending;
mod format;
mod image;
mod write;

use gettextrs::gettext;

use super::drive_page::DriveView;
use super::flow::{Flow, Step};
use super::format_page::FormatView;
use super::image_page::ImageView;
use super::write_page::WriteView;

pub use backup::{
    notification as backup_notification, question as backup_question, view as backup_view,
};
pub use ending::notification;
pub use image::first_boot_about;
pub use write::view as write_view;

/// The pages' views.
pub fn views(flow: &Flow) -> (ImageView, DriveView, WriteView, FormatView) {
    (
        image::view(flow),
        drives::view(flow),
        write::view(flow),
        format::view(flow),
    )
}

/// The header bar: the page on screen, its subtitle, and whether Back is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name of the page in the window's stack.
    pub page: &'static str,
    /// "Choose an image".
    pub subtitle: String,
    /// Whether the back button shows.
    pub back: bool,
}

/// The header bar for the step on screen.
pub fn header(flow: &Flow) -> Header {
    let (page, subtitle) = match flow.step() {
        Step::Image => ("image", gettext("Step 1 of 3 · Choose an image")),
        Step::Drive => ("drive", gettext("Step 2 of 3 · Choose a drive")),
        Step::Write => ("write", gettext("Step 3 of 3 · Write")),
        Step::Format => ("format", gettext("Format a drive")),
        Step::Backup => ("backup", gettext("Back up a drive")),
        Step::Catalog => (
            "catalog",
            gettext("Step 1 of 3 · Choose an operating system"),
        ),
    };
    Header {
        page,
        subtitle,
        back: flow.step() != Step::Image
            && !flow.writing()
            && !flow.formatting()
            && !flow.backing_up(),
    }
}

#[cfg(test)]
mod tests;
