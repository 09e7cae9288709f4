//! The desktop app writing to a card that fails mid-write: the FUSE-backed disk of
//! `harness::faulty_card`, set up as a loop device by udisksd so the app sees it as a
//! hotplugged drive. The write stops with the "bad card or reader" explanation, the app says
//! why on its standard error, and the first MiB (partition table) is never written. A
//! counterfeit card (the capacity check is on by default) is named before anything is written.

use std::path::{Path, PathBuf};

use crate::gui::{End, MIB, Session, begin, env, pass, quiet, served_image};
use crate::harness::faulty_card::{Faults, FaultyDisk, cap_requests};
use crate::harness::gui_session::{normal, ocr};
use crate::harness::nginx::Nginx;
use crate::udisks::UdisksLoop;

/// What each test needs: root and the tools, the screenshots' folder, an image served by
/// nginx, and a FUSE card set up as a loop device by udisksd. Fields drop in order: the loop
/// device goes before the FUSE mount under it.
struct Setup {
    card: UdisksLoop,
    disk: FaultyDisk,
    shots: PathBuf,
    url: String,
    _server: Nginx,
}

fn setup(what: &str) -> Setup {
    let shots = begin(what, &["udisksctl"], "gui-screenshots", false);
    let server = Nginx::start();
    let (url, _, _) = served_image(&server);
    let disk = FaultyDisk::without_loop(64 * MIB);
    let card = UdisksLoop::new(&disk.file());
    cap_requests(Path::new(card.name()));
    Setup {
        card,
        disk,
        shots,
        url,
        _server: server,
    }
}

#[test]
fn the_app_explains_a_card_that_fails_mid_write() {
    let s = setup("the desktop app's failing-card test");
    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let fail = || {
        s.disk.set(Faults {
            fail_writes_from: Some(0),
            ..Faults::default()
        });
    };
    let app = pass(
        &session,
        &s.url,
        &s.card,
        &s.shots,
        ("failing", false, (720, 680)),
        End::Fails,
        &fail,
    );
    let log = app.log();
    quiet(app);
    assert!(
        log.contains(&format!(
            "blockprint: writing failed: cannot write '{}'",
            s.card.name()
        )) && log.contains("Input/output error")
            && log.contains("the card or its reader is failing"),
        "app log:\n{log}"
    );
    assert!(
        s.disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB (partition table) was written"
    );
}

#[test]
fn the_app_explains_a_card_pulled_mid_write_and_lets_it_go() {
    let s = setup("the desktop app's pulled-card test");
    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    // Pulled: every request fails, and the loop device is deleted through udisksd. The kernel
    // keeps it until the app closes its descriptor; then udisksd drops the drive
    // (InterfacesRemoved), as it does for a stick pulled from its port.
    let pull = || {
        s.disk.set(Faults {
            fail_writes_from: Some(0),
            fail_reads_from: Some(0),
            ..Faults::default()
        });
        crate::harness::support::sh(
            "udisksctl",
            &["loop-delete", "--no-user-interaction", "-b", s.card.name()],
        );
    };
    let app = pass(
        &session,
        &s.url,
        &s.card,
        &s.shots,
        ("pulled", true, (720, 680)),
        End::Fails,
        &pull,
    );
    let log = app.log();
    assert!(
        log.contains(&format!(
            "blockprint: writing failed: cannot write '{}'",
            s.card.name()
        )) && log.contains("or it was removed"),
        "app log:\n{log}"
    );
    // The drive leaves udisksd once the app let go of it...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let name = s.card.name().trim_start_matches("/dev/").to_owned();
    while Path::new("/sys/block").join(&name).join("loop").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} was never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // ...and the app, still answering, starts over from a list without it.
    app.activate("write-another", None);
    app.enabled("show-all-drives");
    session.screenshot(&s.shots.join("pulled-720-11-list.png"), (720, 680));
    assert!(
        app.describe("select-drive").is_some(),
        "the app stopped answering"
    );
    quiet(app);
    assert!(
        s.disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB (partition table) was written"
    );
}

/// "Check Capacity First" is on by default: a card that claims 64 MiB but keeps only 16 MiB,
/// less than the 48 MiB image, is named as counterfeit before anything of the image is
/// written.
#[test]
fn the_app_names_a_counterfeit_card_and_writes_nothing_to_it() {
    let s = setup("the desktop app's counterfeit-card test");
    s.disk.set(Faults {
        lose_writes_from: Some(16 * MIB),
        ..Faults::default()
    });
    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let app = pass(
        &session,
        &s.url,
        &s.card,
        &s.shots,
        ("counterfeit", false, (720, 680)),
        End::Fails,
        &|| {},
    );
    let log = app.log();
    quiet(app);
    assert!(
        log.contains("This card claims 67.1 MB but holds only about 16.8 MB: it is counterfeit")
            && log.contains("nothing of it was written"),
        "app log:\n{log}"
    );
    let text = ocr(&s.shots.join("counterfeit-720-10-failed.png"), "eng");
    for words in ["This Card Is Fake", "holds only about", "Use another card."] {
        assert!(
            text.contains(&normal(words)),
            "{words:?} not on the end page:\n{text}"
        );
    }
    assert!(!text.contains("partly written"), "{text}");
    assert!(
        s.disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB (partition table) was written"
    );
}
