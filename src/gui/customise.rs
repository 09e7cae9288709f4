//! *Customise…*: the First-Boot Settings window. Hostname, a user and password, SSH (password
//! login, keys picked from `~/.ssh/*.pub` or pasted), Wi-Fi and locale, each part off or empty
//! unless the user sets it; named profiles kept in GSettings. Every field is checked as it is
//! typed by the engine's checkers: a field that would be refused is marked red and its group
//! says what is allowed, and *Use Settings* waits until nothing is. The password is hashed
//! when the window's answer is taken, and only the hash is kept.
//!
//! ```text
//!  App (app.customise) ──show(current choice)──► window ──Form (form.rs)──► problems, Settings
//!        ▲                                          │ profiles.rs: GSettings name → TOML
//!        └──────── Msg::FirstBoot(choice) ◄── Use Settings (Enter) · Cancel (Escape)
//! ```

mod build;
mod dialog;
mod form;
mod profiles;
mod system;
mod widgets;
pub mod words;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::gtk::{gio, glib};
use relm4::{adw, gtk};

use form::{Field, Form};
use profiles::Profiles;
use system::{Choice, KeyRefusal};
use widgets::{Picker, entry_row, group, switch_row};

use crate::gui::a11y;
use crate::gui::flow::FirstBootChoice;
use crate::gui::i18n::gettext_f;

/// The groups of the window that show problems, each under its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Group {
    General,
    User,
    Ssh,
    Wifi,
    Locale,
}

impl Field {
    fn group(self) -> Group {
        match self {
            Field::Hostname => Group::General,
            Field::UserName | Field::Password => Group::User,
            Field::Keys => Group::Ssh,
            Field::Ssid | Field::WifiPassword | Field::Country => Group::Wifi,
            Field::Timezone | Field::Keyboard | Field::Locale => Group::Locale,
        }
    }
}

/// The window, its widgets and what it keeps between them.
struct Dialog {
    window: adw::Window,
    toasts: adw::ToastOverlay,
    accept: gtk::Button,
    profiles: Profiles,
    /// The profiles listed, "" first (none).
    profile_names: RefCell<Vec<String>>,
    profile_row: adw::ComboRow,
    profile_model: gtk::StringList,
    delete: gtk::Button,
    save_as: adw::EntryRow,
    hostname: adw::EntryRow,
    user_name: adw::EntryRow,
    password: adw::PasswordEntryRow,
    kept_hash: RefCell<Option<String>>,
    ssh: gtk::Switch,
    password_login: (adw::ActionRow, gtk::Switch),
    keys_group: adw::PreferencesGroup,
    /// The user's key files that hold a key, with their check boxes.
    key_files: Vec<(String, gtk::CheckButton)>,
    /// Keys pasted, with their rows.
    pasted: RefCell<Vec<(String, adw::ActionRow)>>,
    add_key: adw::EntryRow,
    /// What was wrong with the last key pasted.
    paste_problem: RefCell<Option<String>>,
    wifi: gtk::Switch,
    ssid: adw::EntryRow,
    hidden: (adw::ActionRow, gtk::Switch),
    wifi_password: adw::PasswordEntryRow,
    wifi_password_needed: Cell<bool>,
    country: Picker,
    remember: (adw::ActionRow, gtk::Switch),
    locale: gtk::Switch,
    timezone: Picker,
    keyboard: Picker,
    locale_name: Picker,
    problems: HashMap<Group, gtk::Label>,
    /// The widgets are being filled in: their signals change nothing.
    filling: Cell<bool>,
    done: Box<dyn Fn(Option<FirstBootChoice>)>,
}

/// Opens the window over `parent` with the settings chosen before (`current`), or else the
/// profile chosen last; `about` says what the image does with them. `done` gets the answer
/// of *Use Settings* (`None`: nothing to write); Cancel and Escape close it unanswered.
pub fn show(
    parent: &impl IsA<gtk::Window>,
    settings: gio::Settings,
    current: Option<&FirstBootChoice>,
    about: &str,
    done: impl Fn(Option<FirstBootChoice>) + 'static,
) {
    let dialog = build::build(parent.upcast_ref(), settings, about, Box::new(done));
    let lists = system::lists();
    let profile = match current {
        Some(choice) => choice.profile.clone(),
        None => Some(dialog.profiles.last()).filter(|n| !n.is_empty()),
    };
    dialog.select_profile(profile.as_deref());
    match current {
        Some(choice) => {
            let mut form = Form::from_settings(&choice.settings, &lists.defaults);
            form.remember = choice.remember;
            dialog.fill(&form);
        }
        None => match profile.as_deref() {
            Some(name) => dialog.load(name),
            None => dialog.fill(&Form::new(&lists.defaults)),
        },
    }
    dialog.check();
    dialog.window.present();
    dialog.hostname.grab_focus();
}

/// Runs `f` on the dialog if it is still there.
fn with(dialog: &Weak<Dialog>, f: impl FnOnce(&Rc<Dialog>)) {
    if let Some(dialog) = dialog.upgrade() {
        f(&dialog);
    }
}
