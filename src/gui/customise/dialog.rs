//! What the window does: reads its fields into a form, fills them from one, checks them as
//! they are typed, and keeps, loads and deletes profiles.

use super::build::key_caption;
use super::*;

impl Dialog {
    /// The fields as they are now.
    pub(super) fn read(&self) -> Form {
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
    pub(super) fn fill(self: &Rc<Self>, form: &Form) {
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
    pub(super) fn set_kept_hash(&self, hash: Option<String>) {
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
    pub(super) fn check(&self) {
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

    pub(super) fn toast(&self, text: &str) -> adw::Toast {
        let toast = adw::Toast::new(&escape(text));
        self.toasts.add_toast(toast.clone());
        toast
    }

    /// *Use Settings*: the settings made (the password hashed now), and the window closed.
    pub(super) fn answer(self: &Rc<Self>) {
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
    pub(super) fn paste(self: &Rc<Self>) {
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
    pub(super) fn add_pasted(self: &Rc<Self>, key: &str) {
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
    pub(super) fn list_profiles(&self) {
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

    pub(super) fn selected_profile(&self) -> Option<String> {
        let index = self.profile_row.selected() as usize;
        self.profile_names
            .borrow()
            .get(index)
            .filter(|n| !n.is_empty())
            .cloned()
    }

    /// Shows `name` (or none) as the profile chosen, without loading it.
    pub(super) fn select_profile(&self, name: Option<&str>) {
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
    pub(super) fn load(self: &Rc<Self>, name: &str) {
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
    pub(super) fn save(&self) {
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
    pub(super) fn delete_profile(self: &Rc<Self>) {
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
