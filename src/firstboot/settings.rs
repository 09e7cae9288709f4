//! The settings themselves: read from a TOML file (`--settings`) or built by the app, every
//! value checked here once, so the writers of each format only quote.
//!
//! ```toml
//! hostname = "pi-kitchen"
//! [user]
//! name = "alex"
//! password = "correct horse"        # or password_hash = "$6$…" / "$y$…"
//! [ssh]
//! enabled = true
//! password_login = false
//! authorized_keys = ["ssh-ed25519 AAAA… alex@laptop"]
//! [wifi]
//! ssid = "Home"
//! password = "secret passphrase"
//! country = "GB"
//! hidden = false
//! [locale]
//! timezone = "Europe/London"
//! keyboard = "gb"
//! locale = "en_GB.UTF-8"
//! ```
//!
//! A plain password never leaves [`parse`]: it is hashed with SHA-512-crypt (`$6$`, which
//! glibc's and libxcrypt's `crypt` both accept, so every target does) and dropped. Unknown keys
//! are an error naming them, so a misspelt `pasword` is not silently ignored.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// First-boot settings, each part optional; every value in them has been checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The hostname: one RFC 1123 label (letters, digits, inner hyphens; 63 at most).
    pub hostname: Option<String>,
    /// The user to create (or rename the image's first user to).
    pub user: Option<User>,
    /// SSH.
    pub ssh: Option<Ssh>,
    /// Wi-Fi.
    pub wifi: Option<Wifi>,
    /// Time zone, keyboard layout and locale.
    pub locale: Option<Locale>,
}

/// The user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// A login name as Debian's `adduser` accepts it: `[a-z][a-z0-9_-]*`, 32 at most, not
    /// `root`.
    pub name: String,
    /// The password as a crypt(3) hash (`$6$…` or `$y$…`): never the password itself.
    pub password_hash: String,
}

/// SSH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ssh {
    /// Whether the SSH server is enabled.
    pub enabled: bool,
    /// Whether it accepts passwords (otherwise only the keys below).
    pub password_login: bool,
    /// Public keys for the user's `authorized_keys`, one line each.
    pub authorized_keys: Vec<String>,
}

/// A Wi-Fi network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wifi {
    /// The network's name (1 to 32 bytes of UTF-8, no control characters).
    pub ssid: String,
    /// The passphrase (8 to 63 printable ASCII characters), or `None` for an open network
    /// or when only the PSK is known.
    pub passphrase: Option<String>,
    /// The WPA pre-shared key derived from the passphrase and SSID (or given as 64 hex
    /// digits), written where a format takes it instead of the passphrase.
    pub psk: Option<[u8; 32]>,
    /// The regulatory country: two capital letters (ISO 3166-1 alpha-2).
    pub country: String,
    /// Whether the network hides its name (the board must probe for it).
    pub hidden: bool,
}

impl Wifi {
    /// The PSK as 64 lower-case hex digits.
    pub fn psk_hex(&self) -> Option<String> {
        self.psk
            .map(|psk| psk.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Time zone, keyboard layout and locale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locale {
    /// A tz database name such as `Europe/London`.
    pub timezone: Option<String>,
    /// An XKB keyboard layout such as `gb`.
    pub keyboard: Option<String>,
    /// A locale such as `en_GB.UTF-8`.
    pub locale: Option<String>,
}

impl Settings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The settings as a `--settings` file that [`parse`] reads back to the same settings:
    /// the password only as its hash, and the Wi-Fi passphrase (or its PSK) only when
    /// `wifi_password` says so (a profile saved without "remember").
    pub fn to_toml(&self, wifi_password: bool) -> String {
        let file = File {
            hostname: self.hostname.clone(),
            user: self.user.as_ref().map(|u| FileUser {
                name: u.name.clone(),
                password: None,
                password_hash: Some(u.password_hash.clone()),
            }),
            ssh: self.ssh.as_ref().map(|s| FileSsh {
                enabled: Some(s.enabled),
                password_login: Some(s.password_login),
                authorized_keys: s.authorized_keys.clone(),
            }),
            wifi: self.wifi.as_ref().map(|w| FileWifi {
                ssid: w.ssid.clone(),
                password: wifi_password
                    .then(|| w.passphrase.clone().or_else(|| w.psk_hex()))
                    .flatten(),
                country: w.country.clone(),
                hidden: w.hidden,
            }),
            locale: self.locale.as_ref().map(|l| FileLocale {
                timezone: l.timezone.clone(),
                keyboard: l.keyboard.clone(),
                locale: l.locale.clone(),
            }),
        };
        toml::to_string(&file).unwrap_or_default()
    }
}

/// Why settings were refused: the file, the key and the value concerned, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read the settings file '{file}': {message}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        message: String,
    },
    /// The file is not TOML of the settings' shape (an unknown key, a wrong type).
    #[error("the settings file '{file}' is not valid: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with the line and the key.
        message: String,
    },
    /// A value is not allowed.
    #[error("{key} = {value} is not allowed: {why}")]
    Invalid {
        /// The key, such as `wifi.ssid`.
        key: &'static str,
        /// The value as typed, quoted and with control characters escaped.
        value: String,
        /// What is allowed instead.
        why: String,
    },
}

/// The file's shape.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<FileUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh: Option<FileSsh>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wifi: Option<FileWifi>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<FileLocale>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileSsh {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_login: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    authorized_keys: Vec<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileWifi {
    ssid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    country: String,
    #[serde(default)]
    hidden: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileLocale {
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyboard: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
}

/// Reads and checks the settings file at `path`.
pub fn parse_file(path: &Path) -> Result<Settings, SettingsError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SettingsError::Read {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| SettingsError::Syntax {
        file: file.clone(),
        message: format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    parse(&text, &file)
}

/// Reads and checks settings from TOML `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Settings, SettingsError> {
    let raw: File = toml::from_str(text).map_err(|e| SettingsError::Syntax {
        file: file.to_owned(),
        message: e.to_string().trim().to_owned(),
    })?;
    let user = match raw.user {
        None => None,
        Some(u) => Some(User {
            name: check_user_name(&u.name)?,
            password_hash: match (u.password, u.password_hash) {
                (Some(password), None) => hash_password(&password)?,
                (None, Some(hash)) => check_hash(&hash)?,
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "user.password",
                        "…",
                        "give either password or password_hash, not both",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        "user.password",
                        "",
                        "a user needs a password or a password_hash",
                    ));
                }
            },
        }),
    };
    let ssh = raw
        .ssh
        .map(|s| -> Result<Ssh, SettingsError> {
            Ok(Ssh {
                enabled: s.enabled.unwrap_or(true),
                password_login: s.password_login.unwrap_or(s.authorized_keys.is_empty()),
                authorized_keys: s
                    .authorized_keys
                    .iter()
                    .map(|k| check_key(k))
                    .collect::<Result<_, _>>()?,
            })
        })
        .transpose()?;
    let wifi = raw
        .wifi
        .map(|w| wifi(&w.ssid, w.password.as_deref(), &w.country, w.hidden))
        .transpose()?;
    let locale = raw
        .locale
        .map(|l| -> Result<Locale, SettingsError> {
            Ok(Locale {
                timezone: l.timezone.as_deref().map(check_timezone).transpose()?,
                keyboard: l.keyboard.as_deref().map(check_keyboard).transpose()?,
                locale: l.locale.as_deref().map(check_locale).transpose()?,
            })
        })
        .transpose()?;
    let settings = Settings {
        hostname: raw.hostname.as_deref().map(check_hostname).transpose()?,
        user,
        ssh,
        wifi,
        locale,
    };
    if let Some(ssh) = &settings.ssh
        && ssh.enabled
        && !ssh.password_login
        && ssh.authorized_keys.is_empty()
    {
        return Err(invalid(
            "ssh.password_login",
            "false",
            "with no authorized_keys nobody could log in; add a key or allow passwords",
        ));
    }
    Ok(settings)
}

/// `value` quoted for an error message, control characters escaped, cut at 80 characters.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(80).collect();
    if value.chars().count() > 80 {
        s.push('…');
    }
    format!("{s:?}")
}

fn invalid(key: &'static str, value: &str, why: &str) -> SettingsError {
    SettingsError::Invalid {
        key,
        value: shown(value),
        why: why.to_owned(),
    }
}

/// An RFC 1123 host name label.
pub fn check_hostname(name: &str) -> Result<String, SettingsError> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(invalid(
            "hostname",
            name,
            "use 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen",
        ));
    }
    Ok(name.to_owned())
}

/// A login name as Debian's `adduser` accepts it by default.
pub fn check_user_name(name: &str) -> Result<String, SettingsError> {
    let mut bytes = name.bytes();
    let ok = (1..=32).contains(&name.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(invalid(
            "user.name",
            name,
            "use up to 32 lower-case letters, digits, '_' and '-', starting with a letter",
        ));
    }
    if name == "root" {
        return Err(invalid(
            "user.name",
            name,
            "root exists already; choose a name of your own",
        ));
    }
    Ok(name.to_owned())
}

/// Hashes `password` with SHA-512-crypt and a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, SettingsError> {
    if password.is_empty() {
        return Err(invalid(
            "user.password",
            "",
            "an empty password would let anyone in",
        ));
    }
    crate::firstboot::crypt::sha512_crypt(password).map_err(|e| SettingsError::Invalid {
        key: "user.password",
        value: "…".to_owned(),
        why: e,
    })
}

/// A crypt(3) hash that `/etc/shadow`, `chpasswd -e` and cloud-init take as it is.
pub fn check_hash(hash: &str) -> Result<String, SettingsError> {
    let ok = (hash.starts_with("$6$") || hash.starts_with("$y$") || hash.starts_with("$5$"))
        && hash.len() <= 256
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./$=".contains(&b))
        && hash.split('$').count() >= 4;
    if !ok {
        return Err(invalid(
            "user.password_hash",
            hash,
            "give a SHA-512-crypt ($6$…), SHA-256-crypt ($5$…) or yescrypt ($y$…) hash, \
             as `openssl passwd -6` or `mkpasswd` prints it",
        ));
    }
    Ok(hash.to_owned())
}

/// Key types OpenSSH accepts in `authorized_keys`.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// One public key line: a known type, base64 key data, an optional printable comment.
pub fn check_key(line: &str) -> Result<String, SettingsError> {
    let line = line.trim();
    let mut parts = line.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    let comment = parts.next().unwrap_or_default();
    let ok = KEY_TYPES.contains(&kind)
        && data.len() >= 16
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        && !comment.chars().any(char::is_control);
    if !ok {
        return Err(invalid(
            "ssh.authorized_keys",
            line,
            "give one public key per entry, as a .pub file holds it: \
             \"ssh-ed25519 AAAA… comment\"",
        ));
    }
    Ok(line.to_owned())
}

/// A Wi-Fi network: `password` is a passphrase, 64 hex digits (the PSK itself) or absent
/// (an open network).
pub fn wifi(
    ssid: &str,
    password: Option<&str>,
    country: &str,
    hidden: bool,
) -> Result<Wifi, SettingsError> {
    if ssid.is_empty() || ssid.len() > 32 || ssid.chars().any(char::is_control) {
        return Err(invalid(
            "wifi.ssid",
            ssid,
            "a network name is 1 to 32 bytes with no control characters",
        ));
    }
    let country = country.trim();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "wifi.country",
            country,
            "give the two capital letters of the country (ISO 3166-1), such as \"GB\"",
        ));
    }
    let (passphrase, psk) = match password {
        None | Some("") => (None, None),
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let mut psk = [0; 32];
            for (i, byte) in psk.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or_default();
            }
            (None, Some(psk))
        }
        Some(p) if (8..=63).contains(&p.len()) && p.bytes().all(|b| (b' '..=b'~').contains(&b)) => {
            (
                Some(p.to_owned()),
                Some(crate::firstboot::crypt::wpa_psk(p, ssid)),
            )
        }
        Some(p) => {
            return Err(invalid(
                "wifi.password",
                p,
                "a WPA passphrase is 8 to 63 printable ASCII characters (or the 64 hex \
                 digits of the key itself)",
            ));
        }
    };
    Ok(Wifi {
        ssid: ssid.to_owned(),
        passphrase,
        psk,
        country: country.to_owned(),
        hidden,
    })
}

/// A tz database name: `Area/Location` of letters, digits, `_`, `-`, `+`.
pub fn check_timezone(zone: &str) -> Result<String, SettingsError> {
    let ok = !zone.is_empty()
        && zone.len() <= 64
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    if !ok {
        return Err(invalid(
            "locale.timezone",
            zone,
            "give a time zone name such as \"Europe/London\" (see timedatectl list-timezones)",
        ));
    }
    Ok(zone.to_owned())
}

/// An XKB layout name.
pub fn check_keyboard(layout: &str) -> Result<String, SettingsError> {
    let ok = (1..=32).contains(&layout.len())
        && layout
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(invalid(
            "locale.keyboard",
            layout,
            "give an XKB layout such as \"gb\" or \"de\"",
        ));
    }
    Ok(layout.to_owned())
}

/// A locale name: `ll[_CC][.charset][@modifier]`.
pub fn check_locale(locale: &str) -> Result<String, SettingsError> {
    let (name, modifier) = locale.split_once('@').unwrap_or((locale, ""));
    let (lang, charset) = name.split_once('.').unwrap_or((name, ""));
    let (language, country) = lang.split_once('_').unwrap_or((lang, ""));
    let ok = (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && (country.is_empty()
            || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())))
        && charset.len() <= 16
        && charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && modifier.len() <= 16
        && modifier.bytes().all(|b| b.is_ascii_lowercase());
    if !ok {
        return Err(invalid(
            "locale.locale",
            locale,
            "give a locale such as \"en_GB.UTF-8\" (see locale -a)",
        ));
    }
    Ok(locale.to_owned())
}

#[cfg(test)]
mod tests;
