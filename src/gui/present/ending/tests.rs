//! The end of a write in words: what was checked, whether the drive may be pulled, and with
//! several drives which failed and what to do.

use std::sync::Arc;
use std::time::Duration;

use blockprint::copy::CopyError;
use blockprint::drives::Drive;
use blockprint::target::TargetError;
use blockprint::udisks::UdisksError;

use super::*;
use crate::gui::job::JobError;
use crate::gui::meter::Meter;

fn written(name: &str, outcome: Outcome) -> DriveWrite {
    DriveWrite {
        drive: Drive {
            vendor: "SanDisk".into(),
            model: "Ultra".into(),
            size: 32_000_000_000,
            device: format!("/dev/{name}").into(),
            ..Drive::default()
        },
        meter: Meter::default(),
        dropped: None,
        outcome: Some(outcome),
    }
}

/// udisksd refusing to power a drive off because it is busy.
fn busy() -> Arc<UdisksError> {
    Arc::new(UdisksError::Failed {
        action: "power off".into(),
        device: "/dev/sdc".into(),
        message: "GDBus.Error:org.freedesktop.UDisks2.Error.DeviceBusy: busy".into(),
    })
}

fn done(removal: Result<Removal, Arc<UdisksError>>) -> Outcome {
    Outcome::Done(Summary {
        elapsed: Duration::from_secs(75),
        written: 812_000_000,
        ranges: 43,
        ranges_verified: 43,
        read_back: true,
        skipped: false,
        removal,
        first_boot: None,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    })
}

#[test]
fn the_end_of_several_drives_says_which_failed_and_what_to_do() {
    let failed = Outcome::Failed {
        error: Arc::new(JobError::Target(TargetError::DeviceFailed {
            op: blockprint::target::Op::Write,
            path: "/dev/sdc".into(),
            offset: Some(1 << 20),
            source: std::io::Error::from_raw_os_error(libc::EIO),
        })),
        touched: true,
    };
    let drives = [
        written("sdb", done(Ok(Removal::PoweredOff))),
        written("sdc", failed),
    ];
    let Ending {
        title,
        body,
        look,
        lines,
        details,
        retry_failed,
        ..
    } = several(&drives);
    assert_eq!(title, "1 of 2 Drives Not Written");
    assert!(
        body.ends_with("The others are written and can be used."),
        "{body}"
    );
    assert_eq!((look, retry_failed), (Look::Failed, true));
    assert_eq!(lines[0].name, "SanDisk Ultra (32.0\u{a0}GB, /dev/sdb)");
    assert_eq!(
        (lines[0].status.as_str(), lines[0].state),
        ("Safe to remove", LineState::Done)
    );
    assert_eq!(
        lines[0].detail,
        "Wrote 812.0\u{a0}MB in 2 minutes. Read back and compared."
    );
    assert_eq!(lines[1].state, LineState::Failed);
    assert!(lines[1].detail.contains("worn-out or fake card"));
    assert!(lines[1].detail.ends_with("Partly written."));
    assert!(details.is_some_and(|d| d.contains("/dev/sdc")));
}

#[test]
fn a_stop_after_one_drive_is_done_leaves_that_one_written_and_warns_only() {
    let drives = [
        written("sdb", done(Ok(Removal::PoweredOff))),
        written("sdc", Outcome::Cancelled { touched: true }),
    ];
    let Ending {
        title,
        look,
        lines,
        retry_failed,
        ..
    } = several(&drives);
    assert_eq!(title, "1 of 2 Drives Not Written");
    assert_eq!((look, retry_failed), (Look::Stopped, true));
    assert_eq!(
        (lines[1].status.as_str(), lines[1].detail.as_str()),
        ("Stopped", "Partly written.")
    );
}

#[test]
fn several_drives_all_written_are_safe_to_remove_only_if_all_are() {
    let all_off = [
        written("sdb", done(Ok(Removal::PoweredOff))),
        written("sdc", done(Ok(Removal::Ejected))),
    ];
    let Ending { title, body, .. } = several(&all_off);
    assert_eq!(title, "Safe to Remove");
    assert_eq!(
        body,
        "All 2 drives are written. They are powered off: you can remove them."
    );
    let one_on = [
        written("sdb", done(Ok(Removal::PoweredOff))),
        written("sdc", done(Err(busy()))),
    ];
    let Ending {
        title,
        lines,
        retry_failed,
        details,
        ..
    } = several(&one_on);
    assert_eq!((title.as_str(), retry_failed), ("Writing Done", false));
    assert!(
        lines[1]
            .detail
            .contains("Could not be powered off: eject it")
    );
    assert!(
        !lines[1].detail.contains("busy"),
        "no engine words on the line"
    );
    assert!(details.is_some_and(|d| d.contains("DeviceBusy")));
}

#[test]
fn a_finished_write_says_what_to_do_now_that_it_was_checked_and_whether_it_may_be_pulled() {
    let summary = Summary {
        elapsed: Duration::from_secs(75),
        written: 812_000_000,
        ranges: 43,
        ranges_verified: 43,
        read_back: true,
        skipped: false,
        removal: Ok(Removal::PoweredOff),
        first_boot: None,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    };
    // Review finding 7: plain words, the next step for a Pi image, the checksums in the
    // details, one way on and nothing destructive.
    let reader = Drive {
        vendor: "Generic".into(),
        model: "STORAGE DEVICE (SD Card Reader)".into(),
        ..Drive::default()
    };
    let card = Next::new(&reader, "2026-11-19-raspios-bookworm-arm64-lite.img.xz");
    assert_eq!(
        done_title(&summary, &card),
        "Your Card Is Ready and Checked"
    );
    assert_eq!(
        done_body(&summary, &card),
        "Put the card in your Raspberry Pi and switch it on. Everything written was read \
         back and matches the image. It is powered off: you can take it out now. Wrote \
         812.0\u{a0}MB in 2 minutes."
    );
    let ending = one(&Outcome::Done(summary.clone()), &card, true);
    assert_eq!(
        ending.details.as_deref(),
        Some("43 of 43 ranges matched their checksums.")
    );
    assert!(!ending.retry && !ending.image_at_fault);

    let stick = Next::new(
        &written("sdb", done(Ok(Removal::PoweredOff))).drive,
        "debian.iso",
    );
    let failed_power_off = Summary {
        removal: Err(busy()),
        read_back: false,
        ..summary
    };
    assert_eq!(done_title(&failed_power_off, &stick), "Your Drive Is Ready");
    let body = done_body(&failed_power_off, &stick);
    assert!(!body.contains("Raspberry"), "{body}");
    assert!(
        body.contains("could not be powered off: eject it"),
        "{body}"
    );
    assert!(body.contains("not read back"), "{body}");
    assert!(!body.contains("busy"), "no engine words: {body}");
    let ending = one(&Outcome::Done(failed_power_off), &stick, true);
    assert!(ending.details.is_some_and(|d| d.contains("DeviceBusy")));
}

#[test]
fn a_damaged_image_suggests_another_image_not_trying_again() {
    let damaged = Outcome::Failed {
        error: Arc::new(JobError::Copy(Arc::new(CopyError::Truncated {
            image: "pi.img.xz".into(),
            offset: 1 << 20,
            range: blockprint::copy::RangeLabel::Bytes {
                start: 0,
                end: 2 << 20,
            },
        }))),
        touched: true,
    };
    let stick = Next::new(&Drive::default(), "pi.img.xz");
    let ending = one(&damaged, &stick, true);
    assert!(ending.image_at_fault && !ending.retry, "{ending:?}");
    let refused = Outcome::Failed {
        error: Arc::new(JobError::Udisks(UdisksError::NoAgent {
            action: "open".into(),
            device: "/dev/sdb".into(),
        })),
        touched: false,
    };
    let ending = one(&refused, &stick, true);
    assert!(!ending.image_at_fault && ending.retry);
}

/// A card pulled out mid-write cannot be written again until it is back: "Try Again" is not
/// offered (as a dead suggested button), and the suggested way on is another drive.
#[test]
fn a_drive_that_is_gone_is_not_offered_again() {
    let pulled = Outcome::Failed {
        error: Arc::new(JobError::Udisks(UdisksError::NoAgent {
            action: "open".into(),
            device: "/dev/sdb".into(),
        })),
        touched: true,
    };
    let stick = Next::new(&Drive::default(), "pi.img");
    assert!(one(&pulled, &stick, true).retry);
    let ending = one(&pulled, &stick, false);
    assert!(
        !ending.retry && !ending.image_at_fault && !ending.eject,
        "{ending:?}"
    );
}

#[test]
fn the_end_says_how_fast_the_card_writes_and_what_was_written_again() {
    let with = |speed: f64, rewritten: usize| {
        let Outcome::Done(mut summary) = done(Ok(Removal::PoweredOff)) else {
            unreachable!("done() is a finished write")
        };
        summary.write_speed = Some(speed);
        summary.rewritten = rewritten;
        let drives = [written("sdb", Outcome::Done(summary))];
        ending(&drives, "raspios.img", true).body
    };
    let slow = with(9.2e6, 2);
    assert!(
        // GLib's sizes have a no-break space before the unit.
        slow.contains(&format!(
            "It writes only {} per second (Class 6): below the 10 MB per second of Class 10, \
             so expect a slow system.",
            size(9_200_000)
        )),
        "{slow}"
    );
    assert!(
        slow.contains(
            "2 ranges did not read back the first time: they were written again and now match."
        ),
        "{slow}"
    );
    let fast = with(45.2e6, 0);
    assert!(
        fast.contains(&format!(
            "It writes {} per second: fast enough for anything.",
            size(45_200_000)
        )),
        "{fast}"
    );
    assert!(!fast.contains("written again"), "{fast}");
    let fake = with(1.1e6, 1);
    assert!(fake.contains("slower than any speed class"), "{fake}");
    assert!(fake.contains("One range did not read back"), "{fake}");
}

/// An image without a block map: the body says how much its filesystems let be left out, the
/// details say it per partition (and why one was written whole).
#[test]
fn the_end_says_what_the_filesystems_let_be_left_out() {
    use blockprint::scan::{Finding, StreamFindings, StreamRegion, Verdict};
    let Outcome::Done(mut summary) = done(Ok(Removal::PoweredOff)) else {
        unreachable!("done() is a finished write")
    };
    let region = |place: &str, verdict: Verdict, free: u64, skipped: u64| StreamRegion {
        finding: Finding {
            start: 0,
            len: 4_000_000_000,
            place: place.into(),
            verdict,
            free,
        },
        skipped,
    };
    summary.streamed = Some(Arc::new(StreamFindings {
        layout: "MBR, 2 partitions".into(),
        regions: vec![
            region(
                "partition 1 (MBR type 0x0C)",
                Verdict::MapWhole {
                    fs: "f2fs".into(),
                    reason: "no parser for it".into(),
                },
                0,
                0,
            ),
            region(
                "partition 2 (MBR type 0x83)",
                Verdict::Free {
                    fs: "ext4".into(),
                    free: vec![],
                    notes: vec![],
                },
                2_500_000_000,
                2_400_000_000,
            ),
        ],
        scans: 9,
        kept: 2 << 20,
        over_budget: false,
    }));
    let drives = [written("sdb", Outcome::Done(summary))];
    let end = ending(&drives, "raspios.img.xz", true);
    assert!(
        end.body.contains(&format!(
            "{} that its filesystems do not use was left out.",
            size(2_400_000_000)
        )),
        "{}",
        end.body
    );
    let details = end.details.expect("technical details");
    assert!(
        details.contains("partition 1 (MBR type 0x0C), f2fs: written whole (no parser for it).")
            && details.contains(&format!(
                "partition 2 (MBR type 0x83), ext4: {} free, {} of it left out.",
                size(2_500_000_000),
                size(2_400_000_000)
            )),
        "{details}"
    );
}
