//! The dialog's fields as typed, without GTK: what is wrong with each, in words that say what
//! is allowed (checked by the engine's own checkers, so the dialog never accepts what a
//! `--settings` file would refuse), and the settings they make. The password is hashed only
//! here, when the settings are made; the form keeps the typed text until then and afterwards
//! only the hash.

use blockprint::firstboot::{
    self, Locale, Settings, SettingsError, Ssh, User, check_hostname, check_key, check_keyboard,
    check_locale, check_timezone, check_user_name, hash_password,
};
use gettextrs::gettext;

use super::system::Defaults;

/// Every field of the dialog, as typed or chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The hostname; empty: not written.
    pub hostname: String,
    /// The user's name; empty: no user is written.
    pub user_name: String,
    /// A password typed now (plain, never saved).
    pub password: String,
    /// The hash of the password set before (a profile's, or the dialog's last answer), kept
    /// unless a new one is typed.
    pub kept_hash: Option<String>,
    /// SSH is switched on.
    pub ssh: bool,
    /// SSH takes passwords too.
    pub password_login: bool,
    /// The public keys chosen (from files) and pasted, one line each.
    pub keys: Vec<String>,
    /// Wi-Fi is switched on.
    pub wifi: bool,
    /// The network's name, as typed (spaces are part of it).
    pub ssid: String,
    /// The network hides its name.
    pub hidden: bool,
    /// The Wi-Fi password as typed; empty for an open network.
    pub wifi_password: String,
    /// The profile loaded did not keep its Wi-Fi password: it must be typed again.
    pub wifi_password_needed: bool,
    /// The regulatory country (`GB`).
    pub country: String,
    /// Keep the Wi-Fi password when the settings are saved as a profile.
    pub remember: bool,
    /// Time zone, keyboard and locale are switched on.
    pub locale: bool,
    /// `Europe/London`.
    pub timezone: String,
    /// `gb`.
    pub keyboard: String,
    /// `en_GB.UTF-8`.
    pub locale_name: String,
}

/// A field a problem is shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The hostname.
    Hostname,
    /// The user's name.
    UserName,
    /// The user's password.
    Password,
    /// The SSH keys (and password login).
    Keys,
    /// The Wi-Fi network's name.
    Ssid,
    /// The Wi-Fi password.
    WifiPassword,
    /// The Wi-Fi country.
    Country,
    /// The time zone.
    Timezone,
    /// The keyboard layout.
    Keyboard,
    /// The locale.
    Locale,
}

impl Form {
    /// An empty form: nothing switched on, this computer's choices ready in the lists.
    pub fn new(defaults: &Defaults) -> Self {
        Self {
            password_login: true,
            country: defaults.country.clone(),
            timezone: defaults.timezone.clone(),
            keyboard: defaults.keyboard.clone(),
            locale_name: defaults.locale.clone(),
            ..Self::default()
        }
    }

    /// The form showing `settings` (the password as its hash only); what they leave out
    /// comes from `defaults`.
    pub fn from_settings(settings: &Settings, defaults: &Defaults) -> Self {
        let mut form = Self::new(defaults);
        form.hostname = settings.hostname.clone().unwrap_or_default();
        if let Some(user) = &settings.user {
            form.user_name.clone_from(&user.name);
            form.kept_hash = Some(user.password_hash.clone());
        }
        if let Some(ssh) = &settings.ssh {
            form.ssh = ssh.enabled;
            form.password_login = ssh.password_login;
            form.keys.clone_from(&ssh.authorized_keys);
        }
        if let Some(wifi) = &settings.wifi {
            form.wifi = true;
            form.ssid.clone_from(&wifi.ssid);
            form.hidden = wifi.hidden;
            form.wifi_password = wifi
                .passphrase
                .clone()
                .or_else(|| wifi.psk_hex())
                .unwrap_or_default();
            form.country.clone_from(&wifi.country);
        }
        if let Some(locale) = &settings.locale {
            form.locale = true;
            let keep = |value: &Option<String>, default: &mut String| {
                if let Some(value) = value {
                    default.clone_from(value);
                }
            };
            keep(&locale.timezone, &mut form.timezone);
            keep(&locale.keyboard, &mut form.keyboard);
            keep(&locale.locale, &mut form.locale_name);
        }
        form
    }

    /// What is wrong, field by field, in the order of the dialog (nothing: the settings can
    /// be made).
    pub fn problems(&self) -> Vec<(Field, String)> {
        let mut problems = Vec::new();
        let mut check = |field: Field, bad: bool, why: fn() -> String| {
            if bad {
                problems.push((field, why()));
            }
        };
        let hostname = self.hostname.trim();
        check(
            Field::Hostname,
            !hostname.is_empty() && check_hostname(hostname).is_err(),
            hostname_rule,
        );
        let name = self.user_name.trim();
        check(
            Field::UserName,
            !name.is_empty() && check_user_name(name).is_err(),
            || {
                gettext(
                    "Use up to 32 lower-case letters, digits, “-” and “_”, starting with a \
                     letter (and not “root”).",
                )
            },
        );
        check(
            Field::UserName,
            name.is_empty() && !self.password.is_empty(),
            || gettext("Give the user a name, or leave the password empty."),
        );
        check(
            Field::Password,
            !name.is_empty() && self.password.is_empty() && self.kept_hash.is_none(),
            || gettext("Type a password for the user."),
        );
        if self.ssh {
            check(
                Field::Keys,
                self.keys.iter().any(|k| check_key(k).is_err()),
                not_a_key,
            );
            check(
                Field::Keys,
                !self.password_login && self.keys.is_empty(),
                || {
                    gettext(
                        "With no key and no password login nobody could log in: choose or \
                         paste a key, or allow password login.",
                    )
                },
            );
        }
        if self.wifi {
            match firstboot::wifi(&self.ssid, self.typed_wifi_password(), &self.country, false) {
                Err(SettingsError::Invalid { key, .. }) => match key {
                    "wifi.ssid" => check(Field::Ssid, true, ssid_rule),
                    "wifi.country" => check(Field::Country, true, || {
                        gettext("Choose the country the board is used in.")
                    }),
                    _ => check(Field::WifiPassword, true, wifi_password_rule),
                },
                Err(_) => check(Field::Ssid, true, ssid_rule),
                Ok(_) => {}
            }
            check(
                Field::WifiPassword,
                self.wifi_password_needed && self.wifi_password.is_empty(),
                || gettext("Type the Wi-Fi password again: the profile does not keep it."),
            );
        }
        if self.locale {
            check(
                Field::Timezone,
                check_timezone(&self.timezone).is_err(),
                || gettext("Choose a time zone from the list."),
            );
            check(
                Field::Keyboard,
                check_keyboard(&self.keyboard).is_err(),
                || gettext("Choose a keyboard layout from the list."),
            );
            check(
                Field::Locale,
                check_locale(&self.locale_name).is_err(),
                || gettext("Choose a language and formats from the list."),
            );
        }
        problems
    }

    /// The Wi-Fi password as the engine takes it: none for an empty field.
    fn typed_wifi_password(&self) -> Option<&str> {
        Some(self.wifi_password.as_str()).filter(|p| !p.is_empty())
    }

    /// The settings the form makes, the password typed hashed now; or the first problem.
    pub fn settings(&self) -> Result<Settings, (Field, String)> {
        if let Some(problem) = self.problems().into_iter().next() {
            return Err(problem);
        }
        let wrong = |field: Field| move |e: SettingsError| (field, e.to_string());
        let hostname = self.hostname.trim();
        let name = self.user_name.trim();
        let user = if name.is_empty() {
            None
        } else {
            let password_hash = match &self.kept_hash {
                _ if !self.password.is_empty() => {
                    hash_password(&self.password).map_err(wrong(Field::Password))?
                }
                Some(hash) => hash.clone(),
                None => return Err((Field::Password, gettext("Type a password for the user."))),
            };
            Some(User {
                name: check_user_name(name).map_err(wrong(Field::UserName))?,
                password_hash,
            })
        };
        let ssh = self.ssh.then(|| Ssh {
            enabled: true,
            password_login: self.password_login,
            authorized_keys: self.keys.iter().map(|k| k.trim().to_owned()).collect(),
        });
        let wifi = if self.wifi {
            Some(
                firstboot::wifi(
                    &self.ssid,
                    self.typed_wifi_password(),
                    &self.country,
                    self.hidden,
                )
                .map_err(wrong(Field::Ssid))?,
            )
        } else {
            None
        };
        let locale = self.locale.then(|| Locale {
            timezone: Some(self.timezone.clone()),
            keyboard: Some(self.keyboard.clone()),
            locale: Some(self.locale_name.clone()),
        });
        Ok(Settings {
            hostname: (!hostname.is_empty()).then(|| hostname.to_owned()),
            user,
            ssh,
            wifi,
            locale,
        })
    }
}

/// What a hostname may be.
pub fn hostname_rule() -> String {
    gettext("Use 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.")
}

/// What a pasted key must look like.
pub fn not_a_key() -> String {
    gettext(
        "That is not a public key: paste one whole line of a .pub file, such as “ssh-ed25519 \
         AAAA… you@laptop”.",
    )
}

fn ssid_rule() -> String {
    gettext("A network name is 1 to 32 bytes long, without control characters.")
}

fn wifi_password_rule() -> String {
    gettext(
        "A Wi-Fi password is 8 to 63 plain ASCII characters (or the key itself, 64 hex \
         digits); leave it empty for an open network.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            timezone: "Europe/London".into(),
            keyboard: "gb".into(),
            locale: "en_GB.UTF-8".into(),
            country: "GB".into(),
        }
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvYg alex@laptop";

    #[test]
    fn an_empty_form_writes_nothing() {
        let form = Form::new(&defaults());
        assert!(form.problems().is_empty());
        assert!(form.settings().unwrap().is_empty());
    }

    #[test]
    fn typed_fields_make_the_settings_and_the_password_only_as_its_hash() {
        let form = Form {
            hostname: " pi-kitchen ".into(),
            user_name: "alex".into(),
            password: "correct horse".into(),
            ssh: true,
            password_login: false,
            keys: vec![KEY.into()],
            wifi: true,
            ssid: "Home".into(),
            wifi_password: "secret passphrase".into(),
            locale: true,
            ..Form::new(&defaults())
        };
        assert_eq!(form.problems(), []);
        let settings = form.settings().unwrap();
        assert_eq!(settings.hostname.as_deref(), Some("pi-kitchen"));
        let user = settings.user.as_ref().unwrap();
        assert_eq!(user.name, "alex");
        assert!(user.password_hash.starts_with("$6$"), "{user:?}");
        let saved = settings.to_toml(true);
        assert!(!saved.contains("correct horse"), "{saved}");
        let wifi = settings.wifi.as_ref().unwrap();
        assert_eq!((wifi.ssid.as_str(), wifi.country.as_str()), ("Home", "GB"));
        assert!(wifi.psk.is_some());
        assert_eq!(
            settings.locale.as_ref().unwrap().timezone.as_deref(),
            Some("Europe/London")
        );
        // What a --settings file of the same settings reads back as.
        assert_eq!(firstboot::parse(&saved, "form").unwrap(), settings);

        // Shown again: the hash is kept, the password is not there to show.
        let again = Form::from_settings(&settings, &defaults());
        assert_eq!(again.password, "");
        assert_eq!(
            again.kept_hash.as_deref(),
            Some(user.password_hash.as_str())
        );
        assert_eq!(again.settings().unwrap(), settings, "kept unless retyped");
        let retyped = Form {
            password: "another".into(),
            ..again
        };
        assert_ne!(
            retyped.settings().unwrap().user.unwrap().password_hash,
            user.password_hash
        );
    }

    #[test]
    fn each_wrong_field_says_what_is_allowed() {
        let wrong = |form: Form| -> Vec<Field> {
            let problems = form.problems();
            assert!(problems.iter().all(|(_, why)| !why.is_empty()));
            assert!(form.settings().is_err());
            problems.into_iter().map(|(f, _)| f).collect()
        };
        let base = Form::new(&defaults());
        let long = "a".repeat(300);
        for name in ["-pi", "pi_kitchen", "pi kitchen", long.as_str()] {
            let form = Form {
                hostname: name.into(),
                ..base.clone()
            };
            assert_eq!(wrong(form), [Field::Hostname], "{name}");
        }
        let form = Form {
            user_name: "Alex".into(),
            password: "x".into(),
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::UserName]);
        let form = Form {
            user_name: "alex".into(),
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::Password]);
        let form = Form {
            ssh: true,
            password_login: false,
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::Keys]);
        let form = Form {
            wifi: true,
            ssid: "a\"; rm -rf / #\n".into(),
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::Ssid]);
        let form = Form {
            wifi: true,
            ssid: "Home".into(),
            wifi_password: "short".into(),
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::WifiPassword]);
        let form = Form {
            wifi: true,
            ssid: "Home".into(),
            wifi_password_needed: true,
            ..base.clone()
        };
        assert_eq!(wrong(form), [Field::WifiPassword]);
        let form = Form {
            wifi: true,
            ssid: "Home".into(),
            country: "gb".into(),
            ..base
        };
        assert_eq!(wrong(form), [Field::Country]);
    }

    #[test]
    fn a_hostile_ssid_that_is_allowed_arrives_as_typed() {
        let form = Form {
            wifi: true,
            ssid: "a\"; rm -rf / #".into(),
            wifi_password: "pass $word \\ 'q'".into(),
            ..Form::new(&defaults())
        };
        let wifi = form.settings().unwrap().wifi.unwrap();
        assert_eq!(wifi.ssid, "a\"; rm -rf / #");
        assert_eq!(wifi.passphrase.as_deref(), Some("pass $word \\ 'q'"));
    }
}
