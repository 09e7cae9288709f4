//! The Drive step: the image to write, every drive listed with its guards in words, the
//! empty list (or why there is none), and the Write button.

use blockprint::drives::Drive;
use gettextrs::gettext;

use super::image::write_summary;
use crate::gui::drive_page::{DriveView, Empty};
use crate::gui::drive_row::{Badge, DriveRowView};
use crate::gui::flow::{Flow, RowState};
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::page::Row;
use crate::gui::wording::{self, user_error};

/// What the Drive page shows.
pub fn view(flow: &Flow) -> DriveView {
    // Every drive's guards, worked out once for the list, the count and the actions.
    let rows = flow.rows();
    let chosen = rows.iter().filter(|r| r.selected).count();
    DriveView {
        image: flow
            .image
            .as_ref()
            .map(|image| Row {
                title: image.name.clone(),
                subtitle: write_summary(image, flow.write_everything),
            })
            .unwrap_or_default(),
        select_all: !flow.writing() && rows.iter().any(|r| r.suitable && !r.selected),
        several_suitable: rows.iter().filter(|r| r.suitable).count() > 1,
        rows: rows.iter().map(row).collect(),
        empty: empty(flow),
        show_all: flow.show_all,
        write: if chosen > 1 {
            ngettext_f(
                "_Write to {n} Drive",
                "_Write to {n} Drives",
                chosen as u64,
                &[("n", &chosen.to_string())],
            )
        } else {
            gettext("_Write")
        },
        can_write: chosen > 0 && flow.image_ready(),
    }
}

fn empty(flow: &Flow) -> Empty {
    match &flow.drives_error {
        Some(error) => {
            let error = user_error(error);
            Empty {
                icon: "dialog-error-symbolic",
                words: Row {
                    title: error.title,
                    subtitle: error.body,
                },
                details: Some(error.details),
            }
        }
        None => Empty {
            icon: "drive-removable-media-symbolic",
            words: Row {
                title: gettext("Insert a USB Drive or SD Card"),
                subtitle: gettext("Drives appear here as soon as they are connected."),
            },
            details: None,
        },
    }
}

/// One drive's row: its name and facts, the reasons it may not (or should not) be written.
fn row(state: &RowState) -> DriveRowView {
    let drive = &state.drive;
    let name = drive.display_name();
    let facts = wording::drive_subtitle(drive);
    let reasons: Vec<String> = state.guards.iter().map(wording::reason).collect();
    let mut subtitle = facts.clone();
    if let Some(gravest) = reasons.first() {
        subtitle.push('\n');
        subtitle.push_str(gravest);
    }
    let tooltip = std::iter::once(drive.device.display().to_string())
        .chain(reasons.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    let description = if state.enabled {
        let chosen = if state.selected {
            gettext("chosen")
        } else {
            gettext("not chosen")
        };
        gettext_f(
            // Translators: a screen reader's description of a drive row; {chosen} is
            // "chosen" or "not chosen".
            "{name}, {chosen}, {details}",
            &[
                ("name", &name),
                ("chosen", &chosen),
                (
                    "details",
                    &[facts]
                        .iter()
                        .chain(&reasons)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
        )
    } else {
        gettext_f(
            "{name}, cannot be written: {reasons}",
            &[("name", &name), ("reasons", &reasons.join(", "))],
        )
    };
    DriveRowView {
        key: drive.key.clone(),
        icon: icon(drive),
        badge: state.guards.first().map(|guard| Badge {
            text: wording::badge(guard),
            tooltip: wording::reason(guard),
            severity: guard.severity,
        }),
        row: Row {
            title: name,
            subtitle,
        },
        tooltip,
        enabled: state.enabled,
        selected: state.selected,
        description,
    }
}

/// The icon for a drive, from the symbolic set every GNOME theme has.
fn icon(drive: &Drive) -> &'static str {
    match drive.bus.as_str() {
        "sdio" => "media-flash-symbolic",
        "usb" => "drive-harddisk-usb-symbolic",
        _ if drive.backing_file.is_some() => "drive-multidisk-symbolic",
        _ if drive.removable => "drive-removable-media-symbolic",
        _ => "drive-harddisk-symbolic",
    }
}
