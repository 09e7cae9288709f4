//! Each `firstrun.sh` (the systemd format): it passes `shellcheck` as sh and as bash and the
//! parsers of dash and bash; raspberrypi-sys-mods' imager_fixup leaves it whole; its settings
//! block gives dash and bash every value exactly as typed, and the NetworkManager connection
//! it writes reads back through GLib's key file parser with the SSID and the PSK meant.

use std::path::Path;
use std::process::Command;

use blockprint::firstboot::{Format, quote};

use crate::harness::support::{require_tool, scratch};

use super::{Rendered, expected_psk, read, run};

/// The settings block of a `firstrun.sh`, from its first to its last line.
fn settings_block(script: &str) -> &str {
    let start = script.find("# --- settings").unwrap();
    let end = script.find("# --- end of settings ---").unwrap();
    &script[start..end]
}

const VARIABLES: [&str; 12] = [
    "HOSTNAME_NEW",
    "USER_NAME",
    "USER_HASH",
    "KEY_USER",
    "SSH_KEYS",
    "SSH_PASSWORD_LOGIN",
    "WIFI_SSID",
    "WIFI_COUNTRY",
    "KEYMAP",
    "LOCALE",
    "TIMEZONE",
    "WIFI_KEYFILE",
];

#[test]
fn every_firstrun_sh_passes_shellcheck_and_the_shells_own_parsers() {
    require_tool("shellcheck");
    let rendered = Rendered::new();
    let scripts = rendered.each(Format::Systemd, "firstrun.sh");
    assert_eq!(scripts.len(), rendered.cases.len());
    let paths: Vec<&str> = scripts.iter().map(|(_, p)| p.to_str().unwrap()).collect();
    for shell in ["sh", "bash"] {
        let mut args = vec!["--shell", shell, "--severity", "style", "--norc"];
        args.extend(&paths);
        run("shellcheck", &args);
    }
    for shell in ["dash", "bash"] {
        require_tool(shell);
        for path in &paths {
            run(shell, &["-n", path]);
        }
    }
}

#[test]
fn bookworm_s_initramfs_fixup_leaves_every_firstrun_sh_whole() {
    // raspberrypi-sys-mods' imager_fixup runs exactly this on the script before first boot.
    let rendered = Rendered::new();
    for (case, path) in rendered.each(Format::Systemd, "firstrun.sh") {
        let before = std::fs::read(path).unwrap();
        run(
            "sed",
            &[
                "-n",
                "-i",
                "/rm.*firstrun\\.sh$/q;p",
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            before,
            "{}: imager_fixup would cut the script",
            case.name
        );
    }
}

#[test]
fn the_script_s_values_reach_dash_and_bash_literally() {
    let rendered = Rendered::new();
    let dir = scratch();
    let mut keyfiles = Vec::new();
    for (case, path) in rendered.each(Format::Systemd, "firstrun.sh") {
        let script = std::fs::read_to_string(path).unwrap();
        let mut program = settings_block(&script).to_owned();
        program.push_str("printf '%s\\0'");
        for name in VARIABLES {
            program.push_str(&format!(" \"${{{name}-}}\""));
        }
        let s = &case.settings;
        let ssh = s.ssh.as_ref().filter(|ssh| ssh.enabled);
        let locale = s.locale.clone().unwrap_or_default();
        let expected = [
            s.hostname.clone().unwrap_or_default(),
            s.user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
            s.user
                .as_ref()
                .map(|u| u.password_hash.clone())
                .unwrap_or_default(),
            ssh.and(s.user.as_ref())
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            ssh.map(|ssh| ssh.authorized_keys.join("\n"))
                .unwrap_or_default(),
            ssh.map(|ssh| if ssh.password_login { "yes" } else { "no" })
                .unwrap_or_default()
                .to_owned(),
            s.wifi.as_ref().map(|w| w.ssid.clone()).unwrap_or_default(),
            s.wifi
                .as_ref()
                .map(|w| w.country.clone())
                .unwrap_or_default(),
            locale.keyboard.clone().unwrap_or_default(),
            locale.locale.clone().unwrap_or_default(),
            locale.timezone.clone().unwrap_or_default(),
        ];
        for shell in ["dash", "bash"] {
            require_tool(shell);
            let out = Command::new(shell)
                .args(["-u", "-c", &program])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: {shell} failed", case.name);
            let values: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
            for (i, want) in expected.iter().enumerate() {
                assert_eq!(
                    String::from_utf8_lossy(values[i]),
                    *want,
                    "{} {shell} {}",
                    case.name,
                    VARIABLES[i]
                );
            }
            if s.wifi.is_some() && shell == "dash" {
                let keyfile = dir.path().join(format!("{}.nmconnection", case.name));
                std::fs::write(&keyfile, values[11]).unwrap();
                keyfiles.push((case, keyfile));
            }
        }
    }
    // The connection file as NetworkManager reads it: GLib's key file parser.
    let paths: Vec<&Path> = keyfiles.iter().map(|(_, p)| p.as_path()).collect();
    let read = read("keyfile", &paths);
    for (case, path) in &keyfiles {
        let wifi = case.settings.wifi.as_ref().unwrap();
        let file = &read[path];
        assert_eq!(
            file["ssid_hex"].as_str().unwrap(),
            quote::hex(wifi.ssid.as_bytes()),
            "{}",
            case.name
        );
        let groups = &file["groups"];
        assert_eq!(groups["connection"]["type"], "wifi");
        assert_eq!(groups["wifi"]["hidden"], wifi.hidden.to_string());
        match expected_psk(case) {
            Some(psk) => {
                assert_eq!(groups["wifi-security"]["key-mgmt"], "wpa-psk");
                assert_eq!(groups["wifi-security"]["psk"], psk, "{}", case.name);
            }
            None => assert!(groups.get("wifi-security").is_none()),
        }
    }
}
