//! The app on a compressed image without a block map, once read as it arrives (gzip) and
//! once scanned before the write through its blocks (an xz file of several blocks): the Image
//! step says only what the filesystems use is written (for the xz, how much: it is known
//! before), *Write Everything* says every byte, the card written through udisksd holds every
//! block the image's filesystems use while the free ones keep the card's old bytes, and the
//! end page says how much was left out. Screenshots in
//! `target/tmp/gui-screenshots-unmapped/`, read back by OCR.

use std::os::unix::fs::PermissionsExt;

use blockprint::bmap::Bmap;

use crate::gui::{App, Session, begin, env, quiet, shows, write_to_loop};
use crate::harness::support::sh;
use crate::udisks::UdisksLoop;

#[test]
fn the_app_writes_only_what_the_filesystems_of_a_compressed_image_use() {
    let shots = begin(
        "the desktop app's test of an image without a block map",
        &[
            "gzip",
            "xz",
            "tesseract",
            "udisksctl",
            "sfdisk",
            "mkfs.fat",
            "mke2fs",
        ],
        "gui-screenshots-unmapped",
        true,
    );
    let dir = tempfile::Builder::new()
        .prefix("blockprint-gui-unmapped-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let image = dir.path().join("sample.img");
    sh(
        concat!(env!("CARGO_MANIFEST_DIR"), "/build-aux/make-sample-image"),
        &[image.to_str().unwrap()],
    );
    let reference = dir.path().join("reference.bmap");
    sh(
        env!("CARGO_BIN_EXE_blockprint"),
        &[
            "-q",
            "scan",
            "-o",
            reference.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
    let content = std::fs::read(&image).unwrap();
    sh("gzip", &["-k", image.to_str().unwrap()]);
    // Blocks of 1 MiB, as `xz -T0` cuts larger images into blocks of 24 MiB.
    sh(
        "xz",
        &["-k", "-T2", "--block-size=1MiB", image.to_str().unwrap()],
    );
    let packed = dir.path().join("sample.img.gz");
    let blocks = dir.path().join("sample.img.xz");
    for file in [&packed, &blocks] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let backing = dir.path().join("card.bin");
    let (card, before) = UdisksLoop::random(&backing, 27, content.len());
    let backing_xz = dir.path().join("card-xz.bin");
    let (card_xz, before_xz) = UdisksLoop::random(&backing_xz, 28, content.len());
    let reference = Bmap::from_file(&reference).unwrap();

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let app = App::start(
        &session,
        false,
        &[packed.to_str().unwrap()],
        shots.join("app.log"),
    );
    session.resize((720, 680));
    app.enabled("next");
    shows(
        &session,
        &shots,
        "unmapped-720-01-image",
        &[
            "Only what the filesystems use is written",
            "free space is left out",
        ],
    );
    app.activate("write-everything", None);
    app.wait_for("Write Everything to be on", || {
        app.state("write-everything").as_deref() == Some("true")
    });
    shows(
        &session,
        &shots,
        "unmapped-720-02-everything",
        &["Every byte is written"],
    );
    app.activate("write-everything", None);
    app.wait_for("Write Everything to be off", || {
        app.state("write-everything").as_deref() == Some("false")
    });
    write_to_loop(&session, &app, &card);
    shows(
        &session,
        &shots,
        "unmapped-720-03-done",
        &["that its filesystems do not use was left out"],
    );
    quiet(app);
    drop(card);
    only_used_written(&backing, &content, &before, &reference);

    // The xz file of several blocks is scanned as it is opened: the Image step says how much.
    let app = App::start(
        &session,
        false,
        &[blocks.to_str().unwrap()],
        shots.join("app-xz.log"),
    );
    app.enabled("next");
    // As GLib writes sizes: "28.3 MB" (the sample's filesystems use tens of megabytes).
    let mapped = reference.mapped_bytes();
    assert!((1_000_000..1_000_000_000).contains(&mapped), "{mapped}");
    let mapped = format!("{:.1} MB", mapped as f64 / 1e6);
    shows(
        &session,
        &shots,
        "unmapped-720-04-xz-image",
        &[
            "Only what the filesystems use is written",
            &format!("Only {mapped} of"),
        ],
    );
    write_to_loop(&session, &app, &card_xz);
    shows(
        &session,
        &shots,
        "unmapped-720-05-xz-done",
        &["that its filesystems do not use was left out"],
    );
    quiet(app);
    drop(card_xz);
    only_used_written(&backing_xz, &content, &before_xz, &reference);
}

/// The card in `backing` holds every block of `content` that the scan's `reference` maps,
/// and the ext4's free tail (the last MiB of the card is zeroed by design) kept the card's
/// old bytes (`before`).
fn only_used_written(backing: &std::path::Path, content: &[u8], before: &[u8], reference: &Bmap) {
    let written = std::fs::read(backing).unwrap();
    for range in reference.ranges() {
        let (start, end) = reference.byte_span(&range);
        let (start, end) = (start as usize, end as usize);
        assert!(
            written[start..end] == content[start..end],
            "blocks {range} the filesystems use differ on the card {}",
            backing.display()
        );
    }
    let tail = content.len() - (2 << 20)..content.len() - (1 << 20);
    assert!(
        written[tail.clone()] == before[tail],
        "free blocks were written to {} although the filesystem proves them free",
        backing.display()
    );
}
