//! The settings turned into the files of one first-boot format: [`render`] picks the writer,
//! [`summary`] says in a few words what was set.
//!
//! Every writer is a function of the settings and of the boot partition's current files (read
//! through `existing`), and returns each file it changes whole. Nothing here touches a disk.
//!
//! | format                 | files                                                        |
//! |------------------------|--------------------------------------------------------------|
//! | [`Format::Systemd`]    | `firstrun.sh`, `cmdline.txt` (its `systemd.run=` hook)       |
//! | [`Format::CloudInit`]  | `meta-data`, `user-data`, `network-config`, `cmdline.txt`    |
//! | [`Format::CloudInitRpi`] | the same, as Raspberry Pi OS Trixie reads them             |
//! | [`Format::RpiPreseed`] | `rpi-preseed.toml`, `cmdline.txt`                            |
//!
//! `cmdline.txt` is only rewritten where the format needs it (always for the systemd hook;
//! otherwise for the Wi-Fi country, and for Raspberry Pi OS's cloud-init the NoCloud
//! instance), keeping every other byte of it as it was. See the modules [`super::systemd`],
//! [`super::cloudinit`] and [`super::preseed`] for what each system reads and why.

use super::{BootFile, Format, Settings};

/// Why the files of a format could not be made for this boot partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The systemd format needs `cmdline.txt` to start its script.
    #[error(
        "the boot partition has no cmdline.txt: this image does not boot the way Raspberry Pi \
         OS does, so a firstrun.sh on it would never run; write the image without settings, \
         or use the first-boot format the image really has"
    )]
    NoCmdline,
    /// Writing the settings would replace a `user-data` that sets up the image's own login,
    /// and the settings give no login of their own: the card could not be logged into.
    #[error(
        "{file}: the image's own user-data sets up its login ('{key}:'), and writing these \
         settings replaces that file; add a user (or SSH keys) to the settings so that the \
         card can still be logged into"
    )]
    WouldLoseLogin {
        /// The file, `user-data`.
        file: &'static str,
        /// The top-level key of the image's file that sets up the login, such as `chpasswd`.
        key: String,
    },
}

/// The files that carry `settings` in `format`, each whole, given the boot partition's current
/// files (`existing("cmdline.txt")` is its content, or `None` if there is no such file).
///
/// Empty settings give no files.
pub fn render(
    settings: &Settings,
    format: Format,
    existing: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<BootFile>, RenderError> {
    if settings.is_empty() {
        return Ok(Vec::new());
    }
    match format {
        Format::Systemd => super::systemd::render(settings, existing),
        Format::CloudInit => {
            super::cloudinit::render(settings, super::cloudinit::Flavour::Generic, existing)
        }
        Format::CloudInitRpi => {
            super::cloudinit::render(settings, super::cloudinit::Flavour::RaspberryPiOs, existing)
        }
        Format::RpiPreseed => super::preseed::render(settings, existing),
    }
}

/// The settings in a few words, only the parts that are set: "hostname pi-kitchen, user
/// alex, SSH keys 1, Wi-Fi Home, time zone Europe/London, keyboard gb, locale en_GB.UTF-8".
///
/// SSH without keys reads "SSH on (password)"; SSH that is off is left out, as it writes
/// nothing. Empty settings give an empty string.
pub fn summary(settings: &Settings) -> String {
    let mut parts = Vec::new();
    if let Some(hostname) = &settings.hostname {
        parts.push(format!("hostname {hostname}"));
    }
    if let Some(user) = &settings.user {
        parts.push(format!("user {}", user.name));
    }
    if let Some(ssh) = settings.ssh.as_ref().filter(|ssh| ssh.enabled) {
        parts.push(match (ssh.authorized_keys.len(), ssh.password_login) {
            (0, _) => "SSH on (password)".to_owned(),
            (keys, false) => format!("SSH keys {keys}"),
            (keys, true) => format!("SSH keys {keys} and password"),
        });
    }
    if let Some(wifi) = &settings.wifi {
        parts.push(if wifi.hidden {
            format!("Wi-Fi {} (hidden)", wifi.ssid)
        } else {
            format!("Wi-Fi {}", wifi.ssid)
        });
    }
    if let Some(locale) = &settings.locale {
        if let Some(zone) = &locale.timezone {
            parts.push(format!("time zone {zone}"));
        }
        if let Some(keyboard) = &locale.keyboard {
            parts.push(format!("keyboard {keyboard}"));
        }
        if let Some(name) = &locale.locale {
            parts.push(format!("locale {name}"));
        }
    }
    parts.join(", ")
}

/// `cmdline.txt` with the words `drop` picks removed from its first line and `add` appended to
/// it, one space before each; every other byte (the rest of the line, its end, any further
/// lines) stays as it was, but for spaces that ended the line.
pub(crate) fn edit_cmdline(
    cmdline: &[u8],
    drop: &dyn Fn(&[u8]) -> bool,
    add: &[String],
) -> Vec<u8> {
    let line_end = cmdline
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(cmdline.len());
    let (mut line, mut rest) = cmdline.split_at(line_end);
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
        rest = &cmdline[line_end - 1..];
    }
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let mut out = Vec::with_capacity(cmdline.len() + 160);
    let mut at = 0;
    while at < line.len() {
        let word_start = line[at..]
            .iter()
            .position(|b| !blank(b))
            .map_or(line.len(), |i| at + i);
        if word_start == line.len() {
            break;
        }
        let word_end = line[word_start..]
            .iter()
            .position(blank)
            .map_or(line.len(), |i| word_start + i);
        let word = &line[word_start..word_end];
        if !drop(word) {
            if out.is_empty() {
                // The line's own leading blanks, if it had any, but not those of a dropped
                // first word's successor.
                let lead = line.iter().take_while(|b| blank(b)).count();
                out.extend_from_slice(&line[..lead.min(word_start)]);
            } else {
                out.extend_from_slice(&line[at..word_start]);
            }
            out.extend_from_slice(word);
        }
        at = word_end;
    }
    for word in add {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word.as_bytes());
    }
    out.extend_from_slice(rest);
    out
}

pub(crate) use crate::nonce::fresh_u64;

/// A random (version 4) UUID in its usual text form.
pub(crate) fn fresh_uuid() -> String {
    let hi = fresh_u64();
    let lo = fresh_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = super::quote::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The Wi-Fi country word for the kernel command line, which every format also sets there
/// when the boot partition has a `cmdline.txt` (as Raspberry Pi Imager does): the regulatory
/// domain is then right from the first boot on, before any first-boot program has run.
pub(crate) const REGDOM: &str = "cfg80211.ieee80211_regdom=";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firstboot::parse;

    const SETTINGS: &str = r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password_hash = "$6$rounds=5000$saltsaltsaltsalt$abcdefghijklmnopqrstuv"
[ssh]
enabled = true
password_login = false
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
[locale]
timezone = "Europe/London"
keyboard = "gb"
locale = "en_GB.UTF-8"
"#;

    #[test]
    fn the_summary_names_each_part_that_is_set() {
        let settings = parse(SETTINGS, "test.toml").unwrap();
        assert_eq!(
            summary(&settings),
            "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home, time zone Europe/London, \
             keyboard gb, locale en_GB.UTF-8"
        );
        let settings = parse(
            "hostname = \"pi\"\n[ssh]\nenabled = true\n[wifi]\nssid = \"Hid\"\ncountry = \"DE\"\nhidden = true\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            summary(&settings),
            "hostname pi, SSH on (password), Wi-Fi Hid (hidden)"
        );
        let settings = parse("[ssh]\nenabled = false\n", "t.toml").unwrap();
        assert_eq!(summary(&settings), "");
        assert_eq!(summary(&Settings::default()), "");
    }

    #[test]
    fn empty_settings_write_nothing_in_any_format() {
        let none = |_: &str| None;
        for format in [
            Format::Systemd,
            Format::CloudInit,
            Format::CloudInitRpi,
            Format::RpiPreseed,
        ] {
            assert_eq!(render(&Settings::default(), format, &none), Ok(Vec::new()));
        }
    }

    #[test]
    fn the_systemd_format_needs_a_cmdline_txt() {
        let settings = parse(SETTINGS, "test.toml").unwrap();
        let err = render(&settings, Format::Systemd, &|_| None).unwrap_err();
        assert_eq!(err, RenderError::NoCmdline);
        assert!(err.to_string().contains("has no cmdline.txt"), "{err}");
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn cmdline_edits_keep_every_other_byte() {
        let drop = |w: &[u8]| w.starts_with(b"x=");
        let add = words(&["x=1", "y"]);
        let cases: &[(&[u8], &[u8])] = &[
            (b"a  b\tc\n", b"a  b\tc x=1 y\n"),
            (b"a x=0 b x=2\n", b"a b x=1 y\n"),
            (b"x=0 a\n", b"a x=1 y\n"),
            (b"  a   \n", b"  a x=1 y\n"),
            (b"a\r\nsecond line\n", b"a x=1 y\r\nsecond line\n"),
            (b"a", b"a x=1 y"),
            (b"", b"x=1 y"),
            (b"\n", b"x=1 y\n"),
            (b"x=0\n", b"x=1 y\n"),
            (b"caf\xc3\xa9 \xff\n", b"caf\xc3\xa9 \xff x=1 y\n"),
        ];
        for (before, after) in cases {
            assert_eq!(
                edit_cmdline(before, &drop, &add),
                after.to_vec(),
                "{:?}",
                String::from_utf8_lossy(before)
            );
        }
    }

    #[test]
    fn fresh_ids_differ_and_uuids_are_version_4() {
        let uuid = fresh_uuid();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        assert_ne!(uuid, fresh_uuid());
    }
}
