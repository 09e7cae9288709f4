//! `copy` onto counterfeit and flaky cards (the FUSE card of `harness::faulty_card`): a range
//! that a card corrupted once is written again and the copy succeeds, saying so; a card that
//! corrupts every write fails fast; `--check-capacity` refuses a fake card the image does not
//! fit before anything of the image is written, and warns about one it fits; without it, the
//! sentinels planted where the image puts nothing still catch a fake card before its first
//! MiB is written.

use std::path::{Path, PathBuf};

use crate::harness::faulty_card::{Faults, FaultyDisk};
use crate::harness::support::{Run, blockprint, create_bmap, random_bytes, scratch};

const MIB: u64 = 1 << 20;

/// An image of `size` random bytes and its bmap (one range, all mapped).
fn image(dir: &Path, size: u64, seed: u64) -> (PathBuf, PathBuf, Vec<u8>) {
    let image = dir.join("image.img");
    let bytes = random_bytes(seed, usize::try_from(size).unwrap());
    std::fs::write(&image, &bytes).unwrap();
    let bmap = dir.join("image.bmap");
    create_bmap(&image, &bmap);
    (image, bmap, bytes)
}

fn copy_to(disk: &FaultyDisk, image: &Path, bmap: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["copy", "--bmap", bmap.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend([image.to_str().unwrap(), disk.device().to_str().unwrap()]);
    blockprint(args)
}

/// The first MiB was never written: no partition table, no boot code.
#[track_caller]
fn assert_not_bootable(disk: &FaultyDisk) {
    assert!(
        disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB was written"
    );
}

/// `copy --verify-readback` of a 24 MiB image (seeded) onto a 32 MiB card that flips the bytes
/// written to 8 KiB at 9 MiB: on the first write only (`once`) or on every write. Returns the
/// card, the image's bytes and the run.
fn corrupting(once: bool, seed: u64) -> (FaultyDisk, Vec<u8>, Run) {
    let dir = scratch();
    let (image, bmap, bytes) = image(dir.path(), 24 * MIB, seed);
    let disk = FaultyDisk::new(32 * MIB);
    disk.set(Faults {
        corrupt_writes: Some((9 * MIB..9 * MIB + 8192, once)),
        ..Faults::default()
    });
    let run = copy_to(&disk, &image, &bmap, &["--verify-readback"]);
    (disk, bytes, run)
}

#[test]
fn a_range_the_card_corrupted_once_is_written_again_and_the_copy_succeeds() {
    // The first write of these 8 KiB stores flipped bytes; writing them again stores them.
    let (disk, bytes, run) = corrupting(true, 41);
    let stderr = run.ok().to_owned();
    assert!(
        stderr.contains("1 range did not read back, was written again and now verifies"),
        "{stderr}"
    );
    assert!(stderr.contains("all read back and compared"), "{stderr}");
    assert_eq!(
        disk.contents(0, bytes.len()),
        bytes,
        "the card holds the image"
    );
}

#[test]
fn a_card_that_corrupts_every_write_fails_fast_with_the_card_advice() {
    let (disk, _, run) = corrupting(false, 42);
    let device = disk.device().to_str().unwrap().to_owned();
    run.fails_with(&[
        &format!("'{device}' keeps corrupting what is written to it"),
        "still differ after writing them 2 more time(s)",
        "blockprint check-card --full",
    ]);
    assert_not_bootable(&disk);
}

#[test]
fn check_capacity_refuses_a_fake_card_the_image_does_not_fit() {
    let dir = scratch();
    let (image, bmap, _) = image(dir.path(), 40 * MIB, 43);
    // Claims 256 MiB, keeps only the first 32 MiB.
    let disk = FaultyDisk::new(256 * MIB);
    disk.set(Faults {
        lose_writes_from: Some(32 * MIB),
        ..Faults::default()
    });
    let device = disk.device().to_str().unwrap().to_owned();
    copy_to(&disk, &image, &bmap, &["--check-capacity"]).fails_with(&[
        &format!(
            "'{device}': This card claims 268.4 MB but holds only about 33.6 MB: it is counterfeit"
        ),
        "The image needs 41.9 MB, so nothing of it was written; use another card",
    ]);
    // Only the probe wrote: its blocks are zeroed at both ends, and the image is nowhere.
    assert_not_bootable(&disk);
    let image_start = std::fs::read(&image).unwrap()[MIB as usize..2 * MIB as usize].to_vec();
    assert_ne!(disk.contents(MIB, MIB as usize), image_start);
}

#[test]
fn check_capacity_writes_an_image_that_fits_a_fake_card_and_says_what_it_is() {
    let dir = scratch();
    let (image, bmap, bytes) = image(dir.path(), 8 * MIB, 44);
    let disk = FaultyDisk::new(256 * MIB);
    disk.set(Faults {
        wrap_from: Some(64 * MIB),
        ..Faults::default()
    });
    let stderr = copy_to(
        &disk,
        &image,
        &bmap,
        &["--check-capacity", "--verify-readback"],
    )
    .ok()
    .to_owned();
    assert!(
        stderr
            .contains("This card claims 268.4 MB but holds only about 67.1 MB: it is counterfeit"),
        "{stderr}"
    );
    assert!(
        stderr.contains("The image fits in what it holds"),
        "{stderr}"
    );
    assert_eq!(disk.contents(0, bytes.len()), bytes);
}

#[test]
fn check_capacity_passes_a_genuine_card() {
    let dir = scratch();
    let (image, bmap, bytes) = image(dir.path(), 8 * MIB, 45);
    let disk = FaultyDisk::new(64 * MIB);
    let stderr = copy_to(&disk, &image, &bmap, &["--check-capacity"])
        .ok()
        .to_owned();
    assert!(
        stderr.contains("This card holds the 67.1 MB it claims"),
        "{stderr}"
    );
    assert_eq!(disk.contents(0, bytes.len()), bytes);
    // Every block the probe wrote past the image was put back: the card was blank there.
    let rest = disk.contents(8 * MIB, 56 * MIB as usize);
    assert!(rest.iter().all(|&b| b == 0), "the probe left blocks behind");
}

/// No probe: the image fits below the fake's real end, so every range reads back fine, but
/// the sentinels past the image's end are lost (dropped, or mapped onto the image's start).
#[test]
fn without_the_probe_the_sentinels_catch_a_fake_card() {
    for (name, faults) in [
        (
            "loses writes",
            Faults {
                lose_writes_from: Some(64 * MIB),
                ..Faults::default()
            },
        ),
        (
            "wraps around",
            Faults {
                wrap_from: Some(64 * MIB),
                ..Faults::default()
            },
        ),
    ] {
        let dir = scratch();
        let (image, bmap, _) = image(dir.path(), 8 * MIB, 46);
        let disk = FaultyDisk::new(256 * MIB);
        disk.set(faults);
        let device = disk.device().to_str().unwrap().to_owned();
        let line = copy_to(&disk, &image, &bmap, &["--verify-readback"]).fails_with(&[
            &format!("'{device}' lost the test block written at offset"),
            "the card holds less than it claims (counterfeit) or is failing",
            "left unbootable",
        ]);
        assert!(!line.is_empty(), "{name}");
        assert_not_bootable(&disk);
    }
}
