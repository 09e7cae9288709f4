//! Raspberry Pi OS's `systemd` first-boot format: a `firstrun.sh` on the boot partition,
//! started once by `systemd.run=` on the kernel command line.
//!
//! What the images read (Raspberry Pi Imager 2.0.11's `src/customization_generator.cpp` and
//! `src/downloadthread.cpp`; raspberrypi-sys-mods' `usr/lib/raspberrypi-sys-mods/imager_custom`
//! and `initramfs-tools/scripts/local-bottom/imager_fixup`; userconf-pi's `userconf`):
//!
//! - `cmdline.txt` gets ` systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot
//!   systemd.unit=kernel-command-line.target` appended to its one line, and
//!   ` cfg80211.ieee80211_regdom=CC` when a Wi-Fi country is set. The path is `/boot/…`
//!   even on Bookworm, whose boot partition is mounted at `/boot/firmware`: its initramfs
//!   hook `imager_fixup` sees exactly that word, rewrites `/boot/` to `/boot/firmware/` in
//!   `cmdline.txt`, and cuts `firstrun.sh` at its first line matching `rm.*firstrun\.sh$` to
//!   append a cleanup of its own. No line of this script matches that pattern, so the hook
//!   leaves the script whole (its lines land after `exit 0`, never run) and the script's own
//!   cleanup, which only removes its own words, is the one that runs.
//! - The script runs as root in `kernel-command-line.target`, before any login, then the
//!   board reboots.
//!
//! The script finds its own directory from `$0` (`/boot/firmware` on Bookworm, `/boot`
//! before), so it also runs from wherever a test copies the boot files. It uses Raspberry Pi
//! OS's helpers where they exist (`imager_custom set_hostname`, `enable_ssh`, `set_keymap`,
//! `set_timezone`; `userconf` to rename the first user; `raspi-config nonint
//! do_wifi_country` and `do_change_locale`) and does the same work directly when they are
//! missing or fail, so a plain Debian root gets the same result: `/etc/hostname` and the
//! `127.0.1.1` line of `/etc/hosts`; the user (the uid-1000 user renamed as `userconf`
//! does, or created) with its hash set by `usermod -p`; `authorized_keys` (700/600, owned by
//! the user); `ssh.service` enabled (`systemctl enable`, else the `multi-user.target.wants`
//! link); `PasswordAuthentication` in `/etc/ssh/sshd_config.d/10-blockprint.conf`; the
//! keyboard in `/etc/default/keyboard`; the locale in `/etc/locale.gen` (then `locale-gen`)
//! and `/etc/default/locale`; the time zone as the `/etc/localtime` link and
//! `/etc/timezone`; the Wi-Fi country as a `cfg80211` module option (and in
//! `/etc/default/crda` where that exists), with the saved rfkill block cleared.
//!
//! The Wi-Fi connection is always written by the script itself, as NetworkManager's
//! `/etc/NetworkManager/system-connections/preconfigured.nmconnection` (mode 600, the name
//! `imager_custom set_wlan` uses), rendered here with the SSID escaped as NetworkManager's
//! own writer does and the PSK as 64 hex digits: `imager_custom` pastes the SSID into that
//! file raw, which breaks on a backslash or a `;` list. rpi-preseed makes the same choice.
//! Where wpa_supplicant runs without NetworkManager (Raspberry Pi OS before Bookworm),
//! `/etc/wpa_supplicant/wpa_supplicant.conf` is written too, SSID and PSK as hex.
//!
//! `iw reg set` and `rfkill unblock` are left out on purpose: they change the running
//! kernel only, the board reboots right after, and run in a chroot they would change the
//! host's.
//!
//! Every value sits in one block of shell assignments at the top, each single-quoted by
//! [`quote::shell()`], and is used only as `"$VARIABLE"`: nothing in a value is ever run.
//! Each step that fails is reported on standard error (the journal) and the others still
//! run; the script always removes itself, so a board never loops on it. Running it again
//! does the same again and adds nothing twice.

use super::quote;
use super::render::{REGDOM, RenderError, edit_cmdline, fresh_uuid};
use super::{BootFile, Settings, Wifi};

/// The words that start the script, appended to `cmdline.txt`. The path is Raspberry Pi
/// Imager's, which Bookworm's initramfs rewrites to `/boot/firmware/firstrun.sh`.
pub(crate) const HOOK: [&str; 3] = [
    "systemd.run=/boot/firstrun.sh",
    "systemd.run_success_action=reboot",
    "systemd.unit=kernel-command-line.target",
];

/// Whether `word` of `cmdline.txt` is one this format replaces: an earlier hook (its
/// `systemd.run=` whatever the path, so it is never doubled).
fn hook_word(word: &[u8]) -> bool {
    word.starts_with(b"systemd.run=")
        || word.starts_with(b"systemd.run_success_action=")
        || word == b"systemd.unit=kernel-command-line.target"
}

/// `firstrun.sh` and the new `cmdline.txt`.
pub(crate) fn render(
    settings: &Settings,
    existing: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<BootFile>, RenderError> {
    let cmdline = existing("cmdline.txt").ok_or(RenderError::NoCmdline)?;
    let mut add = Vec::new();
    if let Some(wifi) = &settings.wifi {
        add.push(format!("{REGDOM}{}", wifi.country));
    }
    add.extend(HOOK.iter().map(|w| (*w).to_owned()));
    let wifi = settings.wifi.is_some();
    let cmdline = edit_cmdline(
        &cmdline,
        &|w| hook_word(w) || (wifi && w.starts_with(REGDOM.as_bytes())),
        &add,
    );
    Ok(vec![
        BootFile {
            path: "firstrun.sh".to_owned(),
            bytes: script(settings).into_bytes(),
        },
        BootFile {
            path: "cmdline.txt".to_owned(),
            bytes: cmdline,
        },
    ])
}

/// Appends `NAME='value'` to the settings block (with the note that tells shellcheck a `$`
/// or a backquote in it is meant literally).
fn assign(out: &mut String, name: &str, value: &str) {
    if value.contains(['$', '`']) {
        out.push_str("# shellcheck disable=SC2016 # literal on purpose\n");
    }
    out.push_str(name);
    out.push('=');
    out.push_str(&quote::shell(value));
    out.push('\n');
}

/// The script.
pub(crate) fn script(settings: &Settings) -> String {
    let ssh = settings.ssh.as_ref().filter(|ssh| ssh.enabled);
    let locale = settings.locale.clone().unwrap_or_default();

    let mut s = String::from(HEADER);
    s.push_str(SETTINGS_START);
    if let Some(hostname) = &settings.hostname {
        assign(&mut s, "HOSTNAME_NEW", hostname);
    }
    if let Some(user) = &settings.user {
        assign(&mut s, "USER_NAME", &user.name);
        assign(&mut s, "USER_HASH", &user.password_hash);
    }
    if let Some(ssh) = ssh {
        let user = settings.user.as_ref().map_or("", |u| u.name.as_str());
        assign(&mut s, "KEY_USER", user);
        assign(&mut s, "SSH_KEYS", &ssh.authorized_keys.join("\n"));
        assign(
            &mut s,
            "SSH_PASSWORD_LOGIN",
            if ssh.password_login { "yes" } else { "no" },
        );
    }
    if let Some(wifi) = &settings.wifi {
        assign(&mut s, "WIFI_SSID", &wifi.ssid);
        assign(&mut s, "WIFI_COUNTRY", &wifi.country);
        assign(&mut s, "WIFI_KEYFILE", &nm_keyfile(wifi, &fresh_uuid()));
        assign(&mut s, "WPA_CONF", &wpa_supplicant_conf(wifi));
    }
    if let Some(keymap) = &locale.keyboard {
        assign(&mut s, "KEYMAP", keymap);
    }
    if let Some(name) = &locale.locale {
        assign(&mut s, "LOCALE", name);
        assign(&mut s, "LOCALE_CHARSET", &charset(name));
    }
    if let Some(zone) = &locale.timezone {
        assign(&mut s, "TIMEZONE", zone);
    }
    s.push_str(SETTINGS_END);

    // Only what the steps below use, so that nothing is defined in vain.
    let imager_custom = settings.hostname.is_some()
        || ssh.is_some()
        || locale.keyboard.is_some()
        || locale.timezone.is_some();
    let have = ssh.is_some() || settings.wifi.is_some() || locale.locale.is_some();
    let put = imager_custom || settings.wifi.is_some() || locale.locale.is_some();
    s.push_str(COMMON);
    if imager_custom {
        s.push_str("IMAGER_CUSTOM=/usr/lib/raspberrypi-sys-mods/imager_custom\n");
    }
    if settings.user.is_some() {
        s.push_str("USERCONF=/usr/lib/userconf-pi/userconf\n");
    }
    s.push_str(SAY);
    if have {
        s.push_str(HAVE);
    }
    if put {
        s.push_str(PUT);
    }

    if settings.hostname.is_some() {
        s.push_str(HOSTNAME);
    }
    if settings.user.is_some() {
        s.push_str(USER);
    }
    if ssh.is_some() {
        s.push_str(SSH);
    }
    if settings.wifi.is_some() {
        s.push_str(WIFI);
    }
    if locale.keyboard.is_some() {
        s.push_str(KEYBOARD);
    }
    if locale.locale.is_some() {
        s.push_str(LOCALE);
    }
    if locale.timezone.is_some() {
        s.push_str(TIMEZONE);
    }
    s.push_str(CLEANUP);
    s
}

/// The charset `/etc/locale.gen` pairs with `locale` when `/usr/share/i18n/SUPPORTED` does
/// not say: the part after the `.` (`UTF-8` for `en_GB.UTF-8` or `en_GB.utf8`), or nothing.
pub(crate) fn charset(locale: &str) -> String {
    let name = locale.split('@').next().unwrap_or(locale);
    match name.split_once('.') {
        Some((_, cs)) if cs.eq_ignore_ascii_case("utf8") || cs.eq_ignore_ascii_case("utf-8") => {
            "UTF-8".to_owned()
        }
        Some((_, cs)) => cs.to_owned(),
        None => String::new(),
    }
}

/// The NetworkManager connection file for `wifi`, as `imager_custom set_wlan` lays it out,
/// with the SSID escaped as NetworkManager writes it and the PSK as hex.
pub(crate) fn nm_keyfile(wifi: &Wifi, uuid: &str) -> String {
    let mut k = format!(
        "[connection]\nid=preconfigured\nuuid={uuid}\ntype=wifi\n\n[wifi]\nmode=infrastructure\n\
         ssid={}\nhidden={}\n\n",
        quote::keyfile_ssid(&wifi.ssid),
        wifi.hidden
    );
    if let Some(psk) = wifi.psk_hex() {
        k.push_str(&format!("[wifi-security]\nkey-mgmt=wpa-psk\npsk={psk}\n\n"));
    }
    k.push_str("[ipv4]\nmethod=auto\n\n[ipv6]\naddr-gen-mode=default\nmethod=auto\n\n[proxy]\n");
    k
}

/// `wpa_supplicant.conf` for `wifi`: the SSID and the PSK as hex, which needs no quoting.
pub(crate) fn wpa_supplicant_conf(wifi: &Wifi) -> String {
    let mut c = format!(
        "country={}\nctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev\nupdate_config=1\n\n\
         network={{\n",
        wifi.country
    );
    if wifi.hidden {
        c.push_str("\tscan_ssid=1\n");
    }
    c.push_str(&format!("\tssid={}\n", quote::hex(wifi.ssid.as_bytes())));
    match wifi.psk_hex() {
        Some(psk) => c.push_str(&format!("\tkey_mgmt=WPA-PSK\n\tpsk={psk}\n")),
        None => c.push_str("\tkey_mgmt=NONE\n"),
    }
    c.push_str("}\n");
    c
}

/// The first line of the settings block.
pub(crate) const SETTINGS_START: &str =
    "# --- settings: each value single-quoted, used only as \"$NAME\", never run ---\n";
/// The last line of the settings block.
pub(crate) const SETTINGS_END: &str = "# --- end of settings ---\n";

const HEADER: &str = r#"#!/bin/sh
# Written by Blockprint. Raspberry Pi OS runs this script once at the next boot (it is named
# by systemd.run= in cmdline.txt): it applies the settings below, removes its own words from
# cmdline.txt, deletes itself, and the board reboots. Running it again does no harm.
# Raspberry Pi OS's helpers do the work where they exist; otherwise it is done directly, so
# a plain Debian root is set up the same way.

set -u
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

"#;

const COMMON: &str = r#"
# The boot partition is the directory this script is in: /boot/firmware on Bookworm,
# /boot before.
BOOT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
FAILED=0
"#;

const SAY: &str = r#"
say() { printf 'firstrun: %s\n' "$*" >&2; }
fail() {
	say "$*"
	FAILED=$((FAILED + 1))
}
"#;

const HAVE: &str = r#"have() { command -v "$1" >/dev/null 2>&1; }
"#;

const PUT: &str = r#"
# put FILE MODE: standard input into FILE with MODE, through a new file beside it that only
# root can read until it has its mode.
put() {
	mkdir -p "$(dirname "$1")" &&
		(umask 077 && cat >"$1.blockprint-new") &&
		chmod "$2" "$1.blockprint-new" &&
		mv -f "$1.blockprint-new" "$1"
}
"#;

const HOSTNAME: &str = r#"
set_hostname() {
	if [ -x "$IMAGER_CUSTOM" ] && "$IMAGER_CUSTOM" set_hostname "$HOSTNAME_NEW"; then
		return 0
	fi
	printf '%s\n' "$HOSTNAME_NEW" | put /etc/hostname 644 || return 1
	# The name holds only letters, digits and hyphens (checked when it was typed), so it
	# cannot change the meaning of the sed expression.
	if grep -q '^127\.0\.1\.1[[:space:]]' /etc/hosts 2>/dev/null; then
		sed -i "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$HOSTNAME_NEW/" /etc/hosts
	else
		printf '127.0.1.1\t%s\n' "$HOSTNAME_NEW" >>/etc/hosts
	fi
}
set_hostname || fail "could not set the hostname $HOSTNAME_NEW"
"#;

const USER: &str = r#"
# The first user (uid 1000) renamed, as userconf does; login names are [a-z][a-z0-9_-]*
# (checked when typed), safe in these sed expressions.
rename_first_user() {
	OLD_USER=$1
	OLD_GROUP=$(getent group 1000 | cut -d: -f1)
	usermod -l "$USER_NAME" "$OLD_USER" || return 1
	usermod -m -d "/home/$USER_NAME" "$USER_NAME" || return 1
	if [ -n "$OLD_GROUP" ] && [ "$OLD_GROUP" != "$USER_NAME" ]; then
		groupmod -n "$USER_NAME" "$OLD_GROUP" || return 1
	fi
	for file in /etc/subuid /etc/subgid; do
		if [ -f "$file" ]; then sed -i "s/^$OLD_USER:/$USER_NAME:/" "$file"; fi
	done
	if [ -f /etc/sudoers.d/010_pi-nopasswd ]; then
		sed -i "s/^$OLD_USER /$USER_NAME /" /etc/sudoers.d/010_pi-nopasswd
	fi
	if [ -f /etc/lightdm/lightdm.conf ]; then
		sed -i "s/^autologin-user=.*/autologin-user=$USER_NAME/" /etc/lightdm/lightdm.conf
	fi
	if [ -f /etc/systemd/system/getty@tty1.service.d/autologin.conf ]; then
		sed -i "s/$OLD_USER/$USER_NAME/" /etc/systemd/system/getty@tty1.service.d/autologin.conf
	fi
	return 0
}

# A new user, in those of the usual groups of a first user that exist (sudo asks for the
# password: no passwordless sudo is granted).
add_user() {
	GROUPS_FOUND=''
	for group in sudo adm dialout cdrom audio video plugdev games users input render netdev \
		gpio i2c spi; do
		if getent group "$group" >/dev/null; then
			GROUPS_FOUND="$GROUPS_FOUND${GROUPS_FOUND:+,}$group"
		fi
	done
	if [ -n "$GROUPS_FOUND" ]; then
		useradd -m -s /bin/bash -G "$GROUPS_FOUND" "$USER_NAME"
	else
		useradd -m -s /bin/bash "$USER_NAME"
	fi
}

set_user() {
	if [ -x "$USERCONF" ] && "$USERCONF" "$USER_NAME" "$USER_HASH"; then
		return 0
	fi
	FIRST_USER=$(getent passwd 1000 | cut -d: -f1)
	if getent passwd "$USER_NAME" >/dev/null; then
		:
	elif [ -n "$FIRST_USER" ]; then
		rename_first_user "$FIRST_USER" || return 1
	else
		add_user || return 1
	fi
	usermod -p "$USER_HASH" "$USER_NAME"
}
set_user || fail "could not set up the user $USER_NAME"
"#;

const SSH: &str = r#"
# The keys into the user's authorized_keys, each once.
add_keys() {
	[ "$#" -gt 0 ] || return 0
	[ -n "$KEY_USER" ] || KEY_USER=$(getent passwd 1000 | cut -d: -f1)
	if [ -z "$KEY_USER" ]; then
		say "there is no user to give the SSH keys to"
		return 1
	fi
	KEY_HOME=$(getent passwd "$KEY_USER" | cut -d: -f6)
	KEY_GROUP=$(id -gn "$KEY_USER") || return 1
	install -d -m 700 -o "$KEY_USER" -g "$KEY_GROUP" "$KEY_HOME/.ssh" || return 1
	KEYS_FILE="$KEY_HOME/.ssh/authorized_keys"
	touch "$KEYS_FILE" || return 1
	for key in "$@"; do
		grep -qxF -- "$key" "$KEYS_FILE" || printf '%s\n' "$key" >>"$KEYS_FILE"
	done
	chmod 600 "$KEYS_FILE" && chown "$KEY_USER:$KEY_GROUP" "$KEYS_FILE"
}

start_sshd() {
	rm -f /etc/ssh/sshd_not_to_be_run
	# Only the host keys that are missing: an image without them (Raspberry Pi OS makes them
	# in a service of its own at first boot) would otherwise start no sshd.
	if have ssh-keygen; then ssh-keygen -A >/dev/null || say "could not make the SSH host keys"; fi
	if have systemctl && systemctl enable ssh; then
		return 0
	fi
	for unit in /lib/systemd/system/ssh.service /usr/lib/systemd/system/ssh.service; do
		if [ -f "$unit" ]; then
			mkdir -p /etc/systemd/system/multi-user.target.wants &&
				ln -sf "$unit" /etc/systemd/system/multi-user.target.wants/ssh.service
			return
		fi
	done
	say "no SSH server (ssh.service) is installed"
	return 1
}

# PasswordAuthentication in a drop-in, which sshd reads before its main file; an older
# sshd_config without the drop-in directory gets the line itself.
password_login() {
	printf 'PasswordAuthentication %s\n' "$SSH_PASSWORD_LOGIN" |
		put /etc/ssh/sshd_config.d/10-blockprint.conf 644 || return 1
	if [ -f /etc/ssh/sshd_config ] &&
		! grep -qi '^[[:space:]]*Include[[:space:]]*/etc/ssh/sshd_config\.d/' /etc/ssh/sshd_config; then
		sed -i "s/^[#[:space:]]*PasswordAuthentication[[:space:]].*/PasswordAuthentication $SSH_PASSWORD_LOGIN/" \
			/etc/ssh/sshd_config
	fi
}

enable_ssh() {
	set --
	while IFS= read -r key; do
		if [ -n "$key" ]; then set -- "$@" "$key"; fi
	done <<KEYS
$SSH_KEYS
KEYS
	if [ "$SSH_PASSWORD_LOGIN" = yes ]; then AUTH=--pass-auth; else AUTH=--key-only; fi
	if [ -x "$IMAGER_CUSTOM" ] && "$IMAGER_CUSTOM" enable_ssh "$AUTH" "$@"; then
		:
	else
		add_keys "$@" || return 1
		start_sshd || return 1
	fi
	password_login
}
enable_ssh || fail "could not set up SSH"
"#;

const WIFI: &str = r#"
set_wifi_country() {
	if have raspi-config && raspi-config nonint do_wifi_country "$WIFI_COUNTRY"; then
		return 0
	fi
	# The country code is two capital letters (checked when typed).
	printf 'options cfg80211 ieee80211_regdom=%s\n' "$WIFI_COUNTRY" |
		put /etc/modprobe.d/blockprint-wifi-country.conf 644 || return 1
	if [ -f /etc/default/crda ]; then
		if grep -q '^REGDOMAIN=' /etc/default/crda; then
			sed -i "s/^REGDOMAIN=.*/REGDOMAIN=$WIFI_COUNTRY/" /etc/default/crda
		else
			printf 'REGDOMAIN=%s\n' "$WIFI_COUNTRY" >>/etc/default/crda
		fi
	fi
	# Wi-Fi stays blocked until a country is set: clear the block systemd restores at boot.
	for state in /var/lib/systemd/rfkill/*:wlan; do
		if [ -f "$state" ]; then printf '0\n' >"$state"; fi
	done
	return 0
}

set_wifi() {
	printf '%s' "$WIFI_KEYFILE" |
		put /etc/NetworkManager/system-connections/preconfigured.nmconnection 600 || return 1
	if [ -d /etc/wpa_supplicant ] && ! have NetworkManager; then
		printf '%s' "$WPA_CONF" | put /etc/wpa_supplicant/wpa_supplicant.conf 600 || return 1
	fi
	set_wifi_country
}
set_wifi || fail "could not set up the Wi-Fi network $WIFI_SSID"
"#;

const KEYBOARD: &str = r#"
set_keyboard() {
	if [ -x "$IMAGER_CUSTOM" ] && "$IMAGER_CUSTOM" set_keymap "$KEYMAP"; then
		return 0
	fi
	printf 'XKBMODEL="pc105"\nXKBLAYOUT="%s"\nXKBVARIANT=""\nXKBOPTIONS=""\n\nBACKSPACE="guess"\n' \
		"$KEYMAP" | put /etc/default/keyboard 644
}
set_keyboard || fail "could not set the keyboard layout $KEYMAP"
"#;

const LOCALE: &str = r#"
set_locale() {
	if have raspi-config && raspi-config nonint do_change_locale "$LOCALE"; then
		return 0
	fi
	CHARSET=$(awk -v want="$LOCALE" '$1 == want { print $2; exit }' \
		/usr/share/i18n/SUPPORTED 2>/dev/null)
	[ -n "$CHARSET" ] || CHARSET=$LOCALE_CHARSET
	if [ -z "$CHARSET" ]; then
		say "no charset is known for $LOCALE: it is not added to /etc/locale.gen"
	elif [ -f /etc/locale.gen ]; then
		# The locale's line uncommented, or added.
		awk -v want="$LOCALE" -v line="$LOCALE $CHARSET" '
			{ name = $0; sub(/^#[ \t]*/, "", name); split(name, field, /[ \t]+/) }
			field[1] == want { if (!done) print line; done = 1; next }
			{ print }
			END { if (!done) print line }' /etc/locale.gen | put /etc/locale.gen 644 || return 1
	else
		printf '%s %s\n' "$LOCALE" "$CHARSET" | put /etc/locale.gen 644 || return 1
	fi
	if [ -n "$CHARSET" ] && have locale-gen; then
		locale-gen >/dev/null || say "locale-gen failed"
	fi
	printf 'LANG=%s\n' "$LOCALE" | put /etc/default/locale 644
}
set_locale || fail "could not set the locale $LOCALE"
"#;

const TIMEZONE: &str = r#"
set_timezone() {
	if [ -x "$IMAGER_CUSTOM" ] && "$IMAGER_CUSTOM" set_timezone "$TIMEZONE"; then
		return 0
	fi
	if [ ! -f "/usr/share/zoneinfo/$TIMEZONE" ]; then
		say "/usr/share/zoneinfo/$TIMEZONE is missing (is tzdata installed?)"
	fi
	ln -sf "/usr/share/zoneinfo/$TIMEZONE" /etc/localtime &&
		printf '%s\n' "$TIMEZONE" | put /etc/timezone 644
}
set_timezone || fail "could not set the time zone $TIMEZONE"
"#;

const CLEANUP: &str = r#"
# Done: the words that started this script come out of cmdline.txt (only those), then the
# script itself goes.
if [ -n "$BOOT_DIR" ] && [ -f "$BOOT_DIR/cmdline.txt" ]; then
	sed -i -e 's/\(^\| \)systemd\.run=[^ ]*//g' \
		-e 's/\(^\| \)systemd\.run_success_action=[^ ]*//g' \
		-e 's/\(^\| \)systemd\.unit=kernel-command-line\.target\( \|$\)/\2/g' \
		"$BOOT_DIR/cmdline.txt" || fail "could not remove systemd.run= from cmdline.txt"
fi
if [ "$FAILED" -gt 0 ]; then
	say "$FAILED of the settings could not be applied; the messages above say which"
fi
rm -f -- "$0"
exit 0
"#;

#[cfg(test)]
mod tests;
