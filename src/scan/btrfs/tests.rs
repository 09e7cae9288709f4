//! Tests of the btrfs scanner against real images: mkfs.btrfs variants and kernel-written
//! filesystems are scanned, flashed onto garbage (every free byte overwritten) and judged by
//! `btrfs check --check-data-csum`, a comparison of `btrfs restore` output, and the free sets
//! of btrfs-progs' tree dumps and partclone. Negative controls prove the judges can fail.

mod flash;
mod fuzz;
mod kernel;
mod oracle;
mod patch;
mod refusal;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oracle::Dump;

use super::level_a_free;
use crate::scan::testing::{assert_subset, run, scan_file, source_tree};
use crate::scan::{BLOCK, Ranges, ScanReport, Verdict};
use crate::source::LocalFile;

/// One line of the report.
struct Row {
    name: String,
    size: u64,
    level_a: f64,
    level_b: Option<f64>,
    oracle: f64,
    partclone: f64,
    bmaptool: f64,
    time: Duration,
}

fn sparse_file(path: &Path, size: u64) -> PathBuf {
    std::fs::File::create(path)
        .and_then(|f| f.set_len(size))
        .expect("image file");
    path.to_path_buf()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `mkfs.btrfs -r src` on a fresh sparse file of `size` bytes, with extra arguments.
fn mkfs_image(dir: &Path, src: &Path, size: u64, args: &[&str]) -> PathBuf {
    let img = sparse_file(&dir.join("fs.img"), size);
    let mut all = vec!["-q", "-f", "-r", path_str(src)];
    all.extend_from_slice(args);
    all.push(path_str(&img));
    run("mkfs.btrfs", &all);
    img
}

/// The free set and notes of a report holding one btrfs region, which must be `Free`.
fn free_of(report: &ScanReport) -> (Ranges, Vec<String>) {
    match report.findings.as_slice() {
        [one] => match &one.verdict {
            Verdict::Free { fs, notes, .. } => {
                assert_eq!(fs, "btrfs");
                (report.free.clone(), notes.clone())
            }
            other => panic!("expected free space, got {other:?}"),
        },
        other => panic!("expected one region, got {other:?}"),
    }
}

fn mapped(free: &Ranges, size: u64) -> f64 {
    100.0 * (1.0 - free.total() as f64 / size as f64)
}

fn level_a(img: &Path) -> Ranges {
    let file = LocalFile::open(img).expect("open");
    level_a_free(&file).expect("level A").round_inward(BLOCK)
}

/// Scans `img`, checks the result against the oracles and the flash test, and reports.
fn evaluate(name: &str, dir: &Path, img: &Path, src: Option<&Path>) -> Row {
    let started = Instant::now();
    let report = scan_file(img);
    let time = started.elapsed();
    let size = report.image_size;
    let (free, notes) = free_of(&report);
    let level_b = notes.iter().any(|n| n.starts_with("level B"));
    let a = level_a(img);
    assert_subset(
        &a,
        &free,
        &format!("{name}: level A within the final free set"),
    );
    let dump = Dump::read(img);
    assert_eq!(dump.log_root, 0, "{name}: the fixture has a log tree");
    assert!(level_b, "{name}: level B expected: {notes:?}");
    assert_subset(&free, &dump.free(), &format!("{name}: scan vs dump-tree"));
    assert_subset(
        &a,
        &dump.free_outside_chunks(),
        &format!("{name}: level A vs dump-tree -t dev"),
    );
    let partclone =
        crate::scan::testing::partclone_free("partclone.btrfs", img).expect("partclone.btrfs");
    let (grain, blind) = oracle::partclone_blind_spots(&dump);
    assert_subset(
        &free.round_inward(grain).subtract(&blind),
        &partclone,
        &format!("{name}: scan vs partclone"),
    );
    let (ok, text) = flash::check(img);
    assert!(ok, "{name}: the original image fails btrfs check:\n{text}");
    flash::restore(img, &dir.join("restored"));
    if let Some(src) = src {
        flash::compare(src, &dir.join("restored"))
            .unwrap_or_else(|e| panic!("{name}: image vs source: {e}"));
    }
    let result = flash::flash(img, &free, dir, "garbled");
    assert!(
        result.passed(),
        "{name}: the flashed image is damaged: check ok {}, difference {:?}\n{}",
        result.check_ok,
        result.difference,
        result.check_output
    );
    Row {
        name: name.into(),
        size,
        level_a: mapped(&a, size),
        level_b: Some(mapped(&free, size)),
        oracle: mapped(&dump.free(), size),
        partclone: mapped(&partclone, size),
        bmaptool: crate::scan::testing::bmaptool_mapped(img),
        time,
    }
}

/// A variant: its name and how to build it in `dir` from the source tree in `src`; `true`
/// when the image must hold exactly the source tree.
type Build = fn(&Path, &Path) -> (PathBuf, bool);

const VARIANTS: &[(&str, Build)] = &[
    ("1G -r (DUP metadata)", |d, s| {
        (mkfs_image(d, s, 1 << 30, &[]), true)
    }),
    ("4G -r", |d, s| (mkfs_image(d, s, 4 << 30, &[]), true)),
    ("1G -r --shrink", |d, s| {
        (mkfs_image(d, s, 1 << 30, &["--shrink"]), true)
    }),
    ("1G -r -M (mixed)", |d, s| {
        (mkfs_image(d, s, 1 << 30, &["-M"]), true)
    }),
    ("1G -r -m single -d single", |d, s| {
        (
            mkfs_image(d, s, 1 << 30, &["-m", "single", "-d", "single"]),
            true,
        )
    }),
    ("512M --csum xxhash", |d, s| {
        (mkfs_image(d, s, 512 << 20, &["--csum", "xxhash"]), true)
    }),
    ("512M --csum sha256", |d, s| {
        (mkfs_image(d, s, 512 << 20, &["--csum", "sha256"]), true)
    }),
    ("512M --csum blake2", |d, s| {
        (mkfs_image(d, s, 512 << 20, &["--csum", "blake2"]), true)
    }),
    ("512M -R quota", |d, s| {
        (mkfs_image(d, s, 512 << 20, &["-R", "quota"]), true)
    }),
    ("kernel 2G subvol+snapshot+zstd+deletes", |d, s| {
        (kernel::kernel_image(d, s), false)
    }),
];

/// Every variant passes the flash test and stays within the oracles; prints the report
/// (run with `--nocapture`).
#[test]
fn variants_survive_flashing_and_report() {
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(name, build)) = VARIANTS.get(i) else {
                        break;
                    };
                    let dir = tempfile::tempdir().expect("tempdir");
                    let src = dir.path().join("src");
                    source_tree(&src, true);
                    let (img, exact) = build(dir.path(), &src);
                    let row = evaluate(name, dir.path(), &img, exact.then_some(src.as_path()));
                    rows.lock().expect("rows").push((i, row));
                }
            });
        }
    });
    let mut rows = rows.into_inner().expect("rows");
    rows.sort_by_key(|(i, _)| *i);
    eprintln!(
        "\nbtrfs mapped % (100 - free %) | level A | level B | dump-tree oracle | partclone | bmaptool create | scan time"
    );
    for (_, r) in &rows {
        eprintln!(
            "{:<40} {:>5} MiB | {:>6.2} | {:>6} | {:>6.2} | {:>6.2} | {:>6.2} | {:>7.1} ms",
            r.name,
            r.size >> 20,
            r.level_a,
            r.level_b.map_or("-".into(), |b| format!("{b:.2}")),
            r.oracle,
            r.partclone,
            r.bmaptool,
            r.time.as_secs_f64() * 1e3
        );
    }
    assert_eq!(rows.len(), VARIANTS.len());
}

/// The negative controls: one used block wrongly called free (a file's data block, or both
/// copies of a file-tree node) must make the flash test fail, and the oracle must object.
#[test]
fn negative_controls_fail_the_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    source_tree(&src, true);
    let img = mkfs_image(dir.path(), &src, 1 << 30, &[]);
    let (free, _) = free_of(&scan_file(&img));
    let dump = Dump::read(&img);
    flash::restore(&img, &dir.path().join("restored"));
    let (data, _) = dump.largest_data_extent();
    let node = oracle::tree_root(&img, "FS_TREE");
    for (what, logical, len) in [
        ("a file data block", data, BLOCK),
        ("the file tree's root node", node, dump.nodesize),
    ] {
        let mut wrong = free.clone();
        for at in dump.physical(logical) {
            wrong.add(at, at + len);
        }
        wrong.normalize();
        let outside = wrong.subtract(&dump.free());
        assert!(
            !outside.as_slice().is_empty(),
            "{what}: the oracle does not notice"
        );
        let result = flash::flash(&img, &wrong, dir.path(), "wrong");
        assert!(
            !result.passed(),
            "{what} was garbled but every check passed"
        );
        eprintln!(
            "negative control, {what} at logical {logical}: btrfs check {}, files {}",
            if result.check_ok { "passed" } else { "failed" },
            result
                .difference
                .as_deref()
                .map_or("identical", |d| d.lines().next().unwrap_or(d))
        );
    }
}

/// A copy taken after an fsync has a log tree: the scan stays at level A, and that result
/// survives flashing: btrfs check says on the garbled copy what it says on the copy, the
/// restored files are identical, and mounting (which replays the log) gives the same files,
/// the fsynced one included.
#[test]
fn log_tree_falls_back_to_level_a() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let src = d.join("src");
    source_tree(&src, true);
    let (img, fsynced) = kernel::log_tree_image(d, &src);
    let dump = Dump::read(&img);
    assert_ne!(dump.log_root, 0, "the fixture has no log tree");
    let started = Instant::now();
    let report = scan_file(&img);
    let time = started.elapsed();
    let (free, notes) = free_of(&report);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("level A only") && n.contains("log tree")),
        "{notes:?}"
    );
    assert_eq!(free, level_a(&img));
    assert_subset(
        &free,
        &dump.free_outside_chunks(),
        "log image vs dump-tree -t dev",
    );
    let (copy_ok, copy_text) = flash::check(&img);
    flash::restore(&img, &d.join("restored"));
    let result = flash::flash(&img, &free, d, "garbled");
    assert_eq!(
        result.check_ok, copy_ok,
        "btrfs check differs:\n{copy_text}\n---\n{}",
        result.check_output
    );
    assert_eq!(result.difference, None);
    let garbled = crate::scan::testing::garbled(&img, &free, &d.join("garbled-mount.img"));
    kernel::mounted_copy(&img, &d.join("mnt"), &d.join("replayed"));
    kernel::mounted_copy(&garbled, &d.join("mnt"), &d.join("replayed-garbled"));
    flash::compare(&d.join("replayed"), &d.join("replayed-garbled")).expect("replayed files");
    let back = std::fs::read(d.join("replayed-garbled/fsynced.bin")).expect("fsynced file");
    assert!(back == fsynced, "the fsynced file did not survive");
    eprintln!(
        "log tree image: level A maps {:.2} % (scan {:.1} ms); btrfs check on the copy: {}",
        mapped(&free, report.image_size),
        time.as_secs_f64() * 1e3,
        if copy_ok {
            "clean"
        } else {
            "complains (same on the garbled copy)"
        }
    );
}
