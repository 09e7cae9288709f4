//! The UDisks2 client against a real udisksd on a private system bus, which
//! `build-aux/udisks-env` starts for `build-aux/test`. The drives are loop devices set up
//! through udisksctl, so udisksd sees them come and go as it would a card.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;
use blockprint::copy::{CopyOptions, copy};
use blockprint::drives::{Context, Drive, Severity};
use blockprint::progress::{CancelToken, NoProgress};
use blockprint::source::{Input, Opener};
use blockprint::target::Target;
use blockprint::udisks::{DriveEvent, Removal, Udisks, UdisksError};

use crate::harness::support::{
    assert_written, blockprint, loop_setup_lock, require_root, require_tool, sh, sparse_image,
};

const MIB: u64 = 1 << 20;

/// A directory whose loop devices get their partitions scanned (see build-aux/udisks-env),
/// which the unprivileged test users may enter.
pub(crate) fn workdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("blockprint-udisks-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The client, or a loud failure explaining how these tests run.
pub(crate) fn udisks() -> Udisks {
    require_root("udisksd");
    assert!(
        std::env::var_os("BLOCKPRINT_TEST_UDISKS").is_some(),
        "these tests need udisksd on a private system bus: run build-aux/test, or \
         eval \"$(build-aux/udisks-env start DIR)\" first"
    );
    Udisks::connect().expect("udisksd answers on the private bus")
}

/// A loop device set up through udisksd, deleted through it on drop.
pub struct UdisksLoop {
    device: PathBuf,
}

impl UdisksLoop {
    /// A loop device over `backing`, filled first with `len` random bytes of `seed`; those
    /// bytes, to compare with what is left of them after a write.
    pub fn random(backing: &Path, seed: u64, len: usize) -> (Self, Vec<u8>) {
        let before = crate::harness::support::random_bytes(seed, len);
        std::fs::write(backing, &before).unwrap();
        (Self::new(backing), before)
    }

    pub fn new(backing: &Path) -> Self {
        require_tool("udisksctl");
        let _guard = loop_setup_lock();
        let out = sh(
            "udisksctl",
            &[
                "loop-setup",
                "--no-user-interaction",
                "-f",
                backing.to_str().unwrap(),
            ],
        );
        // "Mapped file /tmp/x.img as /dev/loop3."
        let device = out
            .trim()
            .rsplit(' ')
            .next()
            .map(|d| PathBuf::from(d.trim_end_matches('.')))
            .expect("udisksctl names the device");
        UdisksLoop { device }
    }

    pub fn name(&self) -> &str {
        self.device.to_str().unwrap()
    }

    fn delete(&mut self) {
        let _ = std::process::Command::new("partx")
            .args(["-d", self.name()])
            .output();
        sh(
            "udisksctl",
            &["loop-delete", "--no-user-interaction", "-b", self.name()],
        );
        self.device = PathBuf::new();
    }
}

impl Drop for UdisksLoop {
    fn drop(&mut self) {
        if !self.device.as_os_str().is_empty() {
            let _ = std::process::Command::new("partx")
                .args(["-d", self.name()])
                .output();
            let _ = std::process::Command::new("udisksctl")
                .args(["loop-delete", "--no-user-interaction", "-b", self.name()])
                .output();
        }
    }
}

/// The drive backed by `backing` once udisksd shows it in the state `ready` wants (udisksd
/// learns of devices from udev, a moment after the kernel).
fn drive_when(udisks: &Udisks, backing: &Path, ready: impl Fn(&Drive) -> bool) -> Drive {
    let started = Instant::now();
    loop {
        let drives = udisks.drives().expect("drives");
        let found = drives
            .into_iter()
            .find(|d| d.backing_file.as_deref() == Some(backing));
        match found {
            Some(d) if ready(&d) => return d,
            other if started.elapsed() > Duration::from_secs(30) => {
                panic!(
                    "udisksd never showed {} as wanted: {other:#?}",
                    backing.display()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The next event about the drive backed by `backing` (or with `key`), others skipped.
fn next_event(rx: &Receiver<DriveEvent>, matches: impl Fn(&DriveEvent) -> bool) -> DriveEvent {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(event) if matches(&event) => return event,
            Ok(DriveEvent::Lost(why)) => panic!("the watcher lost udisksd: {why}"),
            Ok(_) => {}
            Err(e) => panic!("no such event within 30 s: {e}"),
        }
    }
}

/// A file of `size` bytes holding an MBR with one ext4 partition from 1 MiB to the end (ext4:
/// the test kernel mounts it; it has no vfat).
fn ext4_card(dir: &Path, size: u64) -> PathBuf {
    let img = dir.join("card.img");
    File::create(&img).unwrap().set_len(size).unwrap();
    sh(
        "sh",
        &[
            "-c",
            &format!(
                "printf 'label: dos\\n2048,,83\\n' | sfdisk -q {}",
                img.display()
            ),
        ],
    );
    sh(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "OLDCARD",
            "-E",
            &format!("offset={MIB}"),
            img.to_str().unwrap(),
            &format!("{}k", (size - MIB) / 1024),
        ],
    );
    img
}

#[test]
fn drives_come_and_go_as_signals_say() {
    let udisks = udisks();
    let rx = udisks.watch().expect("watch");
    let dir = workdir();
    let img = dir.path().join("hotplug.img");
    File::create(&img).unwrap().set_len(48 * MIB).unwrap();

    let mut card = UdisksLoop::new(&img);
    let added = next_event(&rx, |e| {
        matches!(e, DriveEvent::Added(d) | DriveEvent::Changed(d)
            if d.backing_file.as_deref() == Some(img.as_path()) && d.size > 0)
    });
    let (DriveEvent::Added(drive) | DriveEvent::Changed(drive)) = added else {
        unreachable!()
    };
    assert_eq!(drive.device, card.device);
    assert_eq!(drive.size, 48 * MIB);
    assert!(
        drive.is_candidate(true) && !drive.is_candidate(false),
        "{drive:#?}"
    );

    // The command line sees it too, with its size and guards.
    let run = blockprint(["list", "--all", "--json"]);
    run.ok();
    let json = String::from_utf8(run.stdout).unwrap();
    let list: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["backing_file"] == img.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not listed: {json}", img.display()));
    assert_eq!(entry["device"], card.name());
    assert_eq!(entry["size"], 48 * MIB);
    assert_eq!(entry["guards"][0]["severity"], "confirm", "{entry}");
    assert!(
        entry["guards"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("system drive")
    );
    let run = blockprint(["list"]);
    run.ok();
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        !text.contains(card.name()),
        "a loop device is not offered by default: {text}"
    );

    card.delete();
    let key = drive.key.clone();
    next_event(
        &rx,
        |e| matches!(e, DriveEvent::Removed { key: k } if *k == key),
    );
    // Acting on a drive that went away says so.
    match udisks.open(&drive) {
        Err(e @ UdisksError::Gone { .. }) => {
            let want = format!("{} is gone: the drive was removed", drive.device.display());
            assert_eq!(e.to_string(), want);
        }
        other => panic!("expected Gone: {other:?}"),
    }
}

#[test]
fn a_mounted_card_is_freed_opened_and_written() {
    let udisks = udisks();
    let dir = workdir();
    let img = ext4_card(dir.path(), 64 * MIB);
    let card = UdisksLoop::new(&img);
    let part = format!("{}p1", card.name());
    drive_when(&udisks, &img, |d| {
        d.volumes.iter().any(|v| v.fs_type == "ext4")
    });
    sh(
        "udisksctl",
        &["mount", "--no-user-interaction", "-b", &part],
    );
    let drive = drive_when(&udisks, &img, |d| {
        d.volumes.iter().any(|v| !v.mount_points.is_empty())
    });
    let mount_point = drive.volumes[0].mount_points[0].clone();
    let guards = drive.guards(&Context::default());
    assert!(
        guards.iter().any(|g| g.severity == Severity::Warning
            && g.reason
                .contains(&format!("{part} is mounted on {}", mount_point.display()))),
        "{guards:?}"
    );

    // A file open on the card: unmounting is refused, with the device named.
    let held = File::open(mount_point.join(".")).unwrap();
    let keep = std::fs::File::create(mount_point.join("open.txt")).unwrap();
    match udisks.prepare(&drive) {
        Err(e @ UdisksError::Busy { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&part), "{text}");
            assert!(
                text.contains(&format!("mounted on {}", mount_point.display())),
                "{text}"
            );
        }
        other => panic!("a busy mount must be refused: {other:?}"),
    }
    drop((held, keep));

    let done = udisks.prepare(&drive).expect("prepare");
    assert_eq!(done, [format!("unmounted {part}")]);
    let drive = drive_when(&udisks, &img, |d| {
        d.volumes.iter().all(|v| v.mount_points.is_empty())
    });

    // What the card holds now (mounting wrote to it); unmapped bytes must stay so.
    let before = std::fs::read(&img).unwrap();
    // The fd from OpenDevice goes to the engine, which writes a bmap image through it.
    let (image, bmap_path, content) = sparse_image(dir.path(), 40 * MIB);
    let opened = udisks.open(&drive).expect("OpenDevice");
    let mut target = Target::from_block_file(opened.file, &drive.device, opened.direct).unwrap();
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let mut source = Opener::new()
        .open(&Input::parse(image.to_str().unwrap()).unwrap())
        .unwrap()
        .source;
    copy(
        &mut *source,
        Some(&bmap),
        &mut target,
        &CopyOptions::default(),
        &mut NoProgress,
        &CancelToken::new(),
    )
    .expect("copy through the OpenDevice fd");
    drop(target);
    assert_eq!(udisks.finish(&drive).expect("finish"), Removal::Nothing);
    assert_written(&std::fs::read(&img).unwrap(), &before, &content, &bmap);
}

#[test]
fn restore_leaves_one_clean_fat32_partition() {
    require_tool("fsck.vfat");
    let udisks = udisks();
    let dir = workdir();
    let img = dir.path().join("restore.img");
    std::fs::write(&img, crate::harness::support::random_bytes(7, 96 << 20)).unwrap();
    let _card = UdisksLoop::new(&img);
    let drive = drive_when(&udisks, &img, |d| d.size > 0);
    udisks.prepare(&drive).expect("prepare");
    udisks.restore(&drive, "BLOCKPRINT").expect("restore");
    let table = sh("sfdisk", &["--json", img.to_str().unwrap()]);
    let table: serde_json::Value = serde_json::from_str(&table).unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(table["partitiontable"]["label"], "dos");
    assert_eq!(parts.len(), 1, "{table}");
    assert_eq!(parts[0]["start"], 2048);
    assert_eq!(parts[0]["type"], "c");
    let start = 2048 * 512;
    let len = parts[0]["size"].as_u64().unwrap() * 512;
    let part = dir.path().join("part.img");
    let data = crate::harness::support::read_at(&img, start, usize::try_from(len).unwrap());
    std::fs::write(&part, data).unwrap();
    // sh fails the test if fsck does; a fresh filesystem has no cluster in use.
    let fsck = sh("fsck.vfat", &["-n", part.to_str().unwrap()]);
    assert!(fsck.contains(" files, 0/"), "{fsck}");
    let label = sh(
        "blkid",
        &["-o", "value", "-s", "LABEL", part.to_str().unwrap()],
    );
    assert_eq!(label.trim(), "BLOCKPRINT");
}

#[test]
fn restore_makes_large_drives_gpt_and_exfat() {
    require_tool("fsck.exfat");
    let udisks = udisks();
    let dir = workdir();
    let img = dir.path().join("big.img");
    File::create(&img).unwrap().set_len(40_000_000_000).unwrap();
    let _card = UdisksLoop::new(&img);
    let drive = drive_when(&udisks, &img, |d| d.size > 0);
    udisks.prepare(&drive).expect("prepare");
    udisks.restore(&drive, "BIGCARD").expect("restore");
    let table = sh("sfdisk", &["--json", img.to_str().unwrap()]);
    let table: serde_json::Value = serde_json::from_str(&table).unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(table["partitiontable"]["label"], "gpt");
    assert_eq!(parts.len(), 1, "{table}");
    assert_eq!(parts[0]["start"], 2048);
    let _guard = loop_setup_lock();
    let offset = (2048 * 512).to_string();
    let view = sh(
        "losetup",
        &["-f", "--show", "-r", "-o", &offset, img.to_str().unwrap()],
    );
    let view = view.trim().to_owned();
    let fsck = std::process::Command::new("fsck.exfat")
        .args(["-n", &view])
        .output()
        .unwrap();
    let label = std::process::Command::new("blkid")
        .args(["-o", "value", "-s", "LABEL", &view])
        .output()
        .unwrap();
    sh("losetup", &["-d", &view]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "BIGCARD");
}

/// The real polkit path, as on a desktop: the test binary runs this test again as each of the
/// harness's unprivileged users. The one a polkit rule allows gets a writable descriptor from
/// `OpenDevice`; the other, with no authentication agent to ask, gets an error saying so.
#[test]
fn polkit_decides_for_unprivileged_users() {
    if let Ok(device) = std::env::var("BLOCKPRINT_CHILD_OPEN") {
        open_as_child(Path::new(&device));
        return;
    }
    let udisks = udisks();
    let user = |var: &str| {
        std::env::var(var).unwrap_or_else(|_| panic!("{var} is set by build-aux/udisks-env"))
    };
    let dir = workdir();
    let img = dir.path().join("polkit.img");
    File::create(&img).unwrap().set_len(8 * MIB).unwrap();
    let card = UdisksLoop::new(&img);
    drive_when(&udisks, &img, |d| d.size > 0);
    let run_as = |name: &str| {
        use std::os::unix::process::CommandExt;
        let id = |flag: &str| sh("id", &[flag, name]).trim().parse::<u32>().unwrap();
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "udisks::polkit_decides_for_unprivileged_users",
                "--nocapture",
            ])
            .env("BLOCKPRINT_CHILD_OPEN", card.name())
            .uid(id("-u"))
            .gid(id("-g"))
            .output()
            .unwrap()
    };
    let allowed = run_as(&user("BLOCKPRINT_TEST_USER"));
    let said = String::from_utf8_lossy(&allowed.stdout).into_owned()
        + &String::from_utf8_lossy(&allowed.stderr);
    assert!(allowed.status.success(), "the allowed user failed: {said}");
    assert!(said.contains("opened through polkit"), "{said}");
    let written = crate::harness::support::read_at(&img, 4096, CHILD_MARK.len());
    assert_eq!(written, CHILD_MARK, "the unprivileged write did not land");

    let denied = run_as(&user("BLOCKPRINT_TEST_DENIED_USER"));
    let said = String::from_utf8_lossy(&denied.stdout).into_owned()
        + &String::from_utf8_lossy(&denied.stderr);
    assert!(
        !denied.status.success(),
        "the denied user got the device: {said}"
    );
    // polkit's default for open-device is to ask an administrator; nobody can be asked here.
    assert!(
        said.contains("no polkit authentication agent answered"),
        "{said}"
    );
    assert!(
        said.contains(card.name()),
        "the error names the device: {said}"
    );
}

const CHILD_MARK: &[u8] = b"written by an unprivileged user through polkit";

/// The child's side: open the device through udisksd and write a mark at 4 KiB.
fn open_as_child(device: &Path) {
    let udisks = Udisks::connect().expect("udisksd answers the unprivileged user");
    let drive = udisks
        .drives()
        .unwrap()
        .into_iter()
        .find(|d| d.device == device)
        .expect("the device is listed");
    match udisks.open(&drive) {
        Ok(opened) => {
            let mut target = Target::from_block_file(opened.file, device, opened.direct).unwrap();
            target.write_at(4096, CHILD_MARK).unwrap();
            target.sync().unwrap();
            println!("opened through polkit (direct: {})", opened.direct);
        }
        Err(e) => panic!("refused: {e}"),
    }
}
