//! The app as a user sees it on a desktop, for the store screenshots (`image`, `drive`,
//! `writing` and `done` in `data/screenshots/`, refreshed by `build-aux/store-screenshots`):
//! four USB drives from the udisksd stand-in of `harness/udisksd_standin.rs` (a stick the
//! desktop mounted, a second stick, a locked card, a 2 TB disk), two of them backed by real
//! loop devices that `OpenDevice` hands over, and an image whose block map is signed by a
//! trusted key. "Select All Suitable" takes the two sticks; both are written at once and
//! checked byte for byte; the desktop's mounts are unmounted first, and each stick is powered
//! off as soon as it is done: the first while the second, which the FUSE card slows down, is
//! still being written. Written again and stopped once the first stick is done, that one still
//! counts as written.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::gui::{MIB, Session, WAIT, begin, env, quiet, served_image};
use crate::harness::faulty_card::{Faults, FaultyDisk};
use crate::harness::gui_session::{App, ocr};
use crate::harness::nginx::Nginx;
use crate::harness::support::{LoopDevice, assert_written, random_bytes, sh};
use crate::harness::udisksd_standin::{Bus, Disk, Part, Standin};
use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

/// The served image's name, as a download would have it.
const IMAGE: &str = "raspios-bookworm-arm64-lite.img";

/// Serves the image under [`IMAGE`] with a block map clearsigned by a key the app's user
/// trusts; its URL on the rate-limited location, its bytes and bmap.
fn signed_image(server: &Nginx, home: &str) -> (String, Vec<u8>, blockprint::bmap::Bmap) {
    let (_, content, bmap) = served_image(server);
    let root = server.root();
    let bmap_path = root.join(format!("{IMAGE}.bmap"));
    std::fs::rename(root.join("pi.img"), root.join(IMAGE)).unwrap();
    let gpg = Gpg::new();
    let signer = gpg.key("Sample Images <images@example.org>", KEYS_MADE, "never");
    let signed = root.join("signed.bmap");
    gpg.sign(
        &[&signer],
        "--clearsign",
        true,
        SIGNED,
        &root.join("pi.img.bmap"),
        &signed,
    );
    std::fs::rename(&signed, &bmap_path).unwrap();
    let keys = Path::new(home).join(".config/blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(&signer, true, &keys.join(format!("{signer}.asc")));
    let user = env("BLOCKPRINT_TEST_USER");
    sh("chown", &["-R", &user, &format!("{home}/.config")]);
    (
        server.url(&format!("slow/{IMAGE}")).to_string(),
        content,
        bmap,
    )
}

/// Waits until the stand-in has had `call` `times` times.
fn wait_for_call(standin: &Standin, call: &str, times: usize) {
    let started = Instant::now();
    while standin.calls().iter().filter(|c| *c == call).count() < times {
        // The slow stick takes most of a minute when CI's other tests load both cores.
        assert!(
            started.elapsed() < 3 * WAIT,
            "no {call}; calls: {:?}",
            standin.calls()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn store_screenshots_of_two_sticks_written_at_once_and_powered_off_one_by_one() {
    let shots = begin(
        "the store screenshots",
        &["gpg", "tesseract"],
        "gui-screenshots-store",
        true,
    );

    // The first stick: a loop device over old data. The second: the FUSE card, fine for now.
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("stick.bin");
    let before = random_bytes(31, 64 << 20);
    std::fs::write(&backing, &before).unwrap();
    let stick = LoopDevice::new(&backing);
    let slow = FaultyDisk::new(64 * MIB);
    let bus = Bus::start();
    let standin = Standin::serve(
        &bus,
        vec![
            Disk {
                opens: Some(PathBuf::from(stick.name())),
                partitions: vec![
                    Part {
                        fs_type: "vfat",
                        label: "bootfs",
                        mount: Some("/media/alex/bootfs"),
                    },
                    Part {
                        fs_type: "ext4",
                        label: "rootfs",
                        mount: Some("/media/alex/rootfs"),
                    },
                ],
                ..Disk::usb("sdb", "SanDisk", "Ultra", 32_010_928_128)
            },
            Disk {
                opens: Some(slow.device().to_path_buf()),
                partitions: vec![Part {
                    fs_type: "vfat",
                    label: "KINGSTON",
                    mount: None,
                }],
                ..Disk::usb("sdc", "Kingston", "DataTraveler 3.0", 15_502_147_584)
            },
            Disk {
                read_only: true,
                can_power_off: false,
                ..Disk::usb("sdd", "Generic", "STORAGE DEVICE", 63_864_569_856)
            },
            Disk::usb("sde", "Seagate", "Expansion HDD", 2_000_398_934_016),
        ],
    );

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let server = Nginx::start();
    let (url, content, bmap) = signed_image(&server, &session.home);
    let size = (720, 680);
    let system_bus = format!("DBUS_SYSTEM_BUS_ADDRESS={}", bus.address);
    let app = App::start_with(
        &session,
        session.blockprint_with(false, &[&system_bus]),
        &[],
        shots.join("app.log"),
    );
    session.resize(size);
    let shot = |name: &str| session.screenshot(&shots.join(format!("{name}.png")), size);

    app.activate("open-image", Some(&url));
    app.enabled("next");
    shot("image");
    app.activate("next", None);
    app.enabled("select-all-drives");
    app.activate("select-all-drives", None);
    app.enabled("write");
    shot("drive");
    app.activate("write", None);
    let confirm = "^Erase 2 Drives\\?$";
    session.window(confirm);
    shot("confirm");
    session.keys(confirm, "key", &["Tab", "Return"]);
    app.enabled("cancel-write");
    // From now on every write of the second stick past 20 MiB takes half a second: it falls
    // behind, and is still written when the first is done.
    slow.set(Faults {
        stall_writes_from: Some((20 * MIB, Duration::from_millis(500))),
        ..Faults::default()
    });
    std::thread::sleep(Duration::from_secs(7));
    shot("writing-both");
    wait_for_call(&standin, "PowerOff SanDisk Ultra", 1);
    // The store's "writing" screenshot: one stick safe to remove, the other still written.
    shot("writing");
    app.enabled("write-another");
    shot("done");
    let calls = standin.calls();
    let written = || {
        let stick = std::fs::read(stick.name()).unwrap();
        assert_written(&stick, &before, &content, &bmap);
    };
    written();
    assert_written(
        &slow.contents(0, 64 << 20),
        &vec![0; 64 << 20],
        &content,
        &bmap,
    );

    // Again, stopped once the first stick is done: it stays written and powered off, and
    // only the second is reported stopped.
    app.activate("write-another", None);
    app.enabled("select-all-drives");
    app.activate("select-all-drives", None);
    app.enabled("write");
    app.activate("write", None);
    session.keys(confirm, "key", &["Tab", "Return"]);
    wait_for_call(&standin, "PowerOff SanDisk Ultra", 2);
    app.activate("cancel-write", None);
    session.keys("^Stop Writing\\?$", "key", &["Tab", "Return"]);
    app.enabled("write-another");
    shot("stopped-after-one");
    let seen = ocr(&shots.join("stopped-after-one.png"), "eng");
    assert!(
        seen.contains("1 of 2 drives not written"),
        "the stick written before the stop is not counted as written; OCR read: {seen}"
    );
    written();
    assert!(
        slow.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the stopped stick's first MiB (partition table) is not wiped"
    );
    quiet(app);

    let at = |call: &str| {
        calls
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("no {call}: {calls:?}"))
    };
    assert!(
        at("Unmount /dev/sdb1") < at("OpenDevice /dev/sdb"),
        "{calls:?}"
    );
    assert!(
        at("Unmount /dev/sdb2") < at("OpenDevice /dev/sdb"),
        "{calls:?}"
    );
    assert!(
        at("PowerOff SanDisk Ultra") < at("Rescan /dev/sdc"),
        "the first stick is powered off while the second is written: {calls:?}"
    );
    at("PowerOff Kingston DataTraveler 3.0");
    assert!(
        !calls.iter().any(|c| c.contains("sdd") || c.contains("sde")),
        "the locked card and the large disk were not chosen: {calls:?}"
    );
    eprintln!("screenshots: {}", shots.display());
}
