//! Every error each page can show, as the engine and the job report them.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use blockprint::bmap::{BmapError, BmapErrorKind, Digest};
use blockprint::copy::{CopyError, RangeLabel};
use blockprint::create::CreateError;
use blockprint::discover::DiscoverError;
use blockprint::drives::Change;
use blockprint::signature::SignatureError;
use blockprint::source::http::{Credentials, HttpError};
use blockprint::source::{Format, InputError, SourceError};
use blockprint::target::{Op, TargetError};
use blockprint::udisks::UdisksError;

use crate::gui::inspect::InspectError;
use crate::gui::job::JobError;
use crate::gui::testing::gone;

/// An OS error, as the engine wraps one.
fn os(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A block map error of `kind` in the block map beside the image.
pub fn bmap_error(kind: BmapErrorKind) -> BmapError {
    BmapError {
        path: PathBuf::from("/images/pi.img.bmap"),
        line: Some(2),
        kind,
    }
}

/// Why an image could not be shown, each with its title in German.
pub fn image_errors() -> Vec<(InspectError, &'static str)> {
    let url = || "https://example.org/pi.img".to_owned();
    let http = |e: HttpError| InspectError::Source(SourceError::Http(e));
    let cannot_open = "Das Abbild kann nicht geöffnet werden";
    let cannot_download = "Das Abbild kann nicht heruntergeladen werden";
    let no_scan = "Keine Blockzuordnung erstellbar";
    vec![
        (gone("pi.img"), "Das Abbild wurde nicht gefunden"),
        (
            InspectError::Source(SourceError::Open {
                name: "pi.img.xz".into(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "xz data of 'pi.img.xz' is corrupt at compressed offset 29",
                ),
            }),
            "Das Abbild ist beschädigt",
        ),
        (
            InspectError::Source(SourceError::Damaged {
                name: "pi.img.xz".into(),
                format: Format::Xz,
                message: "bad header at offset 0".into(),
            }),
            "Das Abbild ist beschädigt",
        ),
        (
            InspectError::Source(SourceError::Incomplete {
                name: "pi.img.xz".into(),
                format: Format::Xz,
                reason: "it ends at byte 4096, inside an xz stream that has no stream footer"
                    .into(),
            }),
            "Dieser Download ist unvollständig",
        ),
        (
            InspectError::Source(SourceError::Unsupported {
                name: "pi.zip".into(),
                format: Format::Zip,
                what: "encryption".into(),
            }),
            cannot_open,
        ),
        (
            InspectError::Source(SourceError::NoImageMember {
                name: "pi.zip".into(),
                format: Format::Zip,
                members: "'README'".into(),
            }),
            "Kein Datenträgerabbild im Archiv",
        ),
        (
            InspectError::Source(SourceError::AmbiguousMember {
                name: "pi.zip".into(),
                format: Format::Zip,
                members: "'a.img', 'b.img'".into(),
            }),
            "Mehrere Datenträgerabbilder im Archiv",
        ),
        (
            InspectError::Source(SourceError::TooDeep {
                name: "pi.img.gz.gz".into(),
                depth: 4,
            }),
            cannot_open,
        ),
        (
            http(HttpError::NotFound {
                url: url(),
                status: 404,
            }),
            cannot_download,
        ),
        (
            http(HttpError::Denied {
                url: url(),
                status: 403,
                credentials: Credentials::None,
            }),
            cannot_download,
        ),
        (
            http(HttpError::Denied {
                url: url(),
                status: 401,
                credentials: Credentials::Sent,
            }),
            cannot_download,
        ),
        (
            http(HttpError::Denied {
                url: url(),
                status: 401,
                credentials: Credentials::WithheldOverHttp,
            }),
            cannot_download,
        ),
        (
            http(HttpError::Downgrade {
                url: url(),
                to: "http://example.org/pi.img".into(),
            }),
            cannot_download,
        ),
        (
            http(HttpError::Tls {
                url: url(),
                host: "example.org".into(),
                reason: "invalid peer certificate".into(),
                certificate: true,
            }),
            cannot_download,
        ),
        (
            http(HttpError::Connect {
                url: url(),
                host: "example.org".into(),
                reason: "connection refused".into(),
                proxy: None,
            }),
            cannot_download,
        ),
        (http(HttpError::Changed { url: url() }), cannot_download),
        (
            http(HttpError::Status {
                url: url(),
                status: "500 Internal Server Error".into(),
            }),
            cannot_download,
        ),
        (
            InspectError::Discover(DiscoverError::Fetch {
                what: "the bmap file",
                location: "/images/pi.img.bmap".into(),
                source: Box::new(SourceError::Open {
                    name: "pi.img.bmap".into(),
                    source: os(libc::EACCES),
                }),
            }),
            "Die Blockzuordnung kann nicht gelesen werden",
        ),
        (
            InspectError::Discover(DiscoverError::Gone {
                what: "bmap file",
                location: "/images/pi.bmap".into(),
            }),
            "Die Blockzuordnung ist nicht mehr da",
        ),
        (
            InspectError::Discover(DiscoverError::ImageIsBmap {
                location: "/images/pi.img".into(),
            }),
            "Die Blockzuordnung ist das Abbild selbst",
        ),
        (
            InspectError::Discover(DiscoverError::TooLarge(bmap_error(
                BmapErrorKind::TooLarge { limit: 64 << 20 },
            ))),
            "Die Blockzuordnung kann nicht verwendet werden",
        ),
        (
            InspectError::Discover(DiscoverError::Signature(SignatureError::BadSignatureFile {
                location: "/images/pi.img.bmap.asc".into(),
                reason: "malformed packet".into(),
            })),
            "Die Signatur kann nicht gelesen werden",
        ),
        (
            InspectError::Scan {
                path: "/images/pi.img".into(),
                source: os(libc::EIO),
            },
            no_scan,
        ),
        (
            InspectError::Create(CreateError::Read {
                path: "/images/pi.img".into(),
                offset: 4096,
                source: os(libc::EIO),
            }),
            no_scan,
        ),
    ]
}

/// Every way a write can fail, as the job reports it.
pub fn job_errors() -> Vec<JobError> {
    let device = || PathBuf::from("/dev/sdb");
    vec![
        JobError::Udisks(UdisksError::NotAuthorized {
            action: "open".into(),
            device: device(),
            message: "Not authorized to perform operation".into(),
        }),
        JobError::Udisks(UdisksError::NoAgent {
            action: "open".into(),
            device: device(),
        }),
        JobError::Udisks(UdisksError::Busy {
            device: device(),
            message: "target is busy".into(),
        }),
        JobError::Udisks(UdisksError::Gone { device: device() }),
        JobError::Udisks(UdisksError::Changed {
            device: device(),
            change: Change::Reinserted,
        }),
        JobError::Udisks(UdisksError::Failed {
            action: "unmount".into(),
            device: device(),
            message: "GDBus.Error: timeout".into(),
        }),
        JobError::Target(TargetError::Stalled {
            op: Op::Write,
            path: device(),
            offset: Some(8 << 20),
            secs: 61,
        }),
        JobError::Target(TargetError::DeviceFailed {
            op: Op::Write,
            path: device(),
            offset: Some(1 << 20),
            source: os(libc::EIO),
        }),
        JobError::Copy(Arc::new(CopyError::ReadBack {
            target: "/dev/sdb".into(),
            range: RangeLabel::Blocks { first: 0, last: 9 },
            read: Digest::from_hex("00").expect("hex"),
            written: Digest::from_hex("ff").expect("hex"),
        })),
        JobError::Source(SourceError::Incomplete {
            name: "pi.zip".into(),
            format: Format::Zip,
            reason: "it ends at byte 9000, inside member 'pi.img' (header at byte 0)".into(),
        }),
        JobError::Input(InputError::Scheme {
            text: "ftp://example.org/pi.img".into(),
            scheme: "ftp".into(),
        }),
    ]
}
