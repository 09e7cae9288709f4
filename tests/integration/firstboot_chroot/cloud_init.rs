//! `Format::CloudInit` applied in the Debian root: the seed on the boot partition taken by
//! cloud-init's four boot stages as a NoCloud seed, only the modules a chroot cannot run
//! failing, and the hostname, user, sshd, locale, time zone and netplan's Wi-Fi checked in
//! the root's own files.

use std::time::{Duration, Instant};

use blockprint::firstboot::{Format, render};

use crate::harness::debian_root::DebianRoot;

use super::{
    CMDLINE, Markers, PASSPHRASE, SSID, check_hostname, check_sshd, check_timezone, check_user,
    existing, in_root, put_boot_files, settings, wpa_passphrase_psk,
};

/// The image's own cloud-init configuration, as Ubuntu's Raspberry Pi images have it
/// (`datasource_list: [NoCloud, None]`), for a root that is not a partition of its own.
const CLOUD_CFG: &str = "# The test's stand-in for the image's own cloud-init configuration.\n\
                         datasource_list: [NoCloud, None]\n\
                         # The chroot's / is no partition and no filesystem of its own.\n\
                         growpart: {mode: \"off\"}\nresize_rootfs: false\n";

/// The modules whose failure in a chroot is expected: the module, what cloud-init's output
/// says then, and why. Any other error fails the test.
const EXPECTED_FAILURES: &[(&str, &str, &str)] = &[
    (
        "keyboard",
        "['localectl', 'set-x11-keymap', 'gb', 'pc105'",
        "cc_keyboard sets the layout with localectl, that is through systemd-localed over \
         D-Bus, which only a booted system runs",
    ),
    (
        "scripts-user",
        "Failed to connect to bus",
        "runcmd's `systemctl enable --now ssh` enables the unit (checked below), but starting \
         it needs a running systemd",
    ),
];

#[test]
fn cloud_init_applies_the_nocloud_seed_in_a_debian_root() {
    let settings = settings();
    let files = render(&settings, Format::CloudInit, &existing).expect("render");
    let mut names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["cmdline.txt", "meta-data", "network-config", "user-data"]
    );

    let root = DebianRoot::fresh();
    put_boot_files(&root, &files);
    std::fs::write(
        root.path("/etc/cloud/cloud.cfg.d/99-blockprint-test.cfg"),
        CLOUD_CFG,
    )
    .unwrap();
    // NoCloud finds the seed on the FAT partition by its label, which needs a block device;
    // its seed directory pointing at the boot partition's directory stands in for that.
    std::fs::create_dir_all(root.path("/var/lib/cloud/seed")).unwrap();
    std::os::unix::fs::symlink("/boot/firmware", root.path("/var/lib/cloud/seed/nocloud")).unwrap();
    let markers = Markers::place(&root);

    // The four stages of a boot, in order, as cloud-init's systemd units run them.
    let started = Instant::now();
    let mut log = String::new();
    for argv in [
        &["cloud-init", "init", "--local"][..],
        &["cloud-init", "init"],
        &["cloud-init", "modules", "--mode=config"],
        &["cloud-init", "modules", "--mode=final"],
    ] {
        let ran = root.run(argv, None, Duration::from_secs(180));
        log.push_str(&format!(
            "== {argv:?}: exit {}\n{}{}",
            ran.code, ran.stdout, ran.stderr
        ));
    }
    eprintln!(
        "cloud-init's four stages ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    markers.intact(&root);

    // What cloud-init says it did: the seed came from our files, and only the modules a
    // chroot cannot run failed.
    let result: serde_json::Value =
        serde_json::from_str(&root.read("/var/lib/cloud/data/result.json")).unwrap();
    let datasource = result["v1"]["datasource"].as_str().unwrap_or_default();
    assert!(
        datasource.starts_with("DataSourceNoCloud [seed=/var/lib/cloud/seed/nocloud]"),
        "cloud-init did not take the NoCloud seed: {datasource:?}\n{log}"
    );
    let meta = root.yaml_as_json("/boot/firmware/meta-data");
    assert_eq!(
        root.read("/var/lib/cloud/data/instance-id").trim(),
        meta["instance-id"].as_str().unwrap(),
        "cloud-init's instance is not the meta-data's"
    );
    let mut failed: Vec<String> = result["v1"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.as_str().unwrap_or_default();
            e.strip_prefix("('")
                .and_then(|rest| rest.split_once('\''))
                .map_or(e, |(module, _)| module)
                .to_owned()
        })
        .collect();
    failed.sort();
    let expected: Vec<&str> = EXPECTED_FAILURES
        .iter()
        .map(|(module, ..)| *module)
        .collect();
    assert_eq!(
        failed, expected,
        "cloud-init's errors are not the expected ones ({EXPECTED_FAILURES:?}):\n{}\n{log}",
        result["v1"]["errors"]
    );
    let cloud_log = root.read("/var/log/cloud-init.log");
    let said = format!("{}\n{cloud_log}\n{log}", result["v1"]["errors"]);
    for (module, needle, why) in EXPECTED_FAILURES {
        assert!(
            said.contains(needle),
            "{module} failed, but not because {why}:\n{said}"
        );
    }
    for refused in ["Invalid cloud-config", "Invalid network-config", "schema"] {
        assert!(
            !cloud_log
                .lines()
                .any(|l| l.contains("WARNING") && l.contains(refused)),
            "cloud-init warned about the seed ({refused}):\n{cloud_log}"
        );
    }

    // Hostname (manage_etc_hosts: cloud-init's own /etc/hosts).
    let (hosts, named) = check_hostname(&root);
    assert!(
        named.split_whitespace().skip(1).all(|n| n == "pi-kitchen"),
        "{hosts}"
    );

    check_user(&root, &settings);
    // `sudo: null`: no sudoers rule, so sudo asks alex for the password.
    let sudoers = root.path("/etc/sudoers.d/90-cloud-init-users");
    if sudoers.exists() {
        let rules = std::fs::read_to_string(&sudoers).unwrap();
        assert!(!rules.contains("alex"), "alex got a sudoers rule: {rules}");
    }
    // runcmd's `systemctl enable --now ssh`, and cloud-init's PasswordAuthentication.
    check_sshd(&root);
    check_timezone(&root);
    // The locale: Debian's locale-gen builds only what /etc/locale.gen lists (cloud-init
    // issue #4195), so user-data adds the line, and update-locale then takes it.
    assert!(
        root.read("/etc/default/locale")
            .contains("LANG=en_GB.UTF-8"),
        "{}",
        root.read("/etc/default/locale")
    );
    let compiled = in_root(&root, "locale -a");
    assert!(
        compiled.lines().any(|l| l == "en_GB.utf8"),
        "locale -a: {compiled}"
    );

    // Wi-Fi: cloud-init hands version 2 network-config to netplan (its one renderer of
    // wifis), whose file names the network literally, with wpa_supplicant's PSK.
    let netplan = root.yaml_as_json("/etc/netplan/50-cloud-init.yaml");
    let network = &netplan["network"];
    assert_eq!(network["ethernets"]["eth0"]["dhcp4"], true, "{netplan}");
    let points = network["wifis"]["wlan0"]["access-points"]
        .as_object()
        .unwrap_or_else(|| panic!("no access point for wlan0: {netplan}"));
    assert_eq!(points.keys().collect::<Vec<_>>(), [SSID], "{netplan}");
    let psk = wpa_passphrase_psk(SSID, PASSPHRASE);
    assert_eq!(points[SSID]["password"], psk.as_str(), "{netplan}");

    // cloud-init leaves the boot partition alone: cmdline.txt keeps Blockprint's Wi-Fi
    // country word and nothing else changed.
    let expected = format!("{} cfg80211.ieee80211_regdom=GB\n", CMDLINE.trim_end());
    assert_eq!(root.read("/boot/firmware/cmdline.txt"), expected);
}
