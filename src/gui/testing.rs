//! What the GUI's tests share: drives, an image and flows to start from, and a way to run a
//! test in German, as the app runs under `LANGUAGE=de`, to show that no English is left.

use blockprint::identify::{Identity, TableKind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use blockprint::bmap::{Bmap, ChecksumType};
use blockprint::copy::CopyError;
use blockprint::drives::{Drive, MediaId, Volume};
use blockprint::source::{Input, SourceError};
use blockprint::target::{Op, TargetError};
use blockprint::udisks::{DriveEvent, UdisksError};

use super::flow::{Busy, Effect, Flow, Msg, Step};
use super::inspect::{BmapState, ImageInfo, InspectError, SignatureState};
use super::job::{JobError, JobEvent, Outcome};

/// A 32 GB-class USB stick of `size` bytes as udisksd describes it, with one FAT partition.
pub fn drive(name: &str, size: u64) -> Drive {
    Drive {
        key: format!("/org/freedesktop/UDisks2/block_devices/{name}"),
        device: PathBuf::from(format!("/dev/{name}")),
        number: None,
        vendor: "SanDisk".into(),
        model: "Ultra".into(),
        size,
        bus: "usb".into(),
        removable: true,
        read_only: false,
        media_available: true,
        optical: false,
        hint_ignore: false,
        hint_system: false,
        backing_file: None,
        media: MediaId::default(),
        can_power_off: true,
        ejectable: true,
        icon: String::new(),
        volumes: vec![Volume {
            device: PathBuf::from(format!("/dev/{name}1")),
            fs_type: "vfat".into(),
            label: "STICK".into(),
            ..Volume::default()
        }],
    }
}

/// An internal 500 GB disk, a system drive.
pub fn internal(name: &str) -> Drive {
    Drive {
        bus: "ata".into(),
        removable: false,
        hint_system: true,
        can_power_off: false,
        ..drive(name, 500_000_000_000)
    }
}

/// `/images/pi.img` of `size` bytes, with an unsigned block map beside it.
pub fn image(size: u64) -> ImageInfo {
    let bmap = Bmap::new(size, 4096, ChecksumType::Sha256, vec![])
        .ok()
        .map(Arc::new);
    ImageInfo {
        input: Input::Path(PathBuf::from("/images/pi.img")),
        name: "pi.img".into(),
        layers: vec![],
        stored_size: Some(size),
        image_size: Some(size),
        bmap: match bmap {
            Some(bmap) => BmapState::Found {
                location: "/images/pi.img.bmap".into(),
                bmap,
            },
            None => BmapState::Missing,
        },
        chosen_bmap: None,
        filesystems_use: None,
        signature: SignatureState::Unsigned { expected: false },
        identity: Identity::Disk {
            table: TableKind::Mbr,
        },
    }
}

/// A flow with an image read and a stick and an internal disk plugged in.
pub fn ready() -> Flow {
    let mut flow = Flow::new(true, true, false);
    let effects = flow.update(Msg::OpenImage(Input::Path("/images/pi.img".into())));
    assert!(matches!(&effects[..], [Effect::Inspect(_, None, false)]));
    assert_eq!(flow.busy, Some(Busy::Reading));
    assert!(!flow.image_ready(), "not before the image is read");
    flow.update(Msg::Inspected(Ok(Box::new(image(4_000_000_000)))));
    plug(&mut flow, drive("sdb", 32_000_000_000));
    plug(&mut flow, internal("sda"));
    flow
}

/// udisksd reports `drive`, new or changed.
pub fn plug(flow: &mut Flow, drive: Drive) {
    flow.update(Msg::Drive(Box::new(DriveEvent::Added(drive))));
}

/// The write of the image to the stick sdb, from the drive step to the job started.
pub fn start_writing(flow: &mut Flow) {
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    flow.update(Msg::Write);
    flow.update(Msg::WriteConfirmed);
    assert!(flow.writing(), "the write did not start");
}

/// The job ends each drive, in order, with its outcome; then it finishes.
pub fn end(flow: &mut Flow, outcomes: Vec<Outcome>) -> Vec<Effect> {
    for (drive, outcome) in outcomes.into_iter().enumerate() {
        flow.update(Msg::Job(JobEvent::Ended { drive, outcome }));
    }
    flow.update(Msg::Job(JobEvent::Finished))
}

/// A drive that failed, written to or not.
pub fn failed(touched: bool) -> Outcome {
    Outcome::Failed {
        error: Arc::new(JobError::Udisks(UdisksError::NoAgent {
            action: "open".into(),
            device: "/dev/sdb".into(),
        })),
        touched,
    }
}

/// The error of a drive that failed mid-write (EIO at no known offset).
pub fn write_failed(device: &str) -> Arc<CopyError> {
    Arc::new(CopyError::Target(TargetError::DeviceFailed {
        op: Op::Write,
        path: device.into(),
        offset: None,
        source: std::io::Error::from_raw_os_error(libc::EIO),
    }))
}

/// The error of an image that is not there.
pub fn gone(name: &str) -> InspectError {
    InspectError::Source(SourceError::Open {
        name: name.into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

/// Set in the child process that runs a test in German.
const IN_GERMAN: &str = "BLOCKPRINT_TEST_IN_GERMAN";

/// Runs `check` with the app's German, for the test `test` of module `module` (`module_path!()`
/// there): this test binary runs that test again in a child process, started as the app is
/// under `LANGUAGE=de`, with the translations compiled from po/de.po; the test fails if the
/// child's does.
pub fn in_german(module: &str, test: &str, check: impl FnOnce()) {
    if std::env::var_os(IN_GERMAN).is_some() {
        super::init_gettext();
        check();
        return;
    }
    // libtest names a test by its path in the crate, without the crate's name.
    let name = module.split_once("::").map_or(module, |(_, path)| path);
    let name = format!("{name}::{test}");
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new(exe)
        .args([&name, "--exact", "--test-threads=1", "--nocapture"])
        .env(IN_GERMAN, "1")
        .env("LANGUAGE", "de")
        // glibc honours LANGUAGE only outside the plain C locale.
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("BLOCKPRINT_LOCALEDIR", locale_dir())
        .output()
        .expect("the test binary runs again");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && shown.contains("1 passed"),
        "{name} in German:\n{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The German translations, compiled by msgfmt once per run, beside the test binary.
fn locale_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary");
        let dir = exe.with_extension("locale");
        let messages = dir.join("de/LC_MESSAGES");
        std::fs::create_dir_all(&messages).expect("a folder beside the test binary");
        // Compiled under a name of its own and renamed: another run may be reading it.
        let partial = messages.join(format!("blockprint.mo.{}", std::process::id()));
        let po = Path::new(env!("CARGO_MANIFEST_DIR")).join("po/de.po");
        let status = Command::new("msgfmt")
            .arg("--check")
            .arg("-o")
            .arg(&partial)
            .arg(&po)
            .status()
            .expect("msgfmt (apt install gettext)");
        assert!(status.success(), "msgfmt {} failed", po.display());
        std::fs::rename(&partial, messages.join("blockprint.mo")).expect("the .mo in place");
        dir
    })
}

/// Words that only English has, one a line: a text in German that holds one has English left
/// in it. (A data file, so that no tool takes the words for names of programs.)
const ENGLISH: &str = include_str!("testing/english-words.txt");

/// Fails unless `text` reads as German: no English word in it, and none of `engine`'s text
/// (the engine's own message, which belongs under "Technical Details" only).
pub fn assert_german(text: &str, engine: &str) {
    let english: Vec<&str> = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|word| {
            ENGLISH
                .lines()
                .any(|english| english == word.to_lowercase())
        })
        .collect();
    assert!(english.is_empty(), "English {english:?} in {text:?}");
    assert!(
        engine.is_empty() || !text.contains(engine),
        "the engine's words in {text:?}"
    );
}
