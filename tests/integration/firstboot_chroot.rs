//! First-boot settings applied, not just written: the files Blockprint writes into the boot
//! partition are put where a booted system has them (`/boot/firmware`) in a real Debian 12
//! root made by debootstrap, run there as the first boot runs them (in a chroot, in
//! namespaces of its own: see [`crate::harness::debian_root`]), and the system's own files
//! are checked afterwards: users, shadow, sshd's effective configuration, the NetworkManager
//! connection read back as a key file, locale, keyboard and time zone.
//!
//! The settings hold hostile values (an SSID `a"; rm -rf / #`, a passphrase with `$HOME`,
//! quotes, backslashes and command substitutions) which must arrive as typed and never run.
//!
//! The tests are in the children below, one per format; the settings, the boot partition's
//! files, the markers and the checks of the root's files they share are here.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use blockprint::firstboot::{BootFile, Settings, parse};

use crate::harness::debian_root::DebianRoot;
use crate::harness::support::require_tool;

/// cloud-init's four boot stages on the NoCloud seed of `Format::CloudInit`.
mod cloud_init;
/// `firstrun.sh` of `Format::Systemd`, run as Raspberry Pi OS's first boot runs it.
mod firstrun_sh;

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

/// Checks hostname pi-kitchen: one 127.0.1.1 line, no raspberrypi; returns /etc/hosts and it.
#[track_caller]
fn check_hostname(root: &DebianRoot) -> (String, String) {
    assert_eq!(root.read("/etc/hostname"), "pi-kitchen\n");
    let hosts = root.read("/etc/hosts");
    let named: Vec<&str> = hosts
        .lines()
        .filter(|l| l.starts_with("127.0.1.1"))
        .collect();
    assert_eq!(named.len(), 1, "{hosts}");
    assert!(!hosts.contains("raspberrypi"), "{hosts}");
    let line = named[0].to_owned();
    (hosts, line)
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
