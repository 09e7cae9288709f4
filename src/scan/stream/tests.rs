//! The stream scan against the full scan of the same image: it never leaves out a byte the
//! full scan maps, it learns nearly everything in time on the layouts real images have, and
//! a file with no filesystem (or garbage) leaves nothing out.

use std::io::Cursor;
use std::path::Path;

use super::horizon::{BUDGET, Capture};
use super::{StreamFindings, StreamScan};
use crate::scan::testing::{assert_subset, noise, run, scan_file, source_tree};
use crate::scan::{Ranges, Verdict};
use crate::source::{ImageSource, StreamSource, read_full};

/// Reads `data` as a stream of unknown size the way the copy's reader does: skips what is
/// proven free, reads the rest in pieces that stop where the scan learns or a free span
/// starts. Returns the skipped ranges and the findings.
fn stream_through(data: &[u8], chunk: usize) -> (Ranges, StreamFindings) {
    let reader = Box::new(Cursor::new(data.to_vec()));
    let mut inner = StreamSource::new(reader, "test.img".into(), None);
    let mut scan = StreamScan::new(&mut inner);
    let mut skipped = Ranges::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let at = scan.position();
        if let Some(end) = scan.free_until(at) {
            match scan.skip_free(end) {
                Ok(()) => skipped.add(at, end),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("skip failed at {at}: {e}"),
            }
            continue;
        }
        let limit = [scan.next_free(at), scan.next_lesson(at)]
            .into_iter()
            .flatten()
            .fold(at + chunk as u64, u64::min);
        let want = usize::try_from(limit - at).unwrap();
        let got = read_full(&mut scan, &mut buf[..want]).unwrap();
        if got < want {
            break;
        }
    }
    skipped.normalize();
    (skipped, scan.findings())
}

/// An MBR image: a FAT32 partition and an ext4 one made with `ext4_options`, both filled.
fn disk(dir: &Path, ext4_options: &[&str]) -> Vec<u8> {
    let tree = dir.join("tree");
    source_tree(&tree, false);
    let fat = dir.join("fat.img");
    let ext = dir.join("ext.img");
    let _ = std::fs::remove_file(&fat);
    let _ = std::fs::remove_file(&ext);
    run("truncate", &["-s", "64M", fat.to_str().unwrap()]);
    run("mkfs.vfat", &["-F", "32", fat.to_str().unwrap()]);
    let t = tree.join("etc").display().to_string();
    run(
        "mcopy",
        &["-s", "-Q", "-i", fat.to_str().unwrap(), &t, "::/"],
    );
    run("truncate", &["-s", "200M", ext.to_str().unwrap()]);
    let mut args = vec!["-q", "-F", "-t", "ext4", "-b", "4096", "-d"];
    let tree_arg = tree.display().to_string();
    args.push(&tree_arg);
    args.extend_from_slice(ext4_options);
    args.push(ext.to_str().unwrap());
    run("mke2fs", &args);
    let mut image = vec![0u8; 1 << 20];
    image[446..462].copy_from_slice(&entry(0x0C, 2048, 64 * 2048));
    image[462..478].copy_from_slice(&entry(0x83, 2048 + 64 * 2048, 200 * 2048));
    image[510] = 0x55;
    image[511] = 0xAA;
    image.extend(std::fs::read(&fat).unwrap());
    image.extend(std::fs::read(&ext).unwrap());
    image
}

/// A primary MBR entry.
fn entry(kind: u8, start: u32, sectors: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[4] = kind;
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    e
}

/// Checks the stream scan of `image` against the full scan; returns the share of the full
/// scan's free space that was left out in time.
fn against_full_scan(dir: &Path, image: &[u8], chunk: usize) -> f64 {
    let path = dir.join("disk.img");
    std::fs::write(&path, image).unwrap();
    let full = scan_file(&path);
    let (skipped, findings) = stream_through(image, chunk);
    assert_subset(&skipped, &full.free, "left out by the stream scan");
    assert!(
        findings
            .regions
            .iter()
            .all(|r| matches!(r.finding.verdict, Verdict::Free { .. })),
        "{findings:#?}"
    );
    assert!(findings.kept < (BUDGET as u64), "{findings:?}");
    skipped.total() as f64 / full.free.total() as f64
}

#[test]
fn ext4_with_flex_bg_and_fat32_are_left_out_nearly_whole() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path(), &[]);
    for chunk in [64 << 10, 4 << 20] {
        let share = against_full_scan(dir.path(), &image, chunk);
        assert!(share > 0.97, "only {:.1}% left out in time", share * 100.0);
    }
}

/// Room for growth (the reserved descriptor blocks of a filesystem made to be resized, as
/// Raspberry Pi OS's root is) puts the bitmaps beyond the superblock's window, and the
/// journal's inode after them: the bitmaps must be asked for before the journal is read.
#[test]
fn bitmaps_far_from_the_superblock_are_asked_for_before_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path(), &["-g", "4096", "-E", "resize=4000000000"]);
    let share = against_full_scan(dir.path(), &image, 4 << 20);
    assert!(share > 0.97, "only {:.1}% left out in time", share * 100.0);
}

#[test]
fn ext4_without_flex_bg_is_proven_group_by_group() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path(), &["-O", "^flex_bg", "-g", "8192"]);
    let share = against_full_scan(dir.path(), &image, 4 << 20);
    assert!(share > 0.9, "only {:.1}% left out in time", share * 100.0);
}

#[test]
fn garbage_and_a_damaged_disk_leave_nothing_out() {
    let dir = tempfile::tempdir().unwrap();
    let (skipped, _) = stream_through(&noise(5, 8 << 20), 1 << 20);
    assert_eq!(skipped.total(), 0);
    // The ext4 superblock of partition 2 garbled after the stream scan started: the full
    // scan maps it whole, and the stream scan leaves nothing of it out either.
    let mut image = disk(dir.path(), &[]);
    let ext = (1 + 64) << 20;
    image[ext + 1024..ext + 1024 + 64].copy_from_slice(&noise(9, 64));
    let path = dir.path().join("damaged.img");
    std::fs::write(&path, &image).unwrap();
    let full = scan_file(&path);
    let (skipped, _) = stream_through(&image, 1 << 20);
    assert_subset(&skipped, &full.free, "left out of the damaged disk");
    assert_eq!(skipped.clamp(ext as u64, u64::MAX).total(), 0);
}

#[test]
fn the_capture_keeps_what_was_asked_within_its_budget() {
    let mut capture = Capture::default();
    capture.want([(10, 20), (15, 30), (100, 110)]);
    assert_eq!(capture.next_boundary(0), Some(10));
    assert!(!capture.pass(&[1u8; 12]));
    assert_eq!(capture.next_wanted(12), Some(12));
    assert!(capture.pass(&[2u8; 20]), "the first request is complete");
    assert_eq!(capture.next_wanted(32), Some(100));
    capture.skipped_to(105);
    assert_eq!(capture.next_wanted(105), Some(105));
    assert_eq!(capture.kept_bytes(), 20);
    capture.want([(200, 200 + BUDGET as u64)]);
    assert!(capture.full, "a request past the budget is refused");
    capture.want([(300, 400)]);
    assert_eq!(
        capture.next_wanted(250),
        Some(300),
        "smaller ones are still taken"
    );
}
