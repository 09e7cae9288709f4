use super::*;

const FULL: &str = r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password = "correct horse"
[ssh]
enabled = true
password_login = false
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ3cmR0ZXN0a2V5Zm9yYmxvY2twcmludA alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
hidden = false
[locale]
timezone = "Europe/London"
keyboard = "gb"
locale = "en_GB.UTF-8"
"#;

#[test]
fn the_issue_s_example_is_read_whole_and_the_password_only_as_a_hash() {
    let s = parse(FULL, "pi.toml").unwrap();
    assert_eq!(s.hostname.as_deref(), Some("pi-kitchen"));
    let user = s.user.unwrap();
    assert_eq!(user.name, "alex");
    assert!(
        user.password_hash.starts_with("$6$"),
        "{}",
        user.password_hash
    );
    assert!(!format!("{:?}", parse(FULL, "pi.toml").unwrap()).contains("correct horse"));
    let ssh = s.ssh.unwrap();
    assert!(ssh.enabled && !ssh.password_login && ssh.authorized_keys.len() == 1);
    let wifi = s.wifi.unwrap();
    assert_eq!((wifi.ssid.as_str(), wifi.country.as_str()), ("Home", "GB"));
    assert_eq!(wifi.passphrase.as_deref(), Some("secret passphrase"));
    assert_eq!(
        wifi.psk,
        Some(crate::firstboot::crypt::wpa_psk(
            "secret passphrase",
            "Home"
        ))
    );
    let locale = s.locale.unwrap();
    assert_eq!(locale.timezone.as_deref(), Some("Europe/London"));
    assert_eq!(locale.keyboard.as_deref(), Some("gb"));
    assert_eq!(locale.locale.as_deref(), Some("en_GB.UTF-8"));
}

#[test]
fn an_unknown_key_is_named() {
    let e = parse("[user]\nname = \"alex\"\npasword = \"x\"\n", "pi.toml").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("pi.toml") && text.contains("pasword"),
        "{text}"
    );
}

#[test]
fn hostile_values_are_refused_with_the_key_and_the_value() {
    let long = "a".repeat(300);
    for (text, key) in [
        (format!("hostname = \"{long}\""), "hostname"),
        ("hostname = \"pi kitchen\"".to_owned(), "hostname"),
        ("hostname = \"-pi\"".to_owned(), "hostname"),
        (
            "[user]\nname = \"Alex\"\npassword = \"x\"".to_owned(),
            "user.name",
        ),
        (
            "[user]\nname = \"root\"\npassword = \"x\"".to_owned(),
            "user.name",
        ),
        (
            "[user]\nname = \"alex\"\npassword_hash = \"$6$a:b$c\"".to_owned(),
            "user.password_hash",
        ),
        (
            "[user]\nname = \"alex\"\npassword_hash = \"$6$a$b\\nroot::0:\"".to_owned(),
            "user.password_hash",
        ),
        ("[user]\nname = \"alex\"".to_owned(), "user.password"),
        (
            "[wifi]\nssid = \"a\\nb\"\npassword = \"12345678\"\ncountry = \"GB\"".to_owned(),
            "wifi.ssid",
        ),
        (
            "[wifi]\nssid = \"Home\"\npassword = \"short\"\ncountry = \"GB\"".to_owned(),
            "wifi.password",
        ),
        (
            "[wifi]\nssid = \"Home\"\npassword = \"line\\nbreak!\"\ncountry = \"GB\"".to_owned(),
            "wifi.password",
        ),
        (
            "[wifi]\nssid = \"Home\"\npassword = \"12345678\"\ncountry = \"gb\"".to_owned(),
            "wifi.country",
        ),
        (
            "[ssh]\nauthorized_keys = [\"ssh-ed25519 AAAA\\nroot\"]".to_owned(),
            "ssh.authorized_keys",
        ),
        (
            "[ssh]\npassword_login = false".to_owned(),
            "ssh.password_login",
        ),
        (
            "[locale]\ntimezone = \"../../etc/shadow\"".to_owned(),
            "locale.timezone",
        ),
        (
            "[locale]\nkeyboard = \"gb; reboot\"".to_owned(),
            "locale.keyboard",
        ),
        (
            "[locale]\nlocale = \"en_GB.UTF-8\\n\"".to_owned(),
            "locale.locale",
        ),
    ] {
        match parse(&text, "pi.toml") {
            Err(SettingsError::Invalid { key: k, value, .. }) => {
                assert_eq!(k, key, "{text}");
                assert!(!value.contains('\n'), "the value is not escaped: {value}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn an_ssid_with_shell_and_yaml_specials_is_kept_as_typed() {
    let text =
        "[wifi]\nssid = 'a\"; rm -rf / #'\npassword = \"it's $HOME \\\\ `x`\"\ncountry = \"DE\"";
    let wifi = parse(text, "pi.toml").unwrap().wifi.unwrap();
    assert_eq!(wifi.ssid, "a\"; rm -rf / #");
    assert_eq!(wifi.passphrase.as_deref(), Some("it's $HOME \\ `x`"));
}

#[test]
fn a_64_hex_digit_password_is_the_psk_itself() {
    let hex = "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e";
    let wifi = wifi("IEEE", Some(hex), "US", true).unwrap();
    assert_eq!(wifi.passphrase, None);
    assert_eq!(wifi.psk_hex().as_deref(), Some(hex));
    assert!(wifi.hidden);
}

#[test]
fn ssh_without_keys_allows_passwords_by_default() {
    let s = parse("[ssh]\n", "pi.toml").unwrap().ssh.unwrap();
    assert!(s.enabled && s.password_login);
}

#[test]
fn a_profile_reads_back_to_the_same_settings_and_keeps_the_wifi_password_only_if_asked() {
    let settings = parse(FULL, "pi.toml").unwrap();
    let kept = settings.to_toml(true);
    assert!(!kept.contains("correct horse"), "{kept}");
    assert_eq!(parse(&kept, "profile").unwrap(), settings);
    let forgotten = settings.to_toml(false);
    assert!(!forgotten.contains("secret passphrase"), "{forgotten}");
    let back = parse(&forgotten, "profile").unwrap();
    assert_eq!(
        back.wifi.as_ref().map(|w| (w.passphrase.clone(), w.psk)),
        Some((None, None))
    );
    assert_eq!(back.user, settings.user);
}
