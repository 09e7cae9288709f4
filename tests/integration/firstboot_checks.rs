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
//!
//! The tests are in the children below, by the files they check; the cases, their files
//! rendered in every format and the readers they share are here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use blockprint::firstboot::{self, Format, Settings, quote};
use serde_json::Value;

use crate::harness::support::{require_tool, scratch};

/// `user-data`, `meta-data` and `network-config`, read by cloud-init and PyYAML.
mod cloud_init;
/// `firstrun.sh`: shellcheck, the shells' parsers, imager_fixup, its values read literally.
mod firstrun_sh;
/// `rpi-preseed.toml` read back by the toml crate; `cmdline.txt` keeping the image's words.
mod preseed_and_cmdline;
/// The password hash and the Wi-Fi PSK, recomputed by independent tools.
mod secrets;

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
