//! Named first-boot settings, kept in GSettings (`first-boot-profiles`, name → text) as the
//! very TOML that `blockprint copy --settings` reads: the user's password only as its crypt
//! hash, the Wi-Fi password only when the user ticked "Remember". A profile saved without it
//! starts with a comment line saying so, so that loading it asks for the password again
//! instead of taking the network for an open one.

use std::collections::HashMap;

use blockprint::firstboot::{Settings, SettingsError, parse};
use relm4::gtk::gio;
use relm4::gtk::prelude::*;

use crate::gui::settings::{FIRST_BOOT_PROFILE, FIRST_BOOT_PROFILES};

/// The first line of a profile whose Wi-Fi password was left out.
const FORGOTTEN: &str = "# The Wi-Fi password is not kept in this profile.";

/// The longest profile name, in characters.
pub const NAME_MAX: usize = 64;

/// A profile read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its settings.
    pub settings: Settings,
    /// It kept the Wi-Fi password.
    pub remember: bool,
    /// Its network has a password that was not kept.
    pub wifi_password_needed: bool,
}

/// The text `settings` are kept as; the Wi-Fi password only with `remember`.
pub fn encode(settings: &Settings, remember: bool) -> String {
    let text = settings.to_toml(remember);
    let has_password = settings
        .wifi
        .as_ref()
        .is_some_and(|w| w.passphrase.is_some() || w.psk.is_some());
    if has_password && !remember {
        format!("{FORGOTTEN}\n{text}")
    } else {
        text
    }
}

/// A profile's text read back; `name` names it in errors.
pub fn decode(text: &str, name: &str) -> Result<Profile, SettingsError> {
    let settings = parse(text, &format!("profile '{name}'"))?;
    let forgotten = text.starts_with(FORGOTTEN);
    let has_password = settings
        .wifi
        .as_ref()
        .is_some_and(|w| w.passphrase.is_some() || w.psk.is_some());
    Ok(Profile {
        remember: has_password,
        wifi_password_needed: forgotten && settings.wifi.is_some(),
        settings,
    })
}

/// A name a profile may have: trimmed, 1 to [`NAME_MAX`] characters, no control characters.
pub fn name(typed: &str) -> Option<String> {
    let name = typed.trim();
    let ok =
        !name.is_empty() && name.chars().count() <= NAME_MAX && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

/// The profiles in the user's settings.
#[derive(Clone)]
pub struct Profiles {
    settings: gio::Settings,
}

impl Profiles {
    /// The profiles kept in `settings`.
    pub fn new(settings: gio::Settings) -> Self {
        Self { settings }
    }

    fn all(&self) -> HashMap<String, String> {
        self.settings
            .value(FIRST_BOOT_PROFILES)
            .get::<HashMap<String, String>>()
            .unwrap_or_default()
    }

    fn put(&self, all: &HashMap<String, String>) {
        if let Err(e) = self
            .settings
            .set_value(FIRST_BOOT_PROFILES, &all.to_variant())
        {
            crate::cli::say(
                "",
                &format_args!("cannot save the first-boot profiles: {e}"),
            );
        }
    }

    /// Their names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.all().into_keys().collect();
        names.sort_by_key(|n| n.to_lowercase());
        names
    }

    /// The profile `name`, or why it cannot be used (none by that name: `None`).
    pub fn load(&self, name: &str) -> Option<Result<Profile, SettingsError>> {
        self.all().get(name).map(|text| decode(text, name))
    }

    /// Saves `settings` as `name` (replacing one of that name).
    pub fn save(&self, name: &str, settings: &Settings, remember: bool) {
        let mut all = self.all();
        all.insert(name.to_owned(), encode(settings, remember));
        self.put(&all);
    }

    /// Deletes `name`; returns its text, for Undo.
    pub fn delete(&self, name: &str) -> Option<String> {
        let mut all = self.all();
        let text = all.remove(name);
        self.put(&all);
        text
    }

    /// Puts back a deleted profile's text.
    pub fn restore(&self, name: &str, text: String) {
        let mut all = self.all();
        all.insert(name.to_owned(), text);
        self.put(&all);
    }

    /// The profile chosen last ("": none).
    pub fn last(&self) -> String {
        self.settings.string(FIRST_BOOT_PROFILE).to_string()
    }

    /// Remembers `name` as the profile chosen last.
    pub fn set_last(&self, name: &str) {
        let _ = self.settings.set_string(FIRST_BOOT_PROFILE, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password = "correct horse"
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
"#;

    #[test]
    fn a_profile_keeps_no_plain_password_and_the_wifi_one_only_when_remembered() {
        let settings = parse(PROFILE, "test").unwrap();
        let forgetting = encode(&settings, false);
        assert!(!forgetting.contains("correct horse"), "{forgetting}");
        assert!(!forgetting.contains("secret passphrase"), "{forgetting}");
        assert!(forgetting.contains("password_hash = \"$6$"), "{forgetting}");
        let read = decode(&forgetting, "Kitchen").unwrap();
        assert!(read.wifi_password_needed && !read.remember);
        assert_eq!(read.settings.user, settings.user);
        assert_eq!(read.settings.wifi.as_ref().unwrap().ssid, "Home");

        let remembering = encode(&settings, true);
        assert!(!remembering.contains("correct horse"));
        assert!(remembering.contains("secret passphrase"));
        let read = decode(&remembering, "Kitchen").unwrap();
        assert!(read.remember && !read.wifi_password_needed);
        assert_eq!(read.settings, settings);
    }

    #[test]
    fn an_open_network_is_not_asked_for_a_password() {
        let settings = parse("[wifi]\nssid = \"Cafe\"\ncountry = \"FR\"\n", "test").unwrap();
        let read = decode(&encode(&settings, false), "Cafe").unwrap();
        assert!(!read.wifi_password_needed);
        assert_eq!(read.settings, settings);
    }

    #[test]
    fn a_broken_profile_is_an_error_naming_it() {
        let error = decode("hostname = 3", "Kitchen").unwrap_err();
        assert!(error.to_string().contains("profile 'Kitchen'"), "{error}");
    }

    #[test]
    fn profile_names_are_trimmed_and_bounded() {
        assert_eq!(name("  Kitchen "), Some("Kitchen".into()));
        assert_eq!(name("   "), None);
        assert_eq!(name("a\nb"), None);
        assert_eq!(name(&"x".repeat(NAME_MAX + 1)), None);
    }
}
