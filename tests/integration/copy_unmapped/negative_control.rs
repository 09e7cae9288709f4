//! The negative control the MBR test runs before its forms: a bmap that calls a block of file
//! data free in the FAT16 and in the flex_bg ext4, and the first block of an inode table free
//! in the other ext4, must fail exactly those partitions' checks, or they would prove nothing.

use blockprint::bmap::{BlockRange, Bmap, ChecksumType};

use crate::harness::images::{self, extract};
use crate::harness::support::{read_at, sh};

use super::{BLOCK, Disk, Part, check, flash, mask, s};

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
pub(super) fn negative_control(disk: &Disk) {
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
