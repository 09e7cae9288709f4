//! `Format::Systemd` applied in the Debian root: Raspberry Pi OS Bookworm's initramfs hook
//! rewrites `cmdline.txt` and `firstrun.sh`, the `systemd.run=` command runs the script, and
//! the hostname, user, sshd, NetworkManager connection, locale, keyboard and time zone are
//! checked in the root's own files; run a second time, it adds nothing twice.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use blockprint::firstboot::{Format, render};

use crate::harness::debian_root::{DebianRoot, nm_ssid, read_keyfile};

use super::{
    CMDLINE, CONFIG_TXT, Markers, PASSPHRASE, SSID, check_hostname, check_sshd, check_timezone,
    check_user, existing, in_root, mode_owner, put_boot_files, settings, wpa_passphrase_psk,
};

/// Raspberry Pi OS Bookworm's initramfs hook (raspberrypi-sys-mods'
/// `initramfs-tools/scripts/local-bottom/imager_fixup`), which acts on the first boot when the
/// kernel command line holds `systemd.run=/boot/firstrun.sh`: every `/boot/` in `cmdline.txt`
/// becomes `/boot/firmware/`, `firstrun.sh` loses its first line matching
/// `rm.*firstrun\.sh$` and every line after it, and gets the hook's own three lines of cleanup
/// (delete the script, drop each ` systemd.…` word, `exit 0`) appended; then the board
/// reboots into the rewritten command line. Returns the script's lines the hook cut off.
fn imager_fixup(root: &DebianRoot) -> Option<Vec<String>> {
    let cmdline_path = root.path("/boot/firmware/cmdline.txt");
    let cmdline = std::fs::read_to_string(&cmdline_path).unwrap();
    if !cmdline.contains("systemd.run=/boot/firstrun.sh") {
        return None;
    }
    std::fs::write(&cmdline_path, cmdline.replace("/boot/", "/boot/firmware/")).unwrap();
    let script_path = root.path("/boot/firmware/firstrun.sh");
    let script = std::fs::read_to_string(&script_path).unwrap();
    let cut_at = script.split_inclusive('\n').position(|line| {
        let line = line.strip_suffix('\n').unwrap_or(line);
        line.find("rm")
            .is_some_and(|at| line.len() >= at + 2 + 11 && line.ends_with("firstrun.sh"))
    });
    let lines: Vec<&str> = script.split_inclusive('\n').collect();
    let kept = cut_at.unwrap_or(lines.len());
    let mut fixed: String = lines[..kept].concat();
    fixed.push_str(
        "rm -f /boot/firmware/firstrun.sh\nsed -i 's| systemd\\.[^ ]*||g' \
         /boot/firmware/cmdline.txt\nexit 0\n",
    );
    std::fs::write(&script_path, fixed).unwrap();
    Some(lines[kept..].iter().map(|l| (*l).to_owned()).collect())
}

/// The command `systemd.run=` names on the first line of `cmdline.txt` (systemd starts it as
/// the `ExecStart=` of `kernel-command-line.service`).
fn systemd_run(cmdline: &str) -> Vec<String> {
    let line = cmdline.lines().next().unwrap_or_default();
    let word = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("systemd.run="))
        .unwrap_or_else(|| panic!("no systemd.run= in cmdline.txt: {line:?}"));
    vec![word.to_owned()]
}

/// What the script wrote to the journal holds only `systemctl enable`'s own lines: none of
/// its steps reported a failure, no shell error, and no `rm` (the SSID's `rm -rf /`, which
/// GNU rm would refuse with a message) ran.
#[track_caller]
fn only_systemctl_said(stderr: &str) {
    let systemctl = [
        "Synchronizing state of ssh.service with SysV service script",
        "Executing: /lib/systemd/systemd-sysv-install enable ssh",
        "Created symlink /etc/systemd/system/",
    ];
    let other: Vec<&str> = stderr
        .lines()
        .filter(|line| !systemctl.iter().any(|s| line.starts_with(s)))
        .collect();
    assert!(
        other.is_empty(),
        "firstrun.sh said more than systemctl:\n{stderr}"
    );
}

#[test]
fn the_systemd_script_applies_every_setting_in_a_debian_root() {
    let settings = settings();
    let files = render(&settings, Format::Systemd, &existing).expect("render");
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["firstrun.sh", "cmdline.txt"]);

    let root = DebianRoot::fresh();
    let ssh_link = root.path("/etc/systemd/system/multi-user.target.wants/ssh.service");
    assert!(
        !ssh_link.exists(),
        "the root has ssh enabled already: nothing would be proven"
    );
    assert_eq!(root.read("/etc/hostname"), "raspberrypi\n");
    assert!(root.passwd("alex").is_none());
    put_boot_files(&root, &files);
    let markers = Markers::place(&root);

    let cut =
        imager_fixup(&root).expect("the hook word is Raspberry Pi Imager's, /boot/firstrun.sh");
    assert!(
        cut.is_empty(),
        "Bookworm's imager_fixup cut these lines off firstrun.sh: {cut:?}"
    );
    let script = std::fs::read(root.path("/boot/firmware/firstrun.sh")).unwrap();
    let command = systemd_run(&root.read("/boot/firmware/cmdline.txt"));
    assert_eq!(command, ["/boot/firmware/firstrun.sh"]);

    let started = Instant::now();
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let ran = root.run(&argv, None, Duration::from_secs(180));
    eprintln!(
        "firstrun.sh ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ran.ok("firstrun.sh");
    only_systemctl_said(&ran.stderr);
    markers.intact(&root);

    // Hostname.
    let (_, named) = check_hostname(&root);
    assert_eq!(
        named.split_whitespace().collect::<Vec<_>>(),
        ["127.0.1.1", "pi-kitchen"]
    );

    check_user(&root, &settings);
    check_sshd(&root);
    let drop_in = root.read("/etc/ssh/sshd_config.d/10-blockprint.conf");
    assert_eq!(drop_in, "PasswordAuthentication no\n");

    // Wi-Fi: NetworkManager's connection, read back as NetworkManager reads a key file.
    let connections = root.path("/etc/NetworkManager/system-connections");
    let names: Vec<String> = std::fs::read_dir(&connections)
        .expect("the NetworkManager connections directory")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["preconfigured.nmconnection"]);
    let nm = "/etc/NetworkManager/system-connections/preconfigured.nmconnection";
    assert_eq!(mode_owner(&root, nm), (0o600, 0, 0));
    let keyfile = read_keyfile(&root.read(nm)).unwrap_or_else(|e| panic!("{nm}: {e}"));
    let get = |group: &str, key: &str| {
        keyfile
            .get(&(group.to_owned(), key.to_owned()))
            .unwrap_or_else(|| panic!("{nm} has no [{group}] {key}"))
            .as_str()
    };
    assert_eq!(get("connection", "type"), "wifi");
    assert_eq!(get("wifi", "mode"), "infrastructure");
    assert_eq!(nm_ssid(get("wifi", "ssid")).unwrap(), SSID);
    assert_eq!(get("wifi", "hidden"), "false");
    assert_eq!(get("wifi-security", "key-mgmt"), "wpa-psk");
    let psk = wpa_passphrase_psk(SSID, PASSPHRASE);
    assert_eq!(
        get("wifi-security", "psk"),
        psk,
        "the PSK is not wpa_passphrase's"
    );
    assert_eq!(
        root.read("/etc/modprobe.d/blockprint-wifi-country.conf"),
        "options cfg80211 ieee80211_regdom=GB\n"
    );

    // Keyboard and locale, as the programs that use them read them.
    assert_eq!(
        in_root(&root, ". /etc/default/keyboard && printf %s \"$XKBLAYOUT\""),
        "gb"
    );
    assert_eq!(root.read("/etc/default/locale"), "LANG=en_GB.UTF-8\n");
    let compiled = in_root(&root, "locale -a");
    assert!(
        compiled.lines().any(|l| l == "en_GB.utf8"),
        "locale -a: {compiled}"
    );
    check_timezone(&root);

    // The script is gone and cmdline.txt is the old line again, plus only the Wi-Fi country
    // (which every format sets there, as Imager does).
    assert!(
        !root.path("/boot/firmware/firstrun.sh").exists(),
        "firstrun.sh is still there"
    );
    let expected = format!("{} cfg80211.ieee80211_regdom=GB\n", CMDLINE.trim_end());
    assert_eq!(root.read("/boot/firmware/cmdline.txt"), expected);
    assert_eq!(root.read("/boot/firmware/config.txt"), CONFIG_TXT);
    let leftovers = in_root(&root, "find /etc /home -name '*.blockprint-new'");
    assert_eq!(leftovers, "", "half-written files left behind");

    // Run again (a board that lost power before rebooting): nothing is added twice.
    let again_path = root.path("/boot/firmware/firstrun.sh");
    std::fs::write(&again_path, &script).unwrap();
    std::fs::set_permissions(&again_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let again = root.run(&argv, None, Duration::from_secs(180));
    again.ok("firstrun.sh, the second time");
    only_systemctl_said(&again.stderr);
    markers.intact(&root);
    assert_eq!(
        root.read("/home/alex/.ssh/authorized_keys").lines().count(),
        1
    );
    let hosts = root.read("/etc/hosts");
    assert_eq!(
        hosts.lines().filter(|l| l.starts_with("127.0.1.1")).count(),
        1
    );
    assert_eq!(root.read("/etc/passwd").matches("\nalex:").count(), 1);
    let locale_gen = root.read("/etc/locale.gen");
    assert_eq!(
        locale_gen
            .lines()
            .filter(|l| l.trim_start().starts_with("en_GB.UTF-8"))
            .count(),
        1,
        "/etc/locale.gen"
    );
    assert_eq!(root.read("/boot/firmware/cmdline.txt"), expected);
    check_user(&root, &settings);
}
