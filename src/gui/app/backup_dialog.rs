//! "Back Up Drive…"'s questions: which drive (its words follow the one chosen, saying which of
//! its partitions are unmounted first), and whether to stop a backup to quit.

use blockprint::drives::Drive;
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::{adw, gtk};

use super::dialogs::{ask, pick_drive};
use crate::gui::present::backup_question;

/// "Back Up a Drive": which drive (each with its size and device, `chosen` to begin with),
/// what is read and saved, and what is unmounted first. "Choose File…" is the default, and
/// `yes` gets the drive as the question showed it.
pub fn choose(
    parent: &impl IsA<gtk::Window>,
    drives: &[Drive],
    chosen: Option<&str>,
    yes: impl Fn(Drive) + 'static,
) {
    let first = drives
        .iter()
        .find(|d| Some(d.key.as_str()) == chosen)
        .or(match drives {
            [only] => Some(only),
            _ => None,
        });
    let (heading, body) = backup_question(first, drives.len());
    let dialog = adw::MessageDialog::new(Some(parent), Some(&heading), Some(&body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("yes", &gettext("Choose _File…"));
    dialog.set_response_appearance("yes", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("yes"));
    dialog.set_close_response("cancel");
    let count = drives.len();
    // The words name the drive picked and its mounted partitions.
    let reword = move |dialog: &adw::MessageDialog, drive: &Drive| {
        dialog.set_body(&backup_question(Some(drive), count).1);
    };
    pick_drive(&dialog, drives, chosen, reword, yes);
}

/// "Stop backing up and quit?": nothing is saved.
pub fn confirm_quit(parent: &impl IsA<gtk::Window>, yes: impl Fn() + 'static) {
    ask(
        parent,
        &gettext("Stop Backing Up and Quit?"),
        &gettext("The backup is not finished: nothing is saved, and the drive stays as it is."),
        &gettext("_Stop and Quit"),
        true,
        yes,
    );
}
