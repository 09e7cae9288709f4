//! The words the pages use for first-boot settings: the settings in a few words, and the
//! mechanism an image sets itself up with.

use blockprint::firstboot::{Format, Settings, Unsupported};
use gettextrs::gettext;

use crate::gui::i18n::{gettext_f, ngettext_f};

/// The settings in a few words, translated; in English the same words as the engine's own
/// summary: "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home".
pub fn summary(settings: &Settings) -> String {
    let mut parts = Vec::new();
    if let Some(hostname) = &settings.hostname {
        parts.push(gettext_f("hostname {hostname}", &[("hostname", hostname)]));
    }
    if let Some(user) = &settings.user {
        parts.push(gettext_f("user {user}", &[("user", &user.name)]));
    }
    // SSH that is off writes nothing, so it is not told.
    if let Some(ssh) = settings.ssh.as_ref().filter(|ssh| ssh.enabled) {
        let keys = ssh.authorized_keys.len();
        let n = keys.to_string();
        parts.push(match (keys, ssh.password_login) {
            (0, _) => gettext("SSH on (password)"),
            (_, false) => ngettext_f(
                // Translators: the number of SSH keys written, in a list such as
                // "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home".
                "SSH keys {n}",
                "SSH keys {n}",
                keys as u64,
                &[("n", &n)],
            ),
            (_, true) => ngettext_f(
                "SSH keys {n} and password",
                "SSH keys {n} and password",
                keys as u64,
                &[("n", &n)],
            ),
        });
    }
    if let Some(wifi) = &settings.wifi {
        parts.push(if wifi.hidden {
            gettext_f("Wi-Fi {ssid} (hidden)", &[("ssid", &wifi.ssid)])
        } else {
            gettext_f("Wi-Fi {ssid}", &[("ssid", &wifi.ssid)])
        });
    }
    if let Some(locale) = &settings.locale {
        if let Some(zone) = &locale.timezone {
            parts.push(gettext_f("time zone {zone}", &[("zone", zone)]));
        }
        if let Some(layout) = &locale.keyboard {
            parts.push(gettext_f("keyboard {layout}", &[("layout", layout)]));
        }
        if let Some(name) = &locale.locale {
            parts.push(gettext_f("locale {locale}", &[("locale", name)]));
        }
    }
    parts.join(", ")
}

/// The mechanism, as a name: "the Raspberry Pi OS first-boot script", "cloud-init".
pub fn mechanism(format: Format) -> String {
    match format {
        Format::Systemd => gettext("the Raspberry Pi OS first-boot script"),
        Format::CloudInit => gettext("cloud-init"),
        Format::CloudInitRpi => gettext("cloud-init (Raspberry Pi OS)"),
        Format::RpiPreseed => gettext("Raspberry Pi Imager’s preseed file"),
    }
}

/// Why the image takes no settings, in a line of the image page.
pub fn unsettable(why: Option<&Unsupported>) -> String {
    match why {
        Some(Unsupported::Armbian { .. }) => {
            gettext("Armbian asks for these settings at its first login on the board")
        }
        Some(Unsupported::NoSystemd { .. }) => {
            gettext("This image’s system has no systemd to apply settings with")
        }
        Some(Unsupported::UnseededCloudInit { .. }) => gettext(
            "This image has cloud-init, but nowhere on its boot partition for it to read settings from",
        ),
        _ => gettext("This image has no first-boot mechanism Blockprint knows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_the_engine_s() {
        let settings = blockprint::firstboot::parse(
            r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password_hash = "$6$rounds=5000$abcdefgh$0123456789"
[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvYg alex@laptop"]
[wifi]
ssid = "Home"
country = "GB"
"#,
            "test",
        )
        .unwrap();
        assert_eq!(
            summary(&settings),
            "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home"
        );
        assert_eq!(
            summary(&settings),
            blockprint::firstboot::summary(&settings),
            "the engine's words"
        );
        let mut other = settings.clone();
        other.ssh = None;
        other.wifi.as_mut().unwrap().hidden = true;
        other.locale = Some(blockprint::firstboot::Locale {
            timezone: Some("Europe/London".into()),
            keyboard: Some("gb".into()),
            locale: Some("en_GB.UTF-8".into()),
        });
        assert_eq!(
            summary(&other),
            "hostname pi-kitchen, user alex, Wi-Fi Home (hidden), time zone Europe/London, \
             keyboard gb, locale en_GB.UTF-8"
        );
        assert_eq!(summary(&other), blockprint::firstboot::summary(&other));
        for keys in [0, 2] {
            other.ssh = Some(blockprint::firstboot::Ssh {
                enabled: true,
                password_login: true,
                authorized_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvYg".into(); keys],
            });
            assert_eq!(summary(&other), blockprint::firstboot::summary(&other));
        }
        assert_eq!(summary(&Settings::default()), "");
    }
}
