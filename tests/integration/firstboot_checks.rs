//! The first-boot files of every format, checked by tools that are not Blockprint's: each
//! `firstrun.sh` by `shellcheck` (as sh and as bash) and by dash and bash themselves, each
//! `user-data` by `cloud-init schema`, each `network-config` by cloud-init's own network
//! parser (`cloud-init devel net-convert`), the password hash by Python's `crypt`, `openssl
//! passwd` and `mkpasswd`, the PSK by `wpa_passphrase`, the NetworkManager connection by
//! GLib's key file reader, the YAML by PyYAML, the TOML by the `toml` crate. Hostile values
//! (quotes, `$`, backslashes, `;`, YAML indicators, spaces at both ends, non-ASCII) must come
//! back exactly as typed.
//!
//! cloud-init 22.4 (Debian 12) has no schema for network-config (its `schema` command knows
//! only cloud-config; `--schema-type network-config` came later), so network-config is
//! checked by what cloud-init itself does with it: `net-convert` loads it with cloud-init's
//! YAML loader and network-state parser (version 2 passed through to netplan, the ethernets
//! parsed for networkd) and writes the netplan file cloud-init would give netplan, which is
//! read back here and compared. That proves the file is read as meant; it does not prove that
//! netplan accepts every key (netplan is not installed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use blockprint::firstboot::{self, Format, Settings, quote};
use serde_json::Value;

use crate::harness::support::{require_tool, scratch};

/// Debian's own Python, which has PyYAML, GLib's bindings and cloud-init's modules.
const PYTHON: &str = "/usr/bin/python3";

/// An image's boot partition as Raspberry Pi OS ships it (pi-gen's stage2/04-cloud-init).
const CMDLINE: &[u8] = b"console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 \
rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";
const USER_DATA: &[u8] = b"#cloud-config\n\n# This is the user-data configuration file.\n\
#hostname: raspberrypi\n#users:\n#- default\n";
const META_DATA: &[u8] = b"# meta-data\ndsmode: local\ninstance_id: rpios-image\n";
const NETWORK_CONFIG: &[u8] = b"#network:\n#  version: 2\n";

const KEY_ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostileKeyData0123456789 \
alex@laptop: $HOME 'q' \"q\" \\ ] # - &a !t";
const KEY_RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCHostile+/= second@key";

/// One set of settings, with the secrets they were made from.
struct Case {
    name: &'static str,
    settings: Settings,
    password: Option<&'static str>,
    passphrase: Option<&'static str>,
}

fn case(
    name: &'static str,
    toml: String,
    password: Option<&'static str>,
    passphrase: Option<&'static str>,
) -> Case {
    let settings =
        firstboot::parse(&toml, "test.toml").unwrap_or_else(|e| panic!("{name}: {e}\n{toml}"));
    Case {
        name,
        settings,
        password,
        passphrase,
    }
}

fn cases() -> Vec<Case> {
    let q = quote::toml;
    vec![
        case(
            "hostile",
            format!(
                "hostname = \"pi-kitchen\"\n[user]\nname = \"alex\"\npassword = {pw}\n\
                 [ssh]\nenabled = true\npassword_login = false\nauthorized_keys = [{k1}, {k2}]\n\
                 [wifi]\nssid = {ssid}\npassword = {pass}\ncountry = \"GB\"\n\
                 [locale]\ntimezone = \"Europe/London\"\nkeyboard = \"gb\"\n\
                 locale = \"en_GB.UTF-8\"\n",
                pw = q("correct $HOME horse \\ \"'"),
                k1 = q(KEY_ED25519),
                k2 = q(KEY_RSA),
                ssid = q("a\"; rm -rf / #"),
                pass = q("p$HOME \"q\" 'q' \\back\\ ;|&`id`"),
            ),
            Some("correct $HOME horse \\ \"'"),
            Some("p$HOME \"q\" 'q' \\back\\ ;|&`id`"),
        ),
        case(
            "yaml-specials",
            format!(
                "hostname = \"bob-pi\"\n[user]\nname = \"bob\"\npassword = {pw}\n\
                 [ssh]\nenabled = true\npassword_login = true\nauthorized_keys = [{k1}]\n\
                 [wifi]\nssid = {ssid}\npassword = {pass}\ncountry = \"DE\"\nhidden = true\n\
                 [locale]\ntimezone = \"America/Argentina/Buenos_Aires\"\nkeyboard = \"de\"\n\
                 locale = \"de_DE.UTF-8\"\n",
                pw = q("- &a !t : # @x"),
                k1 = q(KEY_ED25519),
                ssid = q(": # - &anchor !tag @x *y"),
                pass = q("- &a !t : # @x {y} [z] %w"),
            ),
            Some("- &a !t : # @x"),
            Some("- &a !t : # @x {y} [z] %w"),
        ),
        case(
            "open-unicode",
            format!(
                "hostname = \"node-7\"\n[ssh]\nenabled = true\n\
                 [wifi]\nssid = {ssid}\ncountry = \"FR\"\n",
                ssid = q(" ünï;12;34; ☃ "),
            ),
            None,
            None,
        ),
        case(
            "psk-given",
            format!(
                "[user]\nname = \"carol\"\npassword = \"another one\"\n\
                 [wifi]\nssid = {ssid}\npassword = {psk}\ncountry = \"US\"\nhidden = true\n",
                ssid = q("@lead '\\\" null"),
                psk = q("F42C6FC52DF0EBEF9EBB4B90B38A5F902E83FE1B135A70E23AED762E9710A12E"),
            ),
            Some("another one"),
            None,
        ),
        case(
            "hostname-only",
            "hostname = \"solo\"\n".to_owned(),
            None,
            None,
        ),
        case(
            "locale-only",
            "[locale]\nkeyboard = \"fr\"\nlocale = \"fr_FR.UTF-8\"\n".to_owned(),
            None,
            None,
        ),
    ]
}

const FORMATS: [Format; 4] = [
    Format::Systemd,
    Format::CloudInit,
    Format::CloudInitRpi,
    Format::RpiPreseed,
];

/// Every case rendered in every format against the Raspberry Pi OS boot files, each file
/// written under `dir` as `CASE.FORMAT.FILE`.
struct Rendered {
    cases: Vec<Case>,
    files: BTreeMap<(usize, &'static str, String), PathBuf>,
    _dir: tempfile::TempDir,
}

impl Rendered {
    fn new() -> Self {
        let dir = scratch();
        let cases = cases();
        let existing = |path: &str| match path {
            "cmdline.txt" => Some(CMDLINE.to_vec()),
            "user-data" => Some(USER_DATA.to_vec()),
            "meta-data" => Some(META_DATA.to_vec()),
            "network-config" => Some(NETWORK_CONFIG.to_vec()),
            _ => None,
        };
        let mut files = BTreeMap::new();
        for (i, case) in cases.iter().enumerate() {
            for format in FORMATS {
                let out = firstboot::render(&case.settings, format, &existing)
                    .unwrap_or_else(|e| panic!("{} {format}: {e}", case.name));
                for file in out {
                    let path = dir
                        .path()
                        .join(format!("{}.{format}.{}", case.name, file.path));
                    std::fs::write(&path, &file.bytes).unwrap();
                    files.insert((i, format.name(), file.path), path);
                }
            }
        }
        Self {
            cases,
            files,
            _dir: dir,
        }
    }

    /// `(case, path)` of each file named `name` written in `format`.
    fn each(&self, format: Format, name: &str) -> Vec<(&Case, &Path)> {
        self.files
            .iter()
            .filter(|((_, f, n), _)| *f == format.name() && n == name)
            .map(|((i, _, _), path)| (&self.cases[*i], path.as_path()))
            .collect()
    }

    fn file(&self, case: &Case, format: Format, name: &str) -> Option<&Path> {
        let i = self.cases.iter().position(|c| c.name == case.name)?;
        self.files
            .get(&(i, format.name(), name.to_owned()))
            .map(PathBuf::as_path)
    }
}

/// Runs `program` with `args` and returns its output, whatever its status.
fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs `program` with `args`, asserts success and returns its standard output.
#[track_caller]
fn run(program: &str, args: &[&str]) -> String {
    let out = output(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts every command at once (each a python start-up or so), then collects them in order.
fn run_all(commands: Vec<(String, Command)>) -> Vec<(String, Output)> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|(what, mut command)| {
            let child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            (what, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(what, child)| {
            let out = child.wait_with_output().unwrap();
            (what, out)
        })
        .collect()
}

/// Debian's Python running `code` with `args`; its standard output read as JSON.
fn python(code: &str, args: &[&str]) -> Value {
    assert!(
        Path::new(PYTHON).is_file(),
        "{PYTHON} is missing; run build-aux/install-deps"
    );
    let mut all = vec!["-W", "ignore", "-c", code];
    all.extend_from_slice(args);
    serde_json::from_str(&run(PYTHON, &all)).unwrap()
}

/// Reads YAML files with PyYAML's safe loader, and NetworkManager key files with GLib as
/// NetworkManager does (then its SSID rule: a list of byte values when it looks like one,
/// else the string with each `\;` turned into `;`).
const READER: &str = r#"
import json, re, sys
out = {}
for arg in sys.argv[1:]:
    kind, path = arg.split("=", 1)
    if kind == "yaml":
        import yaml
        with open(path, "rb") as f:
            out[path] = yaml.safe_load(f)
    elif kind == "keyfile":
        import gi
        gi.require_version("GLib", "2.0")
        from gi.repository import GLib
        kf = GLib.KeyFile()
        kf.load_from_file(path, GLib.KeyFileFlags.NONE)
        groups = {}
        for group in kf.get_groups()[0]:
            groups[group] = {k: kf.get_string(group, k) for k in kf.get_keys(group)[0]}
        ssid = groups["wifi"]["ssid"]
        if re.fullmatch(r"\s*\d{1,3}\s*;(\s*\d{1,3}\s*;)*\s*", ssid):
            raw = bytes(int(b) for b in ssid.split(";") if b.strip())
        else:
            raw = ssid.replace("\\;", ";").encode()
        out[path] = {"groups": groups, "ssid_hex": raw.hex()}
print(json.dumps(out))
"#;

fn read(kind: &str, paths: &[&Path]) -> BTreeMap<PathBuf, Value> {
    let args: Vec<String> = paths
        .iter()
        .map(|p| format!("{kind}={}", p.display()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Value::Object(map) = python(READER, &args) else {
        panic!("the reader printed no object");
    };
    map.into_iter()
        .map(|(k, v)| (PathBuf::from(k), v))
        .collect()
}

/// `wpa_passphrase`'s PSK for the network.
fn wpa_passphrase(ssid: &str, passphrase: &str) -> String {
    require_tool("wpa_passphrase");
    let out = run("wpa_passphrase", &[ssid, passphrase]);
    out.lines()
        .find_map(|l| l.strip_prefix("\tpsk="))
        .unwrap_or_else(|| panic!("no psk= in {out}"))
        .to_owned()
}

/// The PSK every format must carry for `case`: wpa_passphrase's, or the one given.
fn expected_psk(case: &Case) -> Option<String> {
    let wifi = case.settings.wifi.as_ref()?;
    match case.passphrase {
        Some(pass) => Some(wpa_passphrase(&wifi.ssid, pass)),
        None => wifi.psk_hex(),
    }
}

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

#[test]
fn every_user_data_passes_cloud_init_s_schema() {
    require_tool("cloud-init");
    let rendered = Rendered::new();
    let mut commands = Vec::new();
    for format in [Format::CloudInit, Format::CloudInitRpi] {
        for (case, path) in rendered.each(format, "user-data") {
            let mut command = Command::new("cloud-init");
            command.args(["schema", "--config-file"]).arg(path);
            commands.push((format!("{} {format}", case.name), command));
        }
    }
    // hostname-only leaves the image's user-data alone; every other case writes one.
    assert_eq!(commands.len(), 2 * (rendered.cases.len() - 1));
    for (what, out) in run_all(commands) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {stdout}{stderr}");
        assert!(stdout.contains("Valid cloud-config"), "{what}: {stdout}");
        assert!(
            !format!("{stdout}{stderr}")
                .to_lowercase()
                .contains("deprecat"),
            "{what}: {stdout}{stderr}"
        );
    }
}

#[test]
fn user_data_and_meta_data_parse_back_to_the_settings() {
    let rendered = Rendered::new();
    for format in [Format::CloudInit, Format::CloudInitRpi] {
        let user_data = rendered.each(format, "user-data");
        let meta_data = rendered.each(format, "meta-data");
        assert_eq!(meta_data.len(), rendered.cases.len());
        let mut paths: Vec<&Path> = user_data.iter().map(|(_, p)| *p).collect();
        paths.extend(meta_data.iter().map(|(_, p)| *p));
        let read = read("yaml", &paths);
        for (case, path) in &user_data {
            let y = &read[*path];
            let s = &case.settings;
            let what = format!("{} {format}", case.name);
            assert_eq!(y["hostname"].as_str(), s.hostname.as_deref(), "{what}");
            let ssh = s.ssh.as_ref().filter(|ssh| ssh.enabled);
            let keys: Vec<Value> = ssh
                .map(|ssh| ssh.authorized_keys.clone())
                .unwrap_or_default()
                .into_iter()
                .map(Value::String)
                .collect();
            match &s.user {
                Some(user) => {
                    let u = &y["user"];
                    assert_eq!(u["name"], user.name.as_str(), "{what}");
                    assert_eq!(u["hashed_passwd"], user.password_hash.as_str(), "{what}");
                    assert_eq!(u["lock_passwd"], false);
                    assert_eq!(u["sudo"], Value::Null, "{what}: no sudoers rule");
                    assert!(u.as_object().unwrap().contains_key("sudo"), "{what}");
                    if keys.is_empty() {
                        assert!(u.get("ssh_authorized_keys").is_none(), "{what}");
                    } else {
                        assert_eq!(u["ssh_authorized_keys"], Value::Array(keys), "{what}");
                    }
                }
                None => {
                    assert!(y.get("user").is_none(), "{what}");
                    if !keys.is_empty() {
                        assert_eq!(y["ssh_authorized_keys"], Value::Array(keys), "{what}");
                    }
                }
            }
            match ssh {
                Some(ssh) => {
                    assert_eq!(y["ssh_pwauth"], ssh.password_login, "{what}");
                    assert_eq!(
                        y["runcmd"],
                        serde_json::json!(["systemctl enable --now ssh"
                            .split(' ')
                            .collect::<Vec<_>>()])
                    );
                }
                None => assert!(y.get("ssh_pwauth").is_none() && y.get("runcmd").is_none()),
            }
            let locale = s.locale.clone().unwrap_or_default();
            assert_eq!(y["timezone"].as_str(), locale.timezone.as_deref(), "{what}");
            assert_eq!(y["locale"].as_str(), locale.locale.as_deref(), "{what}");
            assert_eq!(
                y.get("keyboard").and_then(|k| k["layout"].as_str()),
                locale.keyboard.as_deref(),
                "{what}"
            );
        }
        for (case, path) in &meta_data {
            let m = &read[*path];
            let what = format!("{} {format}", case.name);
            assert!(
                m["instance-id"]
                    .as_str()
                    .unwrap()
                    .starts_with("blockprint-"),
                "{what}"
            );
            assert_eq!(
                m["local-hostname"].as_str(),
                case.settings.hostname.as_deref(),
                "{what}"
            );
            assert_eq!(m["dsmode"], "local", "{what}: the image's dsmode is kept");
        }
    }
}

/// cloud-init's own `normalize_users_groups` merges `user:` over a default user with
/// passwordless sudo, as every image's cloud.cfg has one.
const MERGE: &str = r#"
import json, sys, yaml
from cloudinit.distros import ug_util
class Distro:
    name = "debian"
    def get_default_user(self):
        return {"name": "pi", "lock_passwd": True, "groups": ["adm", "sudo", "gpio"],
                "sudo": ["ALL=(ALL) NOPASSWD:ALL"], "shell": "/bin/bash"}
out = {}
for path in sys.argv[1:]:
    with open(path) as f:
        users, _ = ug_util.normalize_users_groups(yaml.safe_load(f), Distro())
    out[path] = users
print(json.dumps(out))
"#;

#[test]
fn cloud_init_merges_the_user_over_the_default_one_without_passwordless_sudo() {
    let rendered = Rendered::new();
    let user_data: Vec<_> = [Format::CloudInit, Format::CloudInitRpi]
        .into_iter()
        .flat_map(|f| rendered.each(f, "user-data"))
        .filter(|(case, _)| case.settings.user.is_some())
        .collect();
    assert!(!user_data.is_empty());
    let args: Vec<&str> = user_data.iter().map(|(_, p)| p.to_str().unwrap()).collect();
    let merged = python(MERGE, &args);
    for (case, path) in &user_data {
        let name = &case.settings.user.as_ref().unwrap().name;
        let users = merged[path.to_str().unwrap()].as_object().unwrap();
        assert_eq!(users.keys().collect::<Vec<_>>(), [name], "{}", case.name);
        let user = &users[name];
        assert_eq!(user["sudo"], Value::Null, "{}: a sudoers rule", case.name);
        let mut groups: Vec<&str> = user["groups"].as_str().unwrap().split(',').collect();
        groups.sort_unstable();
        assert_eq!(groups, ["adm", "gpio", "sudo"], "{}", case.name);
        assert_eq!(user["default"], true);
    }
}

#[test]
fn every_network_config_reads_back_through_cloud_init_s_network_parser() {
    require_tool("cloud-init");
    let rendered = Rendered::new();
    let dir = scratch();
    let mut commands = Vec::new();
    let mut outputs = Vec::new();
    for format in [Format::CloudInit, Format::CloudInitRpi] {
        for (case, path) in rendered.each(format, "network-config") {
            // networkd once: cloud-init's own parse of the (always alike) ethernets.
            let kinds: &[&str] = if commands.is_empty() {
                &["netplan", "networkd"]
            } else {
                &["netplan"]
            };
            for &kind in kinds {
                let out = dir.path().join(format!("{}.{format}.{kind}", case.name));
                let mut command = Command::new("cloud-init");
                command
                    .args([
                        "devel",
                        "net-convert",
                        "--kind",
                        "yaml",
                        "--distro",
                        "debian",
                    ])
                    .arg("--network-data")
                    .arg(path)
                    .arg("--directory")
                    .arg(&out)
                    .args(["--output-kind", kind]);
                commands.push((format!("{} {format} {kind}", case.name), command));
                let written = if kind == "netplan" {
                    "etc/netplan/50-cloud-init.yaml"
                } else {
                    "etc/systemd/network/10-cloud-init-eth0.network"
                };
                outputs.push((case, format, path, kind == "netplan", out.join(written)));
            }
        }
    }
    assert_eq!(commands.len(), 2 * 4 + 1, "four cases have Wi-Fi");
    for (what, out) in run_all(commands) {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut yaml_paths: Vec<&Path> = Vec::new();
    for (_, _, source, is_netplan, out) in &outputs {
        assert!(out.is_file(), "{} was not written", out.display());
        if *is_netplan {
            yaml_paths.push(out);
            yaml_paths.push(source);
        }
    }
    let read = read("yaml", &yaml_paths);
    for (case, format, source, is_netplan, out) in &outputs {
        if !is_netplan {
            // networkd: cloud-init parsed the ethernets itself.
            let network = std::fs::read_to_string(out).unwrap();
            assert!(network.contains("Name=eth0"), "{network}");
            continue;
        }
        let what = format!("{} {format}", case.name);
        let wifi = case.settings.wifi.as_ref().unwrap();
        let netplan = &read[out.as_path()]["network"];
        // What cloud-init hands netplan is the file as written.
        assert_eq!(*netplan, read[*source], "{what}");
        assert_eq!(netplan["version"], 2);
        let wlan0 = &netplan["wifis"]["wlan0"];
        let aps = wlan0["access-points"].as_object().unwrap();
        assert_eq!(aps.keys().collect::<Vec<_>>(), [&wifi.ssid], "{what}");
        let ap = &aps[&wifi.ssid];
        match expected_psk(case) {
            Some(psk) => assert_eq!(ap["password"], psk.as_str(), "{what}"),
            None => assert_eq!(ap["auth"]["key-management"], "none", "{what}"),
        }
        assert_eq!(
            ap.get("hidden").and_then(Value::as_bool),
            wifi.hidden.then_some(true)
        );
        assert_eq!(
            wlan0.get("regulatory-domain").and_then(Value::as_str),
            (*format == Format::CloudInitRpi).then_some(wifi.country.as_str()),
            "{what}"
        );
        assert_eq!(netplan["ethernets"]["eth0"]["dhcp4"], true);
    }
}

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
