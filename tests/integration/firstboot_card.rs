//! `copy --settings`: first-boot settings written into the FAT boot partition of images made
//! like the real ones (sfdisk, mkfs.vfat, mcopy, mkfs.ext4), on a loop device and in a file,
//! then checked by other tools: `fsck.vfat -n` finds the partition clean, mtools reads the
//! files expected, and every byte outside the boot partition is the image's. An image without
//! a first-boot mechanism is refused before writing (a plain file) or after writing with its
//! first MiB withheld (a stream); a bad settings file fails before the device is touched; a
//! card that does not keep the settings is caught by their read-back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use blockprint::firstboot::Format;

use crate::harness::faulty_card::{Faults, FaultyDisk};
use crate::harness::support::{
    LoopDevice, Run, blockprint, random_bytes, require_root, require_tool, scratch, sh,
};

const MIB: u64 = 1 << 20;
/// Every image: 80 MiB, the FAT32 boot partition at 4 MiB (48 MiB), ext4 after it.
const IMAGE_MIB: u64 = 80;
const BOOT_START: u64 = 4 * MIB;
const BOOT_LEN: u64 = 48 * MIB;
const ROOT_START: u64 = 52 * MIB;
/// Raspberry Pi OS's cmdline.txt (Bookworm), one line.
const CMDLINE: &str = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot";
const CONFIG: &str = "# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\nauto_initramfs=1\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\narm_64bit=1\n[all]\n";
pub(crate) const SETTINGS: &str = r#"hostname = "pi-kitchen"
[user]
name = "alex"
password = "correct horse"
[ssh]
enabled = true
password_login = false
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
hidden = false
"#;
const SUMMARY: &str =
    "Settings applied and read back: hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home";

/// The images, made once per test run.
pub(crate) struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The files of each image's boot partition; the kernel is random bytes, as large as a few
/// clusters' worth.
fn boot_files(kind: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut files = vec![
        ("README.txt", b"This is the boot partition.\n".to_vec()),
        ("kernel8.img", random_bytes(8, 3 * MIB as usize + 1234)),
        ("bcm2712-rpi-5-b.dtb", random_bytes(9, 70_000)),
    ];
    if kind != "plain" {
        files.push(("cmdline.txt", format!("{CMDLINE}\n").into_bytes()));
        files.push(("config.txt", CONFIG.as_bytes().to_vec()));
    }
    if kind == "cloudinit" {
        // Ubuntu's seed for its Raspberry Pi images.
        files.push((
            "user-data",
            b"#cloud-config\n\n# The image's own, as shipped.\nssh_pwauth: false\n".to_vec(),
        ));
        files.push((
            "meta-data",
            b"# This is the meta-data configuration file for cloud-init.\ninstance_id: cloud-image\n"
                .to_vec(),
        ));
        files.push((
            "network-config",
            b"network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n"
                .to_vec(),
        ));
    }
    files
}

/// An image like the real ones: an MBR by sfdisk, a FAT32 boot partition by mkfs.vfat filled
/// by mcopy (a folder too), an ext4 root by mkfs.ext4 holding a file.
fn make_image(dir: &Path, kind: &str) -> PathBuf {
    let image = dir.join(format!("{kind}.img"));
    let path = image.to_str().unwrap();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(IMAGE_MIB * MIB)
        .unwrap();
    let script = format!(
        "label: dos\nlabel-id: 0x4e639091\nstart={}, size={}, type=c\nstart={}, type=83\n",
        BOOT_START / 512,
        BOOT_LEN / 512,
        ROOT_START / 512
    );
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel", path])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut sfdisk.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(sfdisk.wait().unwrap().success(), "sfdisk failed");
    sh(
        "mkfs.vfat",
        &[
            "-F",
            "32",
            "-n",
            "bootfs",
            "--offset",
            &(BOOT_START / 512).to_string(),
            path,
            &(BOOT_LEN / 1024).to_string(),
        ],
    );
    let on_fat = format!("{path}@@{BOOT_START}");
    let staging = dir.join(format!("{kind}-files"));
    std::fs::create_dir_all(staging.join("overlays")).unwrap();
    std::fs::write(staging.join("overlays/README"), b"overlays\n").unwrap();
    for (name, bytes) in boot_files(kind) {
        std::fs::write(staging.join(name), bytes).unwrap();
    }
    let mut args = vec!["-s".to_owned(), "-i".to_owned(), on_fat];
    for entry in std::fs::read_dir(&staging).unwrap() {
        args.push(entry.unwrap().path().to_str().unwrap().to_owned());
    }
    args.push("::".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mtools("mcopy", &args);
    let root = dir.join(format!("{kind}-root"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), b"raspberrypi\n").unwrap();
    // As the real roots are: merged /usr with systemd, which starts firstrun.sh (the
    // detection looks for it), and cloud-init where the image carries a seed.
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    std::fs::write(root.join("usr/lib/systemd/systemd"), b"\x7fELF").unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    if kind == "cloudinit" {
        std::fs::create_dir_all(root.join("etc/cloud")).unwrap();
        std::fs::write(
            root.join("etc/cloud/cloud.cfg"),
            b"datasource_list: [NoCloud]\n",
        )
        .unwrap();
    }
    sh(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            root.to_str().unwrap(),
            "-E",
            &format!("offset={ROOT_START},nodiscard"),
            path,
            &format!("{}k", (IMAGE_MIB * MIB - ROOT_START) / 1024),
        ],
    );
    image
}

pub(crate) fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        for tool in [
            "sfdisk",
            "mkfs.vfat",
            "mcopy",
            "mtype",
            "mkfs.ext4",
            "fsck.vfat",
            "gzip",
        ] {
            require_tool(tool);
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("firstboot-card");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for kind in [Format::Systemd.name(), "cloudinit", "plain"] {
            make_image(&dir, kind);
        }
        sh("gzip", &["-k", dir.join("plain.img").to_str().unwrap()]);
        std::fs::write(dir.join("pi.toml"), SETTINGS).unwrap();
        std::fs::write(
            dir.join("typo.toml"),
            SETTINGS.replace(
                "password = \"correct horse\"",
                "pasword = \"correct horse\"",
            ),
        )
        .unwrap();
        Fixtures { dir }
    })
}

/// Runs an mtools command without its drive-geometry check.
fn mtools(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); run build-aux/install-deps"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The file `name` of the boot partition in `disk` (an image file), as mtype reads it.
pub(crate) fn mtype(disk: &Path, name: &str) -> Vec<u8> {
    let on_fat = format!("{}@@{BOOT_START}", disk.display());
    mtools("mtype", &["-i", &on_fat, &format!("::{name}")])
}

/// The names in the boot partition's root, as mdir lists them, sorted.
fn root_names(disk: &Path) -> Vec<String> {
    let on_fat = format!("{}@@{BOOT_START}", disk.display());
    let listing = mtools("mdir", &["-b", "-i", &on_fat, "::"]);
    let mut names: Vec<String> = String::from_utf8(listing)
        .unwrap()
        .lines()
        .map(|l| l.trim_start_matches("::/").trim_end_matches('/').to_owned())
        .collect();
    names.sort();
    names
}

/// `fsck.vfat -n` on the boot partition of `disk` (copied out), which must find nothing.
fn assert_clean(disk: &Path) {
    let part = disk.with_extension("boot");
    let bytes = std::fs::read(disk).unwrap();
    std::fs::write(
        &part,
        &bytes[BOOT_START as usize..(BOOT_START + BOOT_LEN) as usize],
    )
    .unwrap();
    let out = Command::new("fsck.vfat")
        .args(["-n", "-v", part.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fsck.vfat -n:\n{text}");
    for worry in [
        "differ",
        "Dirty bit",
        "Free cluster summary",
        "Reclaimed",
        "truncat",
        "Bad",
    ] {
        assert!(
            !text.contains(worry),
            "fsck.vfat -n reports '{worry}':\n{text}"
        );
    }
    std::fs::remove_file(part).unwrap();
}

/// A disk image of `mib` MiB of random bytes (an old card's contents), for a loop device.
fn old_card(dir: &Path, mib: u64, seed: u64) -> (PathBuf, Vec<u8>) {
    let backing = dir.join(format!("card-{seed}.img"));
    let bytes = random_bytes(seed, (mib * MIB) as usize);
    std::fs::write(&backing, &bytes).unwrap();
    (backing, bytes)
}

fn copy_with_settings(settings: &Path, image: &Path, dests: &[&Path], extra: &[&str]) -> Run {
    let mut args = vec!["copy", "--nobmap", "--settings", settings.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(image.to_str().unwrap());
    args.extend(dests.iter().map(|d| d.to_str().unwrap()));
    blockprint(args)
}

/// The files written to `dest` as its "first-boot settings written" line names them.
fn files_written(stderr: &str, dest: Option<&str>, format: &str) -> Vec<String> {
    let on = dest.map(|d| format!(" on '{d}'")).unwrap_or_default();
    let head = format!("first-boot settings written{on} as {format}: ");
    let line = stderr
        .lines()
        .find_map(|l| l.split_once(&head).map(|(_, files)| files.to_owned()))
        .unwrap_or_else(|| panic!("no '{head}' in:\n{stderr}"));
    line.split(", ").map(str::to_owned).collect()
}

/// `written` (the card or file after the copy) is the image but for the boot partition,
/// which `fsck.vfat -n` finds clean, whose root holds the image's names and `added`, and
/// whose other files are unchanged.
fn assert_only_settings_changed(
    written: &[u8],
    written_path: &Path,
    image: &Path,
    added: &[String],
) {
    let original = std::fs::read(image).unwrap();
    let (start, end) = (BOOT_START as usize, (BOOT_START + BOOT_LEN) as usize);
    assert!(
        written[..start] == original[..start],
        "the bytes before the boot partition differ"
    );
    assert!(
        written[end..original.len()] == original[end..],
        "the bytes after the boot partition differ"
    );
    assert_clean(written_path);
    let mut want = root_names(image);
    want.extend(added.iter().cloned());
    want.sort();
    want.dedup();
    assert_eq!(root_names(written_path), want);
    let kind = image.file_stem().unwrap().to_str().unwrap();
    for (name, bytes) in boot_files(kind) {
        if !added.iter().any(|a| a == name) {
            assert!(mtype(written_path, name) == bytes, "{name} changed");
        }
    }
    assert_eq!(mtype(written_path, "overlays/README"), b"overlays\n");
}

/// `cmdline.txt` is the image's line, then the words that start firstrun.sh.
fn assert_systemd_files(card: &Path) {
    let cmdline = String::from_utf8(mtype(card, "cmdline.txt")).unwrap();
    let line = cmdline.strip_suffix('\n').unwrap_or(&cmdline);
    assert!(!line.contains('\n'), "one line: {cmdline:?}");
    let added = line
        .strip_prefix(CMDLINE)
        .unwrap_or_else(|| panic!("the image's words first: {cmdline:?}"));
    let words: Vec<&str> = added.split_whitespace().collect();
    assert!(added.starts_with(' '), "{cmdline:?}");
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("systemd.run=") && w.ends_with("/firstrun.sh")),
        "{cmdline:?}"
    );
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("systemd.run_success_action=")),
        "{cmdline:?}"
    );
    let script = mtype(card, "firstrun.sh");
    assert!(
        script.starts_with(b"#!/bin/sh"),
        "{}",
        String::from_utf8_lossy(&script)
    );
    assert!(script.windows(10).any(|w| w == b"pi-kitchen"));
}

#[test]
fn systemd_settings_on_a_loop_device_are_clean_read_back_and_alone() {
    require_root("a loop device");
    let f = fixtures();
    let dir = scratch();
    let (backing, _) = old_card(dir.path(), 96, 31);
    let mut dev = LoopDevice::new(&backing);
    let image = f.path("systemd.img");
    let run = copy_with_settings(&f.path("pi.toml"), &image, &[&dev.path], &[]);
    let stderr = run.ok();
    assert!(
        stderr.contains("takes first-boot settings as systemd"),
        "{stderr}"
    );
    assert!(stderr.contains(SUMMARY), "{stderr}");
    let mut files = files_written(stderr, None, Format::Systemd.name());
    files.sort();
    assert_eq!(files, ["cmdline.txt", "firstrun.sh"]);
    dev.detach();
    let card = std::fs::read(&backing).unwrap();
    assert_only_settings_changed(&card, &backing, &image, &files);
    assert_systemd_files(&backing);
}

#[test]
fn cloud_init_settings_in_a_file_and_on_a_loop_device_at_once() {
    require_root("a loop device");
    let f = fixtures();
    let dir = scratch();
    let (backing, _) = old_card(dir.path(), 96, 32);
    let mut dev = LoopDevice::new(&backing);
    let file = dir.path().join("out.img");
    let image = f.path("cloudinit.img");
    let run = copy_with_settings(
        &f.path("pi.toml"),
        &image,
        &[&dev.path, &file],
        &["--verify-readback"],
    );
    let stderr = run.ok();
    for dest in [dev.name(), file.to_str().unwrap()] {
        assert!(
            stderr.contains(&format!(
                "Settings applied and read back on '{dest}': hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home"
            )),
            "{stderr}"
        );
    }
    let files = [
        files_written(stderr, Some(dev.name()), "cloudinit"),
        files_written(stderr, Some(file.to_str().unwrap()), "cloudinit"),
    ];
    assert_eq!(files[0], files[1], "each DEST gets the same");
    for seed in ["user-data", "meta-data", "network-config"] {
        assert!(files[0].iter().any(|f| f == seed), "{files:?}");
    }
    dev.detach();
    for path in [&backing, &file] {
        let written = std::fs::read(path).unwrap();
        assert_only_settings_changed(&written, path, &image, &files[0]);
        let user_data = String::from_utf8(mtype(path, "user-data")).unwrap();
        assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
        assert!(user_data.contains("pi-kitchen"), "{user_data}");
        assert!(
            !user_data.contains("correct horse"),
            "never the password itself"
        );
        let network = String::from_utf8(mtype(path, "network-config")).unwrap();
        assert!(network.contains("Home"), "{network}");
        assert!(!mtype(path, "meta-data").is_empty());
    }
}

#[test]
fn a_plain_image_without_a_mechanism_is_refused_before_anything_is_written() {
    require_root("a loop device");
    let f = fixtures();
    let dir = scratch();
    let (backing, before) = old_card(dir.path(), 96, 33);
    let dev = LoopDevice::new(&backing);
    let run = copy_with_settings(&f.path("pi.toml"), &f.path("plain.img"), &[&dev.path], &[]);
    run.fails_with(&[
        "this image has no first-boot mechanism Blockprint knows (no cloud-init seed, no cmdline.txt on its boot partition",
        "write it without settings",
    ]);
    let file = dir.path().join("out.img");
    let run = copy_with_settings(&f.path("pi.toml"), &f.path("plain.img"), &[&file], &[]);
    run.fails_with(&["no first-boot mechanism Blockprint knows"]);
    assert!(!file.exists(), "no file was made");
    drop(dev);
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "the card was written"
    );
}

#[test]
fn a_streamed_image_without_a_mechanism_is_refused_after_writing_with_its_first_mib_withheld() {
    require_root("a loop device");
    let f = fixtures();
    let dir = scratch();
    let (backing, _) = old_card(dir.path(), 96, 34);
    let mut dev = LoopDevice::new(&backing);
    let run = copy_with_settings(
        &f.path("pi.toml"),
        &f.path("plain.img.gz"),
        &[&dev.path],
        &[],
    );
    run.fails_with(&[
        &format!("cannot write the first-boot settings to '{}'", dev.name()),
        "the image is written but its first MiB is not, so the card will not boot half set up",
        "no first-boot mechanism Blockprint knows",
    ]);
    dev.detach();
    let card = std::fs::read(&backing).unwrap();
    let image = std::fs::read(f.path("plain.img")).unwrap();
    assert!(
        card[..MIB as usize].iter().all(|&b| b == 0),
        "the first MiB is wiped, not the image's"
    );
    assert!(card[..MIB as usize] != image[..MIB as usize]);
    assert!(
        card[MIB as usize..image.len()] == image[MIB as usize..],
        "the rest is written"
    );
}

#[test]
fn a_settings_file_with_an_unknown_key_fails_before_the_device_is_touched() {
    require_root("a loop device");
    let f = fixtures();
    let dir = scratch();
    let (backing, before) = old_card(dir.path(), 96, 35);
    let dev = LoopDevice::new(&backing);
    let run = copy_with_settings(
        &f.path("typo.toml"),
        &f.path("systemd.img"),
        &[&dev.path],
        &[],
    );
    run.fails_with(&["typo.toml", "pasword"]);
    assert!(!run.stderr.contains("copying image"), "{}", run.stderr);
    let missing = dir.path().join("missing.toml");
    let run = copy_with_settings(&missing, &f.path("systemd.img"), &[&dev.path], &[]);
    run.fails_with(&["cannot read the settings file", "missing.toml"]);
    drop(dev);
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "the card was written"
    );
}

#[test]
fn a_card_that_does_not_keep_the_settings_is_caught_and_left_unbootable() {
    require_root("a FUSE disk");
    let f = fixtures();
    let image = f.path("systemd.img");
    let bytes = std::fs::read(&image).unwrap();
    // Reads of the first byte of cmdline.txt's data come back with a bit flipped: what is
    // written there never reads back as written.
    let at = bytes
        .windows(CMDLINE.len())
        .position(|w| w == CMDLINE.as_bytes())
        .expect("cmdline.txt in the image") as u64;
    assert!((BOOT_START..BOOT_START + BOOT_LEN).contains(&at));
    let disk = FaultyDisk::new(96 * MIB);
    disk.set(Faults {
        flip_bit_on_read_at: Some(at),
        ..Faults::default()
    });
    let run = copy_with_settings(&f.path("pi.toml"), &image, &[disk.device()], &[]);
    run.fails_with(&[
        &format!("cannot write the first-boot settings to '{}'", disk.device().display()),
        "'cmdline.txt' on the boot partition, partition 1 (MBR, bytes 4194304 to 54525951), differs from what was written when read back",
        "the card accepted the settings but did not keep them",
        "its first MiB is not",
    ]);
    assert!(
        disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB was written"
    );
}
