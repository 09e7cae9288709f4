//! One image to several drives at once (`copy IMAGE DEST DEST …`, `copy::copy_to_all`): read
//! and verified once, each drive written, synced and read back on its own, and a drive that
//! fails or hangs dropped with its error while the others finish.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use blockprint::bmap::Bmap;
use blockprint::copy::{CopyError, CopyOptions, CopyReport, copy_to_all};
use blockprint::progress::{CancelToken, Event, Phase, TargetEvent};
use blockprint::source::{Input, Opener};
use blockprint::target::{Target, TargetError, TargetOptions};

use crate::harness::faulty_card::{Faults, FaultyDisk};
use crate::harness::support::{
    LoopDevice, Mounted, assert_written, blockprint, create_bmap, random_bytes, scratch, sh,
    stderr_lines,
};

const MIB: u64 = 1 << 20;

/// A 24 MiB image of random data with a hole in its middle, gzipped, and its bmap; returns
/// (the .gz, the bmap, the raw bytes).
fn image(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let raw = dir.join("image.img");
    let mut bytes = random_bytes(11, 24 * MIB as usize);
    bytes[(8 * MIB) as usize..(12 * MIB) as usize].fill(0);
    std::fs::write(&raw, &bytes).unwrap();
    // The zeros become a hole, so the bmap has two ranges.
    sh("fallocate", &["--dig-holes", raw.to_str().unwrap()]);
    let bmap = dir.join("image.bmap");
    create_bmap(&raw, &bmap);
    sh("gzip", &["-k", raw.to_str().unwrap()]);
    (dir.join("image.img.gz"), bmap, bytes)
}

/// A 32 MiB drive full of 0xCC, as a loop device; returns it with its backing file.
fn drive(dir: &Path, name: &str) -> (LoopDevice, PathBuf) {
    let backing = dir.join(name);
    std::fs::write(&backing, vec![0xCC; 32 * MIB as usize]).unwrap();
    (LoopDevice::new(&backing), backing)
}

fn parse(bmap: &Path) -> Bmap {
    Bmap::from_file(bmap).unwrap()
}

#[test]
fn three_drives_one_failing_mid_write_the_others_written_and_verified() {
    let dir = scratch();
    let (gz, bmap, bytes) = image(dir.path());
    let (first, first_file) = drive(dir.path(), "first.img");
    let (third, third_file) = drive(dir.path(), "third.img");
    let failing = FaultyDisk::new(32 * MIB);
    // Worn out after the wipe of its ends (2 MiB) and 6 MiB of the image.
    failing.set(Faults {
        fail_writes_after: Some(8 * MIB),
        ..Faults::default()
    });
    let bad = failing.device().to_str().unwrap().to_owned();
    let run = blockprint([
        "copy",
        "--verify-readback",
        "--bmap",
        bmap.to_str().unwrap(),
        gz.to_str().unwrap(),
        first.name(),
        &bad,
        third.name(),
    ]);
    let line = run.fails_with(&[&format!("1 of 3 destinations failed: '{bad}'")]);
    assert!(line.contains("rewrite them before use"), "{line}");
    for part in [
        format!("'{bad}' failed, the others go on: cannot write '{bad}' at offset"),
        format!("'{}': wrote 20.0 MiB in", first.name()),
        format!("'{}': wrote 20.0 MiB in", third.name()),
        "2 of 2 ranges verified, all read back and compared".to_owned(),
    ] {
        assert!(
            run.stderr.contains(&part),
            "{part:?} not in:\n{}",
            run.stderr
        );
    }
    let before = vec![0xCC; 32 * MIB as usize];
    let bmap = parse(&bmap);
    for written in [&first_file, &third_file] {
        assert_written(&std::fs::read(written).unwrap(), &before, &bytes, &bmap);
    }
    assert!(
        failing.contents(0, MIB as usize).iter().all(|&b| b == 0),
        "the failing drive's first MiB was written"
    );
}

#[test]
fn a_hung_drive_is_given_up_and_the_others_finish() {
    let dir = scratch();
    let (gz, bmap, bytes) = image(dir.path());
    let (first, first_file) = drive(dir.path(), "first.img");
    let (second, second_file) = drive(dir.path(), "second.img");
    let hung = FaultyDisk::new(32 * MIB);
    // Every write from 4 MiB on hangs until the test lifts it (the wipe of the drive's last
    // MiB is the first).
    hung.set(Faults {
        stall_writes_from: Some((4 * MIB, Duration::from_secs(120))),
        ..Faults::default()
    });
    let bad = hung.device().to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .args(["copy", "--timeout", "2", "--bmap"])
        .args([&bmap, &gz])
        .args([first.name(), &bad, second.name()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("destinations failed"))
    {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no summary within 60 s; so far:\n{}", seen.join("\n")));
        seen.push(line);
    }
    // The hung drive answers again; the kernel returns the threads it held, and the process
    // ends.
    hung.set(Faults::default());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let all = seen.join("\n");
    for part in [
        format!("'{bad}' failed, the others go on: '{bad}' stopped responding: a write at offset"),
        format!("'{}': wrote 20.0 MiB in", first.name()),
        format!("'{}': wrote 20.0 MiB in", second.name()),
        format!("1 of 3 destinations failed: '{bad}'"),
    ] {
        assert!(all.contains(&part), "{part:?} not in:\n{all}");
    }
    let before = vec![0xCC; 32 * MIB as usize];
    let bmap = parse(&bmap);
    for written in [&first_file, &second_file] {
        assert_written(&std::fs::read(written).unwrap(), &before, &bytes, &bmap);
    }
    assert!(hung.contents(0, MIB as usize).iter().all(|&b| b == 0));
}

#[test]
fn the_library_tags_each_targets_events_and_reports_each_result() {
    let dir = scratch();
    let (gz, bmap_path, bytes) = image(dir.path());
    let bmap = parse(&bmap_path);
    // The middle target is a file on a 4 MiB tmpfs: it runs out of room part-way.
    let small = Mounted::new(
        &["-t", "tmpfs", "-o", "size=4m", "blockprint-fanout"],
        &dir.path().join("small"),
    );
    let paths = [
        dir.path().join("a.img"),
        small.path.join("b.img"),
        dir.path().join("c.img"),
    ];
    let targets: Vec<Target> = paths
        .iter()
        .map(|p| Target::open(p, &TargetOptions::default()).unwrap())
        .collect();
    let opened = Opener::new().open(&Input::Path(gz)).unwrap();
    let mut source = opened.source;
    let mut events = Vec::new();
    // Which targets were still open when announced as done (none may be: the app powers a
    // drive off then).
    let mut open_when_done = Vec::new();
    let mut sink = |event: &Event| {
        if let Event::Target {
            index,
            event: TargetEvent::Done(_),
        } = event
            && holds_open(&paths[*index])
        {
            open_when_done.push(*index);
        }
        events.push(event.clone());
        ControlFlow::Continue(())
    };
    let results = copy_to_all(
        &mut *source,
        Some(&bmap),
        targets,
        &CopyOptions::default(),
        &mut sink,
        &CancelToken::new(),
    );
    assert_eq!(results.len(), 3);
    for index in [0, 2] {
        let report = results[index].as_ref().expect("written");
        assert_eq!((report.mapped_bytes, report.ranges_verified), (20 * MIB, 2));
        assert_eq!(std::fs::read(&paths[index]).unwrap(), bytes);
    }
    match results[1].as_ref().map_err(|e| &**e) {
        Err(CopyError::Target(TargetError::Io { path, .. })) => assert_eq!(path, &paths[1]),
        other => panic!("expected the tmpfs target to run out of room, got {other:?}"),
    }
    assert!(!paths[1].exists(), "the failed file target was left behind");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Target { index: 1, event: TargetEvent::Failed(error) }
            if error.to_string().contains("b.img")
    )));
    // In the order the targets finished.
    let mut done: Vec<(usize, &CopyReport)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Target {
                index,
                event: TargetEvent::Done(report),
            } => Some((*index, report)),
            _ => None,
        })
        .collect();
    done.sort_by_key(|(index, _)| *index);
    let expected: Vec<(usize, &CopyReport)> = [0, 2]
        .into_iter()
        .map(|i| (i, results[i].as_ref().unwrap()))
        .collect();
    assert_eq!(
        done, expected,
        "each written target is announced once, with its report"
    );
    assert_eq!(
        open_when_done,
        Vec::<usize>::new(),
        "announced done while still open"
    );
    for index in [0, 2] {
        let finished_writing = events.iter().any(|e| {
            matches!(e, Event::Target {
                index: i,
                event: TargetEvent::Progress { phase: Phase::Writing, done_bytes },
            } if *i == index && *done_bytes == 20 * MIB)
        });
        assert!(finished_writing, "no tagged progress for target {index}");
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::PhaseStarted { .. } | Event::Progress { .. })),
        "an untagged target event"
    );
}

#[test]
fn one_target_is_tagged_too_and_a_failure_of_the_image_is_every_targets_result() {
    let dir = scratch();
    let (_, bmap_path, mut bytes) = image(dir.path());
    let bmap = parse(&bmap_path);
    let copy = |image: &Path, count: usize| {
        let targets = (0..count)
            .map(|i| dir.path().join(format!("out{i}.img")))
            .map(|p| Target::open(&p, &TargetOptions::default()).unwrap())
            .collect();
        let mut source = Opener::new()
            .open(&Input::Path(image.to_path_buf()))
            .unwrap()
            .source;
        let mut events = Vec::new();
        let mut sink = |event: &Event| {
            events.push(event.clone());
            ControlFlow::Continue(())
        };
        let options = CopyOptions::default();
        let results = copy_to_all(
            &mut *source,
            Some(&bmap),
            targets,
            &options,
            &mut sink,
            &CancelToken::new(),
        );
        (results, events)
    };
    let raw = dir.path().join("image.img");
    let (results, events) = copy(&raw, 1);
    assert!(matches!(&results[..], [Ok(report)] if report.mapped_bytes == 20 * MIB));
    assert!(matches!(
        events.last(),
        Some(Event::Target {
            index: 0,
            event: TargetEvent::Done(_)
        })
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::PhaseStarted { .. } | Event::Progress { .. })),
        "an untagged target event"
    );
    // Changed after its bmap was made: the second range no longer matches.
    bytes[(20 * MIB) as usize] ^= 1;
    std::fs::write(&raw, &bytes).unwrap();
    let (results, events) = copy(&raw, 2);
    assert_eq!(results.len(), 2);
    for result in &results {
        let error = result.as_ref().map_err(|e| &**e);
        assert!(
            matches!(error, Err(CopyError::Checksum { .. })),
            "{result:?}"
        );
    }
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Target {
                event: TargetEvent::Done(_) | TargetEvent::Failed(_),
                ..
            }
        )),
        "the image's failure is announced as a target's own"
    );
}

#[test]
fn one_destination_given_twice_is_refused() {
    let dir = scratch();
    let image = dir.path().join("small.img");
    std::fs::write(&image, random_bytes(12, 8192)).unwrap();
    let out = dir.path().join("out.img");
    let again = dir.path().join(".").join("out.img");
    blockprint([
        "copy",
        "--nobmap",
        image.to_str().unwrap(),
        out.to_str().unwrap(),
        again.to_str().unwrap(),
    ])
    .fails_with(&["are the same destination; give each drive once"]);
    assert!(!out.exists());
}

/// Whether this process has `path` open (its descriptors, as /proc lists them).
fn holds_open(path: &Path) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target == path)
}
