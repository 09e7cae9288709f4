//! Raspberry Pi Imager 2.0.11's `rpi-preseed` format: one `rpi-preseed.toml` on the boot
//! partition, which the image's `rpi-preseed` package applies once at first boot (its units
//! start on the file's presence; nothing is added to `cmdline.txt` to start it).
//!
//! What is written follows Imager 2.0.11's `generateRpiPreseedToml` (its
//! `src/customization_generator.cpp`; `doc/os_customisation_formats.md` describes the
//! format) and rpi-preseed's own documentation of the keys (`doc/rpi-preseed.5`,
//! `schema/rpi-preseed.schema`, `examples/rpi-preseed.toml` in raspberrypi/rpi-preseed):
//!
//! ```toml
//! config_version = "1.0"
//!
//! [system]
//! hostname = "pi-kitchen"
//!
//! [user]
//! name = "alex"
//! password = "$6$…"
//! password_encrypted = true
//! groups = ["sudo"]
//!
//! [ssh]
//! enabled = true
//! password_authentication = false
//! authorized_keys = ["ssh-ed25519 AAAA… alex@laptop"]
//!
//! [wlan]
//! ssid = "Home"
//! password = "<the PSK, 64 hex digits>"
//! password_encrypted = true
//! hidden = false
//! country = "GB"
//!
//! [locale]
//! keymap = "gb"
//! timezone = "Europe/London"
//! locales = ["en_GB.UTF-8"]
//! lang = "en_GB.UTF-8"
//! ```
//!
//! As Imager does: `config_version` "1.0"; the password only as its hash with
//! `password_encrypted = true`; `groups = ["sudo"]` (rpi-preseed adds the account to the
//! group if the image has it; sudo then asks for the password: `passwordless_sudo` is never
//! written); `[ssh]` only when SSH is on; the Wi-Fi key as the PSK with
//! `password_encrypted = true`, and no password at all for an open network (rpi-preseed
//! then uses `key_mgmt = "none"`). Beyond Imager, which has no locale setting, the locale
//! goes into `locales` and `lang`, keys rpi-preseed documents (an rpi-preseed that did not
//! know them would warn and go on).
//!
//! rpi-preseed reads the file with its own small parser (`src/lib/toml.sh`): it undoes only
//! `\\` and `\"` in basic strings, and ends a multi-line array at the first line holding a
//! `]`. So every string is written by [`quote::toml()`] (which needs no other escape for
//! values the settings allow) and every array on one line, where a `]` inside a key's comment
//! cannot end it early.
//!
//! `cmdline.txt` gets the Wi-Fi country as `cfg80211.ieee80211_regdom=` when the partition
//! has one, as Imager does (rpi-preseed sets the country only once its `[wlan]` applies).

use super::quote;
use super::render::{REGDOM, RenderError, edit_cmdline};
use super::{BootFile, Settings};

/// `rpi-preseed.toml`, and `cmdline.txt` when Wi-Fi is set and the partition has one.
pub(crate) fn render(
    settings: &Settings,
    existing: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<BootFile>, RenderError> {
    let mut files = vec![BootFile {
        path: "rpi-preseed.toml".to_owned(),
        bytes: toml(settings).into_bytes(),
    }];
    if let Some(wifi) = &settings.wifi
        && let Some(cmdline) = existing("cmdline.txt")
    {
        files.push(BootFile {
            path: "cmdline.txt".to_owned(),
            bytes: edit_cmdline(
                &cmdline,
                &|w| w.starts_with(REGDOM.as_bytes()),
                &[format!("{REGDOM}{}", wifi.country)],
            ),
        });
    }
    Ok(files)
}

/// `key = "value"`.
fn string(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!("{key} = {}\n", quote::toml(value)));
}

/// `key = ["a", "b"]`, on one line.
fn array(out: &mut String, key: &str, items: &[String]) {
    let items: Vec<String> = items.iter().map(|i| quote::toml(i)).collect();
    out.push_str(&format!("{key} = [{}]\n", items.join(", ")));
}

/// The file.
pub(crate) fn toml(settings: &Settings) -> String {
    let mut t = String::from("config_version = \"1.0\"\n");
    if let Some(hostname) = &settings.hostname {
        t.push_str("\n[system]\n");
        string(&mut t, "hostname", hostname);
    }
    if let Some(user) = &settings.user {
        t.push_str("\n[user]\n");
        string(&mut t, "name", &user.name);
        string(&mut t, "password", &user.password_hash);
        t.push_str("password_encrypted = true\n");
        array(&mut t, "groups", &["sudo".to_owned()]);
    }
    if let Some(ssh) = settings.ssh.as_ref().filter(|ssh| ssh.enabled) {
        t.push_str("\n[ssh]\nenabled = true\n");
        t.push_str(&format!(
            "password_authentication = {}\n",
            ssh.password_login
        ));
        if !ssh.authorized_keys.is_empty() {
            array(&mut t, "authorized_keys", &ssh.authorized_keys);
        }
    }
    if let Some(wifi) = &settings.wifi {
        t.push_str("\n[wlan]\n");
        string(&mut t, "ssid", &wifi.ssid);
        if let Some(psk) = wifi.psk_hex() {
            string(&mut t, "password", &psk);
            t.push_str("password_encrypted = true\n");
        }
        t.push_str(&format!("hidden = {}\n", wifi.hidden));
        string(&mut t, "country", &wifi.country);
    }
    if let Some(locale) = &settings.locale
        && (locale.keyboard.is_some() || locale.timezone.is_some() || locale.locale.is_some())
    {
        t.push_str("\n[locale]\n");
        if let Some(keymap) = &locale.keyboard {
            string(&mut t, "keymap", keymap);
        }
        if let Some(zone) = &locale.timezone {
            string(&mut t, "timezone", zone);
        }
        if let Some(name) = &locale.locale {
            array(&mut t, "locales", std::slice::from_ref(name));
            string(&mut t, "lang", name);
        }
    }
    t
}

#[cfg(test)]
mod tests;
