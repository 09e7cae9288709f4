//! FAT images made by mkfs.vfat and filled by mcopy, scanned, flashed onto garbage and checked
//! by fsck.fat, by mtools readback against the original, and against two oracles: partclone
//! (FAT16/32 only: Debian's 0.3.23 reads FAT12 entries as 16 bits) and mtools' own FAT
//! decoder through `mshowfat`, which lists every file's and directory's clusters (all widths,
//! FAT12 included). Also the shared helpers of the exFAT and swap tests.

use std::path::{Path, PathBuf};

use super::bpb::Kind;
use super::table::entry;
use crate::scan::testing::{assert_subset, garbled, ranges, run, scan_file, source_tree, try_run};
use crate::scan::{Ranges, ScanReport, Verdict};

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

/// The free byte ranges of a partclone domain log (`-D`): every range not marked `+`.
pub(in crate::scan) fn partclone_free(tool: &str, image: &Path, dir: &Path) -> Ranges {
    let log = dir.join(format!("{tool}.dom"));
    let image = image.to_str().expect("utf-8 path");
    run(
        tool,
        &[
            "-q",
            "-D",
            "-s",
            image,
            "-O",
            log.to_str().expect("utf-8 path"),
        ],
    );
    let text = std::fs::read_to_string(&log).expect("domain log");
    let mut free = Vec::new();
    let mut data = text.lines().filter(|l| !l.starts_with('#'));
    data.next(); // current position and status
    for line in data {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [pos, size, status] = fields.as_slice() else {
            panic!("unexpected domain log line {line:?}");
        };
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
        if *status != "+" {
            free.push((hex(pos), hex(pos) + hex(size)));
        }
    }
    ranges(&free)
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

/// The whole check of fs-scan.md §4 on one image.
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
    if fs != "FAT12" {
        assert_subset(
            &report.free,
            &partclone_free("partclone.fat", img, dir),
            "partclone.fat",
        );
    }
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

/// The geometry of an image, through the parser (for fixtures that patch FAT entries).
fn geometry(image: &Path) -> super::bpb::Geometry {
    let boot: [u8; 512] = peek(image, 0, 512).try_into().expect("512");
    super::bpb::parse(&boot, std::fs::metadata(image).expect("meta").len()).expect("geometry")
}

/// Writes FAT entry `n` in every copy (FAT16/32 only).
fn set_entry(image: &Path, g: &super::bpb::Geometry, n: u64, value: u32, copies: &[u64]) {
    for &copy in copies {
        match g.kind {
            Kind::Fat16 => patch(
                image,
                g.fat_start(copy) + 2 * n,
                &(value as u16).to_le_bytes(),
            ),
            Kind::Fat32 => patch(image, g.fat_start(copy) + 4 * n, &value.to_le_bytes()),
            Kind::Fat12 => unreachable!("FAT12 fixtures are not patched"),
        }
    }
}

fn get_entry(image: &Path, g: &super::bpb::Geometry, n: u64, copy: u64) -> u32 {
    match g.kind {
        Kind::Fat16 => u32::from(u16::from_le_bytes(
            peek(image, g.fat_start(copy) + 2 * n, 2)
                .try_into()
                .expect("2"),
        )),
        Kind::Fat32 => u32::from_le_bytes(
            peek(image, g.fat_start(copy) + 4 * n, 4)
                .try_into()
                .expect("4"),
        ),
        Kind::Fat12 => unreachable!("FAT12 fixtures are not patched"),
    }
}

/// The clusters mshowfat gives for one path.
fn clusters_of(image: &Path, path: &str) -> Vec<u64> {
    let shown = run("mshowfat", &["-i", image.to_str().expect("utf-8"), path]);
    let mut out = Vec::new();
    for token in shown.split_whitespace().filter(|t| t.starts_with('<')) {
        let inner = token.trim_start_matches('<').trim_end_matches('>');
        let (a, b) = inner.split_once('-').unwrap_or((inner, inner));
        out.extend(a.parse::<u64>().expect("n")..=b.parse::<u64>().expect("n"));
    }
    out
}

/// A small populated image to patch.
fn small(dir: &Path, fat: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).expect("dir");
    std::fs::write(
        src.join("sub/file.bin"),
        crate::scan::testing::noise(3, 50_000),
    )
    .expect("file");
    std::fs::write(src.join("top.txt"), b"top\n").expect("file");
    let kib = if fat == "32" { 64 * 1024 } else { 16 * 1024 };
    make_fat(
        dir,
        &format!("fat{fat}.img"),
        &["-F", fat, "-s", "1"],
        kib,
        &src,
    )
}

#[test]
fn dirty_fat16_and_fat32_are_mapped_whole() {
    let dir = workdir();
    for (fat, bit) in [("16", 0x8000u32), ("32", 0x0800_0000)] {
        let img = small(dir.path(), fat);
        let g = geometry(&img);
        assert_free(&scan_file(&img), &format!("FAT{fat}"));
        let fat1 = get_entry(&img, &g, 1, 0);
        set_entry(&img, &g, 1, fat1 & !bit, &[0, 1]);
        assert_whole(&scan_file(&img), "not cleanly unmounted");
        // The hard-error flag next to it.
        set_entry(&img, &g, 1, fat1 & !(bit >> 1), &[0, 1]);
        assert_whole(&scan_file(&img), "disk errors");
        // Only in the second copy is enough.
        set_entry(&img, &g, 1, fat1, &[0]);
        set_entry(&img, &g, 1, fat1 & !bit, &[1]);
        assert_whole(&scan_file(&img), "not cleanly unmounted");
        set_entry(&img, &g, 1, fat1, &[0, 1]);
        assert_free(&scan_file(&img), &format!("FAT{fat}"));
        // Linux's flag in the boot sector.
        let state = if fat == "32" { 0x41 } else { 0x25 };
        patch(&img, state, &[1]);
        assert_whole(&scan_file(&img), "not cleanly unmounted");
    }
}

#[test]
fn a_chain_through_a_free_cluster_is_refused() {
    let dir = workdir();
    let img = small(dir.path(), "16");
    let g = geometry(&img);
    let chain = clusters_of(&img, "::/sub/file.bin");
    assert!(chain.len() > 10, "{chain:?}");
    // The middle of the file's chain marked free in both FATs.
    set_entry(&img, &g, chain[5], 0, &[0, 1]);
    assert_whole(&scan_file(&img), "points at a free cluster");
}

#[test]
fn a_chain_free_in_one_copy_only_is_refused() {
    let dir = workdir();
    let img = small(dir.path(), "32");
    let g = geometry(&img);
    let chain = clusters_of(&img, "::/sub/file.bin");
    set_entry(&img, &g, *chain.last().expect("cluster"), 0, &[1]);
    // Mirrored FATs that differ are refused before the walk.
    assert_whole(&scan_file(&img), "FAT copies differ");
    // With mirroring off (BPB_ExtFlags bit 7, active copy 0), the walk of copy 2 finds it.
    patch(&img, 40, &[0x80, 0]);
    patch(&img, 6 * 512 + 40, &[0x80, 0]);
    assert_whole(&scan_file(&img), "points at a free cluster");
}

#[test]
fn loops_and_cross_links_are_refused() {
    let dir = workdir();
    let img = small(dir.path(), "16");
    let g = geometry(&img);
    let chain = clusters_of(&img, "::/sub/file.bin");
    let last = *chain.last().expect("cluster");
    set_entry(&img, &g, last, chain[0] as u32, &[0, 1]);
    assert_whole(&scan_file(&img), "reached twice");
    // A cross-link: the file's last cluster continues into the directory's.
    let sub = clusters_of(&img, "::/sub")[0];
    set_entry(&img, &g, last, sub as u32, &[0, 1]);
    assert_whole(&scan_file(&img), "reached twice");
    // A bad cluster inside a chain.
    set_entry(&img, &g, last, 0xFFF7, &[0, 1]);
    assert_whole(&scan_file(&img), "bad cluster");
}

/// FAT32 with mirroring off, the second copy stale: a cluster allocated only there (a
/// leftover of an old file, say) is not free in every copy, so it stays mapped.
#[test]
fn fat32_mirroring_off() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_fat(dir.path(), "fat32.img", &["-F", "32"], 256 * 1024, &src);
    patch(&img, 40, &[0x80, 0]);
    patch(&img, 6 * 512 + 40, &[0x80, 0]);
    let g = geometry(&img);
    assert!(!g.mirrored);
    let stale: Vec<u64> = (100_000..100_064).collect();
    for &n in &stale {
        assert_eq!(get_entry(&img, &g, n, 0), 0);
        set_entry(&img, &g, n, 0x0FFF_FFFF, &[1]);
    }
    let report = scan_file(&img);
    assert_free(&report, "FAT32");
    let stale_bytes = ranges(&[(g.cluster_offset(100_000), g.cluster_offset(100_064))]);
    assert!(
        report.free.subtract(&stale_bytes).total() == report.free.total(),
        "clusters allocated in the second FAT only were called free"
    );
    // Readback and oracles (fsck.fat compares the copies and reports the difference, on the
    // original as on the copy: compare the two).
    let target = garbled(&img, &report.free, &dir.path().join("garbled.img"));
    assert_eq!(fsck(&img).1, fsck(&target).1);
    let original = read_back(&img, &dir.path().join("a"));
    same_tree(&original, &read_back(&target, &dir.path().join("b"))).expect("readback");
    assert_subset(
        &report.free,
        &partclone_free("partclone.fat", &img, dir.path()),
        "partclone.fat",
    );
}

/// The checks above must catch a used cluster called free.
#[test]
fn negative_control_a_used_cluster_garbled_is_caught() {
    let dir = workdir();
    let img = small(dir.path(), "16");
    let g = geometry(&img);
    let report = scan_file(&img);
    assert_free(&report, "FAT16");
    let cluster = clusters_of(&img, "::/sub/file.bin")[3];
    let mut free = report.free.clone();
    free.add(
        g.cluster_offset(cluster as u32) & !4095,
        (g.cluster_offset(cluster as u32) & !4095) + 4096,
    );
    free.normalize();
    let target = garbled(&img, &free, &dir.path().join("garbled.img"));
    let original = read_back(&img, &dir.path().join("a"));
    let flashed = read_back(&target, &dir.path().join("b"));
    assert!(
        same_tree(&original, &flashed).is_err(),
        "a garbled file block went unnoticed"
    );
    let outside = free.subtract(&mtools_used(&img).complement(report.image_size));
    assert!(
        !outside.as_slice().is_empty(),
        "the mtools oracle missed a used block"
    );
}

#[test]
fn inconsistent_bpbs_are_refused() {
    let dir = workdir();
    let img = small(dir.path(), "16");
    let fresh = peek(&img, 0, 512);
    // A FAT too small for the clusters.
    let fat_size = u16::from_le_bytes([fresh[22], fresh[23]]);
    patch(&img, 22, &(fat_size / 2).to_le_bytes());
    assert_whole(&scan_file(&img), "too small");
    patch(&img, 0, &fresh);
    // No sectors.
    patch(&img, 19, &[0, 0]);
    patch(&img, 32, &[0, 0, 0, 0]);
    assert_whole(&scan_file(&img), "0 total sectors");
    patch(&img, 0, &fresh);
    // No reserved sectors.
    patch(&img, 14, &[0, 0]);
    assert_whole(&scan_file(&img), "reserved");
    patch(&img, 0, &fresh);
    // A filesystem larger than its region.
    let len = std::fs::metadata(&img).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open")
        .set_len(len - 4096)
        .expect("truncate");
    assert_whole(&scan_file(&img), "larger than its region");
}

/// FAT12's packing: two 12-bit entries in three bytes, the odd one in the high nibbles.
#[test]
fn fat12_entries_unpack() {
    let values = [
        0xFF8u32, 0xFFF, 0x003, 0x004, 0xABC, 0x123, 0x000, 0xFF7, 0x801,
    ];
    let mut fat = vec![0u8; values.len() * 3 / 2 + 2];
    for (n, &v) in values.iter().enumerate() {
        let at = n * 3 / 2;
        if n % 2 == 0 {
            fat[at] = v as u8;
            fat[at + 1] = (fat[at + 1] & 0xF0) | (v >> 8) as u8;
        } else {
            fat[at] = (fat[at] & 0x0F) | ((v & 0xF) << 4) as u8;
            fat[at + 1] = (v >> 4) as u8;
        }
    }
    assert_eq!(&fat[..6], &[0xF8, 0xFF, 0xFF, 0x03, 0x40, 0x00]);
    for (n, &v) in values.iter().enumerate() {
        assert_eq!(entry(Kind::Fat12, &fat, n), v, "entry {n}");
    }
    let fat32 = [0u8, 0, 0, 0xF0, 0xF7, 0xFF, 0xFF, 0x0F];
    assert_eq!(
        entry(Kind::Fat32, &fat32, 0),
        0,
        "the top 4 bits are not part of a FAT32 entry"
    );
    assert_eq!(entry(Kind::Fat32, &fat32, 1), 0x0FFF_FFF7);
}

/// What must not be taken for FAT: NTFS (a BPB with the OEM id "NTFS    "), exFAT, ext4.
#[test]
fn other_filesystems_are_not_fat() {
    let dir = workdir();
    // An NTFS boot sector as mkntfs writes it: 512-byte sectors, 8 per cluster, no FATs.
    let mut ntfs = vec![0u8; 1 << 20];
    ntfs[..11].copy_from_slice(b"\xEB\x52\x90NTFS    ");
    ntfs[11..14].copy_from_slice(&[0x00, 0x02, 0x08]);
    ntfs[21] = 0xF8;
    ntfs[36..40].copy_from_slice(&[0x80, 0x00, 0x80, 0x00]);
    ntfs[40..48].copy_from_slice(&2047u64.to_le_bytes());
    ntfs[510..512].copy_from_slice(&[0x55, 0xAA]);
    let path = dir.path().join("ntfs.img");
    std::fs::write(&path, &ntfs).expect("write");
    let boot: [u8; 512] = ntfs[..512].try_into().expect("512");
    assert!(!super::bpb::looks_like_fat(&boot));
    // Even with FAT fields, the OEM id says NTFS.
    let mut forged = boot;
    forged[16] = 2;
    forged[22] = 1;
    assert!(!super::bpb::looks_like_fat(&forged));
    assert_whole(&scan_file(&path), "no filesystem");

    let ext4 = dir.path().join("ext4.img");
    run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            ext4.to_str().expect("utf-8"),
            "8M",
        ],
    );
    let boot: [u8; 512] = peek(&ext4, 0, 512).try_into().expect("512");
    assert!(!super::bpb::looks_like_fat(&boot));

    let exfat = dir.path().join("exfat.img");
    std::fs::File::create(&exfat)
        .expect("create")
        .set_len(8 << 20)
        .expect("size");
    run("mkfs.exfat", &[exfat.to_str().expect("utf-8")]);
    let boot: [u8; 512] = peek(&exfat, 0, 512).try_into().expect("512");
    assert!(!super::bpb::looks_like_fat(&boot));
    assert_free(&scan_file(&exfat), "exFAT");
}

/// None of the FAT-family and swap parsers may claim another filesystem: NTFS in particular
/// has a BPB of its own. Each is made by its real mkfs.
#[test]
fn no_parser_here_claims_ext4_btrfs_xfs_or_ntfs() {
    let dir = workdir();
    let cases: [(&str, u64, &str, &[&str]); 5] = [
        ("ext4.img", 64, "mke2fs", &["-q", "-F", "-t", "ext4"]),
        (
            "ext4-1k.img",
            64,
            "mke2fs",
            &["-q", "-F", "-t", "ext4", "-b", "1024"],
        ),
        ("btrfs.img", 256, "mkfs.btrfs", &["-q", "-f"]),
        ("xfs.img", 320, "mkfs.xfs", &["-q", "-f"]),
        ("ntfs.img", 64, "mkntfs", &["-q", "-F", "-Q"]),
    ];
    for (name, mib, mkfs, args) in cases {
        let img = dir.path().join(name);
        std::fs::File::create(&img)
            .expect("create")
            .set_len(mib << 20)
            .expect("size");
        let mut all = args.to_vec();
        all.push(img.to_str().expect("utf-8"));
        run(mkfs, &all);
        let source = crate::source::LocalFile::open(&img).expect("open");
        for parser in [
            &super::PARSER,
            &crate::scan::exfat::PARSER,
            &crate::scan::swap::PARSER,
        ] {
            assert!(
                !(parser.detect)(&source),
                "the {} parser claims {name}",
                parser.name
            );
        }
    }
}
