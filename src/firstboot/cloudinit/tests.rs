use super::*;
use crate::firstboot::{parse, quote};
use std::collections::BTreeMap;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostileKeyData0123456789 \
alex@laptop: #not-a-comment - &a !t @x 'q' \"q\" \\";

fn settings_with(ssid: &str) -> Settings {
    let text = format!(
        "hostname = \"pi-kitchen\"\n\
         [user]\nname = \"alex\"\npassword = \"correct horse\"\n\
         [ssh]\nenabled = true\npassword_login = false\nauthorized_keys = [{key}]\n\
         [wifi]\nssid = {ssid}\npassword = {pass}\ncountry = \"GB\"\nhidden = true\n\
         [locale]\ntimezone = \"Europe/London\"\nkeyboard = \"gb\"\nlocale = \"en_GB.UTF-8\"\n",
        key = quote::toml(KEY),
        ssid = quote::toml(ssid),
        pass = quote::toml("$HOME \\ \" ' : # - secret"),
    );
    parse(&text, "test.toml").unwrap()
}

const SSIDS: &[&str] = &[
    "a\"; rm -rf / #",
    ": # - &anchor !tag",
    "@lead *alias %p ? |> {}[],",
    "- item",
    "null",
    " ünï ☃ ",
];

const RPI_CMDLINE: &[u8] = b"console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 \
rootfstype=ext4 fsck.repair=yes rootwait quiet\n";

fn files(
    settings: &Settings,
    flavour: Flavour,
    existing: &[(&str, &[u8])],
) -> Result<BTreeMap<String, String>, RenderError> {
    let existing: BTreeMap<String, Vec<u8>> = existing
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    Ok(
        render(settings, flavour, &|path| existing.get(path).cloned())?
            .into_iter()
            .map(|f| (f.path, String::from_utf8(f.bytes).unwrap()))
            .collect(),
    )
}

/// A YAML double-quoted scalar read back (the escapes quote::yaml writes).
fn unyaml(scalar: &str) -> String {
    assert!(scalar.starts_with('"') && scalar.ends_with('"'), "{scalar}");
    let inner = &scalar[1..scalar.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            assert_ne!(c, '"', "{scalar}");
            out.push(c);
            continue;
        }
        let digits = match chars.next().unwrap() {
            '"' => {
                out.push('"');
                continue;
            }
            '\\' => {
                out.push('\\');
                continue;
            }
            'x' => 2,
            'u' => 4,
            _ => 8,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
    }
    out
}

/// The value of the line `indent + key: value` (the first such line), read back.
fn value(text: &str, key: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key:?} in\n{text}"));
    unyaml(line)
}

#[test]
fn user_data_carries_every_value_quoted() {
    for ssid in SSIDS {
        let settings = settings_with(ssid);
        let files = files(&settings, Flavour::Generic, &[]).unwrap();
        let y = &files["user-data"];
        assert!(y.starts_with("#cloud-config\n"), "{y}");
        assert_eq!(value(y, "hostname"), "pi-kitchen");
        assert_eq!(value(y, "  name"), "alex");
        assert_eq!(
            value(y, "  hashed_passwd"),
            settings.user.as_ref().unwrap().password_hash
        );
        assert!(
            y.contains("\n  lock_passwd: false\n  shell: \"/bin/bash\"\n  sudo: null\n"),
            "{y}"
        );
        assert!(!y.contains("NOPASSWD"), "{y}");
        let key_line = y.lines().find(|l| l.starts_with("    - ")).unwrap();
        assert_eq!(unyaml(&key_line[6..]), KEY);
        assert!(y.contains("\nssh_pwauth: false\n"), "{y}");
        assert_eq!(value(y, "timezone"), "Europe/London");
        assert_eq!(value(y, "locale"), "en_GB.UTF-8");
        assert_eq!(value(y, "  layout"), "gb");
        assert!(
            y.contains("runcmd:\n  - [\"systemctl\", \"enable\", \"--now\", \"ssh\"]\n"),
            "{y}"
        );
    }
}

#[test]
fn network_config_carries_the_ssid_and_the_psk() {
    for ssid in SSIDS {
        let settings = settings_with(ssid);
        let wifi = settings.wifi.as_ref().unwrap();
        for flavour in [Flavour::Generic, Flavour::RaspberryPiOs] {
            let files = files(&settings, flavour, &[]).unwrap();
            let n = &files["network-config"];
            assert!(n.contains("\nversion: 2\n"), "{n}");
            let ap = n
                .lines()
                .find_map(|l| l.strip_prefix("      ").filter(|l| l.starts_with('"')))
                .unwrap();
            assert_eq!(unyaml(ap.strip_suffix(':').unwrap()), *ssid);
            assert_eq!(value(n, "        password"), wifi.psk_hex().unwrap());
            assert!(n.contains("        hidden: true\n"), "{n}");
            assert_eq!(
                n.contains("    regulatory-domain: \"GB\"\n"),
                flavour == Flavour::RaspberryPiOs,
                "{n}"
            );
        }
    }
}

#[test]
fn an_open_network_says_so() {
    let settings = parse("[wifi]\nssid = \"Cafe\"\ncountry = \"GB\"\n", "t.toml").unwrap();
    let n = network_config(&settings, Flavour::Generic);
    assert!(
        n.ends_with("      \"Cafe\":\n        auth:\n          key-management: none\n"),
        "{n}"
    );
    assert!(!n.contains("hidden"), "{n}");
}

#[test]
fn meta_data_has_a_fresh_instance_id_and_the_hostname() {
    let settings = settings_with("Home");
    let one = files(&settings, Flavour::Generic, &[]).unwrap();
    let two = files(&settings, Flavour::Generic, &[]).unwrap();
    let id = value(&one["meta-data"], "instance-id");
    assert!(id.starts_with("blockprint-"), "{id}");
    assert_ne!(id, value(&two["meta-data"], "instance-id"));
    assert_eq!(value(&one["meta-data"], "local-hostname"), "pi-kitchen");
    // Raspberry Pi OS's own meta-data says dsmode: local; that line is kept.
    let old = b"# comment\ndsmode: local\ninstance_id: rpios-image\n";
    let m = meta_data(&settings, "x", Some(old));
    assert!(m.ends_with("dsmode: local\n"), "{m}");
    assert!(!m.contains("rpios-image"), "{m}");
    assert!(!meta_data(&settings, "x", Some(b"dsmode: $(evil)\n")).contains("dsmode"));
}

#[test]
fn raspberry_pi_os_gets_the_instance_and_the_country_on_its_cmdline() {
    let settings = settings_with("Home");
    let files = files(
        &settings,
        Flavour::RaspberryPiOs,
        &[("cmdline.txt", RPI_CMDLINE)],
    )
    .unwrap();
    let id = value(&files["meta-data"], "instance-id");
    let mut expected = String::from_utf8(RPI_CMDLINE[..RPI_CMDLINE.len() - 1].to_vec()).unwrap();
    expected.push_str(&format!(
        " cfg80211.ieee80211_regdom=GB ds=nocloud;i={id}\n"
    ));
    assert_eq!(files["cmdline.txt"], expected);
    // Written again, the old instance is replaced, not added to.
    let again = render(&settings, Flavour::RaspberryPiOs, &|p| {
        (p == "cmdline.txt").then(|| files["cmdline.txt"].clone().into_bytes())
    })
    .unwrap();
    let cmdline = String::from_utf8(again.last().unwrap().bytes.clone()).unwrap();
    assert_eq!(cmdline.matches("ds=nocloud").count(), 1, "{cmdline}");
    assert_eq!(cmdline.matches("regdom").count(), 1, "{cmdline}");
    assert!(!cmdline.contains(&id), "{cmdline}");
    // An image's own seed (ds=nocloud;s=…) is kept and none is added.
    let seeded = b"root=/dev/sda2 ds=nocloud;s=file:///boot/firmware/\n";
    let out = render(&settings, Flavour::RaspberryPiOs, &|p| {
        (p == "cmdline.txt").then(|| seeded.to_vec())
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(out.last().unwrap().bytes.clone()).unwrap(),
        "root=/dev/sda2 ds=nocloud;s=file:///boot/firmware/ cfg80211.ieee80211_regdom=GB\n"
    );
}

#[test]
fn the_generic_flavour_only_adds_the_country_and_only_with_wifi() {
    let settings = settings_with("Home");
    let files_ = files(&settings, Flavour::Generic, &[("cmdline.txt", RPI_CMDLINE)]).unwrap();
    assert!(files_["cmdline.txt"].ends_with(" quiet cfg80211.ieee80211_regdom=GB\n"));
    let settings = parse("hostname = \"pi\"\n", "t.toml").unwrap();
    let files_ = files(&settings, Flavour::Generic, &[("cmdline.txt", RPI_CMDLINE)]).unwrap();
    assert!(!files_.contains_key("cmdline.txt"));
}

const UBUNTU_USER_DATA: &[u8] = b"#cloud-config\n\
# On first boot, set the (default) ubuntu user's password to \"ubuntu\"\n\
chpasswd:\n  expire: true\n  users:\n  - name: ubuntu\n    password: ubuntu\n    type: text\n\
ssh_pwauth: true\n";

#[test]
fn a_hostname_or_wifi_alone_leaves_the_image_s_user_data_alone() {
    let settings = parse(
        "hostname = \"pi\"\n[wifi]\nssid = \"Home\"\npassword = \"12345678\"\ncountry = \"GB\"\n",
        "t.toml",
    )
    .unwrap();
    let files = files(
        &settings,
        Flavour::Generic,
        &[("user-data", UBUNTU_USER_DATA)],
    )
    .unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["meta-data", "network-config"]
    );
    assert_eq!(value(&files["meta-data"], "local-hostname"), "pi");
}

#[test]
fn replacing_the_image_s_login_without_one_of_our_own_is_refused() {
    let settings = parse("[locale]\ntimezone = \"Europe/London\"\n", "t.toml").unwrap();
    let err = files(
        &settings,
        Flavour::Generic,
        &[("user-data", UBUNTU_USER_DATA)],
    )
    .unwrap_err();
    assert_eq!(
        err,
        RenderError::WouldLoseLogin {
            file: "user-data",
            key: "chpasswd".to_owned()
        }
    );
    assert!(err.to_string().starts_with("user-data: "), "{err}");
    // With a user (or keys) of its own, the file is replaced.
    let settings = settings_with("Home");
    let files = files(
        &settings,
        Flavour::Generic,
        &[("user-data", UBUNTU_USER_DATA)],
    )
    .unwrap();
    assert!(!files["user-data"].contains("chpasswd"));
    // Raspberry Pi OS's default user-data is comments only: nothing to lose.
    let rpi = b"#cloud-config\n#hostname: raspberrypi\n#users:\n#- default\n";
    let settings = parse("[locale]\nkeyboard = \"de\"\n", "t.toml").unwrap();
    assert!(
        super::render(&settings, Flavour::RaspberryPiOs, &|p| {
            (p == "user-data").then(|| rpi.to_vec())
        })
        .is_ok()
    );
}

#[test]
fn keys_without_a_user_go_to_the_default_user() {
    let text = format!(
        "[ssh]\nenabled = true\nauthorized_keys = [{}]\n",
        quote::toml(KEY)
    );
    let settings = parse(&text, "t.toml").unwrap();
    let y = user_data(&settings);
    assert!(!y.contains("\nuser:"), "{y}");
    let key_line = y.lines().find(|l| l.starts_with("  - ")).unwrap();
    assert!(y.contains("\nssh_authorized_keys:\n  - "), "{y}");
    assert_eq!(unyaml(&key_line[4..]), KEY);
}

#[test]
fn top_level_keys_are_found_at_column_zero_only() {
    assert_eq!(top_level_key(b"a: 1\nusers :\n", LOGIN_KEYS), Some("users"));
    assert_eq!(
        top_level_key(b"#users:\n  users: x\nusersx: 1\n", LOGIN_KEYS),
        None
    );
}
