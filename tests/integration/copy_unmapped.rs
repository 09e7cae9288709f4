//! `copy` without a bmap, proven the way the scanner is: two disk images that hold every
//! filesystem the scanner reads are written raw, gzip'd, xz'd (one block and many) and zstd'd
//! onto loop devices full of random bytes, as onto a used SD card. The raw and the many-block
//! xz forms are scanned first and write what the scanner maps; the others, as they pass. Then every filesystem must
//! pass its own fsck (ext also from each backup superblock), every file must read back
//! identical to the tree it was made from, the tables and the bootloader gaps must be as in the
//! image, and what was written (the saved bmap) must cover all the scanner maps while every
//! other block still holds its garbage. A bmap that calls used blocks free must fail the same
//! checks, or they would prove nothing.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blockprint::bmap::{BlockRange, Bmap, ChecksumType};

use crate::harness::images::{
    self, MIB, e2fsck_from, ext_backups, extract, files, filesystem, listing, place,
    require_tools_for, seeded_tree, sfdisk,
};
use crate::harness::support::{
    LoopDevice, Run, blockprint, random_bytes, read_at, require_root, require_tool, scratch, sh,
};

/// The bmap block size of the scan.
const BLOCK: u64 = 4096;

/// How far the loop device outgrows the image, so that the copy's wipe of the device's last
/// MiB falls beyond the image.
const SPARE: u64 = 4 * MIB;

/// A partition: its filesystem kind, start and length in MiB.
type Layout = &'static [(&'static str, u64, u64)];

/// FAT12, FAT16, ext4 with flex_bg (1 KiB blocks), and in an extended partition ext4
/// without flex_bg (4 KiB blocks, 8 MiB groups) and swap; a bootloader in the gap before p1.
const MBR: Layout = &[
    ("fat12", 4, 8),
    ("fat16", 12, 16),
    ("ext4", 28, 40),
    ("ext4-noflex", 69, 48),
    ("swap", 118, 8),
];
const MBR_SCRIPT: &str = "label: dos\\nstart=4MiB, size=8MiB, type=1\\nstart=12MiB, size=16MiB, \
    type=e\\nstart=28MiB, size=40MiB, type=83\\nstart=68MiB, size=58MiB, type=5\\nstart=69MiB, \
    size=48MiB, type=83\\nstart=118MiB, size=8MiB, type=82\\n";

/// FAT32 (an ESP), exFAT, btrfs, XFS and NTFS, each at the smallest size its mkfs accepts
/// (about); a bootloader between the GPT and p1, where Rockchip's boot ROM reads it.
const GPT: Layout = &[
    ("fat32", 1, 33),
    ("exfat", 34, 16),
    ("btrfs", 50, 120),
    ("xfs", 170, 300),
    ("ntfs", 470, 16),
];
const BASIC_DATA: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

/// One filesystem placed in a disk image, with what it must read back as.
struct Part {
    kind: &'static str,
    /// The seed of the tree it was made from.
    seed: u64,
    start: u64,
    len: u64,
    /// The listing of the tree it was made from (empty for swap).
    files: String,
    /// For ext: each backup superblock, its block size, and what e2fsck says from it on the
    /// image as made (mke2fs leaves the backups' counts stale, so "clean" is "as made").
    backups: Vec<(u64, u64, String)>,
}

/// A disk image made once per test and flashed in every form.
struct Disk {
    dir: PathBuf,
    image: PathBuf,
    size: u64,
    parts: Vec<Part>,
    /// The random bytes every flash starts from: the image's size plus [`SPARE`].
    garbage: PathBuf,
    /// What `blockprint scan` maps.
    scan: Bmap,
}

/// Builds the image: the table, a bootloader (random bytes, at `loader.0`, `loader.1` long),
/// each filesystem made from a tree of its own; then scans it and makes the garbage.
fn build(
    dir: &Path,
    name: &str,
    mib: u64,
    script: &str,
    layout: Layout,
    loader: (u64, usize),
) -> Disk {
    let image = dir.join(format!("{name}.img"));
    let size = mib * MIB;
    File::create(&image).unwrap().set_len(size).unwrap();
    sfdisk(&image, script);
    let file = File::options().write(true).open(&image).unwrap();
    file.write_all_at(&random_bytes(7, loader.1), loader.0)
        .unwrap();
    let mut parts = Vec::new();
    for (seed, &(kind, start, len)) in (1..).zip(layout) {
        require_tools_for(kind);
        let tree = seeded_tree(dir, &format!("tree-{kind}"), seed);
        let fs = filesystem(dir, kind, len, &tree);
        place(&image, &fs, start * MIB);
        let backups = if kind.starts_with("ext4") {
            ext_backups(&fs)
        } else {
            Vec::new()
        };
        let files = if kind == "swap" {
            String::new()
        } else {
            listing(&tree)
        };
        std::fs::remove_file(&fs).unwrap();
        parts.push(Part {
            kind,
            seed,
            start: start * MIB,
            len: len * MIB,
            files,
            backups,
        });
    }
    let bmaps = dir.join("bmaps");
    std::fs::create_dir_all(&bmaps).unwrap();
    let scan_bmap = bmaps.join(format!("{name}.scan.bmap"));
    let run = blockprint(["scan", "--explain", "-o", s(&scan_bmap), s(&image)]);
    eprintln!("{name}: scan:\n{}", run.ok());
    let scan = Bmap::from_file(&scan_bmap).unwrap();
    assert_eq!(scan.block_size(), BLOCK);
    let garbage = dir.join("garbage");
    let out = File::create(&garbage).unwrap();
    for chunk in 0..(size + SPARE) / MIB {
        out.write_all_at(&random_bytes(1000 + chunk, MIB as usize), chunk * MIB)
            .unwrap();
    }
    let disk = Disk {
        dir: dir.to_path_buf(),
        image: image.clone(),
        size,
        parts,
        garbage,
        scan,
    };
    // The checks must pass on the image itself, or a failure later would prove nothing.
    let results = check(&disk, &image, &dir.join("original"));
    assert_clean(&results, &format!("{name} as made fails its checks"));
    disk
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every check of `target` (the disk as written, or the image itself), by what it checks:
/// "layout" (every byte outside the filesystems: tables, EBRs, gaps, bootloader, backup
/// GPT), then each partition's fsck and files.
fn check(disk: &Disk, target: &Path, work: &Path) -> Vec<(String, Result<(), String>)> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).unwrap();
    let mut results = vec![("layout".to_owned(), outside_identical(disk, target))];
    for (n, part) in (1..).zip(&disk.parts) {
        let fs = extract(target, part.start, part.len, &work.join(format!("p{n}.fs")));
        let at = format!("{} at {} MiB", part.kind, part.start / MIB);
        results.push((format!("{at}: fsck"), fsck(disk, part, &fs)));
        for (sb, block, expected) in &part.backups {
            let got = e2fsck_from(&fs, *sb, *block);
            let verdict = if &got == expected {
                Ok(())
            } else {
                Err(format!("{got}\nbut on the image as made:\n{expected}"))
            };
            results.push((format!("{at}: e2fsck -b {sb}"), verdict));
        }
        if part.kind != "swap" {
            let read = files(part.kind, &fs, &work.join(format!("files-{n}")));
            let same = read.and_then(|got| {
                if got == part.files {
                    Ok(())
                } else {
                    Err(format!("files differ:\n{got}\nwanted:\n{}", part.files))
                }
            });
            results.push((format!("{at}: files"), same));
        }
        std::fs::remove_file(&fs).unwrap();
    }
    results
}

/// The filesystem's own check of its extracted image; and the bytes no checker reads: NTFS's
/// backup boot sector (its partition's last sector), swap's header page.
fn fsck(disk: &Disk, part: &Part, fs: &Path) -> Result<(), String> {
    images::fsck(part.kind, fs)?;
    let (at, len, what) = match part.kind {
        "ntfs" => (part.len - 512, 512, "the backup boot sector"),
        "swap" => (0, BLOCK as usize, "the swap header"),
        _ => return Ok(()),
    };
    if read_at(&disk.image, part.start + at, len) == read_at(fs, at, len) {
        Ok(())
    } else {
        Err(format!("{what} differs"))
    }
}

/// Every byte of the image outside the filesystems is on `target` as it is in the image.
fn outside_identical(disk: &Disk, target: &Path) -> Result<(), String> {
    let mut from = 0;
    let mut gaps = Vec::new();
    for part in &disk.parts {
        gaps.push((from, part.start));
        from = part.start + part.len;
    }
    gaps.push((from, disk.size));
    for (start, end) in gaps.into_iter().filter(|(a, b)| a < b) {
        let len = usize::try_from(end - start).unwrap();
        if read_at(&disk.image, start, len) != read_at(target, start, len) {
            return Err(format!(
                "bytes {start}..{end} (outside the filesystems) differ"
            ));
        }
    }
    Ok(())
}

/// Asserts that every check passed.
#[track_caller]
fn assert_clean(results: &[(String, Result<(), String>)], what: &str) {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(at, r)| r.as_ref().err().map(|e| format!("{at}: {e}")))
        .collect();
    assert!(failed.is_empty(), "{what}:\n{}", failed.join("\n\n"));
}

/// Writes `image` (in any form) with `copy ARGS` onto a loop device over a fresh copy of the
/// disk's garbage; returns the backing file and the run.
fn flash(disk: &Disk, image: &Path, args: &[&str]) -> (PathBuf, Run) {
    let target = disk.dir.join("card.img");
    std::fs::copy(&disk.garbage, &target).unwrap();
    let mut dev = LoopDevice::new(&target);
    let mut all = vec!["copy", "--explain"];
    all.extend_from_slice(args);
    all.extend([s(image), dev.name()]);
    let run = blockprint(&all);
    dev.detach();
    (target, run)
}

/// The blocks a bmap maps, one flag per block of `blocks`.
fn mask(bmap: &Bmap, blocks: u64) -> Vec<bool> {
    let mut mask = vec![false; usize::try_from(blocks).unwrap()];
    for range in bmap.ranges() {
        mask[range.first as usize..=range.last as usize].fill(true);
    }
    mask
}

/// What the saved bmap says was written is what was written: its blocks hold the image (and
/// its checksums match), and every other block outside the device's first and last MiB (which
/// the copy wipes) still holds its garbage. It must also cover all the scanner maps.
fn check_written(disk: &Disk, target: &Path, saved: &Bmap) -> Result<(), String> {
    if saved.block_size() != BLOCK || saved.image_size() != disk.size {
        return Err(format!(
            "saved bmap of {} B blocks, {} B",
            saved.block_size(),
            saved.image_size()
        ));
    }
    let blocks = disk.size / BLOCK;
    let (written, wanted) = (mask(saved, blocks), mask(&disk.scan, blocks));
    if let Some(b) = (0..blocks as usize).find(|&b| wanted[b] && !written[b]) {
        return Err(format!(
            "block {b} is mapped by the scan but was not written"
        ));
    }
    for (i, range) in saved.ranges().iter().enumerate() {
        let (start, end) = saved.byte_span(&range);
        let bytes = read_at(&disk.image, start, usize::try_from(end - start).unwrap());
        let digest = ChecksumType::Sha256.digest(&bytes);
        if saved.checksum_type() != ChecksumType::Sha256 || range.checksum != Some(digest) {
            return Err(format!(
                "range {i} ({range}) of the saved bmap has a wrong SHA-256"
            ));
        }
    }
    let capacity = disk.size + SPARE;
    let open = |p: &Path| File::open(p).unwrap();
    let (image, card, garbage) = (open(&disk.image), open(target), open(&disk.garbage));
    let mut buf = [
        vec![0u8; MIB as usize],
        vec![0u8; MIB as usize],
        vec![0u8; MIB as usize],
    ];
    for chunk in 0..capacity / MIB {
        let at = chunk * MIB;
        card.read_exact_at(&mut buf[0], at).unwrap();
        garbage.read_exact_at(&mut buf[2], at).unwrap();
        if at < disk.size {
            image.read_exact_at(&mut buf[1], at).unwrap();
        }
        for (i, got) in buf[0].chunks(BLOCK as usize).enumerate() {
            let offset = at + i as u64 * BLOCK;
            let block = (offset / BLOCK) as usize;
            let range = i * BLOCK as usize..(i + 1) * BLOCK as usize;
            let (want, what) = if offset < disk.size && written[block] {
                (&buf[1][range], "the image's bytes")
            } else if offset < MIB || offset >= capacity - MIB {
                (&[0u8; BLOCK as usize][..], "zeros")
            } else {
                (&buf[2][range], "its garbage")
            };
            if got != want {
                return Err(format!(
                    "block {block} (byte {offset}) does not hold {what}"
                ));
            }
        }
    }
    Ok(())
}

/// Whether `copy` scans `form` before the copy, reading its metadata alone: a raw file, and
/// an xz file of several blocks (read by decoding the blocks that hold what is asked for).
/// The others are scanned as they pass.
fn scanned_first(form: &str) -> bool {
    matches!(form, "raw" | "xz (4 MiB blocks)")
}

/// The image in each form `copy` must handle: raw and xz of several blocks (scanned first),
/// then streams scanned as they pass. Checks each multi-block form has several blocks and the
/// others one.
fn forms(disk: &Disk, name: &str) -> Vec<(&'static str, PathBuf)> {
    for tool in ["gzip", "xz", "zstd"] {
        require_tool(tool);
    }
    let dir = disk.dir.join("forms");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![("raw", disk.image.clone())];
    for (form, file, command) in [
        ("gz", "img.gz", "gzip -1 -c"),
        ("xz (one block)", "img.xz", "xz -T1 -1 -c"),
        (
            "xz (4 MiB blocks)",
            "blocks.img.xz",
            "xz -T2 -1 --block-size=4MiB -c",
        ),
        ("zst", "img.zst", "zstd -q -1 -c"),
    ] {
        let path = dir.join(format!("{name}.{file}"));
        sh(
            "sh",
            &[
                "-c",
                &format!("{command} {} > {}", s(&disk.image), s(&path)),
            ],
        );
        if form.starts_with("xz") {
            let list = sh("xz", &["--robot", "-l", s(&path)]);
            let blocks: u64 = list
                .lines()
                .find_map(|l| l.strip_prefix("file\t"))
                .and_then(|l| l.split('\t').nth(1))
                .unwrap()
                .parse()
                .unwrap();
            let many = form.contains("blocks");
            assert!(
                if many { blocks > 4 } else { blocks == 1 },
                "{form}: {blocks} blocks"
            );
        }
        out.push((form, path));
    }
    out
}

/// Where a stream form wrote more than the scan maps, beyond what is allowed: per partition
/// (written and mapped blocks counted inside it), 10% more, plus 256 KiB (the stream scan
/// learns in windows of 64 KiB, so a filesystem's first few pass before its proof does).
/// btrfs, XFS and NTFS need only leave something out: their proof of free space lies partly
/// behind what it proves free (btrfs's extent tree after its data, as mkfs.btrfs lays it out;
/// the XFS and NTFS logs, which must be read clean first, in the middle), so a single forward
/// pass can leave out only what follows it.
fn oversized(disk: &Disk, saved: &Bmap) -> Vec<String> {
    let blocks = disk.size / BLOCK;
    let (written, mapped) = (mask(saved, blocks), mask(&disk.scan, blocks));
    let count = |mask: &[bool], from: u64, to: u64| {
        mask[(from / BLOCK) as usize..(to / BLOCK) as usize]
            .iter()
            .filter(|&&b| b)
            .count() as u64
            * BLOCK
    };
    let mut out = Vec::new();
    for part in &disk.parts {
        let end = part.start + part.len;
        let (w, m) = (
            count(&written, part.start, end),
            count(&mapped, part.start, end),
        );
        let bound = if matches!(part.kind, "btrfs" | "xfs" | "ntfs") {
            part.len - 1
        } else {
            m + m / 10 + (256 << 10)
        };
        if w > bound {
            out.push(format!(
                "{} at {} MiB: wrote {:.1} MiB of {:.1} MiB, the scan maps {:.1} MiB",
                part.kind,
                part.start / MIB,
                w as f64 / MIB as f64,
                part.len as f64 / MIB as f64,
                m as f64 / MIB as f64
            ));
        }
    }
    out
}

/// Flashes every form of the disk without a bmap and checks each as a card would be; then
/// that the streams wrote little more than the scan maps (a size check, not a timing).
fn every_form_survives(disk: &Disk, name: &str) {
    let mut wasteful = Vec::new();
    for (form, path) in forms(disk, name) {
        let saved_path = disk.dir.join("bmaps").join(format!("{name}.saved.bmap"));
        let _ = std::fs::remove_file(&saved_path);
        let (target, run) = flash(disk, &path, &["--save-bmap", s(&saved_path)]);
        let stderr = run.ok().to_owned();
        eprintln!("{name}, {form}:\n{stderr}");
        assert!(
            stderr.contains("saved the bmap of what was written"),
            "{form}: {stderr}"
        );
        let saved = Bmap::from_file(&saved_path).unwrap();
        if scanned_first(form) {
            assert!(
                stderr.contains("has no bmap: its filesystems use"),
                "{form}: {stderr}"
            );
            // Scanned before the copy: exactly what the scan maps is written.
            assert!(
                saved.mapped_bytes() as f64 <= disk.scan.mapped_bytes() as f64 * 1.05,
                "{name}, {form}: wrote {} bytes, the scan maps {}",
                saved.mapped_bytes(),
                disk.scan.mapped_bytes()
            );
            assert_eq!(saved.ranges(), disk.scan.ranges(), "{name}, {form}");
        } else {
            assert!(stderr.contains("are read as it passes"), "{form}: {stderr}");
            assert!(stderr.contains("left out"), "{form}: {stderr}");
        }
        check_written(disk, &target, &saved).unwrap_or_else(|e| panic!("{name}, {form}: {e}"));
        let results = check(disk, &target, &disk.dir.join("check"));
        assert_clean(&results, &format!("{name} written from {form}"));
        let ratio = saved.mapped_bytes() as f64 / disk.scan.mapped_bytes() as f64;
        eprintln!(
            "{name}, {form}: {} checks pass; wrote {ratio:.2} x what the scan maps",
            results.len()
        );
        wasteful.extend(
            oversized(disk, &saved)
                .into_iter()
                .map(|w| format!("{form}: {w}")),
        );
        std::fs::remove_file(&target).unwrap();
    }
    assert!(
        wasteful.is_empty(),
        "{name}: written whole or nearly, though the scan proves it free:\n{}",
        wasteful.join("\n")
    );
}

#[test]
fn an_mbr_image_survives_copy_without_a_bmap_in_every_form() {
    require_root("flashing onto loop devices");
    require_tool("sfdisk");
    let dir = scratch();
    let disk = build(
        dir.path(),
        "mbr",
        127,
        MBR_SCRIPT,
        MBR,
        (8192, (2 << 20) - 8192),
    );
    negative_control(&disk);
    every_form_survives(&disk, "mbr");
}

#[test]
fn a_gpt_image_survives_copy_without_a_bmap_in_every_form() {
    require_root("flashing onto loop devices");
    require_tool("sfdisk");
    let dir = scratch();
    let script = format!(
        "label: gpt\\nstart=1MiB, size=33MiB, type=uefi\\nstart=34MiB, size=16MiB, \
         type={BASIC_DATA}\\nstart=50MiB, size=120MiB, type=linux\\nstart=170MiB, size=300MiB, \
         type=linux\\nstart=470MiB, size=16MiB, type={BASIC_DATA}\\n"
    );
    let disk = build(dir.path(), "gpt", 487, &script, GPT, (32 << 10, 512 << 10));
    every_form_survives(&disk, "gpt");
}

/// The 4 KiB block of the image (by its number) where `needle` starts inside `part`, found
/// by content at 512-byte steps.
fn block_holding(disk: &Disk, part: &Part, needle: &[u8]) -> u64 {
    let bytes = read_at(&disk.image, part.start, part.len as usize);
    let at = (0..bytes.len() - needle.len())
        .step_by(512)
        .find(|&i| bytes[i..i + needle.len()] == *needle)
        .unwrap_or_else(|| panic!("{}: the bytes are not in the partition", part.kind));
    (part.start + at as u64) / BLOCK
}

/// The scanner's bmap less some blocks it maps, as a bmap 2.0 with true checksums.
fn without(disk: &Disk, gone: &[u64]) -> Bmap {
    let blocks = disk.size / BLOCK;
    let mut keep = mask(&disk.scan, blocks);
    for &b in gone {
        assert!(keep[b as usize], "block {b} is not mapped by the scan");
        keep[b as usize] = false;
    }
    let mut ranges = Vec::new();
    let mut b = 0;
    while b < blocks {
        if !keep[b as usize] {
            b += 1;
            continue;
        }
        let first = b;
        while b < blocks && keep[b as usize] {
            b += 1;
        }
        let (start, end) = (first * BLOCK, b * BLOCK);
        let bytes = read_at(&disk.image, start, usize::try_from(end - start).unwrap());
        let checksum = Some(ChecksumType::Sha256.digest(&bytes));
        ranges.push(BlockRange {
            first,
            last: b - 1,
            checksum,
        });
    }
    Bmap::new(disk.size, BLOCK, ChecksumType::Sha256, ranges).unwrap()
}

/// Negative control: a bmap that calls a block of file data free in the FAT16 and in the
/// flex_bg ext4, and the first block of an inode table free in the other ext4, must fail
/// exactly those partitions' checks, and no other.
fn negative_control(disk: &Disk) {
    let part = |kind: &str| disk.parts.iter().find(|p| p.kind == kind).unwrap();
    // Where each kernel.img starts.
    let kernel = |kind: &str| {
        let part = part(kind);
        block_holding(disk, part, &images::kernel(part.seed)[..512])
    };
    let (fat_data, ext_data) = (kernel("fat16"), kernel("ext4"));
    let noflex = part("ext4-noflex");
    let fs = extract(
        &disk.image,
        noflex.start,
        noflex.len,
        &disk.dir.join("noflex.fs"),
    );
    let dump = sh("dumpe2fs", &[s(&fs)]);
    std::fs::remove_file(&fs).unwrap();
    let table: u64 = dump
        .lines()
        .find_map(|l| l.trim().strip_prefix("Inode table at "))
        .and_then(|r| r.split('-').next())
        .unwrap()
        .parse()
        .unwrap();
    let inodes = (noflex.start + table * 4096) / BLOCK;
    let wrong = without(disk, &[fat_data, ext_data, inodes]);
    let wrong_path = disk.dir.join("bmaps").join("wrong.bmap");
    std::fs::write(&wrong_path, wrong.to_xml()).unwrap();
    let (target, run) = flash(disk, &disk.image, &["--bmap", s(&wrong_path)]);
    run.ok();
    let results = check(disk, &target, &disk.dir.join("control"));
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(at, _)| at.as_str())
        .collect();
    eprintln!("negative control, failed as they must: {failed:?}");
    let musts = [
        "fat16 at 12 MiB: files",
        "ext4 at 28 MiB: files",
        "ext4-noflex at 69 MiB: fsck",
    ];
    for must in musts {
        assert!(
            failed.contains(&must),
            "{must} passed with a wrong bmap: {failed:?}"
        );
    }
    let innocent = |at: &&str| {
        musts
            .iter()
            .any(|m| m.split(':').next() == at.split(':').next())
    };
    assert!(
        failed.iter().all(innocent),
        "checks of untouched places failed: {failed:?}"
    );
    std::fs::remove_file(&target).unwrap();
}
