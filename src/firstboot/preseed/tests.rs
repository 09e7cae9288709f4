use super::*;
use crate::firstboot::{parse, quote};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostileKeyData0123456789 \
alex@laptop ] [x] \"q\" 'q' \\ # $HOME";

fn settings_with(ssid: &str) -> Settings {
    let text = format!(
        "hostname = \"pi-kitchen\"\n\
         [user]\nname = \"alex\"\npassword = \"correct horse\"\n\
         [ssh]\nenabled = true\npassword_login = false\nauthorized_keys = [{key}, {key}]\n\
         [wifi]\nssid = {ssid}\npassword = \"secret passphrase\"\ncountry = \"GB\"\n\
         [locale]\ntimezone = \"Europe/London\"\nkeyboard = \"gb\"\nlocale = \"en_GB.UTF-8\"\n",
        key = quote::toml(KEY),
        ssid = quote::toml(ssid),
    );
    parse(&text, "test.toml").unwrap()
}

#[test]
fn the_file_parses_back_to_the_settings() {
    for ssid in ["a\"; rm -rf / #", "back\\slash \\\" ]", "ünï ☃ = [x]"] {
        let settings = settings_with(ssid);
        let text = toml(&settings);
        let t: ::toml::Table = ::toml::from_str(&text).unwrap();
        assert_eq!(t["config_version"].as_str(), Some("1.0"));
        assert_eq!(t["system"]["hostname"].as_str(), Some("pi-kitchen"));
        let user = &t["user"];
        assert_eq!(user["name"].as_str(), Some("alex"));
        assert_eq!(
            user["password"].as_str(),
            Some(settings.user.as_ref().unwrap().password_hash.as_str())
        );
        assert_eq!(user["password_encrypted"].as_bool(), Some(true));
        assert_eq!(user["groups"].as_array().unwrap().len(), 1);
        assert!(user.get("passwordless_sudo").is_none());
        let ssh = &t["ssh"];
        assert_eq!(ssh["enabled"].as_bool(), Some(true));
        assert_eq!(ssh["password_authentication"].as_bool(), Some(false));
        let keys: Vec<&str> = ssh["authorized_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, [KEY, KEY]);
        let wlan = &t["wlan"];
        assert_eq!(wlan["ssid"].as_str(), Some(ssid));
        assert_eq!(
            wlan["password"].as_str(),
            settings.wifi.as_ref().unwrap().psk_hex().as_deref()
        );
        assert_eq!(wlan["password_encrypted"].as_bool(), Some(true));
        assert_eq!(wlan["hidden"].as_bool(), Some(false));
        assert_eq!(wlan["country"].as_str(), Some("GB"));
        let locale = &t["locale"];
        assert_eq!(locale["keymap"].as_str(), Some("gb"));
        assert_eq!(locale["timezone"].as_str(), Some("Europe/London"));
        assert_eq!(locale["lang"].as_str(), Some("en_GB.UTF-8"));
        assert_eq!(locale["locales"][0].as_str(), Some("en_GB.UTF-8"));
    }
}

/// rpi-preseed's reader (src/lib/toml.sh): a basic string undoes only `\\` and `\"`, and an
/// array is one line when its first line holds a `]`.
#[test]
fn the_file_stays_within_what_rpi_preseed_s_own_reader_understands() {
    let settings = settings_with("back\\slash \\\" ] ünï");
    let text = toml(&settings);
    for line in text.lines() {
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let next = chars.next();
                assert!(matches!(next, Some('\\' | '"')), "{line}");
            }
        }
        if line.contains(" = [") {
            assert!(line.ends_with(']'), "{line}");
        }
    }
}

#[test]
fn an_open_network_has_no_password_and_ssh_off_no_section() {
    let settings = parse(
        "[ssh]\nenabled = false\n[wifi]\nssid = \"Cafe\"\ncountry = \"FR\"\nhidden = true\n",
        "t.toml",
    )
    .unwrap();
    let text = toml(&settings);
    assert_eq!(
        text,
        "config_version = \"1.0\"\n\n[wlan]\nssid = \"Cafe\"\nhidden = true\ncountry = \"FR\"\n"
    );
}

#[test]
fn cmdline_gets_the_country_only_with_wifi() {
    let cmdline = b"root=/dev/mmcblk0p2 rootwait\n".to_vec();
    let with = render(&settings_with("Home"), &|p| {
        (p == "cmdline.txt").then(|| cmdline.clone())
    })
    .unwrap();
    assert_eq!(with[0].path, "rpi-preseed.toml");
    assert_eq!(
        with[1].bytes,
        b"root=/dev/mmcblk0p2 rootwait cfg80211.ieee80211_regdom=GB\n".to_vec()
    );
    let settings = parse("hostname = \"pi\"\n", "t.toml").unwrap();
    let without = render(&settings, &|_| Some(cmdline.clone())).unwrap();
    assert_eq!(without.len(), 1);
    // No cmdline.txt: the TOML alone.
    assert_eq!(render(&settings_with("Home"), &|_| None).unwrap().len(), 1);
}
