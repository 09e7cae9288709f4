//! The cloud-init files of both cloud-init formats: each `user-data` passes `cloud-init
//! schema` with no deprecation; `user-data` and `meta-data` read by PyYAML give back the
//! settings; cloud-init's own `normalize_users_groups` merges the user over an image's default
//! one without passwordless sudo; each `network-config` goes through cloud-init's network
//! parser (`net-convert`) to the netplan file as written, with the SSID and PSK meant.

use std::path::Path;
use std::process::Command;

use blockprint::firstboot::Format;
use serde_json::Value;

use crate::harness::support::{require_tool, scratch};

use super::{Rendered, expected_psk, python, read, run_all};

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
