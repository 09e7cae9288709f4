//! The window built: its rows in their groups, filled from the system's lists, and its
//! signals connected (every handler holds the dialog weakly).

use super::*;

pub(super) fn build(
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
pub(super) fn key_caption(key: &str) -> String {
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
