//! "Back Up Drive…" driven by messages: which drives the question offers and starts with, a
//! drive that changed asked about again, nothing else at the same time, its progress, its
//! end and Done, and cancelling (at once, and to quit).

use blockprint::backup::BackupError;

use super::*;

/// A stick with its partition mounted where the desktop mounts it.
fn mounted_stick() -> Drive {
    let mut stick = drive("sdb", 32_000_000_000);
    stick.volumes[0].mount_points = vec![PathBuf::from("/media/me/STICK")];
    stick
}

/// The question's drives (their keys) and the one it starts with.
fn asked(effects: &[Effect]) -> (Vec<String>, Option<String>) {
    match effects {
        [Effect::Backup(BackupEffect::ChooseDrive { drives, chosen })] => (
            drives.iter().map(|d| d.key.clone()).collect(),
            chosen.clone(),
        ),
        other => panic!("expected the question, got {other:?}"),
    }
}

/// The question answered with `stick` and the file `/home/me/card.img.zst`: the worker starts.
fn back_up(flow: &mut Flow, stick: &Drive) {
    let effects = flow.update(Msg::Backup(BackupMsg::DriveChosen(Box::new(stick.clone()))));
    assert!(
        matches!(&effects[..], [Effect::Backup(BackupEffect::ChooseFile { drive, .. })] if drive.key == stick.key),
        "{effects:?}"
    );
    let effects = flow.update(Msg::Backup(BackupMsg::FileChosen(
        Box::new(stick.clone()),
        PathBuf::from("/home/me/card.img.zst"),
    )));
    assert!(
        matches!(&effects[..], [Effect::Backup(BackupEffect::Start { drive, out })] if drive.key == stick.key && out == Path::new("/home/me/card.img.zst")),
        "{effects:?}"
    );
    assert!(flow.backing_up());
}

/// The worker's events of a backup that read 40 of 100 used bytes, then saved it.
fn saved(flow: &mut Flow) -> Vec<Effect> {
    let worker = |event| Msg::Backup(BackupMsg::Worker(event));
    flow.update(worker(BackupEvent::Phase(Phase::Mapping, Some(1000))));
    flow.update(worker(BackupEvent::Phase(Phase::Hashing, Some(100))));
    flow.update(worker(BackupEvent::Progress { read: 40, saved: 7 }));
    let BackupState::Running(run) = &flow.backup.state else {
        panic!("not running");
    };
    assert_eq!(
        (run.phase, run.meter.done, run.meter.fraction(), run.saved),
        (Some(Phase::Hashing), 40, Some(0.4), 7)
    );
    flow.update(worker(BackupEvent::Phase(Phase::Syncing, None)));
    flow.update(worker(BackupEvent::Ended(Ok(summary()))))
}

/// What the backup of the stick made.
pub(crate) fn summary() -> BackupSummary {
    BackupSummary {
        output: "/home/me/card.img.zst".into(),
        bmap: "/home/me/card.img.zst.bmap".into(),
        image_size: 32_000_000_000,
        used_bytes: 1_100_000_000,
        output_size: 412_000_000,
        ranges: 12,
        elapsed: std::time::Duration::from_secs(30),
    }
}

#[test]
fn the_question_offers_the_drives_that_can_be_read_starting_with_the_likely_one() {
    // Reachable with no image: the one stick is offered and chosen; the internal disk only
    // with every drive shown, the disk of the running system never, a locked card too.
    let mut flow = Flow::new(true, true, false);
    plug(&mut flow, drive("sdb", 32_000_000_000));
    plug(&mut flow, internal("sda"));
    let mut system = internal("nvme0n1");
    system.volumes[0].mount_points = vec![PathBuf::from("/")];
    plug(&mut flow, system);
    let mut empty_reader = drive("sdd", 0);
    empty_reader.media_available = false;
    plug(&mut flow, empty_reader);
    let stick = drive("sdb", 0).key;
    let (drives, chosen) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(
        (drives, chosen.as_deref()),
        (vec![stick.clone()], Some(&*stick))
    );
    flow.update(Msg::ShowAll(true));
    let (drives, chosen) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(drives, [stick.clone(), internal("sda").key]);
    assert_eq!(chosen, None, "two drives: none chosen for the user");

    let mut locked = drive("sdc", 16_000_000_000);
    locked.read_only = true;
    plug(&mut flow, locked);
    flow.update(Msg::ShowAll(false));
    plug(&mut flow, drive("sde", 8_000_000_000));
    let (drives, _) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(
        drives,
        [stick.clone(), drive("sdc", 0).key, drive("sde", 0).key],
        "a locked card too: reading is all it does"
    );
    // The one chosen for writing is the one it starts with.
    flow.update(Msg::SelectDrive(drive("sde", 0).key));
    let (_, chosen) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(chosen, Some(drive("sde", 0).key));
    // Then the one backed up last.
    flow.update(Msg::UnselectDrive(drive("sde", 0).key));
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    saved(&mut flow);
    flow.update(Msg::Backup(BackupMsg::Done));
    let (_, chosen) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(chosen, Some(stick));
}

#[test]
fn a_drive_that_changed_or_left_since_the_question_is_asked_about_again() {
    let mut flow = ready();
    let stick = drive("sdb", 32_000_000_000);
    let mut other = stick.clone();
    other.media.serial = "OTHER".into();
    for msg in [
        BackupMsg::DriveChosen(Box::new(other.clone())),
        BackupMsg::FileChosen(Box::new(other), "/home/me/card.img.zst".into()),
    ] {
        let (drives, _) = asked(&flow.update(Msg::Backup(msg)));
        assert_eq!(drives, std::slice::from_ref(&stick.key));
        assert!(!flow.backing_up());
    }
    // Removed while the file was being chosen: asked again, with nothing to offer.
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: stick.key.clone(),
    })));
    let effects = flow.update(Msg::Backup(BackupMsg::FileChosen(
        Box::new(stick),
        "/home/me/card.img.zst".into(),
    )));
    assert_eq!(asked(&effects), (vec![], None));
    assert_eq!(flow.step(), Step::Image);
}

#[test]
fn nothing_is_backed_up_while_writing_or_formatting_and_nothing_else_runs_meanwhile() {
    let stick = drive("sdb", 32_000_000_000);
    let mut flow = ready();
    start_writing(&mut flow);
    for msg in [
        BackupMsg::Ask,
        BackupMsg::DriveChosen(Box::new(stick.clone())),
        BackupMsg::FileChosen(Box::new(stick.clone()), "/home/me/a.img.zst".into()),
    ] {
        assert!(flow.update(Msg::Backup(msg)).is_empty());
    }
    let mut flow = ready();
    flow.update(Msg::FormatConfirmed(Box::new(stick.clone())));
    assert!(flow.formatting());
    assert!(flow.update(Msg::Backup(BackupMsg::Ask)).is_empty());
    flow.update(Msg::Formatted(Ok(())));

    // Backing up, from the format's end page: no second backup, no write, no format, no
    // other image or step.
    back_up(&mut flow, &stick);
    assert_eq!(flow.step(), Step::Backup);
    assert!(flow.update(Msg::Backup(BackupMsg::Ask)).is_empty());
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::Back);
    for msg in [
        Msg::OpenImage(Input::Path("/images/x.img".into())),
        Msg::Write,
        Msg::WriteConfirmed,
        Msg::FormatDrive,
        Msg::FormatConfirmed(Box::new(stick.clone())),
    ] {
        assert!(flow.update(msg).is_empty());
    }
    assert_eq!(flow.step(), Step::Backup);
    assert!(!flow.writing() && !flow.formatting());
    // Done leads back to where it began: the format's end.
    saved(&mut flow);
    flow.update(Msg::Backup(BackupMsg::Done));
    assert_eq!(flow.step(), Step::Format);
    assert!(matches!(flow.format, FormatState::Over(_, Ok(()))));
}

#[test]
fn a_backup_ends_saved_and_done_leads_back_to_where_the_user_was() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    assert!(
        flow.update(Msg::Backup(BackupMsg::Done)).is_empty() && flow.backing_up(),
        "no leaving while it runs"
    );
    assert!(matches!(
        &saved(&mut flow)[..],
        [Effect::Backup(BackupEffect::Ended)]
    ));
    let BackupState::Over(run, BackupEnd::Saved(made)) = &flow.backup.state else {
        panic!("not saved: {:?}", flow.backup.state);
    };
    assert_eq!(
        (made, run.drive.key.as_str()),
        (&summary(), drive("sdb", 0).key.as_str())
    );
    assert_eq!(flow.step(), Step::Backup);
    flow.update(Msg::Backup(BackupMsg::Done));
    assert!(matches!(flow.backup.state, BackupState::Idle));
    assert_eq!(flow.step(), Step::Drive);
    // The next chooser opens where the last backup went.
    let effects = flow.update(Msg::Backup(BackupMsg::DriveChosen(Box::new(drive(
        "sdb",
        32_000_000_000,
    )))));
    assert!(
        matches!(&effects[..], [Effect::Backup(BackupEffect::ChooseFile { folder: Some(f), .. })] if f == Path::new("/home/me")),
        "{effects:?}"
    );
}

#[test]
fn a_failure_is_kept_and_try_again_asks_again_from_the_same_drive() {
    let mut flow = ready();
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    let error = BackupError::Read {
        source_name: "/dev/sdb".into(),
        offset: 4096,
        source: std::io::Error::from_raw_os_error(libc::EIO),
    };
    flow.update(Msg::Backup(BackupMsg::Worker(BackupEvent::Ended(Err(
        error.into(),
    )))));
    assert!(matches!(
        &flow.backup.state,
        BackupState::Over(_, BackupEnd::Failed(f)) if matches!(**f, BackupFailure::Backup(BackupError::Read { offset: 4096, .. }))
    ));
    let (_, chosen) = asked(&flow.update(Msg::Backup(BackupMsg::Ask)));
    assert_eq!(chosen, Some(drive("sdb", 0).key));
    // Started again from its own end page, Done still leads back to the image.
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    saved(&mut flow);
    flow.update(Msg::Backup(BackupMsg::Done));
    assert_eq!(flow.step(), Step::Image);
}

#[test]
fn a_file_on_the_drive_itself_is_refused_before_anything_is_done() {
    let mut flow = ready();
    let stick = mounted_stick();
    plug(&mut flow, stick.clone());
    let effects = flow.update(Msg::Backup(BackupMsg::FileChosen(
        Box::new(stick),
        "/media/me/STICK/card".into(),
    )));
    assert!(effects.is_empty(), "{effects:?}");
    let BackupState::Over(run, BackupEnd::Failed(failure)) = &flow.backup.state else {
        panic!("not refused: {:?}", flow.backup.state);
    };
    assert!(
        matches!(&**failure, BackupFailure::OnTheDrive { mount, .. } if mount == Path::new("/media/me/STICK"))
    );
    assert_eq!(run.out, Path::new("/media/me/STICK/card.img.zst"));
    assert_eq!(flow.step(), Step::Backup);
}

#[test]
fn cancel_stops_at_once_and_a_cancelled_backup_is_not_an_error() {
    let mut flow = ready();
    assert!(flow.update(Msg::Backup(BackupMsg::Cancel)).is_empty());
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    assert!(matches!(
        &flow.update(Msg::Backup(BackupMsg::Cancel))[..],
        [Effect::Backup(BackupEffect::Cancel)]
    ));
    assert!(flow.backup_stopping() && flow.backing_up());
    assert!(
        flow.update(Msg::Backup(BackupMsg::Cancel)).is_empty(),
        "stopping already"
    );
    let cancelled = BackupFailure::Backup(BackupError::Cancelled);
    let effects = flow.update(Msg::Backup(BackupMsg::Worker(BackupEvent::Ended(Err(
        cancelled,
    )))));
    assert!(matches!(
        &effects[..],
        [Effect::Backup(BackupEffect::Ended)]
    ));
    assert!(matches!(
        flow.backup.state,
        BackupState::Over(_, BackupEnd::Cancelled)
    ));
    // Stopped before the engine began: the same.
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    flow.update(Msg::Backup(BackupMsg::Cancel));
    flow.update(Msg::Backup(BackupMsg::Worker(BackupEvent::Ended(Err(
        BackupFailure::Cancelled,
    )))));
    assert!(matches!(
        flow.backup.state,
        BackupState::Over(_, BackupEnd::Cancelled)
    ));
}

#[test]
fn closing_while_backing_up_asks_then_stops_and_quits_once_stopped() {
    let mut flow = ready();
    back_up(&mut flow, &drive("sdb", 32_000_000_000));
    assert!(matches!(
        &flow.update(Msg::CloseRequested)[..],
        [Effect::Backup(BackupEffect::ConfirmQuit)]
    ));
    assert!(!flow.backup_stopping(), "asking stops nothing");
    assert!(matches!(
        &flow.update(Msg::Backup(BackupMsg::StopAndQuit))[..],
        [Effect::Backup(BackupEffect::Cancel)]
    ));
    assert!(flow.update(Msg::CloseRequested).is_empty(), "asked once");
    let effects = flow.update(Msg::Backup(BackupMsg::Worker(BackupEvent::Ended(Err(
        BackupFailure::Cancelled,
    )))));
    assert!(matches!(
        &effects[..],
        [Effect::Backup(BackupEffect::Ended), Effect::Close]
    ));
    // Over: the window closes unasked.
    assert!(matches!(
        &flow.update(Msg::CloseRequested)[..],
        [Effect::Close]
    ));
}

#[test]
fn the_file_is_named_after_the_drive_and_its_format_after_the_name() {
    let stick = drive("sdb", 32_000_000_000);
    assert_eq!(
        suggested_name(&stick, "2025-05-01"),
        "SanDisk-Ultra-2025-05-01.img.zst"
    );
    // No vendor or model (a loop device): the first label; none either: "drive". Anything
    // but letters (of any script), digits, '_' and '.' becomes one '-'.
    let mut card = Drive {
        vendor: String::new(),
        model: " ".into(),
        ..stick.clone()
    };
    card.volumes[0].label = "Ünïcode / bööt".into();
    assert_eq!(
        suggested_name(&card, "2025-05-01"),
        "Ünïcode-bööt-2025-05-01.img.zst"
    );
    card.volumes[0].label = "../..".into();
    assert_eq!(
        suggested_name(&card, "2025-05-01"),
        "drive-2025-05-01.img.zst"
    );
    let long = Drive {
        model: "x".repeat(100),
        ..stick
    };
    assert_eq!(suggested_name(&long, "d").len(), 40 + "-d.img.zst".len());

    for (chosen, saved) in [
        ("/b/card.img.zst", "/b/card.img.zst"),
        ("/b/card.img.xz", "/b/card.img.xz"),
        ("/b/card.gz", "/b/card.gz"),
        ("/b/card.img", "/b/card.img"),
        ("/b/card", "/b/card.img.zst"),
        ("/b/card.backup", "/b/card.backup.img.zst"),
    ] {
        assert_eq!(output_path(Path::new(chosen)), Path::new(saved), "{chosen}");
    }
}
