//! The confirmations: each names exactly what is at stake, keeps the safe answer as the
//! default (Escape and Enter both cancel a destructive one), and calls back only on "yes".

use blockprint::drives::Drive;
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib;
use relm4::{adw, gtk};

use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::wording::{self, drive_name, size};

/// A two-answer dialog; `yes` runs only when the user picks `yes_label`.
pub(super) fn ask(
    parent: &impl IsA<gtk::Window>,
    heading: &str,
    body: &str,
    yes_label: &str,
    destructive: bool,
    yes: impl Fn() + 'static,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(Some(parent), Some(heading), Some(body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("yes", yes_label);
    if destructive {
        dialog.set_response_appearance("yes", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
    } else {
        dialog.set_response_appearance("yes", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("yes"));
    }
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |_, response| {
        if response == "yes" {
            yes();
        }
    });
    dialog.present();
    dialog
}

/// "Erase {drive}?", or "Erase 3 drives?", naming each drive's size and device and every
/// partition that will be lost; `warning` first, when the image will not work written as it
/// is (a Windows installer, a file that is no disk image).
pub fn confirm_write(
    parent: &impl IsA<gtk::Window>,
    drives: &[Drive],
    image: &str,
    warning: Option<String>,
    yes: impl Fn() + 'static,
) {
    let (heading, mut body) = match drives {
        [drive] => one_drive(drive, image),
        _ => several_drives(drives, image),
    };
    // An image that will not work written as it is: said first, and the button says that
    // writing it is going against the advice.
    let button = match warning {
        Some(warning) => {
            body = format!("{warning}\n\n{body}");
            gettext("_Write Anyway")
        }
        None => gettext("_Erase and Write"),
    };
    ask(parent, &heading, &body, &button, true, yes);
}

fn one_drive(drive: &Drive, image: &str) -> (String, String) {
    let name = drive.display_name();
    let mut body = gettext_f(
        // Translators: {drive} is a name such as "SanDisk Ultra", {size} "32.0 GB".
        "Everything on {drive} ({size}, {device}) will be erased and replaced by {image}.",
        &[
            ("drive", &name),
            ("size", &size(drive.size)),
            ("device", &drive.device.display().to_string()),
            ("image", image),
        ],
    );
    let volumes: Vec<String> = partitions(drive)
        .into_iter()
        .map(|(label, fs_type, device)| format!("• {label} ({fs_type}, {device})"))
        .collect();
    if !volumes.is_empty() {
        body.push_str("\n\n");
        body.push_str(&gettext("These partitions will be lost:"));
        body.push('\n');
        body.push_str(&volumes.join("\n"));
    }
    (gettext_f("Erase {drive}?", &[("drive", &name)]), body)
}

fn several_drives(drives: &[Drive], image: &str) -> (String, String) {
    let n = drives.len() as u64;
    let count = n.to_string();
    let mut body = ngettext_f(
        "Everything on this drive will be erased and replaced by {image}:",
        "Everything on these {n} drives will be erased and replaced by {image}:",
        n,
        &[("n", &count), ("image", image)],
    );
    for drive in drives {
        body.push_str("\n• ");
        body.push_str(&drive_name(drive));
        let lost: Vec<String> = partitions(drive)
            .into_iter()
            .map(|(label, fs_type, _)| format!("{label} ({fs_type})"))
            .collect();
        if !lost.is_empty() {
            body.push_str("\n   ");
            body.push_str(&gettext_f(
                "partitions lost: {partitions}",
                &[("partitions", &lost.join(", "))],
            ));
        }
    }
    let heading = ngettext_f("Erase {n} Drive?", "Erase {n} Drives?", n, &[("n", &count)]);
    (heading, body)
}

/// Each partition worth naming: its label (or "no label"), type and device.
fn partitions(drive: &Drive) -> Vec<(String, String, String)> {
    drive
        .volumes
        .iter()
        .filter(|v| !v.fs_type.is_empty() || !v.label.is_empty())
        .map(|v| {
            let label = if v.label.is_empty() {
                gettext("no label")
            } else {
                v.label.clone()
            };
            (label, v.fs_type.clone(), v.device.display().to_string())
        })
        .collect()
}

/// "Stop writing?"
pub fn confirm_cancel(parent: &impl IsA<gtk::Window>, quit: bool, yes: impl Fn() + 'static) {
    let (title, answer) = if quit {
        (gettext("Stop Writing and Quit?"), gettext("_Stop and Quit"))
    } else {
        (gettext("Stop Writing?"), gettext("_Stop Writing"))
    };
    ask(
        parent,
        &title,
        &gettext(
            "The drive will be left partly written and will not work until it is written \
             again or formatted.",
        ),
        &answer,
        true,
        yes,
    );
}

/// "Show all drives?"
pub fn confirm_show_all(parent: &impl IsA<gtk::Window>, yes: impl Fn() + 'static) {
    ask(
        parent,
        &gettext("Show All Drives?"),
        &gettext(
            "Only USB drives and SD cards are listed, so that an internal disk cannot be \
             erased by mistake. A card reader built into a computer, a virtual machine’s \
             disk or a loop device may not count as removable: show every drive to find it. \
             Writing to the wrong one destroys your data or your system, so check its name \
             and size.",
        ),
        &gettext("_Show All Drives"),
        true,
        yes,
    );
}

/// For a system drive: its name must be typed before it can be chosen.
pub fn confirm_system_drive(
    parent: &impl IsA<gtk::Window>,
    drive: &Drive,
    yes: impl Fn() + 'static,
) {
    let word = typed_name(drive);
    let body = gettext_f(
        // Translators: {name} is a device name such as "sda" that the user must type.
        "{drive} ({size}) is an internal or system drive. To choose it anyway, type its \
         device name, {name}, below.",
        &[
            ("drive", &drive.display_name()),
            ("size", &size(drive.size)),
            ("name", &word),
        ],
    );
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Choose a System Drive?")),
        Some(&body),
    );
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("yes", &gettext("C_hoose Drive"));
    dialog.set_response_appearance("yes", adw::ResponseAppearance::Destructive);
    dialog.set_response_enabled("yes", false);
    dialog.set_default_response(Some("yes"));
    dialog.set_close_response("cancel");
    let entry = gtk::Entry::builder()
        .placeholder_text(word.as_str())
        .activates_default(true)
        .build();
    crate::gui::a11y::label(&entry, &gettext("Device name"));
    let d = dialog.clone();
    let expected = word.clone();
    entry.connect_changed(move |e| d.set_response_enabled("yes", e.text() == expected));
    dialog.set_extra_child(Some(&entry));
    dialog.connect_response(None, move |_, response| {
        if response == "yes" {
            yes();
        }
    });
    dialog.present();
    entry.grab_focus();
}

/// What must be typed for a system drive: its kernel name ("sda", "loop3").
pub fn typed_name(drive: &Drive) -> String {
    drive.device.file_name().map_or_else(
        || drive.device.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// "Format a Drive": which drive (each with its size and device, one chosen to begin with),
/// and that everything on it goes. `yes` gets the drive as the question showed it.
pub fn choose_format(
    parent: &impl IsA<gtk::Window>,
    drives: &[Drive],
    chosen: Option<&str>,
    yes: impl Fn(Drive) + 'static,
) {
    // One drive: named in the question, as the Erase question names it; several: a list.
    let (heading, body) = match drives {
        [] => (
            gettext("Format a Drive"),
            gettext("Insert a USB drive or SD card first."),
        ),
        [drive] => (
            gettext_f("Format {drive}?", &[("drive", &drive.display_name())]),
            gettext_f(
                // Translators: {drive} is "SanDisk Ultra (32.0 GB, /dev/sdb)".
                "Everything on {drive} is erased. It gets one empty partition over its whole \
                 size, usable on any computer.",
                &[("drive", &drive_name(drive))],
            ),
        ),
        _ => (
            gettext("Format a Drive"),
            gettext(
                "Everything on the drive chosen is erased. It gets one empty partition over \
                 its whole size, usable on any computer.",
            ),
        ),
    };
    let dialog = adw::MessageDialog::new(Some(parent), Some(&heading), Some(&body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("yes", &gettext("_Erase and Format"));
    dialog.set_response_appearance("yes", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    pick_drive(&dialog, drives, chosen, |_, _| {}, yes);
}

/// Lets `dialog` (responses "cancel" and "yes") ask which of `drives`: with several, a list
/// under its words, the one whose key is `chosen` checked; one alone is the answer already.
/// "yes" is enabled once a drive is picked and answers with it; `changed` runs with each drive
/// picked, to fit the words to it. Presents the dialog.
pub(super) fn pick_drive(
    dialog: &adw::MessageDialog,
    drives: &[Drive],
    chosen: Option<&str>,
    changed: impl Fn(&adw::MessageDialog, &Drive) + 'static,
    yes: impl Fn(Drive) + 'static,
) {
    let picked = std::rc::Rc::new(std::cell::RefCell::new(match drives {
        [only] => Some(only.clone()),
        _ => None,
    }));
    let (p, dialog_ref) = (picked.clone(), dialog.clone());
    let list = drive_choice(drives, chosen, move |drive| {
        *p.borrow_mut() = Some(drive.clone());
        changed(&dialog_ref, drive);
        dialog_ref.set_response_enabled("yes", true);
    });
    if drives.len() > 1 {
        dialog.set_extra_child(Some(&list));
    }
    dialog.set_response_enabled("yes", picked.borrow().is_some());
    dialog.connect_response(None, move |_, response| {
        if response == "yes"
            && let Some(drive) = picked.borrow().clone()
        {
            yes(drive);
        }
    });
    dialog.present();
}

/// A boxed list of `drives`, each with its size, bus and device and a radio button, the one
/// whose key is `chosen` checked; `picked` runs with a drive each time its radio is checked
/// (for `chosen` too, before this returns).
fn drive_choice(
    drives: &[Drive],
    chosen: Option<&str>,
    picked: impl Fn(&Drive) + 'static,
) -> gtk::ListBox {
    let list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .build();
    list.add_css_class("boxed-list");
    crate::gui::a11y::label(&list, &gettext("Drives"));
    let picked = std::rc::Rc::new(picked);
    let mut group: Option<gtk::CheckButton> = None;
    for drive in drives {
        let row = adw::ActionRow::builder()
            .title(glib::markup_escape_text(&drive.display_name()).as_str())
            .subtitle(
                glib::markup_escape_text(&format!(
                    "{} · {}",
                    wording::drive_subtitle(drive),
                    drive.device.display()
                ))
                .as_str(),
            )
            .activatable(true)
            .build();
        let radio = gtk::CheckButton::builder()
            .valign(gtk::Align::Center)
            .build();
        radio.set_group(group.as_ref());
        group.get_or_insert_with(|| radio.clone());
        row.add_prefix(&radio);
        row.set_activatable_widget(Some(&radio));
        let (picked, drive_kept) = (picked.clone(), drive.clone());
        radio.connect_toggled(move |radio| {
            if radio.is_active() {
                picked(&drive_kept);
            }
        });
        if Some(drive.key.as_str()) == chosen {
            radio.set_active(true);
        }
        list.append(&row);
    }
    list
}

/// "Trust this key?"
pub fn confirm_trust(
    parent: &impl IsA<gtk::Window>,
    issuer: &str,
    file: &str,
    yes: impl Fn() + 'static,
) {
    ask(
        parent,
        &gettext("Trust This Key?"),
        &gettext_f(
            "Images whose block map is signed with key {fingerprint} (from {file}) will be \
             shown as coming from a trusted publisher. Only trust a key you got from the \
             image’s publisher, for example from their website.",
            &[("fingerprint", issuer), ("file", file)],
        ),
        &gettext("_Trust Key"),
        false,
        yes,
    );
}
