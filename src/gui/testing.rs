//! What the GUI's tests share: drives, an image and flows to start from.

use std::path::PathBuf;
use std::sync::Arc;

use blockprint::bmap::{Bmap, ChecksumType};
use blockprint::drives::{Drive, MediaId, Volume};
use blockprint::source::{Input, SourceError};
use blockprint::udisks::{DriveEvent, UdisksError};

use super::flow::{Busy, Effect, Flow, Msg};
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
        signature: SignatureState::Unsigned { expected: false },
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

/// The error of an image that is not there.
pub fn gone(name: &str) -> InspectError {
    InspectError::Source(SourceError::Open {
        name: name.into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}
