//! Errors and guards in the user's words: each names what happened and what to do, and the
//! engine's exact message stays in the details.

use std::path::PathBuf;
use std::time::Duration;

use blockprint::bmap::Digest;
use blockprint::copy::{CopyError, RangeLabel};
use blockprint::drives::{Guard, GuardKind, Severity};
use blockprint::udisks::UdisksError;

use super::*;

fn digest(hex: &str) -> Digest {
    Digest::from_hex(hex).unwrap()
}

#[test]
fn each_failure_says_what_to_do_and_keeps_the_engine_words_as_details() {
    let device = PathBuf::from("/dev/sdb");
    let cases: Vec<(JobError, &str, &str)> = vec![
        (
            JobError::Udisks(UdisksError::NoAgent {
                action: "open".into(),
                device: device.clone(),
            }),
            "No Authentication Agent",
            "Start your desktop’s polkit agent",
        ),
        (
            JobError::Udisks(UdisksError::NotAuthorized {
                action: "open".into(),
                device: device.clone(),
                message: "Not authorized to perform operation".into(),
            }),
            "Not Allowed",
            "Ask an administrator",
        ),
        (
            JobError::Udisks(UdisksError::Busy {
                device: device.clone(),
                message: "target is busy".into(),
            }),
            "Drive Busy",
            "/dev/sdb is in use. Close the files and programs using it",
        ),
        (
            JobError::Udisks(UdisksError::Gone {
                device: device.clone(),
            }),
            "Drive Removed",
            "Insert it again",
        ),
        (
            JobError::Udisks(UdisksError::Changed {
                device: device.clone(),
                change: blockprint::drives::Change::Reinserted,
            }),
            "Another Drive",
            "The drive in /dev/sdb is not the one you chose",
        ),
        (
            JobError::Copy(std::sync::Arc::new(CopyError::ReadBack {
                target: "/dev/sdb".into(),
                range: RangeLabel::Blocks { first: 0, last: 9 },
                read: digest("00"),
                written: digest("ff"),
            })),
            "Verification Failed",
            "try another card or another reader",
        ),
        (
            JobError::Copy(std::sync::Arc::new(CopyError::Checksum {
                range: RangeLabel::Blocks { first: 3, last: 7 },
                calculated: digest("01"),
                expected: digest("02"),
                image: "pi.img".into(),
                target: "/dev/sdb".into(),
            })),
            "The Image Is Damaged",
            "download the image again",
        ),
        (
            JobError::Source(blockprint::source::SourceError::Incomplete {
                name: "pi.img.xz".into(),
                format: blockprint::source::Format::Xz,
                reason: "it ends at byte 4096, inside an xz stream that has no stream footer"
                    .into(),
            }),
            "This Download Is Incomplete",
            "so nothing was written. Download it again",
        ),
    ];
    for (error, title, fix) in cases {
        let shown = user_error(&error);
        assert_eq!(shown.title, title, "{error:?}");
        assert!(shown.body.contains(fix), "{}: {}", title, shown.body);
        assert_eq!(shown.details, error.to_string(), "no cause chain here");
    }
}

#[test]
fn a_cause_chain_goes_into_the_details() {
    let error = JobError::Target(blockprint::target::TargetError::Io {
        op: blockprint::target::Op::Write,
        path: "/dev/sdb".into(),
        offset: Some(4096),
        source: std::io::Error::from_raw_os_error(5),
    });
    let shown = user_error(&error);
    assert_eq!(shown.title, "Write Failed");
    assert!(shown.body.contains("worn-out or fake card"));
    assert!(
        shown
            .details
            .starts_with("cannot write '/dev/sdb' at offset 4096: ")
            && shown.details.contains("Input/output error"),
        "{}",
        shown.details
    );
}

#[test]
fn a_failing_or_pulled_card_is_explained_as_the_card_or_reader() {
    let error = JobError::Target(blockprint::target::TargetError::DeviceFailed {
        op: blockprint::target::Op::Write,
        path: "/dev/sdb".into(),
        offset: Some(8 << 20),
        source: std::io::Error::from_raw_os_error(libc::EIO),
    });
    let shown = user_error(&error);
    assert_eq!(shown.title, "Write Failed");
    assert!(
        shown.body.contains("reported an error or was removed")
            && shown.body.contains("try another card or another reader"),
        "{}",
        shown.body
    );
    assert!(
        shown
            .details
            .starts_with("cannot write '/dev/sdb' at offset 8388608; the card or its reader")
            && shown.details.ends_with(": Input/output error (os error 5)"),
        "{}",
        shown.details
    );
}

#[test]
fn guards_are_worded_with_their_facts() {
    let guard = |kind| Guard {
        severity: Severity::Blocked,
        kind,
        reason: String::new(),
    };
    let small = guard(GuardKind::TooSmall {
        needed: 4_000_000_000,
        size: 2_000_000_000,
    });
    assert_eq!(badge(&small), "Too small");
    assert_eq!(
        reason(&small),
        "The image needs 4.0\u{a0}GB, the drive holds 2.0\u{a0}GB"
    );
    let mounted = guard(GuardKind::Mounted {
        volume: "/dev/sdb1".into(),
        mount: "/media/me/BOOT".into(),
    });
    assert_eq!(
        reason(&mounted),
        "/dev/sdb1 is mounted on /media/me/BOOT and will be unmounted"
    );
    let holds = |how| {
        reason(&guard(GuardKind::HoldsImage {
            image: "/images/pi.img".into(),
            how,
        }))
    };
    let looped = holds(Overlap::LoopOver {
        loop_device: "loop0".into(),
        device: "loop0".into(),
    });
    assert_eq!(looped, "It is stored in the image file /images/pi.img");
    let itself = holds(Overlap::SameDevice {
        device: "sdb".into(),
    });
    assert_eq!(itself, "It is the image /images/pi.img itself");
}

#[test]
fn durations_read_naturally() {
    assert_eq!(duration(Duration::from_millis(300)), "1 second");
    assert_eq!(duration(Duration::from_secs(45)), "45 seconds");
    assert_eq!(duration(Duration::from_secs(61)), "2 minutes");
    assert_eq!(duration(Duration::from_secs(3900)), "1 hour 5 minutes");
}

#[test]
fn a_card_that_hangs_while_it_is_checked_is_explained_as_the_card_or_reader() {
    let error = JobError::Copy(std::sync::Arc::new(CopyError::Probe(
        blockprint::card::ProbeError::Stalled {
            device: "/dev/sdb".into(),
            op: blockprint::target::Op::Write,
            offset: Some(64 << 20),
            secs: 61,
        },
    )));
    let shown = user_error(&error);
    assert_eq!(shown.title, "The Drive Stopped Responding");
    assert!(
        shown.body.contains("while it was being checked"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("unplug it"), "{}", shown.body);
}

#[test]
fn a_hung_card_is_explained_as_the_card_or_reader() {
    let error = JobError::Target(blockprint::target::TargetError::Stalled {
        op: blockprint::target::Op::Write,
        path: "/dev/sdb".into(),
        offset: Some(8 << 20),
        secs: 61,
    });
    let shown = user_error(&error);
    assert_eq!(shown.title, "The Drive Stopped Responding");
    assert!(
        shown.body.contains("try another card or another reader"),
        "{}",
        shown.body
    );
    assert!(
        shown.details.starts_with(
            "'/dev/sdb' stopped responding: a write at offset 8388608 has not finished after 61 s"
        ),
        "{}",
        shown.details
    );
}

#[test]
fn a_download_cut_off_can_be_tried_again_and_a_damaged_one_cannot() {
    let read = |image: &str, kind| {
        JobError::Copy(std::sync::Arc::new(CopyError::Read {
            image: image.into(),
            offset: 8 << 20,
            source: std::io::Error::new(kind, "stopped"),
        }))
    };
    let cut = read(
        "https://example.org/pi.img.xz",
        std::io::ErrorKind::TimedOut,
    );
    assert_eq!(user_error(&cut).title, "The Download Stopped");
    assert!(user_error(&cut).body.contains("goes on from where"));
    assert!(
        !cut.image_at_fault(),
        "Try Again resumes a download cut off"
    );
    let damaged = read(
        "https://example.org/pi.img.xz",
        std::io::ErrorKind::InvalidData,
    );
    assert_eq!(user_error(&damaged).title, "The Download Is Damaged");
    assert!(user_error(&damaged).body.contains("changed on the server"));
    assert!(damaged.image_at_fault());
    // A file on this machine that cannot be read is the image's (or its disk's) fault.
    let local = read("/images/pi.img", std::io::ErrorKind::TimedOut);
    assert_eq!(user_error(&local).title, "The Image Cannot Be Read");
    assert!(local.image_at_fault());
    // A server that is down when the download starts: Try Again, not another image.
    let url = "http://127.0.0.1:8080/pi.img.xz";
    let down = JobError::Source(blockprint::source::SourceError::Http(
        blockprint::source::http::HttpError::Status {
            url: url.into(),
            status: "503 Service Unavailable".into(),
        },
    ));
    assert_eq!(user_error(&down).title, "The Download Could Not Start");
    assert!(user_error(&down).body.contains("try again"));
    assert!(!down.image_at_fault(), "a server down for a while");
    let missing = JobError::Source(blockprint::source::SourceError::Http(
        blockprint::source::http::HttpError::NotFound {
            url: url.into(),
            status: 404,
        },
    ));
    assert!(
        missing.image_at_fault(),
        "a wrong address is not tried again"
    );
}
