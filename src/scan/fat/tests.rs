//! FAT images made by mkfs.vfat and filled by mcopy, scanned, flashed onto garbage and checked
//! by fsck.fat, by mtools readback against the original, and against two oracles: partclone
//! (FAT16/32 only: Debian's 0.3.23 reads FAT12 entries as 16 bits) and mtools' own FAT
//! decoder through `mshowfat`, which lists every file's and directory's clusters (all widths,
//! FAT12 included). Also the shared helpers of the exFAT and swap tests.

use std::path::{Path, PathBuf};

use super::bpb::Kind;
use super::table::entry;
use crate::scan::testing::{
    assert_subset, bmaptool_mapped, garbled, partclone_free, ranges, run, scan_file, source_tree,
    try_run,
};
use crate::scan::{Ranges, ScanReport, Verdict};

mod refusal;

/// A fresh directory for one test's files.
pub(in crate::scan) fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("blockprint-scan-")
        .tempdir()
        .expect("tempdir")
}

/// The one finding of a bare-filesystem image: its verdict.
#[track_caller]
pub(in crate::scan) fn only_verdict(report: &ScanReport) -> &Verdict {
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    &report.findings[0].verdict
}

/// Asserts the scan understood the image as `fs` and left something out; prints the notes.
#[track_caller]
pub(in crate::scan) fn assert_free(report: &ScanReport, fs: &str) {
    match only_verdict(report) {
        Verdict::Free {
            fs: found, notes, ..
        } => {
            assert_eq!(found, fs, "{report:#?}");
            let mapped = report.image_size - report.free.total();
            eprintln!(
                "{fs}: {:.1}% mapped ({} of {} bytes); {}",
                mapped as f64 * 100.0 / report.image_size as f64,
                mapped,
                report.image_size,
                notes.join("; ")
            );
            assert!(report.free.total() > 0, "nothing free: {report:#?}");
        }
        other => panic!("expected {fs} with free space, got {other:?}"),
    }
}

/// Asserts the scan mapped the image whole, for a reason that contains `why`.
#[track_caller]
pub(in crate::scan) fn assert_whole(report: &ScanReport, why: &str) {
    match only_verdict(report) {
        Verdict::MapWhole { reason, .. } => {
            assert!(
                reason.contains(why),
                "reason {reason:?} does not mention {why:?}"
            );
            assert_eq!(report.free.total(), 0);
        }
        other => panic!("expected the region mapped whole ({why}), got {other:?}"),
    }
}

/// Compares two directory trees: the same names, the same kinds, the same bytes. Returns
/// the number of files.
pub(in crate::scan) fn same_tree(a: &Path, b: &Path) -> Result<usize, String> {
    let mut files = 0;
    let mut names_a: Vec<_> = std::fs::read_dir(a)
        .map_err(|e| format!("{}: {e}", a.display()))?
        .map(|e| e.expect("entry").file_name())
        .collect();
    let mut names_b: Vec<_> = std::fs::read_dir(b)
        .map_err(|e| format!("{}: {e}", b.display()))?
        .map(|e| e.expect("entry").file_name())
        .collect();
    names_a.sort();
    names_b.sort();
    if names_a != names_b {
        return Err(format!(
            "{} holds {names_a:?}, {} holds {names_b:?}",
            a.display(),
            b.display()
        ));
    }
    for name in names_a {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa).expect("meta"),
            std::fs::symlink_metadata(&pb).expect("meta"),
        );
        if ma.is_dir() != mb.is_dir() {
            return Err(format!(
                "{} and {} differ in kind",
                pa.display(),
                pb.display()
            ));
        }
        if ma.is_dir() {
            files += same_tree(&pa, &pb)?;
        } else {
            if std::fs::read(&pa).expect("read") != std::fs::read(&pb).expect("read") {
                return Err(format!("{} and {} differ", pa.display(), pb.display()));
            }
            files += 1;
        }
    }
    Ok(files)
}

/// A field of `minfo` output ("sector size: 512 bytes" → 512).
fn minfo_field(text: &str, key: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("minfo has no {key:?}:\n{text}"));
    let value = line[line.find(key).expect("key") + key.len()..]
        .trim_start_matches([':', '=', ' '])
        .split_whitespace()
        .next()
        .expect("value");
    value
        .parse()
        .unwrap_or_else(|_| panic!("bad {key} in {line:?}"))
}

/// The second oracle: mtools' view of the used bytes. `mdir -/` lists every file and
/// directory, `mshowfat` gives each one's clusters through mtools' own FAT code, and `minfo`
/// gives the geometry. Everything before the data region counts as used.
pub(in crate::scan) fn mtools_used(image: &Path) -> Ranges {
    let img = image.to_str().expect("utf-8 path");
    let info = run("minfo", &["-i", img]);
    let sector = minfo_field(&info, "sector size");
    let cluster = minfo_field(&info, "cluster size") * sector;
    let mut fat_len = minfo_field(&info, "sectors per fat");
    if fat_len == 0 {
        fat_len = minfo_field(&info, "Big fatlen");
    }
    let root_sectors =
        (minfo_field(&info, "max available root directory slots") * 32).div_ceil(sector);
    let data = (minfo_field(&info, "reserved (boot) sectors")
        + minfo_field(&info, "fats") * fat_len
        + root_sectors)
        * sector;
    let listing = run("mdir", &["-/", "-b", "-i", img, "::/"]);
    let mut args = vec!["-i", img, "::/"];
    args.extend(
        listing
            .lines()
            .map(|l| l.trim_end_matches('/'))
            .filter(|l| !l.is_empty()),
    );
    let shown = run("mshowfat", &args);
    let mut used = vec![(0, data)];
    for token in shown.split_whitespace().filter(|t| t.starts_with('<')) {
        let inner = token.trim_start_matches('<').trim_end_matches('>');
        let (a, b) = inner.split_once('-').unwrap_or((inner, inner));
        let (a, b): (u64, u64) = (a.parse().expect("cluster"), b.parse().expect("cluster"));
        used.push((data + (a - 2) * cluster, data + (b - 1) * cluster));
    }
    assert!(used.len() > 2, "mshowfat listed too little:\n{shown}");
    ranges(&used)
}

/// A FAT image: `mkfs.vfat -C ARGS IMG KIB`, then `mcopy -s` of every entry of `src`.
pub(in crate::scan) fn make_fat(
    dir: &Path,
    name: &str,
    args: &[&str],
    kib: u64,
    src: &Path,
) -> PathBuf {
    let img = dir.join(name);
    let img_s = img.to_str().expect("utf-8 path").to_owned();
    let size = kib.to_string();
    let mut mkfs = vec!["-C"];
    mkfs.extend_from_slice(args);
    mkfs.extend([img_s.as_str(), size.as_str()]);
    run("mkfs.vfat", &mkfs);
    let mut entries: Vec<String> = std::fs::read_dir(src)
        .expect("source")
        .map(|e| e.expect("entry").path().to_str().expect("utf-8").to_owned())
        .collect();
    entries.sort();
    let mut copy = vec!["-s", "-Q", "-i", img_s.as_str()];
    copy.extend(entries.iter().map(String::as_str));
    copy.push("::/");
    run("mcopy", &copy);
    img
}

/// `mcopy -s` of the whole filesystem into a new directory.
fn read_back(image: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).expect("out dir");
    run(
        "mcopy",
        &[
            "-s",
            "-Q",
            "-n",
            "-i",
            image.to_str().expect("utf-8"),
            "::/",
            out.to_str().expect("utf-8"),
        ],
    );
    out.to_path_buf()
}

/// fsck.fat -n, with the image's name taken out of the output.
fn fsck(image: &Path) -> (bool, String) {
    let path = image.to_str().expect("utf-8");
    let (ok, text) = try_run("fsck.vfat", &["-n", path]);
    (ok, text.replace(path, "IMAGE"))
}

/// The whole check on one image: scan it, write random bytes over every block the scan calls
/// free, then fsck and compare every file (see `crate::scan::testing`).
fn flash_and_check(dir: &Path, img: &Path, src: &Path, fs: &str) -> ScanReport {
    let report = scan_file(img);
    assert_free(&report, fs);

    let (ok, original_fsck) = fsck(img);
    assert!(ok, "the original image is not clean:\n{original_fsck}");
    let target = garbled(img, &report.free, &dir.join("garbled.img"));
    let (ok, target_fsck) = fsck(&target);
    assert!(ok, "fsck.fat -n fails on the flashed copy:\n{target_fsck}");
    assert_eq!(
        original_fsck, target_fsck,
        "fsck.fat sees the flashed copy differently"
    );

    let original = read_back(img, &dir.join("from-image"));
    let flashed = read_back(&target, &dir.join("from-flashed"));
    let files = same_tree(&original, &flashed).unwrap_or_else(|e| panic!("readback differs: {e}"));
    same_tree(src, &original).unwrap_or_else(|e| panic!("the image does not hold the source: {e}"));
    assert!(files > 300, "only {files} files read back");

    let used = mtools_used(img);
    let overlap = report.free.subtract(&used.complement(report.image_size));
    assert!(
        overlap.as_slice().is_empty(),
        "the scan calls {} bytes free that mshowfat says are used: {:?}",
        overlap.total(),
        &overlap.as_slice()[..overlap.as_slice().len().min(8)]
    );
    let size = report.image_size;
    let share = |free: u64| 100.0 * (size - free) as f64 / size as f64;
    let partclone = if fs == "FAT12" {
        "-".to_owned()
    } else {
        let free = partclone_free("partclone.fat", img).expect("partclone.fat");
        assert_subset(&report.free, &free, "partclone.fat");
        format!("{:.1}%", share(free.total()))
    };
    eprintln!(
        "{fs} {} MiB: {:.1}% mapped (mtools: {:.1}%, partclone: {partclone}, bmaptool create: {:.1}%)",
        size >> 20,
        share(report.free.total()),
        share(size - used.total()),
        bmaptool_mapped(img)
    );
    report
}

fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    source_tree(&src, false);
    src
}

#[test]
fn fat12_16_mib() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(dir.path(), "fat12.img", &["-F", "12"], 16 * 1024, &src);
    flash_and_check(dir.path(), &img, &src, "FAT12");
}

/// 512-byte clusters near FAT12's 4084-cluster limit: entries at every odd and even
/// position of the 12-bit packing, in long chains.
#[test]
fn fat12_small_clusters() {
    let dir = workdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("etc")).expect("dir");
    for i in 0..40u64 {
        let len = 100 + (i as usize * 2903) % 40_000;
        std::fs::write(
            src.join(format!("etc/f{i}.bin")),
            crate::scan::testing::noise(i, len),
        )
        .expect("write");
    }
    let img = make_fat(
        dir.path(),
        "fat12s.img",
        &["-F", "12", "-s", "1"],
        2040,
        &src,
    );
    let report = scan_file(&img);
    assert_free(&report, "FAT12");
    let target = garbled(&img, &report.free, &dir.path().join("garbled.img"));
    let (ok, text) = fsck(&target);
    assert!(ok, "{text}");
    let original = read_back(&img, &dir.path().join("a"));
    same_tree(&original, &read_back(&target, &dir.path().join("b"))).expect("readback");
    same_tree(&src, &original).expect("source");
    let overlap = report
        .free
        .subtract(&mtools_used(&img).complement(report.image_size));
    assert!(overlap.as_slice().is_empty(), "{overlap:?}");
}

#[test]
fn fat16_128_mib() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(dir.path(), "fat16.img", &["-F", "16"], 128 * 1024, &src);
    flash_and_check(dir.path(), &img, &src, "FAT16");
}

#[test]
fn fat16_4k_sectors() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(
        dir.path(),
        "fat16s.img",
        &["-F", "16", "-S", "4096"],
        128 * 1024,
        &src,
    );
    flash_and_check(dir.path(), &img, &src, "FAT16");
}

#[test]
fn fat32_256_mib() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(dir.path(), "fat32.img", &["-F", "32"], 256 * 1024, &src);
    flash_and_check(dir.path(), &img, &src, "FAT32");
}

#[test]
fn fat32_1_gib_4k_clusters() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(
        dir.path(),
        "fat32.img",
        &["-F", "32", "-s", "8"],
        1024 * 1024,
        &src,
    );
    flash_and_check(dir.path(), &img, &src, "FAT32");
}

/// Raspberry Pi OS's bootfs: `mkdosfs -F 32 -s 1`, 512 MiB, 512-byte clusters.
#[test]
fn fat32_raspberry_pi_bootfs() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(
        dir.path(),
        "bootfs.img",
        &["-F", "32", "-s", "1", "-n", "bootfs"],
        512 * 1024,
        &src,
    );
    flash_and_check(dir.path(), &img, &src, "FAT32");
}

/// Reads and writes little-endian integers in an image file.
pub(in crate::scan) fn patch(image: &Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .expect("open");
    file.write_all_at(bytes, at).expect("patch");
}

pub(in crate::scan) fn peek(image: &Path, at: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len];
    std::fs::File::open(image)
        .expect("open")
        .read_exact_at(&mut buf, at)
        .expect("peek");
    buf
}
