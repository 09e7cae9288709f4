//! Several drives written at once: chosen and confirmed together, each followed on its own,
//! and those that failed written again.

use super::*;

#[test]
fn several_drives_are_chosen_and_confirmed_together_and_each_ends_on_its_own() {
    let mut flow = ready();
    plug(&mut flow, drive("sdc", 16_000_000_000));
    // A 1 TB USB disk is likely someone's backups: listed, but never taken by "all".
    plug(&mut flow, drive("sdd", 1_000_000_000_000));
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::ShowAll(true));
    flow.update(Msg::SelectAllSuitable);
    let (sdb, sdc) = (drive("sdb", 0).key, drive("sdc", 0).key);
    assert_eq!(flow.selected, [sdb.clone(), sdc.clone()]);
    assert!(flow.rows().iter().all(|r| r.selected == r.suitable));

    // A row toggles; the action may also take one out.
    flow.update(Msg::ToggleDrive(sdb.clone()));
    assert_eq!(flow.selected, std::slice::from_ref(&sdc));
    flow.update(Msg::ToggleDrive(sdb.clone()));
    flow.update(Msg::UnselectDrive(sdc.clone()));
    flow.update(Msg::SelectDrive(sdc.clone()));
    assert_eq!(flow.chosen().len(), 2);

    let effects = flow.update(Msg::Write);
    let [Effect::ConfirmWrite(drives)] = &effects[..] else {
        panic!("expected one confirmation, got {effects:?}");
    };
    let devices: Vec<&Path> = drives.iter().map(|d| d.device.as_path()).collect();
    assert_eq!(devices, [Path::new("/dev/sdb"), Path::new("/dev/sdc")]);
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start");
    };
    assert_eq!(request.drives.len(), 2);

    // The strip follows the least advanced drive still written.
    for (drive, stage) in [(0, Stage::Verifying), (1, Stage::Writing)] {
        flow.update(Msg::Job(JobEvent::Phase {
            drive,
            stage,
            phase: None,
            total: None,
        }));
    }
    assert_eq!(flow.stage(), Some(Stage::Writing));
    assert!(flow.update(Msg::SkipVerify).is_empty());
    flow.update(Msg::Job(JobEvent::Dropped {
        drive: 1,
        error: crate::gui::testing::write_failed("/dev/sdc"),
    }));
    assert_eq!(flow.stage(), Some(Stage::Verifying), "sdc no longer counts");
    assert!(matches!(
        &flow.update(Msg::SkipVerify)[..],
        [Effect::SkipVerify]
    ));
    assert!(
        flow.update(Msg::RetryFailed).is_empty(),
        "not while writing"
    );

    let done = Summary {
        elapsed: std::time::Duration::from_secs(3),
        written: 100,
        ranges: 1,
        ranges_verified: 1,
        read_back: false,
        skipped: true,
        removal: Ok(Removal::PoweredOff),
        first_boot: None,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    };
    flow.update(Msg::Job(JobEvent::Ended {
        drive: 0,
        outcome: Outcome::Done(done),
    }));
    assert!(flow.writing(), "the job is over only when it says so");
    end(&mut flow, vec![]);
    // The job never ended sdc: shown as stopped part-way, the cautious reading.
    assert!(matches!(
        outcomes(&flow)[..],
        [Outcome::Done(_), Outcome::Cancelled { touched: true }]
    ));

    // "Retry Failed Drives" asks to write sdc again, and only sdc.
    let effects = flow.update(Msg::RetryFailed);
    assert!(matches!(&effects[..], [Effect::ConfirmWrite(d)] if d.len() == 1 && d[0].key == sdc));
    assert_eq!(flow.selected, std::slice::from_ref(&sdc));
    // If it left meanwhile, there is nothing to retry.
    end(&mut flow, vec![failed(true)]);
    flow.update(Msg::Drive(Box::new(DriveEvent::Removed { key: sdc })));
    assert!(flow.update(Msg::RetryFailed).is_empty());
}
