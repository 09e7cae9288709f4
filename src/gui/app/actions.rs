//! The app's GActions: the menu, the keyboard shortcuts and the buttons use them, and GNOME
//! (or a test) can activate them over D-Bus on the session bus, as `org.gtk.Actions`.
//!
//! | action | parameter | does |
//! |---|---|---|
//! | `open` | – | the file chooser |
//! | `open-image` | path or URL | opens that image |
//! | `open-url` | – | the web address entry |
//! | `choose-os`, `reload-catalog` | – | "Choose OS…" (the catalog page), and reading its list again |
//! | `catalog-board` | place in the board menu (state: the same) | shows what runs on that board; "0" is every board |
//! | `choose-bmap`, `cancel-scan`, `trust-key` | – | the Image step's buttons |
//! | `write-everything` | – (state: boolean) | *Write Everything*: every byte of an image without a block map |
//! | `customise` | – | the First-Boot Settings window (greyed out for an image with no first-boot mechanism) |
//! | `next`, `back` | – | between the steps |
//! | `show-all-drives` | – (state: boolean) | toggles the full list (turning it on asks first); both switches show its state |
//! | `select-drive` | key or device | adds a drive to those chosen (a system drive asks for its name) |
//! | `unselect-drive` | key or device | takes a drive out of those chosen |
//! | `select-all-drives` | – | "Select All Suitable" |
//! | `write`, `cancel-write` | – | ask first, then write or stop |
//! | `skip-verify` | – | skips the rest of the read-back |
//! | `write-another`, `start-over`, `eject-drive` | – | after a write (eject: the drive that could not be powered off) |
//! | `format-drive`, `format-done` | – | "Format Drive…" (asks which drive), and leaving its end |
//! | `backup-drive`, `cancel-backup`, `backup-done`, `show-backup` | – | "Back Up Drive…" (asks which drive, then for the file), stopping it (nothing is left), leaving its end, and its folder in the file manager |
//! | `retry-failed` | – | after a write to several drives: asks to write the failed ones again |
//! | `preferences`, `shortcuts`, `about`, `quit` | – | the usual |

use blockprint::drives::Drive;
use blockprint::udisks::Udisks;
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::{gio, glib};
use relm4::{ComponentSender, adw, gtk};

use super::{App, AppCommandOutput, AppInput};
use crate::gui::config::{APP_ID, ISSUES, VERSION, WEBSITE};
use crate::gui::flow::{BackupEnd, BackupMsg, BackupState, Flow, Msg, Step, WriteState};
use crate::gui::inspect::SignatureState;

/// The keyboard shortcuts (ui/shortcuts.ui shows the same; a test keeps them together).
pub const ACCELS: [(&str, &[&str]); 8] = [
    ("app.open", &["<Control>o"]),
    ("app.open-url", &["<Control>l"]),
    ("app.next", &["<Alt>Right"]),
    ("app.back", &["<Alt>Left"]),
    ("app.write", &["<Control>Return"]),
    ("app.preferences", &["<Control>comma"]),
    ("app.shortcuts", &["<Control>question"]),
    ("app.quit", &["<Control>q", "<Control>w"]),
];

/// Registers every action on the application, with its keyboard shortcuts.
pub fn install(sender: &ComponentSender<App>) {
    let app = relm4::main_application();
    type Plain = (&'static str, fn() -> AppInput);
    let plain: [Plain; 25] = [
        ("open", || AppInput::ChooseImage),
        ("choose-os", || AppInput::ChooseOs),
        ("reload-catalog", || AppInput::ReloadCatalog),
        ("open-url", || AppInput::FocusUrl),
        ("choose-bmap", || AppInput::ChooseBmap),
        ("cancel-scan", || AppInput::Flow(Msg::CancelScan)),
        ("trust-key", || AppInput::TrustKey),
        ("customise", || AppInput::Customise),
        ("next", || AppInput::Flow(Msg::GoTo(Step::Drive))),
        ("back", || AppInput::Flow(Msg::Back)),
        ("select-all-drives", || {
            AppInput::Flow(Msg::SelectAllSuitable)
        }),
        ("write", || AppInput::Flow(Msg::Write)),
        ("cancel-write", || AppInput::Flow(Msg::Cancel)),
        ("skip-verify", || AppInput::Flow(Msg::SkipVerify)),
        ("write-another", || AppInput::Flow(Msg::WriteAnother)),
        ("retry-failed", || AppInput::Flow(Msg::RetryFailed)),
        ("start-over", || AppInput::Flow(Msg::GoTo(Step::Image))),
        ("eject-drive", || AppInput::Flow(Msg::Eject)),
        ("format-drive", || AppInput::Flow(Msg::FormatDrive)),
        ("format-done", || AppInput::Flow(Msg::FormatDone)),
        ("backup-drive", || {
            AppInput::Flow(Msg::Backup(BackupMsg::Ask))
        }),
        ("cancel-backup", || {
            AppInput::Flow(Msg::Backup(BackupMsg::Cancel))
        }),
        ("backup-done", || {
            AppInput::Flow(Msg::Backup(BackupMsg::Done))
        }),
        ("show-backup", || AppInput::ShowBackup),
        ("quit", || AppInput::Flow(Msg::CloseRequested)),
    ];
    for (name, msg) in plain {
        let action = gio::SimpleAction::new(name, None);
        let s = sender.clone();
        action.connect_activate(move |_, _| s.input(msg()));
        app.add_action(&action);
    }
    // One stateful action for the drive page's switch and the Preferences one: each shows its
    // state and activating it asks for the other value; only the flow changes the state
    // (turning it on after the question), so no switch can ask on its own (review finding 1).
    let show_all = gio::SimpleAction::new_stateful("show-all-drives", None, &false.to_variant());
    let s = sender.clone();
    show_all.connect_activate(move |_, _| s.input(AppInput::Flow(Msg::ToggleShowAll)));
    let s = sender.clone();
    show_all.connect_change_state(move |_, wanted| {
        if let Some(wanted) = wanted.and_then(|w| w.get::<bool>()) {
            s.input(AppInput::Flow(Msg::AskShowAll(wanted)));
        }
    });
    app.add_action(&show_all);
    let everything = gio::SimpleAction::new_stateful("write-everything", None, &false.to_variant());
    let s = sender.clone();
    everything.connect_change_state(move |_, wanted| {
        if let Some(wanted) = wanted.and_then(|w| w.get::<bool>()) {
            s.input(AppInput::Flow(Msg::WriteEverything(wanted)));
        }
    });
    app.add_action(&everything);
    let board = gio::SimpleAction::new_stateful(
        "catalog-board",
        Some(glib::VariantTy::STRING),
        &"0".to_variant(),
    );
    let s = sender.clone();
    board.connect_activate(move |_, place| {
        if let Some(place) = place.and_then(|p| p.get::<String>()) {
            s.input(AppInput::Board(place));
        }
    });
    app.add_action(&board);
    for (name, show) in [
        ("preferences", super::preferences::show as fn()),
        ("shortcuts", shortcuts),
        ("about", about_window),
    ] {
        let action = gio::SimpleAction::new(name, None);
        action.connect_activate(move |_, _| show());
        app.add_action(&action);
    }
    for (name, wrap) in [
        ("open-image", AppInput::OpenText as fn(String) -> AppInput),
        ("select-drive", |text| AppInput::SelectDrive(text, true)),
        ("unselect-drive", |text| AppInput::SelectDrive(text, false)),
    ] {
        let action = gio::SimpleAction::new(name, Some(glib::VariantTy::STRING));
        let s = sender.clone();
        action.connect_activate(move |_, parameter| {
            if let Some(text) = parameter.and_then(|p| p.get::<String>()) {
                s.input(wrap(text));
            }
        });
        app.add_action(&action);
    }
    for (action, accels) in ACCELS {
        app.set_accels_for_action(action, accels);
    }
}

/// Enables exactly the actions that make sense now (menus and buttons grey out with them);
/// `select_all`: whether "Select All Suitable" would choose another drive; `catalog_loading`:
/// whether the catalog is being read.
pub fn update_enabled(flow: &Flow, select_all: bool, catalog_loading: bool) {
    let app = relm4::main_application();
    // While a drive is backed up, nothing else starts and no step is left, as while writing.
    let backing_up = flow.backing_up();
    let writing = flow.writing() || backing_up;
    let image = flow.image.as_ref();
    let backup_over = |saved: bool| match &flow.backup.state {
        BackupState::Over(_, end) => !saved || matches!(end, BackupEnd::Saved(_)),
        _ => false,
    };
    let enabled = [
        ("open", !writing),
        ("choose-os", !writing),
        ("reload-catalog", !writing && !catalog_loading),
        ("open-image", !writing),
        ("open-url", !writing),
        ("choose-bmap", !writing && image.is_some()),
        (
            "write-everything",
            !writing && image.is_some() && flow.busy.is_none(),
        ),
        (
            "cancel-scan",
            flow.busy == Some(crate::gui::flow::Busy::Scanning),
        ),
        (
            "trust-key",
            image.is_some_and(|i| matches!(i.signature, SignatureState::UnknownKey { .. })),
        ),
        ("customise", flow.may_customise()),
        ("next", flow.step() == Step::Image && flow.image_ready()),
        ("back", !writing && flow.step() != Step::Image),
        ("show-all-drives", !writing),
        ("select-drive", !writing),
        ("unselect-drive", !writing),
        ("select-all-drives", select_all),
        (
            "write",
            !writing && flow.image_ready() && !flow.chosen().is_empty(),
        ),
        ("cancel-write", flow.writing() && !flow.stopping()),
        (
            "skip-verify",
            flow.writing()
                && !flow.stopping()
                && flow.stage() == Some(crate::gui::job::Stage::Verifying),
        ),
        ("write-another", !writing && flow.step() == Step::Write),
        (
            "retry-failed",
            !backing_up
                && matches!(&flow.write, WriteState::Over(drives) if drives.iter().any(|d| d.needs_retry())),
        ),
        ("start-over", !writing && !flow.formatting()),
        ("eject-drive", !backing_up && flow.ejectable().is_some()),
        ("format-drive", !writing && !flow.formatting()),
        ("format-done", !flow.formatting() && !backing_up),
        ("backup-drive", !writing && !flow.formatting()),
        ("cancel-backup", backing_up && !flow.backup_stopping()),
        ("backup-done", backup_over(false)),
        ("show-backup", backup_over(true)),
    ];
    let action = |name: &str| {
        app.lookup_action(name)
            .and_then(|a| a.downcast::<gio::SimpleAction>().ok())
    };
    for (name, on) in enabled {
        if let Some(action) = action(name) {
            action.set_enabled(on);
        }
    }
    for (name, on) in [
        ("show-all-drives", flow.show_all),
        ("write-everything", flow.write_everything),
    ] {
        let state = on.to_variant();
        if let Some(action) = action(name).filter(|a| a.state().as_ref() != Some(&state)) {
            action.set_state(&state);
        }
    }
}

/// Shows the catalog page's board (its place in the list) as the `catalog-board` action's
/// state, which the board menu's items show as the one chosen.
pub fn board_state(place: usize) {
    let state = place.to_string().to_variant();
    let action = relm4::main_application()
        .lookup_action("catalog-board")
        .and_then(|a| a.downcast::<gio::SimpleAction>().ok());
    if let Some(action) = action.filter(|a| a.state().as_ref() != Some(&state)) {
        action.set_state(&state);
    }
}

/// Formats `drive` on a worker: unmounted and opened as a write would, then wiped and given
/// one FAT partition named after its vendor.
pub fn format(udisks: Udisks, drive: Drive, sender: &ComponentSender<App>) {
    sender.spawn_oneshot_command(move || {
        let result = udisks
            .prepare(&drive)
            .and_then(|_| udisks.restore(&drive, &volume_label(&drive)));
        AppCommandOutput::Formatted(result)
    });
}

/// The label of a formatted drive: its vendor in capitals, as FAT allows (11 characters).
fn volume_label(drive: &Drive) -> String {
    let label: String = drive
        .vendor
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(11)
        .collect();
    if label.is_empty() {
        "DRIVE".into()
    } else {
        label
    }
}

fn shortcuts() {
    let builder = gtk::Builder::from_string(include_str!("../../../ui/shortcuts.ui"));
    if let Some(window) = builder.object::<gtk::ShortcutsWindow>("shortcuts") {
        window.set_transient_for(relm4::main_application().active_window().as_ref());
        window.present();
    }
}

fn about_window() {
    let app = relm4::main_application();
    let about = adw::AboutWindow::builder()
        .application_name(gettext("Blockprint"))
        .application_icon(APP_ID)
        .version(VERSION)
        .developer_name(gettext("The Blockprint developers"))
        .license_type(gtk::License::Gpl30)
        .website(WEBSITE)
        .issue_url(ISSUES)
        .comments(gettext(
            "Writes disk images to SD cards and USB drives: only the blocks that hold data, \
             verified.",
        ))
        .build();
    if let Some(window) = app.active_window() {
        about.set_transient_for(Some(&window));
    }
    about.present();
}

#[cfg(test)]
mod tests {
    use super::ACCELS;

    #[test]
    fn the_shortcuts_window_shows_every_shortcut_there_is() {
        let ui = include_str!("../../../ui/shortcuts.ui");
        let shown: Vec<String> = ui
            .split("<property name=\"accelerator\">")
            .skip(1)
            .filter_map(|rest| rest.split("</property>").next())
            .map(|keys| keys.replace("&lt;", "<").replace("&gt;", ">"))
            .collect();
        // Review finding 23: every accelerator of an action is listed, Ctrl+W beside Ctrl+Q.
        let all: Vec<String> = ACCELS.iter().map(|(_, keys)| keys.join(" ")).collect();
        assert_eq!(shown, all);
    }
}
