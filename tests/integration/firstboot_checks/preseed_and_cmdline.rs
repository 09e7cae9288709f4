//! `rpi-preseed.toml`, read back by the `toml` crate, gives back every setting; each format's
//! `cmdline.txt` keeps the image's words byte for byte, on one line, and adds only its own.

use blockprint::firstboot::Format;

use super::{CMDLINE, FORMATS, Rendered};

#[test]
fn rpi_preseed_toml_parses_back_to_the_settings() {
    let rendered = Rendered::new();
    for (case, path) in rendered.each(Format::RpiPreseed, "rpi-preseed.toml") {
        let t: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let s = &case.settings;
        let what = case.name;
        assert_eq!(t["config_version"].as_str(), Some("1.0"));
        assert_eq!(
            t.get("system").map(|x| x["hostname"].as_str().unwrap()),
            s.hostname.as_deref(),
            "{what}"
        );
        if let Some(user) = &s.user {
            assert_eq!(t["user"]["name"].as_str(), Some(user.name.as_str()));
            assert_eq!(
                t["user"]["password"].as_str(),
                Some(user.password_hash.as_str())
            );
            assert_eq!(t["user"]["password_encrypted"].as_bool(), Some(true));
        }
        if let Some(ssh) = s.ssh.as_ref().filter(|ssh| ssh.enabled) {
            assert_eq!(
                t["ssh"]["password_authentication"].as_bool(),
                Some(ssh.password_login)
            );
            let keys: Vec<&str> = t["ssh"]
                .get("authorized_keys")
                .and_then(|k| k.as_array())
                .map(|k| k.iter().map(|k| k.as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(keys, ssh.authorized_keys, "{what}");
        }
        if let Some(wifi) = &s.wifi {
            assert_eq!(
                t["wlan"]["ssid"].as_str(),
                Some(wifi.ssid.as_str()),
                "{what}"
            );
            assert_eq!(t["wlan"]["hidden"].as_bool(), Some(wifi.hidden));
            assert_eq!(t["wlan"]["country"].as_str(), Some(wifi.country.as_str()));
        }
        if let Some(locale) = &s.locale {
            let l = &t["locale"];
            assert_eq!(
                l.get("keymap").and_then(|v| v.as_str()),
                locale.keyboard.as_deref()
            );
            assert_eq!(
                l.get("lang").and_then(|v| v.as_str()),
                locale.locale.as_deref()
            );
        }
    }
}

#[test]
fn cmdline_txt_keeps_the_image_s_words_byte_for_byte() {
    let rendered = Rendered::new();
    let image_words = &CMDLINE[..CMDLINE.len() - 1];
    for format in FORMATS {
        for (case, path) in rendered.each(format, "cmdline.txt") {
            let cmdline = std::fs::read(path).unwrap();
            assert!(cmdline.starts_with(image_words), "{} {format}", case.name);
            assert!(
                cmdline.ends_with(b"\n") && cmdline.iter().filter(|&&b| b == b'\n').count() == 1
            );
            let text = String::from_utf8(cmdline).unwrap();
            let added: Vec<&str> = text[image_words.len()..].split_whitespace().collect();
            let mut expected = Vec::new();
            if let Some(wifi) = &case.settings.wifi {
                expected.push(format!("cfg80211.ieee80211_regdom={}", wifi.country));
            }
            match format {
                Format::Systemd => expected.extend(
                    [
                        "systemd.run=/boot/firstrun.sh",
                        "systemd.run_success_action=reboot",
                        "systemd.unit=kernel-command-line.target",
                    ]
                    .map(String::from),
                ),
                Format::CloudInitRpi => {
                    let meta =
                        std::fs::read_to_string(rendered.file(case, format, "meta-data").unwrap())
                            .unwrap();
                    let id = meta
                        .lines()
                        .find_map(|l| l.strip_prefix("instance-id: "))
                        .unwrap()
                        .trim_matches('"')
                        .to_owned();
                    expected.push(format!("ds=nocloud;i={id}"));
                }
                _ => {}
            }
            assert_eq!(added, expected, "{} {format}", case.name);
        }
    }
}
