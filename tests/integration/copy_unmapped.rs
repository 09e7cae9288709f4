//! `copy` without a bmap, proven the way the scanner is: two disk images that hold every
//! filesystem the scanner reads are written raw, gzip'd, xz'd (one block and many) and zstd'd
//! onto loop devices full of random bytes, as onto a used SD card. The raw and the many-block
//! xz forms are scanned first and write what the scanner maps; the others, as they pass. Then every filesystem must
//! pass its own fsck (ext also from each backup superblock), every file must read back
//! identical to the tree it was made from, the tables and the bootloader gaps must be as in the
//! image, and what was written (the saved bmap) must cover all the scanner maps while every
//! other block still holds its garbage. A bmap that calls used blocks free must fail the same
//! checks, or they would prove nothing.
//!
//! The tests are in `every_form`, and the negative control the MBR test runs first in
//! `negative_control`; the disks, the flashing and every check they share are here.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blockprint::bmap::{Bmap, ChecksumType};

use crate::harness::images::{
    self, MIB, e2fsck_from, ext_backups, extract, files, filesystem, listing, place,
    require_tools_for, seeded_tree, sfdisk,
};
use crate::harness::support::{LoopDevice, Run, blockprint, random_bytes, read_at};

/// The MBR and the GPT disk, written in every form without a bmap and checked as cards.
mod every_form;
/// A bmap calling used blocks free fails the checks of exactly what it left out.
mod negative_control;

/// The bmap block size of the scan.
const BLOCK: u64 = 4096;

/// How far the loop device outgrows the image, so that the copy's wipe of the device's last
/// MiB falls beyond the image.
const SPARE: u64 = 4 * MIB;

/// A partition: its filesystem kind, start and length in MiB.
type Layout = &'static [(&'static str, u64, u64)];

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
