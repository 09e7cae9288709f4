//! `check-card` on a genuine card and on counterfeits made by the FUSE card of
//! `harness::faulty_card` (one that wraps around, one that loses writes, one that returns old
//! data): the probe finds each real capacity to within 1 %, Debian's `f3probe` run on the same
//! loop device agrees, and nothing the probe leaves looks like a partition table. The surface
//! test (`--full`) lists a bad region the card was given. A card that hangs while it is
//! checked (or probed by `copy --check-capacity`) is given up after `--timeout`. The time of
//! each probe and of `f3probe` is printed (`--nocapture` shows it).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::faulty_card::{Faults, FaultyDisk, write_direct};
use crate::harness::support::{
    Run, blockprint, create_bmap, finish, random_bytes, require_tool, scratch, stderr_lines,
};

const MIB: u64 = 1 << 20;

/// `blockprint check-card DEVICE` (with `extra` options), and how long it took.
fn check_card(device: &Path, extra: &[&str]) -> (Run, Duration) {
    let mut args = vec!["check-card"];
    args.extend_from_slice(extra);
    args.push(device.to_str().unwrap());
    let started = Instant::now();
    let run = blockprint(args);
    (run, started.elapsed())
}

/// The bytes the probe found real, from its "real capacity: N bytes" line.
fn real_capacity(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("real capacity: "))
        .unwrap_or_else(|| panic!("no real capacity in:\n{stderr}"));
    let at = line.find("real capacity: ").unwrap() + "real capacity: ".len();
    line[at..].split(' ').next().unwrap().parse().unwrap()
}

/// What `f3probe` finds the usable size of `device` to be, and how long it took. On a loop
/// device it must not try a USB reset (`--reset-type=2`, none), and it need not restore what
/// it overwrote (`--destructive`).
fn f3probe(device: &Path) -> (u64, Duration, String) {
    require_tool("f3probe");
    let started = Instant::now();
    let output = Command::new("f3probe")
        .args(["--destructive", "--reset-type=2", "--time-ops"])
        .arg(device)
        .output()
        .expect("run f3probe");
    let took = started.elapsed();
    // It exits non-zero for a counterfeit: the output says what it found.
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // "*Usable* size: 256.00 MB (524288 blocks)" and "Physical block size: 512.00 Byte (2^9 Bytes)".
    let number_before = |line: &str, marker: &str| -> u64 {
        let end = line.find(marker).expect("marker");
        let start = line[..end].rfind(['(', '^']).expect("number") + 1;
        line[start..end].trim().parse().expect("a number")
    };
    let usable = text.lines().find(|l| l.contains("*Usable* size:"));
    let block = text.lines().find(|l| l.contains("Physical block size:"));
    let (Some(usable), Some(block)) = (usable, block) else {
        panic!(
            "no usable size in f3probe's output:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let blocks = number_before(usable, " blocks)");
    let order = number_before(block, " Bytes)");
    (blocks << order, took, text)
}

/// Within 1 % of `real`.
#[track_caller]
fn assert_within_a_percent(what: &str, found: u64, real: u64) {
    let off = found.abs_diff(real);
    assert!(
        off <= real / 100,
        "{what} found {found} bytes, the card holds {real}: {off} bytes off"
    );
}

/// Nothing on the device that blkid or wipefs would call a partition table or a filesystem,
/// and its first and last MiB are zero.
#[track_caller]
fn assert_blank(disk: &FaultyDisk, size: u64) {
    require_tool("wipefs");
    let output = Command::new("wipefs")
        .args(["--no-act", "--noheadings"])
        .arg(disk.device())
        .output()
        .expect("run wipefs");
    let found = String::from_utf8_lossy(&output.stdout);
    assert!(found.trim().is_empty(), "wipefs finds signatures: {found}");
    assert!(disk.contents(0, MIB as usize).iter().all(|&b| b == 0));
    let last = disk.contents(size - MIB, MIB as usize);
    assert!(last.iter().all(|&b| b == 0), "the last MiB is not zero");
}

/// Whether f3probe checks the finding too, and whether the card holds old data first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Oracle {
    F3probe,
    /// The card's flash is filled with random bytes first: "old data" is not zeros.
    F3probeOldData,
    None,
}

/// A counterfeit of `size` bytes holding `real`, made by `faults`: `check-card` names it and
/// finds its real capacity, and so does f3probe when asked; prints the times.
fn counterfeit(name: &str, size: u64, real: u64, oracle: Oracle, faults: Faults) {
    let disk = FaultyDisk::new(size);
    if oracle == Oracle::F3probeOldData {
        disk.fill_random(real..size, 26);
    }
    disk.set(faults);
    let (run, took) = check_card(disk.device(), &[]);
    let line = run.fails_with(&[
        "This card claims ",
        "it is counterfeit. Writing to it loses data.",
    ]);
    let found = real_capacity(&run.stderr);
    assert_within_a_percent("check-card", found, real);
    let about = format!("holds only about {}", blockprint::card::decimal(found));
    assert!(line.contains(&about), "{line}");
    let mut said = format!(
        "check-card, a card {name}: probe {:.2} s, real capacity {found} of {real} bytes",
        took.as_secs_f64()
    );
    if oracle != Oracle::None {
        let (f3, f3_took, f3_text) = f3probe(disk.device());
        assert!(f3_text.contains("is a counterfeit"), "f3probe:\n{f3_text}");
        assert_within_a_percent("f3probe", f3, real);
        said += &format!("; f3probe {:.2} s, {f3} bytes", f3_took.as_secs_f64());
    }
    eprintln!("{said}");
}

#[test]
fn a_genuine_card_passes_and_keeps_what_it_holds() {
    let size = 512 * MIB;
    let disk = FaultyDisk::new(size);
    // What a user's card holds: the probe writes all over it, and must put every byte back.
    let old = random_bytes(7, 16 * MIB as usize);
    for at in [0, 192 * MIB, size - 16 * MIB] {
        write_direct(disk.device(), at, &old).unwrap();
    }
    let (run, took) = check_card(disk.device(), &[]);
    let stderr = run.ok().to_owned();
    assert!(
        stderr.contains("This card holds the 536.9 MB it claims."),
        "{stderr}"
    );
    assert_eq!(real_capacity(&stderr), size);
    for at in [0, 192 * MIB, size - 16 * MIB] {
        assert!(disk.contents(at, old.len()) == old, "changed at {at}");
    }
    let zeros = vec![0; 16 * MIB as usize];
    for at in (16 * MIB..size - 16 * MIB).step_by(16 * MIB as usize) {
        if at != 192 * MIB {
            assert!(disk.contents(at, zeros.len()) == zeros, "left data at {at}");
        }
    }
    assert!(stderr.contains("what it held is as it was"), "{stderr}");
    let (f3, f3_took, f3_text) = f3probe(disk.device());
    assert!(f3_text.contains("is the real thing"), "f3probe:\n{f3_text}");
    assert_eq!(f3, size);
    eprintln!(
        "check-card genuine: probe {:.2} s; f3probe {:.2} s, {f3} bytes",
        took.as_secs_f64(),
        f3_took.as_secs_f64()
    );
}

#[test]
fn a_card_that_wraps_beyond_256_mib() {
    // f3probe looks for a cache by writing up to half the card: the module must be at least
    // that large, or its test blocks wrap onto each other and it calls the card damaged.
    counterfeit(
        "of 512 MiB that wraps at 256 MiB",
        512 * MIB,
        256 * MIB,
        Oracle::F3probe,
        Faults {
            wrap_from: Some(256 * MIB),
            ..Faults::default()
        },
    );
    // A module a quarter of the claim: f3probe says "damaged" (usable 0) here.
    counterfeit(
        "of 1 GiB that wraps at 256 MiB",
        1 << 30,
        256 * MIB,
        Oracle::None,
        Faults {
            wrap_from: Some(256 * MIB),
            ..Faults::default()
        },
    );
}

#[test]
fn a_card_that_loses_writes_beyond_300_mib() {
    counterfeit(
        "loses writes from 300 MiB",
        1 << 30,
        300 * MIB,
        Oracle::F3probe,
        Faults {
            lose_writes_from: Some(300 * MIB),
            ..Faults::default()
        },
    );
}

#[test]
fn a_card_that_returns_old_data_beyond_200_mib() {
    counterfeit(
        "returns old data from 200 MiB",
        512 * MIB,
        200 * MIB,
        Oracle::F3probeOldData,
        Faults {
            stale_from: Some(200 * MIB),
            ..Faults::default()
        },
    );
}

#[test]
fn the_surface_test_lists_a_bad_region() {
    let size = 48 * MIB;
    let disk = FaultyDisk::new(size);
    // Off the probe's 1 MiB grid: only the surface test sees it.
    let bad = 20 * MIB + (64 << 10)..20 * MIB + (364 << 10);
    disk.set(Faults {
        bad_region: Some(bad.clone()),
        ..Faults::default()
    });
    let (run, took) = check_card(disk.device(), &["--full"]);
    run.fails_with(&["307.2 kB of the card's 50.3 MB did not read back as written, in 1 region"]);
    let listed = format!("bad region: bytes {}-{} ", bad.start, bad.end - 1);
    assert!(
        run.stderr.contains(&listed),
        "{listed} not in:\n{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("bad region:").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("surface: wrote 48.0 MiB at "),
        "{}",
        run.stderr
    );
    assert_blank(&disk, size);
    eprintln!("check-card --full, 48 MiB: {:.2} s", took.as_secs_f64());
}

#[test]
fn only_a_drive_is_checked() {
    let dir = scratch();
    let file = dir.path().join("card.img");
    std::fs::write(&file, vec![7u8; 4 << 20]).unwrap();
    let run = blockprint(["check-card".as_ref(), file.as_os_str()]);
    run.fails_with(&["is not a drive (a regular file)", "card.img"]);
    assert_eq!(std::fs::read(&file).unwrap(), vec![7u8; 4 << 20]);
    let missing = dir.path().join("nothing");
    let run = blockprint(["check-card".as_ref(), missing.as_os_str()]);
    run.fails_with(&["does not exist"]);
    assert!(!missing.exists());
}

/// A card that hangs while it is probed: every write from 32 MiB on waits until the stall is
/// lifted (or for 120 s), far longer than `--timeout 3`. The probe writes its samples from
/// the top down, so its very first write hangs. `check-card` and `copy --check-capacity` each
/// give the card up with one error line naming it, the write and its offset, and what to do.
/// The kernel keeps the thread that waits for the card until the card answers, so the
/// process can only end then: the stall is lifted once the error is out, and it exits 1.
#[test]
fn a_card_that_hangs_while_it_is_probed_is_given_up_after_the_timeout() {
    let dir = scratch();
    let image = dir.path().join("image.img");
    std::fs::write(&image, random_bytes(47, 4 * MIB as usize)).unwrap();
    let bmap = dir.path().join("image.bmap");
    create_bmap(&image, &bmap);
    let (image, bmap) = (image.to_str().unwrap(), bmap.to_str().unwrap());
    let (size, from) = (64 * MIB, 32 * MIB);
    for copy in [false, true] {
        let disk = FaultyDisk::new(size);
        disk.set(Faults {
            stall_writes_from: Some((from, Duration::from_secs(120))),
            ..Faults::default()
        });
        let device = disk.device().to_str().unwrap().to_owned();
        let args = if copy {
            vec![
                "copy",
                "--check-capacity",
                "--timeout",
                "3",
                "--bmap",
                bmap,
                image,
                &device,
            ]
        } else {
            vec!["check-card", "--timeout", "3", &device]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_blockprint"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let heard = stderr_lines(&mut child);
        let error = loop {
            match heard.recv_timeout(Duration::from_secs(100)) {
                Ok(line) if line.starts_with("blockprint: error:") => break line,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("{args:?}: no error while the card hangs");
                }
            }
        };
        // The card answers again: the thread the kernel held returns, and the process ends.
        disk.set(Faults::default());
        let run = finish(child, Duration::from_secs(100));
        assert_eq!(run.code, 1, "{args:?}: {error}");
        eprintln!("{}: {error}", args[0]);
        for part in [
            &format!(
                "'{device}' stopped responding while it was being checked: a write at offset "
            ),
            "has not finished after ",
            "the card or its reader hangs: unplug it, and try another card or reader",
        ] {
            assert!(error.contains(part), "{part:?} not in: {error}");
        }
        let at = error.find("at offset ").unwrap() + "at offset ".len();
        let offset: u64 = error[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("an offset");
        assert!((from..size).contains(&offset), "{offset} in: {error}");
        assert!(
            heard
                .try_iter()
                .all(|l| !l.starts_with("blockprint: error:"))
        );
        // Nothing of the image was written: only the probe ran, and its first write hung.
        if copy {
            let written = std::fs::read(image).unwrap();
            assert_ne!(
                disk.contents(MIB, MIB as usize),
                written[MIB as usize..2 * MIB as usize]
            );
        }
    }
}

/// Ctrl-C still stops a check that runs on a thread of its own: a card whose every write takes
/// 200 ms (slow, not hung) is interrupted after its first writes, and the check says it was
/// cancelled, naming the card.
#[test]
fn an_interrupted_check_says_it_was_cancelled() {
    let disk = FaultyDisk::new(64 * MIB);
    disk.set(Faults {
        stall_writes_from: Some((0, Duration::from_millis(200))),
        ..Faults::default()
    });
    let device = disk.device().to_str().unwrap().to_owned();
    let args = [OsStr::new("check-card"), OsStr::new(&device)];
    let child = disk.spawn_writing(&args, 8192, "the check");
    // SAFETY: signals a child of this test, which is still running (not yet waited for).
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    finish(child, Duration::from_secs(60))
        .fails_with(&[&format!("the check of '{device}' was cancelled at offset")]);
}
