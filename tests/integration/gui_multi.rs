//! The desktop app writing one image to three drives at once, through the real udisksd and
//! polkit: two loop devices over files, and a FUSE card whose writes fail past 8 MiB, which
//! the capacity check (on by default) names as counterfeit before writing it. The two are
//! written byte-exact while the third fails alone; "Retry Failed Drives" then writes the third,
//! once its fault is gone. Screenshots land in `target/tmp/gui-screenshots-multi/`.

use std::path::Path;

use crate::gui::{MIB, Session, begin, env, quiet, served_image};
use crate::harness::faulty_card::{Faults, FaultyDisk, cap_requests};
use crate::harness::gui_session::App;
use crate::harness::nginx::Nginx;
use crate::harness::support::{assert_written, random_bytes};
use crate::udisks::UdisksLoop;

/// Ticks `card` in the list: a loop device is a system drive, so its name is typed first.
fn choose(session: &Session, app: &App<'_>, card: &UdisksLoop) {
    app.activate("select-drive", Some(card.name()));
    let typed = "^Choose a System Drive\\?$";
    session.keys(typed, "type", &[card.name().trim_start_matches("/dev/")]);
    session.keys(typed, "key", &["Return"]);
    // The next dialog has the same title: type into that one, not this one as it closes.
    session.gone(typed);
}

#[test]
fn the_app_writes_three_drives_at_once_and_retries_the_one_that_failed() {
    let shots = begin(
        "the desktop app's several-drives test",
        &["udisksctl"],
        "gui-screenshots-multi",
        true,
    );
    let server = Nginx::start();
    let (url, content, bmap) = served_image(&server);

    // Two cards with old data, and one that refuses every write from 8 MiB on.
    let dir = tempfile::Builder::new()
        .prefix("blockprint-udisks-")
        .tempdir()
        .unwrap();
    let mut cards = Vec::new();
    let mut befores = Vec::new();
    for (n, seed) in [(1, 21), (2, 22)] {
        let backing = dir.path().join(format!("card{n}.bin"));
        let before = random_bytes(seed, 64 << 20);
        std::fs::write(&backing, &before).unwrap();
        befores.push(before);
        cards.push(UdisksLoop::new(&backing));
    }
    let disk = FaultyDisk::without_loop(64 * MIB);
    // Dropped before the FUSE mount under it (bindings drop in reverse).
    let failing = UdisksLoop::new(&disk.file());
    cap_requests(Path::new(failing.name()));
    disk.set(Faults {
        fail_writes_from: Some(8 * MIB),
        ..Faults::default()
    });

    let size = (720, 680);
    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let app = App::start(&session, false, &[], shots.join("app.log"));
    session.resize(size);
    let shot = |step: &str| session.screenshot(&shots.join(format!("multi-{step}.png")), size);
    app.activate("open-image", Some(&url));
    app.enabled("next");
    app.activate("next", None);
    app.enabled("show-all-drives");
    app.activate("show-all-drives", None);
    session.keys("^Show All Drives\\?$", "key", &["Tab", "Return"]);
    for card in cards.iter().chain([&failing]) {
        choose(&session, &app, card);
    }
    app.enabled("write");
    shot("1-three-chosen");
    // Taking one out and putting it back: the tick follows.
    app.activate("unselect-drive", Some(cards[1].name()));
    app.activate("select-drive", Some(cards[1].name()));
    app.activate("write", None);
    let confirm = "^Erase 3 Drives\\?$";
    session.window(confirm);
    shot("2-confirm");
    session.keys(confirm, "key", &["Tab", "Return"]);
    app.enabled("cancel-write");
    std::thread::sleep(std::time::Duration::from_millis(3000));
    shot("3-writing");
    app.enabled("retry-failed");
    shot("4-one-failed");

    for (card, before) in cards.iter().zip(&befores) {
        let device = std::fs::read(card.name()).unwrap();
        assert_written(&device, before, &content, &bmap);
    }
    assert!(
        disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the failed card's first MiB (partition table) was written"
    );
    let log = app.log();
    assert_eq!(
        log.matches("blockprint: writing failed:").count(),
        1,
        "one drive failed, and only that one:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "'{}': This card claims 67.1 MB but holds only about 8.4 MB: it is counterfeit",
            failing.name()
        )),
        "{log}"
    );

    // The card is fine now: "Retry Failed Drives" asks about it alone, and writes it.
    disk.set(Faults::default());
    app.activate("retry-failed", None);
    let again = "^Erase .*\\?$";
    session.window(again);
    shot("5-retry-confirm");
    session.keys(again, "key", &["Tab", "Return"]);
    app.enabled("cancel-write");
    app.enabled("write-another");
    shot("6-retried");
    assert_eq!(
        app.describe("retry-failed"),
        Some(false),
        "nothing is left to retry"
    );
    quiet(app);
    // Every mapped byte is the image's, and the first MiB too. The unmapped rest may hold the
    // first check's test blocks: on a card found counterfeit, nothing is put back.
    let card = disk.contents(0, 64 << 20);
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        let (start, end) = (start as usize, end as usize);
        assert!(
            card[start..end] == content[start..end],
            "bytes {start}..{end} differ"
        );
    }
    eprintln!("screenshots: {}", shots.display());
}
