//! A card that fails while it is written (the FUSE-backed loop device of
//! `harness::faulty_card`), and a copy interrupted by a signal: the copy stops with one line
//! naming the device and the offset, exits 1 within seconds, and never writes the held-back
//! first MiB, so the card does not look bootable.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::harness::faulty_card::{Faults, FaultyDisk, write_direct};
use crate::harness::support::{
    Run, blockprint, create_bmap, finish, random_bytes, scratch, stderr_lines,
};

const MIB: u64 = 1 << 20;

/// A 24 MiB image of random data and its bmap (one range, all mapped).
fn image(dir: &Path) -> (PathBuf, PathBuf) {
    let image = dir.join("image.img");
    std::fs::write(&image, random_bytes(3, 24 * MIB as usize)).unwrap();
    let bmap = dir.join("image.bmap");
    create_bmap(&image, &bmap);
    (image, bmap)
}

/// Fills the disk's first MiB with an old "partition table" (0xAA), written through the
/// device as a user's earlier image would be.
fn old_contents(disk: &FaultyDisk) {
    write_direct(disk.device(), 0, &[0xAA; MIB as usize]).unwrap();
}

/// The first MiB was wiped and never written: no partition table, no boot code.
#[track_caller]
fn assert_not_bootable(disk: &FaultyDisk) {
    assert!(
        disk.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the first MiB was written (or not wiped)"
    );
}

fn copy_to(disk: &FaultyDisk, image: &Path, bmap: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["copy", "--bmap", bmap.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend([image.to_str().unwrap(), disk.device().to_str().unwrap()]);
    blockprint(args)
}

/// The offset an error line names.
fn offset_in(line: &str) -> u64 {
    let at = line.find("at offset ").expect("an offset") + "at offset ".len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

#[test]
fn a_card_that_fails_mid_write_is_named_with_the_offset() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    let disk = FaultyDisk::new(32 * MIB);
    let device = disk.device().to_str().unwrap().to_owned();
    // The card starts failing while the copy is under way (the device's ends are wiped
    // first, and a failure there would be found before any range is written).
    let child = copy_under_way(&disk, &image, &bmap, Duration::from_millis(50), &[]);
    disk.set(Faults {
        fail_writes_from: Some(10 * MIB),
        ..Faults::default()
    });
    let line = finish(child, Duration::from_secs(60)).fails_with(&[
        &device,
        "Input/output error",
        "the card or its reader is failing",
    ]);
    // The oldest write that has not finished: one of the four 4 MiB writes in flight when
    // the stall began. One below 10 MiB can be the one (a CI run saw 4 MiB): the loop device
    // queued the rest of it behind a stalled request. So: a sector-aligned write offset
    // below the end of the image's data.
    let offset = offset_in(&line);
    assert!(
        offset < 24 * MIB && offset.is_multiple_of(512),
        "offset {offset} in: {line}"
    );
    assert_not_bootable(&disk);
}

#[test]
fn a_card_that_wears_out_stops_the_copy() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    let disk = FaultyDisk::new(32 * MIB);
    old_contents(&disk);
    disk.set(Faults {
        fail_writes_after: Some(disk.bytes_written() + 6 * MIB),
        ..Faults::default()
    });
    let device = disk.device().to_str().unwrap().to_owned();
    copy_to(&disk, &image, &bmap, &[]).fails_with(&[&device, "at offset", "failing"]);
    assert_not_bootable(&disk);
}

#[test]
fn read_back_catches_a_card_that_returns_other_data() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    let disk = FaultyDisk::new(32 * MIB);
    old_contents(&disk);
    disk.set(Faults {
        flip_bit_on_read_at: Some(5 * MIB + 3),
        ..Faults::default()
    });
    let device = disk.device().to_str().unwrap().to_owned();
    // Written again twice from a fresh read of the image, it still reads back wrong: the
    // card keeps corrupting data, and the copy says so rather than trying for ever.
    copy_to(&disk, &image, &bmap, &["--verify-readback"]).fails_with(&[
        &format!("'{device}' keeps corrupting what is written to it"),
        "1 range(s), the first blocks range 0-6143, still differ after writing them 2 more time(s)",
        "failing or counterfeit",
        "blockprint check-card --full",
    ]);
    // What was stored is right (the card lies only when read); the header was held back.
    let stored = disk.contents(MIB, 4 * MIB as usize);
    assert_eq!(
        stored,
        std::fs::read(&image).unwrap()[MIB as usize..5 * MIB as usize]
    );
    assert_not_bootable(&disk);
}

#[test]
fn a_card_pulled_mid_write_is_a_clean_error() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    let mut disk = FaultyDisk::new(32 * MIB);
    let child = copy_under_way(&disk, &image, &bmap, Duration::from_millis(100), &[]);
    // Gone: every request fails from now on, and the loop device goes away once closed.
    disk.set(Faults {
        fail_writes_from: Some(0),
        fail_reads_from: Some(0),
        ..Faults::default()
    });
    disk.detach_loop();
    let run = finish(child, Duration::from_secs(30));
    run.fails_with(&["at offset", "or it was removed"]);
    assert_not_bootable(&disk);
}

#[test]
fn a_card_that_hangs_is_given_up_with_the_device_and_offset() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    let disk = FaultyDisk::new(32 * MIB);
    let mut child = copy_under_way(
        &disk,
        &image,
        &bmap,
        Duration::from_millis(50),
        &["--timeout", "2"],
    );
    // Writes from 10 MiB on hang until the stall is lifted below (or for 25 s): far longer
    // than the 2 s --timeout. The kernel keeps the writing threads until the card answers, so
    // the process itself can only end then; the error must come long before.
    disk.set(Faults {
        stall_writes_from: Some((10 * MIB, Duration::from_secs(25))),
        ..Faults::default()
    });
    let started = Instant::now();
    let heard = stderr_lines(&mut child);
    let device = disk.device().to_str().unwrap().to_owned();
    let (line, after) = loop {
        let line = heard
            .recv_timeout(Duration::from_secs(30))
            .expect("no error within 30 s of a hung write");
        if line.contains("stopped responding") {
            break (line, started.elapsed());
        }
    };
    assert!(
        after < Duration::from_secs(15),
        "the hang was reported after {after:?}"
    );
    for part in [
        &format!("'{device}' stopped responding: a write at offset"),
        "has not finished after 2 s",
        "try another card or reader",
    ] {
        assert!(line.contains(part), "{part:?} not in: {line}");
    }
    // The oldest write that has not finished: one of the four 4 MiB writes in flight when
    // the stall began. One below 10 MiB can be the one (a CI run saw 4 MiB): the loop device
    // queued the rest of it behind a stalled request. So: a sector-aligned write offset
    // below the end of the image's data.
    let offset = offset_in(&line);
    assert!(
        offset < 24 * MIB && offset.is_multiple_of(512),
        "offset {offset} in: {line}"
    );
    // The card answers again: the threads the kernel held return, and the process ends.
    disk.set(Faults::default());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{line}");
    assert_not_bootable(&disk);
}

#[test]
fn sigint_and_sigterm_stop_a_copy_within_seconds() {
    let dir = scratch();
    let (image, bmap) = image(dir.path());
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let disk = FaultyDisk::new(32 * MIB);
        let child = copy_under_way(&disk, &image, &bmap, Duration::from_millis(100), &[]);
        let sent = Instant::now();
        // SAFETY: signals a child of this test, which is still running (not yet waited for).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let run = finish(child, Duration::from_secs(10));
        let device = disk.device().to_str().unwrap().to_owned();
        run.fails_with(&[
            "cancelled",
            &format!("'{device}' was partly written and must be rewritten before use"),
        ]);
        assert!(sent.elapsed() < Duration::from_secs(10));
        assert_not_bootable(&disk);
    }
}

/// Starts a copy onto a card whose every write takes `stall` longer (so a test can act while
/// it runs), and returns once 3 MiB are written: the wipe of the device's ends and some data.
fn copy_under_way(
    disk: &FaultyDisk,
    image: &Path,
    bmap: &Path,
    stall: Duration,
    extra: &[&str],
) -> Child {
    old_contents(disk);
    disk.set(Faults {
        stall_writes_from: Some((0, stall)),
        ..Faults::default()
    });
    let mut args: Vec<&OsStr> = vec![OsStr::new("copy")];
    args.extend(extra.iter().map(OsStr::new));
    args.extend([
        OsStr::new("--bmap"),
        bmap.as_os_str(),
        image.as_os_str(),
        disk.device().as_os_str(),
    ]);
    disk.spawn_writing(&args, 3 * MIB, "the copy")
}
