//! The two disks in every form `copy` takes without a bmap (raw, gzip, xz of one block and
//! of many, zstd), each flashed onto garbage and checked as a card: the raw and many-block xz
//! forms write exactly what `scan` maps, the streams per partition at most 1.1 × that (btrfs,
//! XFS and NTFS: less than the whole).

use std::path::PathBuf;

use blockprint::bmap::Bmap;

use crate::harness::images::MIB;
use crate::harness::support::{require_root, require_tool, scratch, sh};

use super::negative_control::negative_control;
use super::{BLOCK, Disk, Layout, assert_clean, build, check, check_written, flash, mask, s};

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
