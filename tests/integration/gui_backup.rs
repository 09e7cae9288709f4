//! "Back Up Drive…" in the desktop app, end to end: a used Pi card (the fixture of
//! `backup.rs`) as a loop device set up by udisksd, its root partition mounted read-write by
//! root and written to. The app, run as the unprivileged test user on Xvfb, is driven through
//! its GActions and keys: the question must say the partition is unmounted first; the save
//! chooser's suggested name is taken as it is; the page shows the reading (slowed down by the
//! blkio cgroup, as a real card reader is slow) and the end. Then the file and its bmap must be
//! in the user's home, the bmap's ranges those `blockprint scan` maps on the card, the file
//! written back by `blockprint copy` the card's used bytes exactly (zeros elsewhere, both
//! filesystems clean, the file written while mounted in it), and the partition unmounted. A
//! user polkit refuses gets the end page saying so, and no file.
//!
//! Screenshots (`target/tmp/gui-screenshots-backup/`): the question, the running page and
//! the end at 720 and 360 px, and the refusal.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use blockprint::bmap::Bmap;

use crate::backup::{entries, pi_card, s};
use crate::gui::{App, Session, WIDE, begin, both_widths, env, quiet, shows};
use crate::harness::gui_session::{normal, ocr};
use crate::harness::images::{ext_files, extract, fsck};
use crate::harness::support::{Mounted, blockprint};
use crate::udisks::{UdisksLoop, workdir};

/// How fast the app may read the card: slow enough to see the page while it reads (the
/// card's used blocks take a few seconds), fast enough to keep the test short.
const READ_RATE: u64 = 4 << 20;

#[test]
fn the_app_backs_up_a_mounted_card_and_a_refused_user_gets_no_file() {
    let shots = begin(
        "the desktop app's backup test",
        &["udisksctl", "tesseract"],
        "gui-screenshots-backup",
        true,
    );
    let dir = workdir();
    let card = pi_card(dir.path());
    let drive = UdisksLoop::new(&card.image);
    let root = partition(drive.name(), 2);
    // Mounted read-write as root, as a desktop would have it, and written to.
    let mounted = Mounted::new(&[s(&root.device)], &dir.path().join("mounted"));
    std::fs::write(
        mounted.path.join("etc/notes.txt"),
        b"written while mounted\n",
    )
    .unwrap();

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let app = App::start(&session, false, &[], shots.join("app.log"));
    let _slow = SlowReads::new(&session.home, drive.name(), READ_RATE);
    session.resize(WIDE);
    ask(&session, &app, &drive);
    both_widths(&session, &shots, "backup", "1-question", WIDE);
    // OCR is slow: it reads each screenshot on a thread of its own while the test goes on.
    let mut seen = vec![read(
        &shots,
        "backup-720-1-question",
        &["is unmounted first"],
    )];
    session.keys("^Back Up ", "key", &["alt+f"]);
    let chooser = "^Save Backup As$";
    session.window(chooser);
    // The suggested name, in the home folder, as it is.
    session.keys(chooser, "key", &["Return"]);
    app.enabled("cancel-backup");
    // Into the reading: its first chunks are read by then.
    std::thread::sleep(Duration::from_millis(2500));
    both_widths(&session, &shots, "backup", "2-running", WIDE);
    seen.push(read(
        &shots,
        "backup-720-2-running",
        &["backing up", "reading the blocks in use"],
    ));
    app.enabled("backup-done");
    both_widths(&session, &shots, "backup", "3-saved", WIDE);
    seen.push(read(&shots, "backup-720-3-saved", &["backup saved"]));
    quiet(app);

    // The file under the suggested name, its bmap beside it, nothing else left.
    let home = Path::new(&session.home);
    let made: Vec<String> = entries(home)
        .into_iter()
        .filter(|n| n.contains(".img"))
        .collect();
    let [image, bmap] = &made[..] else {
        panic!(
            "expected the image and its bmap in {}: {made:?}",
            home.display()
        );
    };
    assert!(suggested(image), "{image}");
    assert_eq!(*bmap, format!("{image}.bmap"));
    let (image, bmap) = (home.join(image), home.join(bmap));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&format!("{} ", root.device.display())),
        "{} is still mounted:\n{mounts}",
        root.device.display()
    );
    drop(mounted);
    check_backup(&image, &bmap, drive.name(), &root, dir.path());

    // Refused by polkit (no agent to ask either): said on the end page, and no file made.
    let denied = Session::start(&env("BLOCKPRINT_TEST_DENIED_USER"));
    let app = App::start(&denied, true, &[], shots.join("denied-app.log"));
    denied.resize(WIDE);
    ask(&denied, &app, &drive);
    denied.keys("^Back Up ", "key", &["alt+f"]);
    denied.window(chooser);
    denied.keys(chooser, "key", &["Return"]);
    app.enabled("backup-done");
    shows(
        &denied,
        &shots,
        "denied-720-3-refused",
        &["backup failed", "not allowed"],
    );
    quiet(app);
    let left: Vec<String> = entries(Path::new(&denied.home))
        .into_iter()
        .filter(|n| n.contains(".img"))
        .collect();
    assert!(left.is_empty(), "a refused backup left {left:?}");
    for reading in seen {
        if let Err(failed) = reading.join() {
            std::panic::resume_unwind(failed);
        }
    }
    eprintln!("screenshots: {}", shots.display());
}

/// Reads the screenshot `name.png` on a thread, which fails unless it shows each of `words`
/// (as OCR reads them).
fn read(shots: &Path, name: &str, words: &[&'static str]) -> JoinHandle<()> {
    let shot = shots.join(format!("{name}.png"));
    let words = words.to_vec();
    std::thread::spawn(move || {
        let text = ocr(&shot, "eng");
        for words in words {
            assert!(
                text.contains(&normal(words)),
                "{words:?} not on screen:\n{text}\nscreenshot: {}",
                shot.display()
            );
        }
    })
}

/// Every drive shown, `drive` chosen (a loop device is a system drive: its name is typed),
/// then "Back Up Drive…": up to the open question, which starts with it.
fn ask(session: &Session, app: &App<'_>, drive: &UdisksLoop) {
    app.enabled("show-all-drives");
    app.activate("show-all-drives", None);
    session.keys("^Show All Drives\\?$", "key", &["Tab", "Return"]);
    session.gone("^Show All Drives\\?$");
    std::thread::sleep(Duration::from_millis(500));
    app.activate("select-drive", Some(drive.name()));
    let typed = "^Choose a System Drive\\?$";
    session.keys(typed, "type", &[drive.name().trim_start_matches("/dev/")]);
    session.keys(typed, "key", &["Return"]);
    session.gone(typed);
    app.enabled("backup-drive");
    app.activate("backup-drive", None);
    session.window("^Back Up ");
}

/// Whether `name` is the chooser's suggestion: a name of safe characters, a date, `.img.zst`.
fn suggested(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".img.zst") else {
        return false;
    };
    let (base, date) = stem.split_at(stem.len().saturating_sub(11));
    let digits = |part: &str, n: usize| part.len() == n && part.bytes().all(|b| b.is_ascii_digit());
    let date: Vec<&str> = date.trim_start_matches('-').split('-').collect();
    !base.is_empty()
        && base
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        && matches!(&date[..], [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
}

/// A partition of a loop device: its node, and where it lies on the device (from sysfs).
struct Partition {
    device: PathBuf,
    offset: u64,
    len: u64,
}

/// Partition `n` of `device`, once its node is there (udev adds loop partitions with partx).
fn partition(device: &str, n: u32) -> Partition {
    let node = PathBuf::from(format!("{device}p{n}"));
    let sys = Path::new("/sys/class/block").join(node.file_name().unwrap());
    let started = std::time::Instant::now();
    while !std::fs::metadata(&node).is_ok_and(|m| m.file_type().is_block_device()) {
        assert!(
            started.elapsed() < crate::gui::WAIT,
            "{} never appeared",
            node.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sectors = |name: &str| -> u64 {
        let text = std::fs::read_to_string(sys.join(name)).unwrap();
        text.trim().parse::<u64>().unwrap() * 512
    };
    Partition {
        offset: sectors("start"),
        len: sectors("size"),
        device: node,
    }
}

/// The backup `image` with its `bmap`, against the card `device` as it is now: the bmap maps
/// what `blockprint scan` maps, and written back it is those bytes and zeros, with both
/// filesystems clean and the file written while mounted in the root.
fn check_backup(image: &Path, bmap_path: &Path, device: &str, root: &Partition, work: &Path) {
    let scanned = work.join("scan.bmap");
    blockprint(["scan", "-o", s(&scanned), device]).ok();
    let bmap = Bmap::from_file(bmap_path).unwrap();
    assert_eq!(
        bmap.ranges(),
        Bmap::from_file(&scanned).unwrap().ranges(),
        "the backup's ranges and checksums are the scan's"
    );
    let restored = work.join("restored.img");
    let copied = blockprint(["copy", s(image), s(&restored)]).ok().to_owned();
    let n = bmap.ranges().len();
    assert!(
        copied.contains(&format!("{n} of {n} ranges verified")),
        "{copied}"
    );
    let card = std::fs::read(device).unwrap();
    let back = std::fs::read(&restored).unwrap();
    assert_eq!(back.len(), card.len());
    let mut mapped = vec![false; back.len()];
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        let (start, end) = (start as usize, end as usize);
        assert!(back[start..end] == card[start..end], "range {range}");
        mapped[start..end].fill(true);
    }
    assert!(
        back.iter().zip(&mapped).all(|(&b, &m)| m || b == 0),
        "zeros elsewhere"
    );
    let fs = extract(&restored, root.offset, root.len, &work.join("root.fs"));
    fsck("ext4", &fs).unwrap_or_else(|e| panic!("the root written back: {e}"));
    let files = ext_files(&restored, root.offset, &work.join("root-files")).unwrap();
    assert!(files.contains("notes.txt"), "{files}");
    let boot = partition(device, 1);
    let fs = extract(&restored, boot.offset, boot.len, &work.join("boot.fs"));
    fsck("fat32", &fs).unwrap_or_else(|e| panic!("the boot partition written back: {e}"));
}

/// The app's reads of one device held to a rate by a blkio (cgroup v1) or io (cgroup v2)
/// group of its own, which the app's process is moved into; moved back and removed on drop.
struct SlowReads {
    group: PathBuf,
    root: PathBuf,
}

impl SlowReads {
    /// The app whose `HOME` is `home`, reading `device` at `rate` bytes a second at most.
    fn new(home: &str, device: &str, rate: u64) -> Self {
        let rdev = std::fs::metadata(device).unwrap().rdev();
        let number = format!("{}:{}", libc::major(rdev), libc::minor(rdev));
        let v1 = Path::new("/sys/fs/cgroup/blkio");
        let v2 = Path::new("/sys/fs/cgroup");
        let name = format!("blockprint-test-{}", std::process::id());
        let (root, limit, rule) = if v1.join("blkio.throttle.read_bps_device").exists() {
            (
                v1,
                "blkio.throttle.read_bps_device",
                format!("{number} {rate}"),
            )
        } else {
            let controllers = std::fs::read_to_string(v2.join("cgroup.controllers"));
            assert!(
                controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "io")),
                "slowing the app's reads needs cgroup v1's blkio or v2's io controller"
            );
            std::fs::write(v2.join("cgroup.subtree_control"), "+io").unwrap();
            (v2, "io.max", format!("{number} rbps={rate}"))
        };
        let group = root.join(name);
        std::fs::create_dir_all(&group).unwrap();
        std::fs::write(group.join(limit), rule).unwrap();
        std::fs::write(group.join("cgroup.procs"), app_pid(home).to_string()).unwrap();
        Self {
            group,
            root: root.to_path_buf(),
        }
    }
}

impl Drop for SlowReads {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(self.group.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
        }
        let _ = std::fs::remove_dir(&self.group);
    }
}

/// The process of the app whose environment has `HOME=home` (each session has a home of its
/// own).
fn app_pid(home: &str) -> u32 {
    let wanted = format!("HOME={home}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let proc = Path::new("/proc").join(pid.to_string());
            let comm = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
            let environ = std::fs::read(proc.join("environ")).unwrap_or_default();
            comm.trim() == "blockprint"
                && environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes())
        })
        .unwrap_or_else(|| panic!("no app with {wanted} is running"))
}
