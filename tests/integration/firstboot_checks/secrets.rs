//! The secrets, recomputed by tools that are not Blockprint's: the password hash (SHA-512-crypt,
//! 5000 rounds) by Python's `crypt`, `openssl passwd` and `mkpasswd`, and carried by
//! `firstrun.sh`; the Wi-Fi PSK is `wpa_passphrase`'s in `rpi-preseed.toml` and in
//! `firstrun.sh`.

use std::process::{Command, Stdio};

use blockprint::firstboot::{Format, quote};

use crate::harness::support::require_tool;

use super::{Rendered, expected_psk, python, run};

#[test]
fn the_password_hash_verifies_with_python_crypt_openssl_and_mkpasswd() {
    require_tool("openssl");
    require_tool("mkpasswd");
    let rendered = Rendered::new();
    let mut checked = 0;
    for case in &rendered.cases {
        let (Some(user), Some(password)) = (&case.settings.user, case.password) else {
            continue;
        };
        let hash = &user.password_hash;
        let fields: Vec<&str> = hash.split('$').collect();
        assert_eq!(fields[..3], ["", "6", "rounds=5000"], "{hash}");
        let salt = fields[3];
        // glibc's crypt through Python recomputes the whole string from it.
        let code =
            "import crypt, json, sys; print(json.dumps(crypt.crypt(sys.argv[1], sys.argv[2])))";
        assert_eq!(
            python(code, &[password, hash]),
            hash.as_str(),
            "{}",
            case.name
        );
        // OpenSSL's own SHA-512-crypt, same salt (5000 rounds is its default).
        let openssl = {
            let mut child = Command::new("openssl")
                .args(["passwd", "-6", "-salt", salt, "-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), password.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "openssl passwd failed");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            openssl.trim_end().rsplit('$').next(),
            Some(fields[4]),
            "{}: {openssl}",
            case.name
        );
        // whois's mkpasswd, rounds given.
        let mkpasswd = run(
            "mkpasswd",
            &[
                "--method=sha-512",
                "--rounds=5000",
                "--salt",
                salt,
                "--",
                password,
            ],
        );
        assert_eq!(mkpasswd.trim_end(), hash, "{}", case.name);
        // And the hash is what each format carries.
        let script =
            std::fs::read_to_string(rendered.file(case, Format::Systemd, "firstrun.sh").unwrap())
                .unwrap();
        assert!(script.contains(&format!("USER_HASH={}\n", quote::shell(hash))));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn the_psk_in_every_format_is_wpa_passphrase_s() {
    let rendered = Rendered::new();
    let mut checked = 0;
    for case in &rendered.cases {
        let Some(wifi) = &case.settings.wifi else {
            continue;
        };
        let Some(psk) = expected_psk(case) else {
            continue;
        };
        assert_eq!(
            wifi.psk_hex().as_deref(),
            Some(psk.as_str()),
            "{}",
            case.name
        );
        let toml = std::fs::read_to_string(
            rendered
                .file(case, Format::RpiPreseed, "rpi-preseed.toml")
                .unwrap(),
        )
        .unwrap();
        let toml: toml::Table = toml::from_str(&toml).unwrap();
        assert_eq!(toml["wlan"]["password"].as_str(), Some(psk.as_str()));
        let script =
            std::fs::read_to_string(rendered.file(case, Format::Systemd, "firstrun.sh").unwrap())
                .unwrap();
        assert!(script.contains(&format!("\npsk={psk}\n")), "{}", case.name);
        assert!(script.contains(&format!("\tpsk={psk}\n")), "{}", case.name);
        checked += 1;
    }
    assert_eq!(checked, 3);
}
