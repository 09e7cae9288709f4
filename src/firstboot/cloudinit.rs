//! cloud-init's NoCloud seed on the boot partition: `meta-data`, `user-data` and
//! `network-config`, as Ubuntu's Raspberry Pi images ([`Flavour::Generic`]) and Raspberry
//! Pi OS Trixie ([`Flavour::RaspberryPiOs`], Imager's `cloudinit-rpi`) read them.
//!
//! What is read, and from where (cloud-init's `cloudinit/sources/DataSourceNoCloud.py` and
//! `cc_*` modules, 22.4 here and upstream; Raspberry Pi Imager 2.0.11's
//! `src/customization_generator.cpp` and `src/downloadthread.cpp`; pi-gen's
//! `stage2/04-cloud-init`; cloud-init's `cloudinit/distros/raspberry_pi_os.py` and
//! `cloudinit/config/cc_raspberry_pi.py`):
//!
//! - NoCloud needs both `meta-data` and `user-data` (`network-config` is optional). A new
//!   `instance-id` in `meta-data` is what makes cloud-init treat the boot as a first boot
//!   and apply the seed again, so each write gets a fresh one; `local-hostname` names the
//!   host even where `user-data` is left alone. An image's own `dsmode:` line is kept
//!   (Raspberry Pi OS ships `dsmode: local`).
//! - `user-data` (`#cloud-config`): `hostname` with `manage_etc_hosts: true`; the user as
//!   the singular `user:` key, which cloud-init merges over the image's `default_user` so it
//!   keeps that user's groups (`sudo`, `gpio`, `video`, …), with `hashed_passwd` (applied
//!   even to an existing user), `lock_passwd: false`, `shell` and its `ssh_authorized_keys`.
//!   Every image's `default_user` carries `sudo: ["ALL=(ALL) NOPASSWD:ALL"]`, which such a
//!   merge inherits silently; `sudo: null` is written so the user gets no sudoers rule and
//!   sudo asks for the password (membership of the `sudo` group is kept). Imager 2.0.11
//!   writes the same after inheriting passwordless sudo had been its bug. Keys without a user
//!   go to the image's default user (top-level `ssh_authorized_keys`). `ssh_pwauth`,
//!   `timezone`, `locale`, and `keyboard` (`layout`, `model: pc105`, cc_keyboard) follow.
//!   cloud-init's `cc_ssh` installs keys but never enables the SSH server, which Raspberry
//!   Pi OS ships disabled, so `runcmd` runs `systemctl enable --now ssh` (a no-op where it
//!   is on already), as Imager does. (Imager once wrote an `enable_ssh:` key; no
//!   cloud-init reads it, and Imager dropped it.)
//! - `network-config`: version 2, without the `network:` wrapper, which every cloud-init
//!   reads (newer ones also strip the wrapper): `eth0` on DHCP so the wired port keeps
//!   working, and `wlan0` with the network under `access-points`, its PSK as 64 hex digits
//!   in `password` (netplan writes it unquoted since 0.99), `hidden: true` only when hidden
//!   (netplan 0.100 and later know the key), or `auth: {key-management: none}` when open.
//! - `cmdline.txt`, when the partition has one: the Wi-Fi country as
//!   `cfg80211.ieee80211_regdom=`, as Imager does for every format.
//!
//! Raspberry Pi OS ([`Flavour::RaspberryPiOs`]) differs in two points, both Imager's:
//! `regulatory-domain:` is set on `wlan0` (its netplan is new enough: the key came in netplan
//! 0.105, and an older netplan refuses the whole file over an unknown key, which is why the
//! generic flavour leaves it to `cmdline.txt`); and `cmdline.txt` also gets
//! `ds=nocloud;i=<instance-id>`, so cloud-init's cache check finds the instance without
//! rereading the seed at every boot. Its cloud-init has a `raspberry-pi-os` distro whose
//! `set_keymap` also updates the desktop's (labwc) keyboard and whose `apply_locale` uses
//! `raspi-config`, so the ordinary `keyboard:` and `locale:` keys are the right ones; its
//! own `rpi:` key (`cc_raspberry_pi`) only switches interfaces (SPI, I²C, serial, 1-Wire)
//! and USB gadget mode, which these settings do not offer, so it is never written. The
//! `rpi-cloud-init-mods` package's own modules were not available to read.
//!
//! # An image's own `user-data`
//!
//! Its content is replaced, not merged. A line-based YAML merge cannot be made safe (flow
//! styles, anchors, block scalars), and cloud-init's own merging of a MIME multi-part file
//! keeps keys that contradict the new ones (Ubuntu's `chpasswd` list for its `ubuntu` user
//! would then fail once that user is renamed). Raspberry Pi OS's default `user-data` is
//! comments only, so nothing is lost there. Ubuntu's sets the `ubuntu`/`ubuntu` login;
//! replacing it with settings that have no user would leave a card nobody can log in to, so
//! that is refused ([`RenderError::WouldLoseLogin`]). And `user-data` is only written when
//! the settings have something for it (a user, SSH or locale), or the image has none
//! (NoCloud needs one): a hostname alone goes to `meta-data`, Wi-Fi alone to
//! `network-config`, and the image's `user-data` stays as it was. (If that file sets a
//! `hostname:` of its own, which would win over `meta-data`, it is replaced too.)
//! `network-config` is replaced whole when Wi-Fi is set and left alone otherwise.

use super::quote::yaml;
use super::render::{REGDOM, RenderError, edit_cmdline, fresh_u64};
use super::{BootFile, Settings};

/// Which reader of the seed the files are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// Upstream cloud-init as Ubuntu and other distributions ship it.
    Generic,
    /// Raspberry Pi OS Trixie's cloud-init (Imager's `cloudinit-rpi`).
    RaspberryPiOs,
}

/// The top-level keys of a `user-data` that set up a login.
const LOGIN_KEYS: &[&str] = &[
    "users",
    "user",
    "chpasswd",
    "password",
    "ssh_authorized_keys",
    "ssh_import_id",
];

/// The first of `keys` that `text` has as a top-level (block-style, column 0) key.
fn top_level_key<'k>(text: &[u8], keys: &[&'k str]) -> Option<&'k str> {
    text.split(|&b| b == b'\n').find_map(|line| {
        keys.iter().copied().find(|key| {
            line.strip_prefix(key.as_bytes()).is_some_and(|rest| {
                let rest = rest.trim_ascii_start();
                rest.first() == Some(&b':')
            })
        })
    })
}

/// The seed files, and `cmdline.txt` when it changes.
pub(crate) fn render(
    settings: &Settings,
    flavour: Flavour,
    existing: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<BootFile>, RenderError> {
    let instance_id = format!("blockprint-{:016x}", fresh_u64());
    let ssh_on = settings.ssh.as_ref().is_some_and(|ssh| ssh.enabled);
    let keys_given = settings
        .ssh
        .as_ref()
        .is_some_and(|ssh| ssh.enabled && !ssh.authorized_keys.is_empty());
    let locale_set = settings
        .locale
        .as_ref()
        .is_some_and(|l| l.timezone.is_some() || l.keyboard.is_some() || l.locale.is_some());

    let mut files = Vec::new();
    let old_user_data = existing("user-data");
    let own_hostname = old_user_data
        .as_deref()
        .and_then(|text| top_level_key(text, &["hostname", "fqdn"]))
        .is_some();
    let write_user_data = settings.user.is_some()
        || ssh_on
        || locale_set
        || old_user_data.is_none()
        || (settings.hostname.is_some() && own_hostname);
    if write_user_data {
        if let Some(old) = &old_user_data
            && settings.user.is_none()
            && !keys_given
            && let Some(key) = top_level_key(old, LOGIN_KEYS)
        {
            return Err(RenderError::WouldLoseLogin {
                file: "user-data",
                key: key.to_owned(),
            });
        }
        files.push(BootFile {
            path: "user-data".to_owned(),
            bytes: user_data(settings).into_bytes(),
        });
    }
    files.push(BootFile {
        path: "meta-data".to_owned(),
        bytes: meta_data(settings, &instance_id, existing("meta-data").as_deref()).into_bytes(),
    });
    if settings.wifi.is_some() {
        files.push(BootFile {
            path: "network-config".to_owned(),
            bytes: network_config(settings, flavour).into_bytes(),
        });
    }

    if let Some(cmdline) = existing("cmdline.txt") {
        let mut add = Vec::new();
        if let Some(wifi) = &settings.wifi {
            add.push(format!("{REGDOM}{}", wifi.country));
        }
        let mut ds = false;
        if flavour == Flavour::RaspberryPiOs {
            // An image's own ds= word with more in it than an instance (a seedfrom) is kept,
            // and then none is added.
            ds = !first_line_words(&cmdline).any(|w| w.starts_with(b"ds=") && !our_ds_word(w));
            if ds {
                add.push(format!("ds=nocloud;i={instance_id}"));
            }
        }
        if !add.is_empty() {
            let wifi = settings.wifi.is_some();
            let bytes = edit_cmdline(
                &cmdline,
                &|w| (wifi && w.starts_with(REGDOM.as_bytes())) || (ds && our_ds_word(w)),
                &add,
            );
            files.push(BootFile {
                path: "cmdline.txt".to_owned(),
                bytes,
            });
        }
    }
    Ok(files)
}

/// The words of the first line of `cmdline`.
fn first_line_words(cmdline: &[u8]) -> impl Iterator<Item = &[u8]> {
    let line = cmdline.split(|&b| b == b'\n').next().unwrap_or_default();
    line.split(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .filter(|w| !w.is_empty())
}

/// Whether `word` is `ds=nocloud` with nothing but an instance-id: one this writer replaces.
fn our_ds_word(word: &[u8]) -> bool {
    let Some(rest) = word.strip_prefix(b"ds=nocloud") else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix(b";i=")
            .is_some_and(|id| !id.contains(&b';'))
}

/// `user-data`.
pub(crate) fn user_data(settings: &Settings) -> String {
    let mut y = String::from(
        "#cloud-config\n# Written by Blockprint. cloud-init applies it at the first boot of the \
         instance-id in meta-data.\n",
    );
    if let Some(hostname) = &settings.hostname {
        y.push_str(&format!(
            "hostname: {}\nmanage_etc_hosts: true\n",
            yaml(hostname)
        ));
    }
    let ssh = settings.ssh.as_ref().filter(|ssh| ssh.enabled);
    let keys = ssh
        .map(|ssh| ssh.authorized_keys.as_slice())
        .unwrap_or_default();
    if let Some(user) = &settings.user {
        y.push_str(&format!(
            "user:\n  name: {}\n  hashed_passwd: {}\n  lock_passwd: false\n  shell: {}\n  \
             sudo: null\n",
            yaml(&user.name),
            yaml(&user.password_hash),
            yaml("/bin/bash"),
        ));
        push_list(&mut y, "  ssh_authorized_keys", keys);
    } else {
        push_list(&mut y, "ssh_authorized_keys", keys);
    }
    if let Some(ssh) = ssh {
        y.push_str(&format!("ssh_pwauth: {}\n", ssh.password_login));
    }
    if let Some(locale) = &settings.locale {
        if let Some(zone) = &locale.timezone {
            y.push_str(&format!("timezone: {}\n", yaml(zone)));
        }
        if let Some(name) = &locale.locale {
            y.push_str(&format!("locale: {}\n", yaml(name)));
            // Debian's locale-gen ignores the locale cloud-init passes it and builds only what
            // /etc/locale.gen lists, so update-locale then refuses the locale
            // (canonical/cloud-init#4195). The line in that list makes it built on Debian and
            // Raspberry Pi OS too; Ubuntu's locale-gen reads its argument and ignores the file.
            let charset = super::systemd::charset(name);
            if !charset.is_empty() {
                y.push_str(&format!(
                    "write_files:\n  - path: {}\n    content: {}\n    append: true\n",
                    yaml("/etc/locale.gen"),
                    yaml(&format!("{name} {charset}\n"))
                ));
            }
        }
        if let Some(layout) = &locale.keyboard {
            y.push_str(&format!(
                "keyboard:\n  layout: {}\n  model: {}\n",
                yaml(layout),
                yaml("pc105")
            ));
        }
    }
    if ssh.is_some() {
        y.push_str(&format!(
            "runcmd:\n  - [{}, {}, {}, {}]\n",
            yaml("systemctl"),
            yaml("enable"),
            yaml("--now"),
            yaml("ssh")
        ));
    }
    y
}

/// `key:` and one `- "item"` line an item, indented under it; nothing for no items.
fn push_list(y: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let indent = key.len() - key.trim_start().len();
    y.push_str(key);
    y.push_str(":\n");
    for item in items {
        y.push_str(&" ".repeat(indent + 2));
        y.push_str("- ");
        y.push_str(&yaml(item));
        y.push('\n');
    }
}

/// `meta-data`, keeping the image's own `dsmode:` line when it has a valid one.
pub(crate) fn meta_data(settings: &Settings, instance_id: &str, old: Option<&[u8]>) -> String {
    let mut y = format!(
        "# Written by Blockprint. A new instance-id makes cloud-init set the system up again.\n\
         instance-id: {}\n",
        yaml(instance_id)
    );
    if let Some(hostname) = &settings.hostname {
        y.push_str(&format!("local-hostname: {}\n", yaml(hostname)));
    }
    let dsmode = old.and_then(|old| {
        old.split(|&b| b == b'\n').find_map(|line| {
            let value = line.strip_prefix(b"dsmode:")?.trim_ascii();
            [&b"local"[..], b"net", b"disabled"]
                .contains(&value)
                .then(|| String::from_utf8_lossy(value).into_owned())
        })
    });
    if let Some(mode) = dsmode {
        y.push_str(&format!("dsmode: {mode}\n"));
    }
    y
}

/// `network-config` (version 2); empty without Wi-Fi.
pub(crate) fn network_config(settings: &Settings, flavour: Flavour) -> String {
    let Some(wifi) = &settings.wifi else {
        return String::new();
    };
    let mut y = String::from(
        "# Written by Blockprint: the wired port on DHCP, and the Wi-Fi network.\nversion: 2\n\
         ethernets:\n  eth0:\n    dhcp4: true\n    dhcp6: true\n    optional: true\nwifis:\n  \
         wlan0:\n    dhcp4: true\n    optional: true\n",
    );
    if flavour == Flavour::RaspberryPiOs {
        y.push_str(&format!("    regulatory-domain: {}\n", yaml(&wifi.country)));
    }
    y.push_str(&format!(
        "    access-points:\n      {}:\n",
        yaml(&wifi.ssid)
    ));
    if wifi.hidden {
        y.push_str("        hidden: true\n");
    }
    match wifi.psk_hex() {
        Some(psk) => y.push_str(&format!("        password: {}\n", yaml(&psk))),
        None => y.push_str("        auth:\n          key-management: none\n"),
    }
    y
}

#[cfg(test)]
mod tests;
