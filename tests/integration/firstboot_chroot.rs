//! First-boot settings applied, not just written: the files Blockprint writes into the boot
//! partition are put where a booted system has them (`/boot/firmware`) in a real Debian 12
//! root made by debootstrap, run there as the first boot runs them (in a chroot, in
//! namespaces of its own: see [`crate::harness::debian_root`]), and the system's own files
//! are checked afterwards: users, shadow, sshd's effective configuration, the NetworkManager
//! connection read back as a key file, locale, keyboard and time zone.
//!
//! The settings hold hostile values (an SSID `a"; rm -rf / #`, a passphrase with `$HOME`,
//! quotes, backslashes and command substitutions) which must arrive as typed and never run.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockprint::firstboot::{BootFile, Format, Settings, parse, render};

use crate::harness::debian_root::{DebianRoot, nm_ssid, read_keyfile};
use crate::harness::support::require_tool;

const SSID: &str = r#"a"; rm -rf / #"#;
const PASSPHRASE: &str = r#"$HOME "dq" 'sq' \b\\s $(touch /pwned-psk) `touch /pwned-tick`"#;
const PASSWORD: &str = "correct horse";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL2hc3Njb3JlLWtleS1mb3ItYmxvY2twcmludA alex@laptop";

/// A Raspberry Pi OS Bookworm `cmdline.txt`.
const CMDLINE: &str = "console=serial0,115200 console=tty1 root=PARTUUID=12345678-02 \
                       rootfstype=ext4 fsck.repair=yes rootwait\n";
const CONFIG_TXT: &str = "# For more options and information see\n# http://rptl.io/configtxt\n\
                          dtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\n\
                          auto_initramfs=1\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\n\
                          disable_fw_kms_setup=1\narm_64bit=1\ndisable_overscan=1\n\
                          arm_boost=1\n\n[cm4]\notg_mode=1\n\n[all]\n";

fn settings() -> Settings {
    let toml = format!(
        "hostname = \"pi-kitchen\"\n\
         [user]\nname = \"alex\"\npassword = \"{PASSWORD}\"\n\
         [ssh]\nenabled = true\npassword_login = false\nauthorized_keys = [\"{KEY}\"]\n\
         [wifi]\nssid = '{SSID}'\npassword = '''{PASSPHRASE}'''\ncountry = \"GB\"\nhidden = false\n\
         [locale]\ntimezone = \"Europe/London\"\nkeyboard = \"gb\"\nlocale = \"en_GB.UTF-8\"\n"
    );
    let settings = parse(&toml, "chroot.toml").expect("the settings are valid");
    let wifi = settings.wifi.as_ref().expect("wifi");
    assert_eq!(
        (wifi.ssid.as_str(), wifi.passphrase.as_deref()),
        (SSID, Some(PASSPHRASE))
    );
    settings
}

/// The boot partition's files before the settings, as `render` is given them.
fn existing(path: &str) -> Option<Vec<u8>> {
    match path {
        "cmdline.txt" => Some(CMDLINE.as_bytes().to_vec()),
        "config.txt" => Some(CONFIG_TXT.as_bytes().to_vec()),
        _ => None,
    }
}

/// The boot partition's files, after `files`, in the root's `/boot/firmware` (mode 755, as
/// Raspberry Pi OS mounts its FAT partition: every file executable).
fn put_boot_files(root: &DebianRoot, files: &[BootFile]) {
    let boot = root.path("/boot/firmware");
    std::fs::create_dir_all(&boot).unwrap();
    let mut all = vec![
        ("cmdline.txt".to_owned(), CMDLINE.as_bytes().to_vec()),
        ("config.txt".to_owned(), CONFIG_TXT.as_bytes().to_vec()),
    ];
    for file in files {
        assert!(
            !file.path.contains('/'),
            "{} is not at the partition's root",
            file.path
        );
        all.retain(|(name, _)| *name != file.path);
        all.push((file.path.clone(), file.bytes.clone()));
    }
    for (name, bytes) in all {
        let path = boot.join(&name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Marks in and outside the root that a stray `rm -rf /` or a substituted command would
/// remove or add to; checked by [`Markers::intact`].
struct Markers {
    inside: std::path::PathBuf,
    outside: std::path::PathBuf,
    hostname: String,
}

impl Markers {
    fn place(root: &DebianRoot) -> Self {
        let inside = root.path("/blockprint-marker");
        let outside = root.outside().join("outside-marker");
        std::fs::write(&inside, b"inside").unwrap();
        std::fs::write(&outside, b"outside").unwrap();
        Self {
            inside,
            outside,
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        }
    }

    #[track_caller]
    fn intact(&self, root: &DebianRoot) {
        assert_eq!(
            std::fs::read(&self.outside).unwrap(),
            b"outside",
            "outside the root"
        );
        assert_eq!(
            std::fs::read(&self.inside).unwrap(),
            b"inside",
            "inside the root"
        );
        for stray in ["/pwned-psk", "/pwned-tick"] {
            assert!(
                !root.path(stray).exists(),
                "a value ran as a command: {stray} exists"
            );
            assert!(
                !Path::new(stray).exists(),
                "a value ran on the host: {stray} exists"
            );
        }
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
            self.hostname,
            "the host's hostname changed"
        );
        root.assert_no_mounts_left();
    }
}

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

/// The PSK `wpa_passphrase` (wpa_supplicant's own) derives, the passphrase on its stdin.
fn wpa_passphrase_psk(ssid: &str, passphrase: &str) -> String {
    use std::io::Write;
    require_tool("wpa_passphrase");
    let mut child = Command::new("wpa_passphrase")
        .arg(ssid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wpa_passphrase");
    writeln!(child.stdin.take().unwrap(), "{passphrase}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "wpa_passphrase failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("psk="))
        .expect("a psk= line")
        .to_owned()
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

/// The mode bits and owner of a path in the root.
fn mode_owner(root: &DebianRoot, path: &str) -> (u32, u32, u32) {
    let meta = std::fs::symlink_metadata(root.path(path))
        .unwrap_or_else(|e| panic!("{path} in the Debian root: {e}"));
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

/// A shell command's output in the root.
fn in_root(root: &DebianRoot, command: &str) -> String {
    root.run(&["sh", "-c", command], None, Duration::from_secs(60))
        .ok(command)
        .to_owned()
}

/// The user, its hash and password, its SSH keys: the same checks for every format.
fn check_user(root: &DebianRoot, settings: &Settings) {
    let user = settings.user.as_ref().unwrap();
    let entry = root.passwd("alex").expect("alex is in /etc/passwd");
    assert!(entry.uid >= 1000, "{entry:?}");
    assert_eq!(
        (entry.home.as_str(), entry.shell.as_str()),
        ("/home/alex", "/bin/bash")
    );
    let (mode, uid, _) = mode_owner(root, "/home/alex");
    assert_eq!(uid, entry.uid, "/home/alex is not alex's");
    assert_eq!(
        mode & 0o022,
        0,
        "/home/alex is writable by others: {mode:o}"
    );
    assert_eq!(
        root.shadow_hash("alex").as_deref(),
        Some(user.password_hash.as_str()),
        "/etc/shadow holds another hash than the settings"
    );
    assert!(
        root.password_verifies("alex", PASSWORD),
        "the root's crypt does not accept the password for alex's hash"
    );
    assert!(!root.password_verifies("alex", "wrong horse"));
    assert!(
        root.group_members("sudo").contains(&"alex".to_owned()),
        "alex is not in the sudo group"
    );

    assert_eq!(
        mode_owner(root, "/home/alex/.ssh"),
        (0o700, entry.uid, entry.gid)
    );
    assert_eq!(
        mode_owner(root, "/home/alex/.ssh/authorized_keys"),
        (0o600, entry.uid, entry.gid)
    );
    let keys = root.read("/home/alex/.ssh/authorized_keys");
    assert_eq!(keys.lines().collect::<Vec<_>>(), [KEY], "authorized_keys");
}

/// sshd is enabled and, as sshd itself reads its configuration, takes keys but no password.
fn check_sshd(root: &DebianRoot) {
    let link = root.path("/etc/systemd/system/multi-user.target.wants/ssh.service");
    let target = std::fs::read_link(&link).expect("ssh.service is enabled");
    assert_eq!(target, Path::new("/lib/systemd/system/ssh.service"));
    assert!(root.path("/lib/systemd/system/ssh.service").is_file());
    let sshd = root.sshd_effective();
    assert_eq!(
        sshd.get("passwordauthentication").map(String::as_str),
        Some("no")
    );
    assert_eq!(
        sshd.get("pubkeyauthentication").map(String::as_str),
        Some("yes")
    );
}

/// The time zone as glibc in the root reads it.
fn check_timezone(root: &DebianRoot) {
    assert_eq!(
        std::fs::read_link(root.path("/etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/London")
    );
    assert_eq!(root.read("/etc/timezone"), "Europe/London\n");
    let zone = in_root(root, "date +%Z");
    assert!(
        ["GMT\n", "BST\n"].contains(&zone.as_str()),
        "date says {zone:?}"
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
    assert_eq!(root.read("/etc/hostname"), "pi-kitchen\n");
    let hosts = root.read("/etc/hosts");
    let named: Vec<&str> = hosts
        .lines()
        .filter(|l| l.starts_with("127.0.1.1"))
        .collect();
    assert_eq!(named.len(), 1, "{hosts}");
    assert_eq!(
        named[0].split_whitespace().collect::<Vec<_>>(),
        ["127.0.1.1", "pi-kitchen"]
    );
    assert!(!hosts.contains("raspberrypi"), "{hosts}");

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
    assert_eq!(root.read("/etc/hostname"), "pi-kitchen\n");
    let hosts = root.read("/etc/hosts");
    let named: Vec<&str> = hosts
        .lines()
        .filter(|l| l.starts_with("127.0.1.1"))
        .collect();
    assert_eq!(named.len(), 1, "{hosts}");
    assert!(
        named[0]
            .split_whitespace()
            .skip(1)
            .all(|n| n == "pi-kitchen"),
        "{hosts}"
    );
    assert!(!hosts.contains("raspberrypi"), "{hosts}");

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
