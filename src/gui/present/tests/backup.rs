//! "Back Up Drive…" in words: the question (what is read, what is unmounted first, how the
//! file is named), the page while it runs, and each end, in English and in German.

use std::time::Duration;

use blockprint::backup::BackupError;
use blockprint::drives::Drive;

use super::*;
use crate::gui::flow::{BackupEvent, BackupFailure, BackupMsg, BackupSummary};
use crate::gui::testing::{assert_german, in_german};

/// A stick whose partition the desktop mounted.
fn mounted_stick() -> Drive {
    let mut stick = drive("sdb", 32_000_000_000);
    stick.volumes[0].mount_points = vec![PathBuf::from("/media/me/STICK")];
    stick
}

/// `ready()` backing the stick up into /home/me/card.img.zst.
fn backing_up() -> Flow {
    let mut flow = ready();
    let stick = drive("sdb", 32_000_000_000);
    let chosen = |path: &str| BackupMsg::FileChosen(Box::new(stick.clone()), path.into());
    flow.update(Msg::Backup(chosen("/home/me/card")));
    assert!(flow.backing_up());
    flow
}

fn worker(flow: &mut Flow, event: BackupEvent) {
    flow.update(Msg::Backup(BackupMsg::Worker(event)));
}

fn ended(flow: &mut Flow, result: Result<BackupSummary, BackupFailure>) {
    worker(flow, BackupEvent::Ended(result));
}

fn summary() -> BackupSummary {
    BackupSummary {
        output: "/home/me/card.img.zst".into(),
        bmap: "/home/me/card.img.zst.bmap".into(),
        image_size: 32_000_000_000,
        used_bytes: 1_100_000_000,
        output_size: 412_000_000,
        ranges: 12,
        elapsed: Duration::from_secs(30),
    }
}

fn not_allowed() -> BackupFailure {
    BackupFailure::Udisks(UdisksError::NotAuthorized {
        action: "open".into(),
        device: "/dev/sdb".into(),
        message: "GDBus.Error:org.freedesktop.UDisks2.Error.NotAuthorized: Not authorized".into(),
    })
}

#[test]
fn the_question_says_what_is_read_what_is_unmounted_and_how_the_file_is_named() {
    let stick = mounted_stick();
    let (heading, body) = backup_question(Some(&stick), 1);
    assert_eq!(heading, "Back Up SanDisk Ultra?");
    assert!(
        body.starts_with(
            "Only the blocks in use on SanDisk Ultra (32.0\u{a0}GB, /dev/sdb) are read."
        ),
        "{body}"
    );
    assert!(
        body.contains(
            "STICK (/dev/sdb1) is mounted: it is unmounted first, so that nothing on it \
             changes while it is read."
        ),
        "{body}"
    );
    assert!(body.ends_with("or .img for none."), "{body}");
    // Nothing mounted: nothing said of it; two partitions: both named.
    let (_, body) = backup_question(Some(&drive("sdb", 32_000_000_000)), 1);
    assert!(!body.contains("mounted"), "{body}");
    let mut two = mounted_stick();
    // The second one encrypted and unlocked: mounted from its cleartext device.
    let mut root = two.volumes[0].clone();
    root.device = "/dev/sdb2".into();
    root.label = String::new();
    root.mount_points.clear();
    root.unlocked = true;
    two.volumes.push(root);
    let (_, body) = backup_question(Some(&two), 2);
    assert!(
        body.contains("STICK (/dev/sdb1), /dev/sdb2 are mounted: they are unmounted first"),
        "{body}"
    );
    let (heading, body) = backup_question(None, 2);
    assert_eq!(heading, "Back Up a Drive");
    assert!(body.starts_with("Only the blocks in use on the drive chosen"));
    assert_eq!(
        backup_question(None, 0),
        (
            "Back Up a Drive".to_owned(),
            "Insert a USB drive or SD card first.".to_owned()
        )
    );
}

#[test]
fn the_page_shows_what_is_read_of_what_and_what_is_saved_so_far() {
    let mut flow = backing_up();
    assert_eq!(
        (header(&flow).page, header(&flow).back),
        ("backup", false),
        "no leaving while it runs"
    );
    let running = backup_view(&flow).running.expect("running");
    assert_eq!(running.title, "Backing Up SanDisk Ultra");
    assert_eq!(running.headline, "To card.img.zst in /home/me");
    assert_eq!(running.status, "Unmounting and opening the drive…");
    assert_eq!(running.fraction, None, "a spinner before it reads");
    assert!(running.amount.is_empty() && running.saved.is_empty() && running.can_cancel);

    worker(
        &mut flow,
        BackupEvent::Phase(Phase::Mapping, Some(32_000_000_000)),
    );
    assert_eq!(
        backup_view(&flow).running.expect("running").status,
        "Finding the blocks in use…"
    );
    worker(
        &mut flow,
        BackupEvent::Phase(Phase::Hashing, Some(1_100_000_000)),
    );
    worker(
        &mut flow,
        BackupEvent::Progress {
            read: 412_000_000,
            saved: 180_000_000,
        },
    );
    let running = backup_view(&flow).running.expect("running");
    assert_eq!(running.status, "Reading the blocks in use");
    assert_eq!(
        running.amount,
        "Read 412.0\u{a0}MB of 1.1\u{a0}GB used (of 32.0\u{a0}GB)"
    );
    assert_eq!(running.saved, "Saved so far: 180.0\u{a0}MB");
    assert!((running.fraction.expect("a bar") - 412.0 / 1100.0).abs() < 1e-9);

    flow.update(Msg::Backup(BackupMsg::Cancel));
    let running = backup_view(&flow).running.expect("still running");
    assert_eq!(
        (running.status.as_str(), running.can_cancel),
        ("Stopping…", false)
    );
}

#[test]
fn each_end_says_what_became_of_the_backup() {
    let mut flow = backing_up();
    ended(&mut flow, Ok(summary()));
    assert_eq!(header(&flow).page, "backup");
    let end = backup_view(&flow).end.expect("its end");
    assert_eq!((end.title.as_str(), end.look), ("Backup Saved", Look::Done));
    assert_eq!(
        end.body,
        "card.img.zst (412.0\u{a0}MB) is in /home/me.\n\nIt holds the 1.1\u{a0}GB in use of \
         32.0\u{a0}GB; the block map beside it checks every range as it is written back.\n\n\
         Open it as an image to write it to a card. The drive was only read: nothing on it \
         changed."
    );
    assert!(end.show && !end.retry && end.details.is_none());

    let mut flow = backing_up();
    ended(&mut flow, Err(not_allowed()));
    let end = backup_view(&flow).end.expect("its end");
    assert_eq!(
        (end.title.as_str(), end.look),
        ("Backup Failed", Look::Failed)
    );
    assert_eq!(
        end.body,
        "You are not allowed to read this drive. Ask an administrator, or authenticate when \
         asked. Nothing was saved."
    );
    assert!(end.retry && !end.show);
    assert!(end.details.is_some_and(|d| d.contains("Not authorized")));

    // The engine's words (device, offset) only in the details.
    let mut flow = backing_up();
    let read = BackupError::Read {
        source_name: "/dev/sdb".into(),
        offset: 1_234_567_680,
        source: std::io::Error::from_raw_os_error(libc::EIO),
    };
    ended(&mut flow, Err(read.into()));
    let end = backup_view(&flow).end.expect("its end");
    assert!(
        end.body.starts_with("Reading the drive failed part-way."),
        "{}",
        end.body
    );
    let details = end.details.expect("details");
    assert!(
        details.contains("cannot read '/dev/sdb' at offset 1234567680"),
        "{details}"
    );
    assert!(details.contains("Input/output error"), "{details}");

    let mut flow = backing_up();
    flow.update(Msg::Backup(BackupMsg::Cancel));
    ended(&mut flow, Err(BackupError::Cancelled.into()));
    let end = backup_view(&flow).end.expect("its end");
    assert_eq!(
        (end.title.as_str(), end.body.as_str(), end.look),
        (
            "Backup Cancelled",
            "Nothing was saved, and SanDisk Ultra is as it was.",
            Look::Stopped
        )
    );
    flow.update(Msg::Backup(BackupMsg::Done));
    assert_eq!(header(&flow).page, "image");
    assert_eq!(backup_view(&flow), Default::default());
}

#[test]
fn a_file_on_the_drive_itself_is_refused_in_words() {
    let mut flow = ready();
    plug(&mut flow, mounted_stick());
    let chosen = BackupMsg::FileChosen(Box::new(mounted_stick()), "/media/me/STICK/a.img".into());
    flow.update(Msg::Backup(chosen));
    let end = backup_view(&flow).end.expect("its end");
    assert_eq!(
        end.body,
        "The file was to be saved in /media/me/STICK, on the drive being backed up, which is \
         unmounted before it is read. Choose a folder on another drive. Nothing was saved."
    );
}

#[test]
fn the_backup_in_german() {
    in_german(module_path!(), "the_backup_in_german", || {
        let (heading, body) = backup_question(Some(&mounted_stick()), 1);
        assert_german(&heading, "");
        assert_german(&body, "");
        let mut flow = backing_up();
        worker(
            &mut flow,
            BackupEvent::Phase(Phase::Hashing, Some(1_100_000_000)),
        );
        worker(&mut flow, BackupEvent::Progress { read: 4, saved: 1 });
        let running = backup_view(&flow).running.expect("running");
        for text in [running.title, running.status, running.amount, running.saved] {
            assert_german(&text, "");
        }
        let create = BackupError::Create {
            path: "/home/me/card.img.zst".into(),
            folder: "/home/me".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        for result in [
            Ok(summary()),
            Err(not_allowed()),
            Err(create.into()),
            Err(BackupFailure::Cancelled),
        ] {
            let mut flow = backing_up();
            let engine = result.as_ref().err().map(ToString::to_string);
            ended(&mut flow, result);
            let end = backup_view(&flow).end.expect("its end");
            assert_german(&end.title, "");
            assert_german(&end.body, engine.as_deref().unwrap_or_default());
        }
    });
}
