//! The flow driven by messages, as the window drives it: image → drive → confirm →
//! progress → done, failed or cancelled, with every refusal on the way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blockprint::bmap::{Bmap, ChecksumType};
use blockprint::drives::{Drive, GuardKind, MediaId};
use blockprint::progress::Phase;
use blockprint::signature::{Refusal, SignatureCheck, Signer, TrustSource};
use blockprint::udisks::Removal;

use super::*;
use crate::gui::inspect::{BmapState, SignatureState};
use crate::gui::job::{JobError, Outcome, Stage, Summary};
use crate::gui::testing::{drive, end, failed, gone, image, internal, plug, ready, start_writing};

mod backup;
mod first_boot;
mod several;
mod window;

/// The outcomes of the write that is over.
fn outcomes(flow: &Flow) -> Vec<&Outcome> {
    let WriteState::Over(drives) = &flow.write else {
        panic!("the write is not over");
    };
    drives.iter().filter_map(|d| d.outcome.as_ref()).collect()
}

/// No drive chosen.
const NONE: Vec<String> = Vec::new();

#[test]
fn image_then_drive_then_confirm_then_write_then_done() {
    let mut flow = ready();
    assert_eq!(flow.step(), Step::Image);
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(flow.step(), Step::Drive);
    let keys: Vec<String> = flow.rows().iter().map(|r| r.drive.key.clone()).collect();
    assert_eq!(
        keys,
        [drive("sdb", 0).key],
        "internal disks only with show all"
    );

    assert_eq!(
        flow.selected,
        [drive("sdb", 0).key],
        "the only suitable drive is chosen for the user"
    );
    let effects = flow.update(Msg::Write);
    assert!(
        matches!(&effects[..], [Effect::ConfirmWrite(d)] if d[0].device == Path::new("/dev/sdb") && d.len() == 1)
    );
    assert_eq!(
        flow.step(),
        Step::Drive,
        "nothing happens before the confirmation"
    );

    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start, got {effects:?}");
    };
    assert_eq!(request.drives[0].device, PathBuf::from("/dev/sdb"));
    assert_eq!(request.drives.len(), 1);
    assert!(request.verify && request.power_off && request.bmap.is_some());
    assert_eq!(flow.step(), Step::Write);
    assert!(flow.writing());
    assert!(
        flow.update(Msg::WriteConfirmed).is_empty(),
        "never two jobs"
    );
    assert!(flow.update(Msg::OpenImage(Input::Stdin)).is_empty());
    flow.update(Msg::GoTo(Step::Image));
    assert_eq!(flow.step(), Step::Write, "no leaving while writing");

    flow.update(Msg::Job(JobEvent::Phase {
        drive: 0,
        stage: Stage::Writing,
        phase: Some(Phase::Writing),
        total: Some(100),
    }));
    flow.update(Msg::Job(JobEvent::Progress { drive: 0, done: 40 }));
    let WriteState::Running(drives) = &flow.write else {
        panic!("running");
    };
    let meter = &drives[0].meter;
    assert_eq!(
        (meter.stage, meter.done, meter.fraction()),
        (Stage::Writing, 40, Some(0.4))
    );

    let done = Summary {
        elapsed: std::time::Duration::from_secs(3),
        written: 100,
        ranges: 1,
        ranges_verified: 1,
        read_back: true,
        skipped: false,
        removal: Ok(Removal::PoweredOff),
        first_boot: None,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    };
    let effects = end(&mut flow, vec![Outcome::Done(done)]);
    assert!(matches!(&effects[..], [Effect::Ended]));
    assert!(!flow.writing());
    assert!(matches!(outcomes(&flow)[..], [Outcome::Done(_)]));

    // The stick powered off and left: "write another" starts from the drive list.
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    assert_eq!(flow.last_drives()[0].device, Path::new("/dev/sdb"));
    flow.update(Msg::WriteAnother);
    assert_eq!((flow.step(), flow.selected.clone()), (Step::Drive, NONE));
}

#[test]
fn cancel_asks_first_and_a_cancelled_write_is_not_an_error() {
    let mut flow = ready();
    start_writing(&mut flow);
    assert!(matches!(
        &flow.update(Msg::Cancel)[..],
        [Effect::ConfirmCancel { quit: false }]
    ));
    assert!(flow.writing(), "asking does not stop anything");
    assert!(matches!(
        &flow.update(Msg::CancelConfirmed { quit: false })[..],
        [Effect::CancelJob]
    ));
    assert!(flow.stopping());
    assert!(
        flow.update(Msg::Cancel).is_empty(),
        "stopping already: Cancel asks nothing more"
    );
    assert!(matches!(
        &end(&mut flow, vec![Outcome::Cancelled { touched: true }])[..],
        [Effect::Ended]
    ));
    assert!(!flow.stopping());
    assert!(matches!(
        outcomes(&flow)[..],
        [Outcome::Cancelled { touched: true }]
    ));
    assert!(
        flow.update(Msg::Cancel).is_empty(),
        "nothing left to cancel"
    );
}

#[test]
fn verification_can_be_skipped_only_while_reading_back() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    flow.update(Msg::Write);
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start");
    };
    assert!(!request.skip_verify.is_cancelled());
    assert!(flow.update(Msg::SkipVerify).is_empty(), "not while writing");
    flow.update(Msg::Job(JobEvent::Phase {
        drive: 0,
        stage: Stage::Verifying,
        phase: Some(Phase::ReadBack),
        total: Some(100),
    }));
    assert_eq!(flow.stage(), Some(Stage::Verifying));
    assert!(matches!(
        &flow.update(Msg::SkipVerify)[..],
        [Effect::SkipVerify]
    ));
}

#[test]
fn a_failure_is_kept_with_its_error_and_the_flow_can_retry() {
    let mut flow = ready();
    start_writing(&mut flow);
    end(&mut flow, vec![failed(false)]);
    assert!(matches!(
        outcomes(&flow)[..],
        [Outcome::Failed { touched: false, .. }]
    ));
    // "Try Again" is the write action, from the Write page: the same drive is still chosen.
    assert_eq!(flow.step(), Step::Write);
    assert!(matches!(
        &flow.update(Msg::Write)[..],
        [Effect::ConfirmWrite(_)]
    ));
}

#[test]
fn the_only_suitable_drive_is_chosen_until_the_user_chooses() {
    let mut flow = ready();
    // On the Image step nothing is chosen; entering the Drive step chooses the one stick.
    assert_eq!(flow.selected, NONE);
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(flow.selected, [drive("sdb", 0).key]);
    // Pulled out and another put in: that one.
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    assert_eq!(flow.selected, NONE);
    plug(&mut flow, drive("sdc", 32_000_000_000));
    assert_eq!(flow.selected, [drive("sdc", 0).key]);
    // A second stick: nothing more is chosen for the user.
    plug(&mut flow, drive("sdb", 32_000_000_000));
    assert_eq!(flow.selected, [drive("sdc", 0).key]);
    // Once the user unchooses, nothing is chosen for them again on this visit.
    flow.update(Msg::UnselectDrive(drive("sdc", 0).key));
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    assert_eq!(flow.selected, NONE);
    // With two suitable drives on arrival, none is chosen.
    flow.update(Msg::GoTo(Step::Image));
    plug(&mut flow, drive("sdb", 32_000_000_000));
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(flow.selected, NONE);
}

#[test]
fn write_another_drive_waits_for_the_next_card() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::Write);
    flow.update(Msg::WriteConfirmed);
    end(&mut flow, vec![Outcome::Cancelled { touched: false }]);
    flow.update(Msg::WriteAnother);
    assert_eq!(flow.selected, NONE, "not the card just written");
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    plug(&mut flow, drive("sdc", 32_000_000_000));
    assert_eq!(flow.selected, [drive("sdc", 0).key]);
}

#[test]
fn a_system_drive_needs_show_all_and_its_typed_name() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::UnselectDrive(drive("sdb", 0).key));
    assert!(
        flow.update(Msg::SelectDrive(internal("sda").key))
            .is_empty()
    );
    assert_eq!(flow.selected, NONE, "not listed, so not selectable");
    flow.update(Msg::ShowAll(true));
    assert_eq!(flow.rows().len(), 2);
    let effects = flow.update(Msg::SelectDrive(internal("sda").key));
    assert!(matches!(&effects[..], [Effect::AskSystemDrive(d)] if d.key == internal("sda").key));
    assert_eq!(flow.selected, NONE);
    flow.update(Msg::SystemDriveConfirmed(internal("sda").key));
    assert_eq!(flow.selected, [internal("sda").key]);
    // Hiding the system drives again unchooses it.
    flow.update(Msg::ShowAll(false));
    assert_eq!(flow.selected, NONE);
}

#[test]
fn blocked_drives_are_listed_disabled_and_cannot_be_chosen() {
    let mut flow = ready();
    plug(&mut flow, drive("sdc", 2_000_000_000));
    let mut locked = drive("sdd", 32_000_000_000);
    locked.read_only = true;
    plug(&mut flow, locked);
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::UnselectDrive(drive("sdb", 0).key));
    let rows = flow.rows();
    let small = rows
        .iter()
        .find(|r| r.drive.device == Path::new("/dev/sdc"))
        .unwrap();
    assert!(!small.enabled);
    assert!(
        small
            .guards
            .iter()
            .any(|g| matches!(g.kind, GuardKind::TooSmall { .. }))
    );
    for key in [drive("sdc", 0).key, drive("sdd", 0).key] {
        assert!(flow.update(Msg::SelectDrive(key)).is_empty());
        assert_eq!(flow.selected, NONE);
    }
}

#[test]
fn a_chosen_drive_that_changes_or_leaves_is_unchosen() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    assert_eq!(flow.chosen().len(), 1);
    // Another, smaller card in the same reader.
    flow.update(Msg::Drive(Box::new(DriveEvent::Changed(drive(
        "sdb",
        1_000_000_000,
    )))));
    assert_eq!(flow.selected, NONE);
    flow.update(Msg::Drive(Box::new(DriveEvent::Changed(drive(
        "sdb",
        32_000_000_000,
    )))));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    assert_eq!(flow.selected, NONE);
    assert!(flow.update(Msg::Write).is_empty());
    flow.update(Msg::Drive(Box::new(DriveEvent::Lost(
        "udisksd stopped".into(),
    ))));
    assert!(flow.rows().is_empty());
    assert!(
        matches!(&flow.drives_error, Some(DrivesError::Lost(why)) if why == "udisksd stopped"),
        "{:?}",
        flow.drives_error
    );
}

/// F17: a card swapped for another of the same make and size while the confirmation is on
/// screen is not written on the strength of that confirmation: the question is asked again,
/// naming the card there now.
#[test]
fn f17_a_card_swapped_during_the_confirmation_is_asked_about_again() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    let card = |serial: &str| Drive {
        media: MediaId {
            serial: serial.into(),
            ..MediaId::default()
        },
        ..drive("sdb", 32_000_000_000)
    };
    flow.update(Msg::Drive(Box::new(DriveEvent::Changed(card("AA01")))));
    assert!(matches!(
        &flow.update(Msg::Write)[..],
        [Effect::ConfirmWrite(_)]
    ));
    flow.update(Msg::Drive(Box::new(DriveEvent::Changed(card("BB02")))));
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::ConfirmWrite(asked)] = &effects[..] else {
        panic!("expected the question again, got {effects:?}");
    };
    assert_eq!(asked[0].media.serial, "BB02");
    assert!(!flow.writing());
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start, got {effects:?}");
    };
    assert_eq!(request.drives[0].media.serial, "BB02");
}

#[test]
fn a_bad_signature_blocks_the_image_and_a_read_error_is_shown() {
    let mut flow = Flow::new(true, true, false);
    flow.update(Msg::OpenImage(Input::Path("/images/pi.img".into())));
    let mut bad = image(4096);
    bad.signature = SignatureState::Refused(Refusal::Failed(SignatureCheck::Revoked {
        signer: Signer {
            fingerprint: "AB".into(),
            key: "AB".into(),
            user_id: None,
            source: TrustSource::Keyring("k.gpg".into()),
        },
    }));
    flow.update(Msg::Inspected(Ok(Box::new(bad))));
    assert!(!flow.image_ready());
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(flow.step(), Step::Image);

    // Another image that cannot be read: the error, and the image before stays (still
    // blocked).
    flow.update(Msg::OpenImage(Input::Path("/images/gone.img".into())));
    flow.update(Msg::Inspected(Err(gone("gone.img"))));
    assert_eq!(
        flow.image.as_ref().map(|i| &i.input),
        Some(&Input::Path("/images/pi.img".into()))
    );
    assert!(!flow.image_ready());
    assert_eq!(
        flow.image_error
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("cannot open image 'gone.img'")
    );
    // The same image read again and failing (another block map, "only signed images"):
    // what was known of it no longer holds, so it goes.
    flow.update(Msg::OpenBmap(Input::Path("/images/other.bmap".into())));
    flow.update(Msg::Inspected(Err(gone("other.bmap"))));
    assert!(flow.image.is_none());
}

#[test]
fn a_raw_image_without_a_block_map_is_scanned_by_itself() {
    let mut flow = Flow::new(true, true, false);
    let pi = Input::Path("/images/pi.img".into());
    flow.update(Msg::OpenImage(pi.clone()));
    let mut plain = image(8192);
    plain.bmap = BmapState::Missing;
    // Review finding 5: nobody new presses "Create"; it takes a second, so it just happens
    // (beside the look for its first-boot mechanism).
    assert!(matches!(
        &flow.update(Msg::Inspected(Ok(Box::new(plain.clone()))))[..],
        [Effect::DetectFirstBoot(looked), Effect::Scan(input)] if *input == pi && *looked == pi
    ));
    assert_eq!(flow.busy, Some(Busy::Scanning));
    assert!(!flow.image_ready(), "not while scanning");
    let bmap = Bmap::new(8192, 4096, ChecksumType::Sha256, vec![]).unwrap();
    flow.update(Msg::Scanned(pi.clone(), Ok(bmap.clone())));
    assert!(flow.image_ready());
    let image_read = flow.image.as_ref().unwrap();
    assert!(matches!(image_read.bmap, BmapState::Created { .. }));
    assert_eq!(image_read.signature, SignatureState::NoBmap);

    // Skipped: the whole image is written, and the scan's late answer is dropped.
    flow.update(Msg::OpenImage(pi.clone()));
    flow.update(Msg::Inspected(Ok(Box::new(plain.clone()))));
    assert!(matches!(
        &flow.update(Msg::CancelScan)[..],
        [Effect::CancelScan]
    ));
    assert!(flow.image_ready());
    flow.update(Msg::Scanned(pi.clone(), Ok(bmap.clone())));
    assert!(matches!(
        flow.image.as_ref().unwrap().bmap,
        BmapState::Missing
    ));

    // Another image opened meanwhile stops it; its answer does not land on the new one.
    flow.update(Msg::OpenImage(pi.clone()));
    flow.update(Msg::Inspected(Ok(Box::new(plain.clone()))));
    let other = Input::Path("/images/other.img".into());
    assert!(matches!(
        &flow.update(Msg::OpenImage(other.clone()))[..],
        [Effect::CancelScan, Effect::Inspect(..)]
    ));
    let mut other_image = plain.clone();
    other_image.input = other;
    flow.update(Msg::Inspected(Ok(Box::new(other_image))));
    flow.update(Msg::Scanned(pi.clone(), Ok(bmap)));
    assert_eq!(flow.busy, Some(Busy::Scanning), "still the other's scan");
    assert!(matches!(
        flow.image.as_ref().unwrap().bmap,
        BmapState::Missing
    ));

    // A scan that fails is no error of the image: the whole image is written.
    flow.update(Msg::OpenImage(pi.clone()));
    flow.update(Msg::Inspected(Ok(Box::new(plain.clone()))));
    flow.update(Msg::Scanned(pi.clone(), Err(gone("pi.img"))));
    assert!(flow.image_ready() && flow.image_error.is_none() && flow.scan_error.is_some());

    // A compressed image would be unpacked whole first: that waits for the user.
    let mut packed = plain;
    packed.layers = vec![blockprint::source::Layer {
        format: blockprint::source::Format::Xz,
        member: None,
        xz_blocks: None,
    }];
    assert!(flow.update(Msg::Inspected(Ok(Box::new(packed)))).is_empty());
    assert!(matches!(&flow.update(Msg::ScanBmap)[..], [Effect::Scan(_)]));
}

#[test]
fn a_drive_pulled_while_it_is_written_ends_in_an_error_and_leaves_the_list() {
    let mut flow = ready();
    start_writing(&mut flow);
    assert!(flow.writing());
    // udisksd drops the drive (InterfacesRemoved) while the job still runs: the job is left
    // to find out by itself, and the write page stays.
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed {
        key: drive("sdb", 0).key,
    })));
    assert!(flow.writing());
    assert_eq!(flow.step(), Step::Write);
    assert!(
        flow.rows()
            .iter()
            .all(|row| row.drive.key != drive("sdb", 0).key)
    );
    let error = JobError::Target(blockprint::target::TargetError::DeviceFailed {
        op: blockprint::target::Op::Write,
        path: "/dev/sdb".into(),
        offset: Some(1 << 20),
        source: std::io::Error::from_raw_os_error(libc::ENODEV),
    });
    let effects = end(
        &mut flow,
        vec![Outcome::Failed {
            error: Arc::new(error),
            touched: true,
        }],
    );
    assert!(matches!(&effects[..], [Effect::Ended]));
    assert!(matches!(outcomes(&flow)[..], [Outcome::Failed { .. }]));
    // Writing another starts from the list, which no longer has it.
    flow.update(Msg::WriteAnother);
    assert_eq!((flow.step(), flow.selected.clone()), (Step::Drive, NONE));
}
