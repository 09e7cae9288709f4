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

mod form;
mod profiles;
mod system;
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

/// A list to choose from at a row's end, searchable by typing.
struct Picker {
    row: adw::ActionRow,
    dropdown: gtk::DropDown,
    model: gtk::StringList,
    values: RefCell<Vec<String>>,
}

impl Picker {
    fn new(title: &str, spoken: &str, choices: &[Choice]) -> Self {
        let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
        let model = gtk::StringList::new(&names);
        let expression = gtk::PropertyExpression::new(
            gtk::StringObject::static_type(),
            None::<&gtk::Expression>,
            "string",
        );
        let dropdown = gtk::DropDown::builder()
            .model(&model)
            .expression(&expression)
            .enable_search(true)
            .valign(gtk::Align::Center)
            .build();
        // The button keeps to a phone's width; the list shows names in full.
        dropdown.set_factory(Some(&label_factory(true)));
        dropdown.set_list_factory(Some(&label_factory(false)));
        dropdown.add_css_class("flat");
        a11y::label(&dropdown, spoken);
        let row = adw::ActionRow::builder()
            .title(title)
            .use_underline(true)
            .build();
        row.add_suffix(&dropdown);
        row.set_activatable_widget(Some(&dropdown));
        Self {
            row,
            dropdown,
            model,
            values: RefCell::new(choices.iter().map(|c| c.value.clone()).collect()),
        }
    }

    fn value(&self) -> String {
        let index = self.dropdown.selected() as usize;
        self.values.borrow().get(index).cloned().unwrap_or_default()
    }

    /// Chooses `value`, adding it to the list if it is not there (a profile's own).
    fn set(&self, value: &str) {
        let found = self.values.borrow().iter().position(|v| v == value);
        let index = match found {
            Some(index) => index,
            None => {
                self.model.append(value);
                let mut values = self.values.borrow_mut();
                values.push(value.to_owned());
                values.len() - 1
            }
        };
        self.dropdown
            .set_selected(u32::try_from(index).unwrap_or(u32::MAX));
    }
}

/// Labels for a drop-down's items: `compact` ones (the button) are cut short with "…".
fn label_factory(compact: bool) -> gtk::SignalListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(move |_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let label = gtk::Label::builder().xalign(0.0).build();
        if compact {
            label.set_ellipsize(gtk::pango::EllipsizeMode::End);
            label.set_width_chars(9);
            label.set_max_width_chars(16);
        }
        item.set_child(Some(&label));
    });
    factory.connect_bind(|_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let text = item
            .item()
            .and_downcast::<gtk::StringObject>()
            .map(|s| s.string());
        if let (Some(label), Some(text)) = (item.child().and_downcast::<gtk::Label>(), text) {
            label.set_label(&text);
        }
    });
    factory
}

/// A row with a switch at its end, the row's title (with its mnemonic) naming it.
fn switch_row(title: &str, spoken: &str, subtitle: Option<&str>) -> (adw::ActionRow, gtk::Switch) {
    let row = adw::ActionRow::builder()
        .title(title)
        .use_underline(true)
        .subtitle_lines(0)
        .build();
    if let Some(subtitle) = subtitle {
        row.set_subtitle(subtitle);
    }
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    a11y::label(&switch, spoken);
    row.add_suffix(&switch);
    row.set_activatable_widget(Some(&switch));
    (row, switch)
}

/// A text row that Enter leaves by accepting the window.
fn entry_row(title: &str) -> adw::EntryRow {
    adw::EntryRow::builder()
        .title(title)
        .use_underline(true)
        .activates_default(true)
        .build()
}

/// A group with the line that tells its problems under its rows.
fn group(title: &str, description: Option<&str>) -> (adw::PreferencesGroup, gtk::Label) {
    let group = adw::PreferencesGroup::builder().title(title).build();
    if let Some(description) = description {
        group.set_description(Some(description));
    }
    let problem = gtk::Label::builder()
        .wrap(true)
        .xalign(0.0)
        .margin_top(6)
        .visible(false)
        .build();
    problem.add_css_class("error");
    problem.add_css_class("caption");
    (group, problem)
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
    let dialog = build(parent.upcast_ref(), settings, about, Box::new(done));
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

fn build(
    parent: &gtk::Window,
    settings: gio::Settings,
    about: &str,
    done: Box<dyn Fn(Option<FirstBootChoice>)>,
) -> Rc<Dialog> {
    let lists = system::lists();
    // As wide as the app's window up to a comfortable width: full width on a phone.
    let width = parent.width().clamp(360, 600);
    let height = parent.height().clamp(294, 760);
    let window = adw::Window::builder()
        .title(gettext("First-Boot Settings"))
        .modal(true)
        .transient_for(parent)
        .destroy_with_parent(true)
        .default_width(width)
        .default_height(height)
        .width_request(360)
        .height_request(294)
        .build();
    let cancel = gtk::Button::with_mnemonic(&gettext("_Cancel"));
    let accept = gtk::Button::with_mnemonic(&gettext("_Use Settings"));
    accept.add_css_class("suggested-action");
    let header = adw::HeaderBar::builder()
        .show_start_title_buttons(false)
        .show_end_title_buttons(false)
        .build();
    header.pack_start(&cancel);
    header.pack_end(&accept);
    let page = adw::PreferencesPage::new();
    let toasts = adw::ToastOverlay::new();
    toasts.set_child(Some(&page));
    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&header);
    content.append(&toasts);
    window.set_content(Some(&content));
    window.set_default_widget(Some(&accept));

    // Profile: choose, save as, delete.
    let profile_group = adw::PreferencesGroup::builder()
        .title(gettext("Profile"))
        .description(about)
        .build();
    let profile_model = gtk::StringList::new(&[]);
    let profile_row = adw::ComboRow::builder()
        .title(gettext("Pro_file"))
        .use_underline(true)
        .model(&profile_model)
        .build();
    let delete = gtk::Button::from_icon_name("user-trash-symbolic");
    delete.set_valign(gtk::Align::Center);
    delete.add_css_class("flat");
    delete.set_tooltip_text(Some(&gettext("Delete This Profile")));
    a11y::label(&delete, &gettext("Delete This Profile"));
    profile_row.add_suffix(&delete);
    profile_group.add(&profile_row);
    let save_as = adw::EntryRow::builder()
        .title(gettext("Save _As Profile"))
        .use_underline(true)
        .show_apply_button(true)
        .build();
    save_as.set_tooltip_text(Some(&gettext(
        "Type a name and press Enter to keep these settings for the next card",
    )));
    profile_group.add(&save_as);
    page.add(&profile_group);

    // General: the hostname.
    let (general, general_problem) = group(
        &gettext("General"),
        Some(&gettext(
            "The name the board answers to on the network, such as pi-kitchen.local. Empty: \
             the image’s own.",
        )),
    );
    let hostname = entry_row(&gettext("_Hostname"));
    general.add(&hostname);
    general.add(&general_problem);
    page.add(&general);

    // User.
    let (user, user_problem) = group(
        &gettext("User"),
        Some(&gettext(
            "An account to log in with; the password is kept only as a hash. Empty: the \
             image’s own.",
        )),
    );
    let user_name = entry_row(&gettext("User _Name"));
    let password = adw::PasswordEntryRow::builder()
        .title(gettext("_Password"))
        .use_underline(true)
        .activates_default(true)
        .build();
    user.add(&user_name);
    user.add(&password);
    user.add(&user_problem);
    page.add(&user);

    // SSH: on or off; password login; keys from ~/.ssh or pasted.
    let (ssh_group, ssh_problem) = group(&gettext("SSH"), None);
    let (ssh_row, ssh) = switch_row(
        &gettext("_Enable SSH"),
        &gettext("Enable SSH"),
        Some(&gettext("Log in to the board over the network")),
    );
    let password_login = switch_row(
        &gettext("Allow Password Log_in"),
        &gettext("Allow password login"),
        Some(&gettext("Otherwise only the keys below are accepted")),
    );
    ssh_group.add(&ssh_row);
    ssh_group.add(&password_login.0);
    ssh_group.add(&ssh_problem);
    page.add(&ssh_group);
    let keys_group = adw::PreferencesGroup::builder()
        .title(gettext("SSH Keys"))
        .description(gettext(
            "The public keys that may log in as the user: yours from ~/.ssh, or pasted.",
        ))
        .build();
    let mut key_files = Vec::new();
    let home = glib::home_dir().join(".ssh");
    for file in system::key_files(&home) {
        let row = adw::ActionRow::builder()
            .title(escape(&file.name).as_str())
            .subtitle_lines(0)
            .build();
        match file.key {
            Ok(key) => {
                row.set_subtitle(&escape(&key_caption(&key)));
                let check = gtk::CheckButton::new();
                check.set_valign(gtk::Align::Center);
                a11y::label(
                    &check,
                    &gettext_f("Use the key in {file}", &[("file", &file.name)]),
                );
                row.add_prefix(&check);
                row.set_activatable_widget(Some(&check));
                key_files.push((key, check));
            }
            Err(refusal) => {
                row.add_prefix(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
                let why = match refusal {
                    KeyRefusal::NotText => gettext("Left out: it is not text (UTF-8)"),
                    KeyRefusal::NotAKey => gettext("Left out: it is not one public key"),
                    KeyRefusal::Unreadable(why) => {
                        gettext_f("Left out: it cannot be read ({why})", &[("why", &why)])
                    }
                };
                row.set_subtitle(&escape(&why));
                row.add_css_class("dim-label");
            }
        }
        keys_group.add(&row);
    }
    let add_key = adw::EntryRow::builder()
        .title(gettext("Paste a Public _Key"))
        .use_underline(true)
        .show_apply_button(true)
        .build();
    keys_group.add(&add_key);
    page.add(&keys_group);

    // Wi-Fi.
    let (wifi_group, wifi_problem) = group(
        &gettext("Wi-Fi"),
        Some(&gettext(
            "The network the board joins; its country sets the channels it may use.",
        )),
    );
    let (wifi_row, wifi) = switch_row(&gettext("Set Up _Wi-Fi"), &gettext("Set up Wi-Fi"), None);
    let ssid = entry_row(&gettext("Network Name (_SSID)"));
    let hidden = switch_row(
        &gettext("Hi_dden Network"),
        &gettext("Hidden network"),
        Some(&gettext("The network does not show its name")),
    );
    let wifi_password = adw::PasswordEntryRow::builder()
        .title(gettext("Wi-Fi Passw_ord"))
        .use_underline(true)
        .activates_default(true)
        .build();
    let country = Picker::new(&gettext("Countr_y"), &gettext("Country"), &lists.countries);
    let remember = switch_row(
        &gettext("_Remember the Password in This Profile"),
        &gettext("Remember the password in this profile"),
        Some(&gettext(
            "Otherwise a profile keeps everything but the Wi-Fi password",
        )),
    );
    for row in [
        wifi_row.upcast_ref::<gtk::Widget>(),
        ssid.upcast_ref(),
        hidden.0.upcast_ref(),
        wifi_password.upcast_ref(),
        country.row.upcast_ref(),
        remember.0.upcast_ref(),
        wifi_problem.upcast_ref(),
    ] {
        wifi_group.add(row);
    }
    page.add(&wifi_group);

    // Locale.
    let (locale_group, locale_problem) = group(&gettext("Locale"), None);
    let (locale_row, locale) = switch_row(
        &gettext("Set _Locale"),
        &gettext("Set the locale"),
        Some(&gettext(
            "Time zone, keyboard and language (at first, this computer’s)",
        )),
    );
    let timezone = Picker::new(
        &gettext("_Time Zone"),
        &gettext("Time zone"),
        &lists.timezones,
    );
    let keyboard = Picker::new(
        &gettext("Key_board Layout"),
        &gettext("Keyboard layout"),
        &lists.keyboards,
    );
    let locale_name = Picker::new(
        &gettext("Lan_guage and Formats"),
        &gettext("Language and formats"),
        &lists.locales,
    );
    for row in [
        locale_row.upcast_ref::<gtk::Widget>(),
        timezone.row.upcast_ref(),
        keyboard.row.upcast_ref(),
        locale_name.row.upcast_ref(),
        locale_problem.upcast_ref(),
    ] {
        locale_group.add(row);
    }
    page.add(&locale_group);

    let problems = HashMap::from([
        (Group::General, general_problem),
        (Group::User, user_problem),
        (Group::Ssh, ssh_problem),
        (Group::Wifi, wifi_problem),
        (Group::Locale, locale_problem),
    ]);
    let dialog = Rc::new(Dialog {
        window,
        toasts,
        accept,
        profiles: Profiles::new(settings),
        profile_names: RefCell::new(Vec::new()),
        profile_row,
        profile_model,
        delete,
        save_as,
        hostname,
        user_name,
        password,
        kept_hash: RefCell::new(None),
        ssh,
        password_login,
        keys_group,
        key_files,
        pasted: RefCell::new(Vec::new()),
        add_key,
        paste_problem: RefCell::new(None),
        wifi,
        ssid,
        hidden,
        wifi_password,
        wifi_password_needed: Cell::new(false),
        country,
        remember,
        locale,
        timezone,
        keyboard,
        locale_name,
        problems,
        filling: Cell::new(false),
        done,
    });
    dialog.list_profiles();
    connect(&dialog, &cancel);
    // The window keeps its dialog (every handler holds it weakly) until it is destroyed.
    let keep = RefCell::new(Some(Rc::clone(&dialog)));
    dialog.window.connect_destroy(move |_| drop(keep.take()));
    dialog
}

/// "ssh-ed25519 · alex@laptop": a key's type and comment, for its row.
fn key_caption(key: &str) -> String {
    let mut parts = key.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    match parts.next().map(str::trim).filter(|c| !c.is_empty()) {
        Some(comment) => format!("{kind} · {comment}"),
        None => {
            let end: String = data
                .chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{kind} · …{end}")
        }
    }
}

/// Runs `f` on the dialog if it is still there.
fn with(dialog: &Weak<Dialog>, f: impl FnOnce(&Rc<Dialog>)) {
    if let Some(dialog) = dialog.upgrade() {
        f(&dialog);
    }
}

fn connect(dialog: &Rc<Dialog>, cancel: &gtk::Button) {
    let weak = Rc::downgrade(dialog);
    let close = move || with(&weak, |d| d.window.close());
    let c = close.clone();
    cancel.connect_clicked(move |_| c());
    let escape = gtk::ShortcutController::new();
    let c = close.clone();
    escape.add_shortcut(gtk::Shortcut::new(
        gtk::ShortcutTrigger::parse_string("Escape"),
        Some(gtk::CallbackAction::new(move |_, _| {
            c();
            glib::Propagation::Stop
        })),
    ));
    dialog.window.add_controller(escape);
    let weak = Rc::downgrade(dialog);
    dialog
        .accept
        .connect_clicked(move |_| with(&weak, |d| d.answer()));

    // Any change: check again.
    let changed = {
        let weak = Rc::downgrade(dialog);
        move || {
            with(&weak, |d| {
                if !d.filling.get() {
                    d.check();
                }
            })
        }
    };
    for entry in [
        dialog.hostname.upcast_ref::<gtk::Editable>(),
        dialog.user_name.upcast_ref(),
        dialog.password.upcast_ref(),
        dialog.ssid.upcast_ref(),
        dialog.wifi_password.upcast_ref(),
    ] {
        let c = changed.clone();
        entry.connect_changed(move |_| c());
    }
    for switch in [
        &dialog.ssh,
        &dialog.password_login.1,
        &dialog.wifi,
        &dialog.hidden.1,
        &dialog.remember.1,
        &dialog.locale,
    ] {
        let c = changed.clone();
        switch.connect_active_notify(move |_| c());
    }
    for (_, check) in &dialog.key_files {
        let c = changed.clone();
        check.connect_toggled(move |_| c());
    }
    for picker in [
        &dialog.country,
        &dialog.timezone,
        &dialog.keyboard,
        &dialog.locale_name,
    ] {
        let c = changed.clone();
        picker.dropdown.connect_selected_notify(move |_| c());
    }
    let weak = Rc::downgrade(dialog);
    dialog
        .add_key
        .connect_apply(move |_| with(&weak, |d| d.paste()));
    let weak = Rc::downgrade(dialog);
    dialog.add_key.connect_changed(move |_| {
        with(&weak, |d| {
            if d.paste_problem.borrow_mut().take().is_some() {
                d.check();
            }
        })
    });
    let weak = Rc::downgrade(dialog);
    dialog.profile_row.connect_selected_notify(move |_| {
        with(&weak, |d| {
            if d.filling.get() {
                return;
            }
            let name = d.selected_profile();
            match name.as_deref() {
                Some(name) => d.load(name),
                None => d.fill(&Form::new(&system::lists().defaults)),
            }
            d.check();
        })
    });
    let weak = Rc::downgrade(dialog);
    dialog
        .save_as
        .connect_apply(move |_| with(&weak, |d| d.save()));
    let weak = Rc::downgrade(dialog);
    dialog
        .delete
        .connect_clicked(move |_| with(&weak, |d| d.delete_profile()));
}

impl Dialog {
    /// The fields as they are now.
    fn read(&self) -> Form {
        let mut keys: Vec<String> = self
            .key_files
            .iter()
            .filter(|(_, check)| check.is_active())
            .map(|(key, _)| key.clone())
            .collect();
        keys.extend(self.pasted.borrow().iter().map(|(key, _)| key.clone()));
        Form {
            hostname: self.hostname.text().to_string(),
            user_name: self.user_name.text().to_string(),
            password: self.password.text().to_string(),
            kept_hash: self.kept_hash.borrow().clone(),
            ssh: self.ssh.is_active(),
            password_login: self.password_login.1.is_active(),
            keys,
            wifi: self.wifi.is_active(),
            ssid: self.ssid.text().to_string(),
            hidden: self.hidden.1.is_active(),
            wifi_password: self.wifi_password.text().to_string(),
            wifi_password_needed: self.wifi_password_needed.get(),
            country: self.country.value(),
            remember: self.remember.1.is_active(),
            locale: self.locale.is_active(),
            timezone: self.timezone.value(),
            keyboard: self.keyboard.value(),
            locale_name: self.locale_name.value(),
        }
    }

    /// Shows `form` in the fields.
    fn fill(self: &Rc<Self>, form: &Form) {
        self.filling.set(true);
        self.hostname.set_text(&form.hostname);
        self.user_name.set_text(&form.user_name);
        self.password.set_text(&form.password);
        self.set_kept_hash(form.kept_hash.clone());
        self.ssh.set_active(form.ssh);
        self.password_login.1.set_active(form.password_login);
        for (_, row) in self.pasted.take() {
            self.keys_group.remove(&row);
        }
        for (key, check) in &self.key_files {
            check.set_active(form.keys.contains(key));
        }
        for key in &form.keys {
            if !self.key_files.iter().any(|(k, _)| k == key) {
                self.add_pasted(key);
            }
        }
        self.wifi.set_active(form.wifi);
        self.ssid.set_text(&form.ssid);
        self.hidden.1.set_active(form.hidden);
        self.wifi_password.set_text(&form.wifi_password);
        self.wifi_password_needed.set(form.wifi_password_needed);
        self.country.set(&form.country);
        self.remember.1.set_active(form.remember);
        self.locale.set_active(form.locale);
        self.timezone.set(&form.timezone);
        self.keyboard.set(&form.keyboard);
        self.locale_name.set(&form.locale_name);
        self.filling.set(false);
    }

    /// Keeps `hash` as the user's password unless another is typed; the row says so.
    fn set_kept_hash(&self, hash: Option<String>) {
        let (title, tooltip) = if hash.is_some() {
            (
                gettext("_Password (set)"),
                Some(gettext("A password is set; type another one to replace it")),
            )
        } else {
            (gettext("_Password"), None)
        };
        self.password.set_title(&title);
        self.password.set_tooltip_text(tooltip.as_deref());
        *self.kept_hash.borrow_mut() = hash;
    }

    /// Marks what is wrong, shows which parts are on, and lets the answer be given only when
    /// nothing is.
    fn check(&self) {
        let form = self.read();
        let mut problems = form.problems();
        if let Some(why) = self.paste_problem.borrow().clone() {
            problems.push((Field::Keys, why));
        }
        self.password_login.0.set_visible(form.ssh);
        self.keys_group.set_visible(form.ssh);
        for row in [
            self.ssid.upcast_ref::<gtk::Widget>(),
            self.hidden.0.upcast_ref(),
            self.wifi_password.upcast_ref(),
            self.country.row.upcast_ref(),
            self.remember.0.upcast_ref(),
        ] {
            row.set_visible(form.wifi);
        }
        for row in [
            &self.timezone.row,
            &self.keyboard.row,
            &self.locale_name.row,
        ] {
            row.set_visible(form.locale);
        }
        let rows: [(Field, &gtk::Widget); 10] = [
            (Field::Hostname, self.hostname.upcast_ref()),
            (Field::UserName, self.user_name.upcast_ref()),
            (Field::Password, self.password.upcast_ref()),
            (Field::Keys, self.add_key.upcast_ref()),
            (Field::Ssid, self.ssid.upcast_ref()),
            (Field::WifiPassword, self.wifi_password.upcast_ref()),
            (Field::Country, self.country.row.upcast_ref()),
            (Field::Timezone, self.timezone.row.upcast_ref()),
            (Field::Keyboard, self.keyboard.row.upcast_ref()),
            (Field::Locale, self.locale_name.row.upcast_ref()),
        ];
        for (field, row) in rows {
            let why: Vec<&str> = problems
                .iter()
                .filter(|(f, _)| *f == field)
                .map(|(_, why)| why.as_str())
                .collect();
            if why.is_empty() {
                row.remove_css_class("error");
                a11y::description(row, "");
            } else {
                row.add_css_class("error");
                a11y::description(row, &why.join(" "));
            }
        }
        for (group, label) in &self.problems {
            let why: Vec<&str> = problems
                .iter()
                .filter(|(f, _)| f.group() == *group)
                .map(|(_, why)| why.as_str())
                .collect();
            label.set_visible(!why.is_empty());
            label.set_label(&why.join("\n"));
        }
        self.accept.set_sensitive(problems.is_empty());
        self.delete.set_sensitive(self.selected_profile().is_some());
    }

    fn toast(&self, text: &str) -> adw::Toast {
        let toast = adw::Toast::new(&escape(text));
        self.toasts.add_toast(toast.clone());
        toast
    }

    /// *Use Settings*: the settings made (the password hashed now), and the window closed.
    fn answer(self: &Rc<Self>) {
        let form = self.read();
        match form.settings() {
            Ok(settings) => {
                let profile = self.selected_profile();
                self.profiles
                    .set_last(profile.as_deref().unwrap_or_default());
                let choice = (!settings.is_empty()).then_some(FirstBootChoice {
                    settings,
                    profile,
                    remember: form.remember,
                });
                (self.done)(choice);
                self.window.close();
            }
            Err((_, why)) => {
                self.toast(&why);
            }
        }
    }

    /// A key pasted into the row: added under the others, or refused with what is wrong.
    fn paste(self: &Rc<Self>) {
        let text = self.add_key.text().to_string();
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match blockprint::firstboot::check_key(text) {
            Ok(key) => {
                let file = self.key_files.iter().find(|(k, _)| *k == key);
                match file {
                    Some((_, check)) => {
                        check.set_active(true);
                        check.grab_focus();
                    }
                    None if self.pasted.borrow().iter().any(|(k, _)| *k == key) => {}
                    None => self.add_pasted(&key),
                }
                // Emptied once the focus has left it, so it does not offer to apply nothing.
                self.add_key.set_text("");
                *self.paste_problem.borrow_mut() = None;
            }
            Err(_) => *self.paste_problem.borrow_mut() = Some(form::not_a_key()),
        }
        self.check();
    }

    /// A row for a pasted key, with its Remove button, above the row keys are pasted into.
    fn add_pasted(self: &Rc<Self>, key: &str) {
        let row = adw::ActionRow::builder()
            .title(escape(&gettext("Pasted key")).as_str())
            .subtitle(escape(&key_caption(key)).as_str())
            .build();
        let remove = gtk::Button::from_icon_name("list-remove-symbolic");
        remove.set_valign(gtk::Align::Center);
        remove.add_css_class("flat");
        remove.set_tooltip_text(Some(&gettext("Remove This Key")));
        a11y::label(&remove, &gettext("Remove This Key"));
        row.add_suffix(&remove);
        self.keys_group.remove(&self.add_key);
        self.keys_group.add(&row);
        self.keys_group.add(&self.add_key);
        let weak = Rc::downgrade(self);
        let removed = row.downgrade();
        remove.connect_clicked(move |_| {
            with(&weak, |d| {
                let Some(row) = removed.upgrade() else {
                    return;
                };
                d.keys_group.remove(&row);
                d.pasted.borrow_mut().retain(|(_, r)| *r != row);
                d.check();
            })
        });
        if self
            .add_key
            .state_flags()
            .contains(gtk::StateFlags::FOCUS_WITHIN)
        {
            remove.grab_focus();
        }
        self.pasted.borrow_mut().push((key.to_owned(), row));
    }

    /// Lists the profiles in the combo row, "None" first.
    fn list_profiles(&self) {
        let mut names = vec![String::new()];
        names.extend(self.profiles.names());
        let shown: Vec<String> = names
            .iter()
            .map(|n| {
                if n.is_empty() {
                    gettext("No Profile")
                } else {
                    n.clone()
                }
            })
            .collect();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        self.filling.set(true);
        self.profile_model
            .splice(0, self.profile_model.n_items(), &shown);
        self.filling.set(false);
        *self.profile_names.borrow_mut() = names;
    }

    fn selected_profile(&self) -> Option<String> {
        let index = self.profile_row.selected() as usize;
        self.profile_names
            .borrow()
            .get(index)
            .filter(|n| !n.is_empty())
            .cloned()
    }

    /// Shows `name` (or none) as the profile chosen, without loading it.
    fn select_profile(&self, name: Option<&str>) {
        let index = self
            .profile_names
            .borrow()
            .iter()
            .position(|n| Some(n.as_str()) == name || (n.is_empty() && name.is_none()))
            .unwrap_or(0);
        self.filling.set(true);
        self.profile_row
            .set_selected(u32::try_from(index).unwrap_or(0));
        self.filling.set(false);
    }

    /// Fills the fields from the profile `name`.
    fn load(self: &Rc<Self>, name: &str) {
        let defaults = &system::lists().defaults;
        match self.profiles.load(name) {
            Some(Ok(profile)) => {
                let mut form = Form::from_settings(&profile.settings, defaults);
                form.remember = profile.remember;
                form.wifi_password_needed = profile.wifi_password_needed;
                self.fill(&form);
            }
            Some(Err(e)) => {
                self.fill(&Form::new(defaults));
                self.toast(&gettext_f(
                    "The profile “{name}” cannot be read: {error}",
                    &[("name", name), ("error", &e.to_string())],
                ));
            }
            None => self.fill(&Form::new(defaults)),
        }
    }

    /// *Save As Profile*: the settings as they are, under the name typed.
    fn save(&self) {
        let Some(name) = profiles::name(&self.save_as.text()) else {
            self.toast(&gettext("Type a name for the profile first."));
            return;
        };
        let form = self.read();
        let settings = match form.settings() {
            Ok(settings) => settings,
            Err(_) => {
                self.toast(&gettext("Correct the settings marked in red first."));
                return;
            }
        };
        self.profiles.save(&name, &settings, form.remember);
        // The password typed is now a hash, in the profile and here alike.
        if !form.password.is_empty() {
            self.filling.set(true);
            self.password.set_text("");
            self.filling.set(false);
            self.set_kept_hash(settings.user.map(|u| u.password_hash));
        }
        // Emptied once the focus has left it, so it does not offer to apply nothing.
        self.profile_row.grab_focus();
        self.save_as.set_text("");
        self.list_profiles();
        self.select_profile(Some(&name));
        self.check();
        self.toast(&gettext_f("Saved as “{name}”", &[("name", &name)]));
    }

    /// Deletes the profile chosen; the fields stay as they are, and Undo puts it back.
    fn delete_profile(self: &Rc<Self>) {
        let Some(name) = self.selected_profile() else {
            return;
        };
        let Some(text) = self.profiles.delete(&name) else {
            return;
        };
        if self.profiles.last() == name {
            self.profiles.set_last("");
        }
        self.list_profiles();
        self.select_profile(None);
        self.check();
        let toast = self.toast(&gettext_f("Profile “{name}” deleted", &[("name", &name)]));
        toast.set_button_label(Some(&gettext("_Undo")));
        let weak = Rc::downgrade(self);
        toast.connect_button_clicked(move |_| {
            with(&weak, |d| {
                d.profiles.restore(&name, text.clone());
                d.list_profiles();
                d.select_profile(Some(&name));
                d.check();
            })
        });
    }
}
