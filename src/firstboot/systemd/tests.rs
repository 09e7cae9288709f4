use super::*;
use crate::firstboot::{parse, quote};
use std::collections::BTreeMap;

const CMDLINE: &[u8] = b"console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 \
rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostileKeyData0123456789 \
alex@laptop $HOME 'q' \"q\" \\ ] #";

fn hostile(ssid: &str, hidden: bool) -> String {
    format!(
        "hostname = \"pi-kitchen\"\n\
         [user]\nname = \"alex\"\npassword = \"correct $HOME horse\"\n\
         [ssh]\nenabled = true\npassword_login = false\nauthorized_keys = [{key}]\n\
         [wifi]\nssid = {ssid}\npassword = {pass}\ncountry = \"GB\"\nhidden = {hidden}\n\
         [locale]\ntimezone = \"America/Argentina/Buenos_Aires\"\nkeyboard = \"gb\"\n\
         locale = \"en_GB.UTF-8\"\n",
        key = quote::toml(KEY),
        ssid = quote::toml(ssid),
        pass = quote::toml("p$HOME \"q\" 'q' \\back\\ ;|&`id`"),
    )
}

const SSIDS: &[&str] = &[
    "a\"; rm -rf / #",
    "- &anchor !tag: #x @y *z",
    "'quoted' \\back\\ $(id) `id`",
    " lead;12;34; ",
    "ünïcødé ☃",
];

fn files(settings: &Settings) -> BTreeMap<String, Vec<u8>> {
    render(settings, &|path| {
        (path == "cmdline.txt").then(|| CMDLINE.to_vec())
    })
    .unwrap()
    .into_iter()
    .map(|f| (f.path, f.bytes))
    .collect()
}

/// The settings block of `script` read as the shell reads it: name to value.
fn settings_block(script: &str) -> BTreeMap<String, String> {
    let start = script.find(SETTINGS_START).unwrap() + SETTINGS_START.len();
    let end = script.find(SETTINGS_END).unwrap();
    let mut block = script[start..end].chars().peekable();
    let mut values = BTreeMap::new();
    while block.peek().is_some() {
        if block.peek() == Some(&'#') {
            let note: String = block.by_ref().take_while(|&c| c != '\n').collect();
            assert_eq!(note, "# shellcheck disable=SC2016 # literal on purpose");
            continue;
        }
        let name: String = block.by_ref().take_while(|&c| c != '=').collect();
        assert!(
            name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{name:?}"
        );
        let mut value = String::new();
        loop {
            match block.next() {
                Some('\'') => {
                    for c in block.by_ref() {
                        if c == '\'' {
                            break;
                        }
                        value.push(c);
                    }
                }
                Some('\\') => value.extend(block.next()),
                Some('\n') | None => break,
                Some(c) => panic!("unquoted {c:?} in {name}"),
            }
        }
        values.insert(name, value);
    }
    values
}

#[test]
fn cmdline_gets_the_hook_and_keeps_every_other_byte() {
    let settings = parse(&hostile(SSIDS[0], false), "test.toml").unwrap();
    let cmdline = files(&settings).remove("cmdline.txt").unwrap();
    let mut expected = CMDLINE[..CMDLINE.len() - 1].to_vec();
    expected.extend_from_slice(
        b" cfg80211.ieee80211_regdom=GB systemd.run=/boot/firstrun.sh \
systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n",
    );
    assert_eq!(
        String::from_utf8(cmdline).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}

#[test]
fn an_earlier_hook_and_country_are_replaced_not_doubled() {
    let settings = parse(&hostile(SSIDS[0], false), "test.toml").unwrap();
    let old =
        b"root=/dev/mmcblk0p2 cfg80211.ieee80211_regdom=DE systemd.run=/boot/firmware/other.sh \
systemd.run_success_action=reboot rootwait systemd.unit=kernel-command-line.target\n";
    let once = render(&settings, &|_| Some(old.to_vec())).unwrap();
    let cmdline = String::from_utf8(once[1].bytes.clone()).unwrap();
    assert_eq!(
        cmdline,
        "root=/dev/mmcblk0p2 rootwait cfg80211.ieee80211_regdom=GB systemd.run=/boot/firstrun.sh \
         systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n"
    );
    let twice = render(&settings, &|_| Some(cmdline.clone().into_bytes())).unwrap();
    assert_eq!(String::from_utf8(twice[1].bytes.clone()).unwrap(), cmdline);
}

#[test]
fn without_wifi_the_country_on_the_cmdline_is_left_alone() {
    let settings = parse("hostname = \"pi\"\n", "t.toml").unwrap();
    let old = b"root=/dev/sda2 cfg80211.ieee80211_regdom=DE\n";
    let out = render(&settings, &|_| Some(old.to_vec())).unwrap();
    assert_eq!(
        out[1].bytes,
        b"root=/dev/sda2 cfg80211.ieee80211_regdom=DE systemd.run=/boot/firstrun.sh \
systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n"
            .to_vec()
    );
}

#[test]
fn hostile_values_reach_the_shell_literally_and_only_as_quoted_words() {
    for (i, ssid) in SSIDS.iter().enumerate() {
        let settings = parse(&hostile(ssid, i % 2 == 0), "test.toml").unwrap();
        let script = String::from_utf8(files(&settings).remove("firstrun.sh").unwrap()).unwrap();
        let values = settings_block(&script);
        let user = settings.user.as_ref().unwrap();
        let wifi = settings.wifi.as_ref().unwrap();
        assert_eq!(values["HOSTNAME_NEW"], "pi-kitchen");
        assert_eq!(values["USER_NAME"], "alex");
        assert_eq!(values["USER_HASH"], user.password_hash);
        assert!(values["USER_HASH"].contains('$'));
        assert_eq!(values["KEY_USER"], "alex");
        assert_eq!(values["SSH_KEYS"], KEY);
        assert_eq!(values["SSH_PASSWORD_LOGIN"], "no");
        assert_eq!(values["WIFI_SSID"], *ssid);
        assert_eq!(values["WIFI_COUNTRY"], "GB");
        assert_eq!(values["KEYMAP"], "gb");
        assert_eq!(values["LOCALE"], "en_GB.UTF-8");
        assert_eq!(values["LOCALE_CHARSET"], "UTF-8");
        assert_eq!(values["TIMEZONE"], "America/Argentina/Buenos_Aires");
        let keyfile = &values["WIFI_KEYFILE"];
        let ssid_line = keyfile.lines().find(|l| l.starts_with("ssid=")).unwrap();
        assert_eq!(&ssid_line[5..], quote::keyfile_ssid(ssid), "{keyfile}");
        assert!(keyfile.contains(&format!("psk={}\n", wifi.psk_hex().unwrap())));
        assert!(keyfile.contains(&format!("hidden={}\n", wifi.hidden)));
        let wpa = &values["WPA_CONF"];
        assert!(
            wpa.contains(&format!("\tssid={}\n", quote::hex(ssid.as_bytes()))),
            "{wpa}"
        );
        // The typed SSID and hash appear nowhere but in their assignments.
        assert_eq!(script.matches(&quote::shell(ssid)).count(), 1, "{script}");
        assert_eq!(script.matches(user.password_hash.as_str()).count(), 1);
    }
}

#[test]
fn bookworm_s_initramfs_fixup_leaves_the_script_whole() {
    // imager_fixup cuts the script at its first line matching `rm.*firstrun\.sh$`.
    let settings = parse(&hostile(SSIDS[0], true), "test.toml").unwrap();
    let script = script(&settings);
    for line in script.lines() {
        let cut = line
            .find("rm")
            .is_some_and(|at| line[at..].ends_with("firstrun.sh"));
        assert!(!cut, "{line}");
    }
    assert!(script.ends_with("rm -f -- \"$0\"\nexit 0\n"));
}

#[test]
fn only_the_steps_of_the_parts_that_are_set_are_written() {
    let settings = parse("[locale]\ntimezone = \"Europe/London\"\n", "t.toml").unwrap();
    let script = script(&settings);
    assert!(script.contains("set_timezone ||"));
    for step in [
        "set_hostname",
        "set_user",
        "enable_ssh",
        "set_wifi",
        "set_keyboard",
        "set_locale",
    ] {
        assert!(!script.contains(step), "{step}");
    }
    assert_eq!(
        settings_block(&script).keys().collect::<Vec<_>>(),
        ["TIMEZONE"]
    );
}

#[test]
fn ssh_with_a_password_and_no_user_gives_the_keys_to_the_first_user() {
    let settings = parse("[ssh]\nenabled = true\n", "t.toml").unwrap();
    let values = settings_block(&script(&settings));
    assert_eq!(values["KEY_USER"], "");
    assert_eq!(values["SSH_KEYS"], "");
    assert_eq!(values["SSH_PASSWORD_LOGIN"], "yes");
}

#[test]
fn an_open_hidden_network_has_no_key_and_is_probed_for() {
    let settings = parse(
        "[wifi]\nssid = \"Open\"\ncountry = \"FR\"\nhidden = true\n",
        "t.toml",
    )
    .unwrap();
    let wifi = settings.wifi.as_ref().unwrap();
    let keyfile = nm_keyfile(wifi, "00000000-0000-4000-8000-000000000000");
    assert!(!keyfile.contains("[wifi-security]"), "{keyfile}");
    assert!(keyfile.contains("ssid=Open\nhidden=true\n"), "{keyfile}");
    let wpa = wpa_supplicant_conf(wifi);
    assert!(
        wpa.contains("\tscan_ssid=1\n\tssid=4f70656e\n\tkey_mgmt=NONE\n"),
        "{wpa}"
    );
    assert!(wpa.starts_with("country=FR\n"));
}

#[test]
fn the_locale_charset_comes_from_the_name() {
    assert_eq!(charset("en_GB.UTF-8"), "UTF-8");
    assert_eq!(charset("de_DE.utf8@euro"), "UTF-8");
    assert_eq!(charset("en_US.ISO-8859-15"), "ISO-8859-15");
    assert_eq!(charset("en_GB"), "");
}
