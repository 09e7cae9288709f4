//! The window's own questions, decided by the flow: showing every drive, Back, closing while
//! writing, the preferences, and a drive named by its device.

use super::*;

#[test]
fn showing_every_drive_is_confirmed_first_and_remembered() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    assert!(matches!(
        &flow.update(Msg::AskShowAll(true))[..],
        [Effect::ConfirmShowAll]
    ));
    assert!(!flow.show_all, "nothing changes before the answer");
    assert_eq!(flow.rows().len(), 1);
    assert!(matches!(
        &flow.update(Msg::ShowAll(true))[..],
        [Effect::SaveShowAll(true)]
    ));
    assert_eq!(flow.rows().len(), 2);
    // Asked again while on, or turned off: no question.
    assert!(matches!(
        &flow.update(Msg::AskShowAll(true))[..],
        [Effect::SaveShowAll(true)]
    ));
    assert!(matches!(
        &flow.update(Msg::ToggleShowAll)[..],
        [Effect::SaveShowAll(false)]
    ));
    assert!(!flow.show_all);
    assert!(matches!(
        &flow.update(Msg::ToggleShowAll)[..],
        [Effect::ConfirmShowAll]
    ));
}

#[test]
fn back_leads_to_the_image_but_not_while_writing() {
    let mut flow = ready();
    flow.update(Msg::Back);
    assert_eq!(flow.step(), Step::Image);
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::Back);
    assert_eq!(flow.step(), Step::Image);
    start_writing(&mut flow);
    flow.update(Msg::Back);
    assert_eq!(flow.step(), Step::Write, "no leaving while writing");
    end(&mut flow, vec![failed(false)]);
    flow.update(Msg::Back);
    assert_eq!(flow.step(), Step::Image);
}

#[test]
fn closing_while_writing_asks_to_stop_first() {
    let mut flow = ready();
    assert!(matches!(
        &flow.update(Msg::CloseRequested)[..],
        [Effect::Close]
    ));
    start_writing(&mut flow);
    assert!(matches!(
        &flow.update(Msg::CloseRequested)[..],
        [Effect::ConfirmCancel { quit: true }]
    ));
    assert!(!flow.stopping(), "asking does not stop anything");
    assert!(matches!(
        &flow.update(Msg::CancelConfirmed { quit: true })[..],
        [Effect::CancelJob]
    ));
    assert!(flow.stopping());
    // Closed again while stopping: the answer is known, no second question.
    assert!(flow.update(Msg::CloseRequested).is_empty());
    // Review finding 12: the close was forgotten once the write had stopped.
    assert!(matches!(
        &end(&mut flow, vec![Outcome::Cancelled { touched: true }])[..],
        [Effect::Ended, Effect::Close]
    ));
}

#[test]
fn a_close_that_was_declined_does_not_quit_when_cancel_stops_the_write_later() {
    let mut flow = ready();
    start_writing(&mut flow);
    flow.update(Msg::CloseRequested);
    // "Keep Writing" sends nothing; later the Cancel button stops it.
    flow.update(Msg::Cancel);
    flow.update(Msg::CancelConfirmed { quit: false });
    assert!(matches!(
        &end(&mut flow, vec![Outcome::Cancelled { touched: true }])[..],
        [Effect::Ended]
    ));
}

#[test]
fn the_preferences_reach_the_next_write_and_signed_only_judges_the_image_again() {
    let mut flow = ready();
    let prefs = |require_signature| {
        Msg::Prefs(Prefs {
            verify: false,
            check_capacity: true,
            power_off: false,
            require_signature,
        })
    };
    assert!(
        flow.update(prefs(false)).is_empty(),
        "nothing to judge again"
    );
    let effects = flow.update(prefs(true));
    assert!(
        matches!(&effects[..], [Effect::Inspect(_, None, true)]),
        "{effects:?}"
    );
    assert_eq!(flow.busy, Some(Busy::Reading));
    flow.update(Msg::Inspected(Ok(Box::new(image(4_000_000_000)))));
    assert!(flow.update(prefs(true)).is_empty(), "unchanged");
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    flow.update(Msg::Write);
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start, got {effects:?}");
    };
    assert!(!request.verify && !request.power_off);
    assert!(request.check_capacity);
    assert!(!flow.verify());
    // Not while writing: the image stays as it was judged.
    assert!(flow.update(prefs(false)).is_empty());
}

#[test]
fn a_drive_is_found_by_its_key_or_its_device() {
    let flow = ready();
    let key = drive("sdb", 0).key;
    assert_eq!(flow.drive_key("/dev/sdb"), Some(key.as_str()));
    assert_eq!(flow.drive_key(&key), Some(key.as_str()));
    assert_eq!(flow.drive_key("/dev/sdz"), None);
}

#[test]
fn format_drive_asks_which_drive_starting_with_the_likely_one() {
    let mut flow = ready();
    // Review finding 10: reachable with no image and no drive chosen; the one stick is
    // offered, the internal disk is not.
    let mut fresh = Flow::new(true, true, false);
    plug(&mut fresh, drive("sdb", 32_000_000_000));
    plug(&mut fresh, internal("sda"));
    let effects = fresh.update(Msg::FormatDrive);
    let [Effect::ChooseFormat { drives, chosen }] = &effects[..] else {
        panic!("expected the question, got {effects:?}");
    };
    assert_eq!(drives.len(), 1);
    assert_eq!(chosen.as_deref(), Some(drive("sdb", 0).key.as_str()));

    // Two sticks, none chosen: the question starts with none.
    plug(&mut flow, drive("sdc", 32_000_000_000));
    let effects = flow.update(Msg::FormatDrive);
    assert!(
        matches!(&effects[..], [Effect::ChooseFormat { drives, chosen: None }] if drives.len() == 2)
    );
    // The one chosen for writing is the one it starts with.
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectDrive(drive("sdc", 0).key));
    let effects = flow.update(Msg::FormatDrive);
    assert!(
        matches!(&effects[..], [Effect::ChooseFormat { chosen: Some(k), .. }] if *k == drive("sdc", 0).key)
    );
}

#[test]
fn format_runs_only_on_the_drive_as_confirmed_and_blocks_the_window_meanwhile() {
    let mut flow = ready();
    let stick = drive("sdb", 32_000_000_000);
    // Another card in the reader since the question: asked again.
    let mut other = stick.clone();
    other.media.serial = "OTHER".into();
    assert!(matches!(
        &flow.update(Msg::FormatConfirmed(Box::new(other)))[..],
        [Effect::ChooseFormat { .. }]
    ));
    assert!(!flow.formatting());
    let effects = flow.update(Msg::FormatConfirmed(Box::new(stick.clone())));
    assert!(matches!(&effects[..], [Effect::Format(d)] if d.key == stick.key));
    assert!(flow.formatting());
    assert_eq!(flow.step(), Step::Format);
    // Meanwhile: no other image, no other step, no second format, no write.
    assert!(
        flow.update(Msg::OpenImage(Input::Path("/images/x.img".into())))
            .is_empty()
    );
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(flow.step(), Step::Format);
    assert!(flow.update(Msg::FormatDrive).is_empty());
    // Closing waits for the end, then quits.
    assert!(flow.update(Msg::CloseRequested).is_empty());
    assert!(matches!(
        &flow.update(Msg::Formatted(Ok(())))[..],
        [Effect::Close]
    ));
    assert!(matches!(flow.format, FormatState::Over(_, Ok(()))));
    flow.update(Msg::FormatDone);
    assert!(matches!(flow.format, FormatState::Idle));
    assert_eq!(flow.step(), Step::Image);
}

#[test]
fn a_written_drive_that_could_not_be_powered_off_can_be_ejected_from_the_end_page() {
    let mut flow = ready();
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::Write);
    flow.update(Msg::WriteConfirmed);
    assert!(
        flow.update(Msg::Eject).is_empty(),
        "nothing to eject while writing"
    );
    let busy = || blockprint::udisks::UdisksError::Failed {
        action: "power off".into(),
        device: "/dev/sdb".into(),
        message: "GDBus.Error:org.freedesktop.UDisks2.Error.DeviceBusy: busy".into(),
    };
    let summary = Summary {
        elapsed: std::time::Duration::from_secs(3),
        written: 100,
        ranges: 1,
        ranges_verified: 1,
        read_back: true,
        skipped: false,
        removal: Err(Arc::new(busy())),
        first_boot: None,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    };
    end(&mut flow, vec![Outcome::Done(summary)]);
    let ending = |flow: &Flow| crate::gui::present::write_view(flow).ending.expect("over");
    assert!(ending(&flow).eject);
    // Review finding 7: the end page offers the eject itself, not a trip to the file manager.
    assert!(matches!(
        &flow.update(Msg::Eject)[..],
        [Effect::Eject(d)] if d.key == drive("sdb", 0).key
    ));
    flow.update(Msg::Ejected(Err(busy())));
    assert!(ending(&flow).eject, "still busy: offered again");
    flow.update(Msg::Ejected(Ok(Removal::PoweredOff)));
    let ending = ending(&flow);
    assert!(!ending.eject);
    assert!(ending.body.contains("It is powered off"), "{}", ending.body);
}
