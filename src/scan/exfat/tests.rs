//! exFAT images made by mkfs.exfat and filled through exfat-fuse on a loop device (the test
//! kernel has no exfat module), scanned, flashed onto garbage, and checked by fsck.exfat, by
//! readback through read-only FUSE mounts of the original and the flashed copy, and against
//! partclone.exfat. These tests need root (loop devices, mounts) and fail without it.

use std::path::{Path, PathBuf};

use crate::scan::fat::tests::{assert_free, assert_whole, patch, peek, same_tree, workdir};
use crate::scan::testing::{
    assert_subset, bmaptool_mapped, garbled, partclone_free, run, scan_file, source_tree, try_run,
};

#[track_caller]
fn require_root() {
    assert_eq!(
        run("id", &["-u"]).trim(),
        "0",
        "the exFAT tests need root: exfat-fuse needs a loop device (run them as CI does, as root)"
    );
}

/// A loop device, detached when dropped.
struct Loop(String);

impl Loop {
    fn attach(image: &Path, read_only: bool) -> Loop {
        let image = image.to_str().expect("utf-8");
        let mut args = vec!["-f", "--show"];
        if read_only {
            args.push("-r");
        }
        args.push(image);
        Loop(run("losetup", &args).trim().to_owned())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = try_run("losetup", &["-d", &self.0]);
    }
}

/// An exfat-fuse mount, unmounted when dropped (before its loop device: declare it after).
struct Mount(PathBuf);

impl Mount {
    fn fuse(device: &Loop, dir: &Path, read_only: bool) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        let mut args = Vec::new();
        if read_only {
            args.extend(["-o", "ro"]);
        }
        args.extend([device.0.as_str(), dir.to_str().expect("utf-8")]);
        run("mount.exfat-fuse", &args);
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.0.to_str().expect("utf-8");
        for _ in 0..50 {
            if try_run("umount", &[dir]).0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = try_run("umount", &["-l", dir]);
    }
}

/// `mkfs.exfat ARGS` on a new `mib`-MiB image, then the source tree copied in through FUSE.
fn make_exfat(dir: &Path, args: &[&str], mib: u64, src: &Path) -> PathBuf {
    require_root();
    let img = dir.join("exfat.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    let mut mkfs = args.to_vec();
    mkfs.push(img.to_str().expect("utf-8"));
    run("mkfs.exfat", &mkfs);
    {
        let device = Loop::attach(&img, false);
        let mount = Mount::fuse(&device, &dir.join("fill"), false);
        run(
            "cp",
            &[
                "-r",
                &format!("{}/.", src.display()),
                mount.0.to_str().expect("utf-8"),
            ],
        );
        drop(mount);
        drop(device);
    }
    img
}

fn fsck(image: &Path) -> (bool, String) {
    let path = image.to_str().expect("utf-8");
    let (ok, text) = try_run("fsck.exfat", &["-n", path]);
    (ok, text.replace(path, "IMAGE"))
}

/// The whole check on one image.
fn flash_and_check(dir: &Path, img: &Path, src: &Path) {
    let report = scan_file(img);
    assert_free(&report, "exFAT");
    let (ok, original) = fsck(img);
    assert!(ok, "the original image is not clean:\n{original}");
    let target = garbled(img, &report.free, &dir.join("garbled.img"));
    let (ok, flashed) = fsck(&target);
    assert!(ok, "fsck.exfat -n fails on the flashed copy:\n{flashed}");
    assert_eq!(original, flashed);

    let (loop_a, loop_b) = (Loop::attach(img, true), Loop::attach(&target, true));
    let mount_a = Mount::fuse(&loop_a, &dir.join("a"), true);
    let mount_b = Mount::fuse(&loop_b, &dir.join("b"), true);
    let files =
        same_tree(&mount_a.0, &mount_b.0).unwrap_or_else(|e| panic!("readback differs: {e}"));
    assert!(files > 300, "only {files} files");
    same_tree(src, &mount_a.0)
        .unwrap_or_else(|e| panic!("the image does not hold the source: {e}"));
    drop((mount_a, mount_b));
    drop((loop_a, loop_b));

    let partclone = partclone_free("partclone.exfat", img).expect("partclone.exfat");
    assert_subset(&report.free, &partclone, "partclone.exfat");
    let size = report.image_size;
    let share = |free: u64| 100.0 * (size - free) as f64 / size as f64;
    eprintln!(
        "exFAT {} MiB: {:.1}% mapped (partclone: {:.1}%, bmaptool create: {:.1}%)",
        size >> 20,
        share(report.free.total()),
        share(partclone.total()),
        bmaptool_mapped(img)
    );
}

fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    source_tree(&src, false);
    src
}

#[test]
fn exfat_256_mib() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_exfat(dir.path(), &[], 256, &src);
    flash_and_check(dir.path(), &img, &src);
}

#[test]
fn exfat_512_byte_clusters() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_exfat(dir.path(), &["-c", "512"], 64, &src);
    flash_and_check(dir.path(), &img, &src);
}

#[test]
fn exfat_large_clusters_packed_bitmap() {
    let dir = workdir();
    let src = source(dir.path());
    let img = make_exfat(
        dir.path(),
        &["-c", "128K", "--pack-bitmap", "-L", "DATA"],
        512,
        &src,
    );
    flash_and_check(dir.path(), &img, &src);
}

/// A small populated image, for the refusals.
fn small(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).expect("dir");
    std::fs::write(
        src.join("sub/file.bin"),
        crate::scan::testing::noise(5, 300_000),
    )
    .expect("file");
    std::fs::write(src.join("top.txt"), b"top\n").expect("file");
    make_exfat(dir, &[], 16, &src)
}

#[test]
fn dirty_exfat_is_mapped_whole() {
    let dir = workdir();
    let img = small(dir.path());
    assert_free(&scan_file(&img), "exFAT");
    let flags = peek(&img, 106, 2);
    // VolumeFlags is outside the boot checksum: setting VolumeDirty needs no other change.
    patch(&img, 106, &[flags[0] | 2, flags[1]]);
    assert_whole(&scan_file(&img), "dirty");
    patch(&img, 106, &[flags[0] | 4, flags[1]]);
    assert_whole(&scan_file(&img), "media failure");
    patch(&img, 106, &flags);
    assert_free(&scan_file(&img), "exFAT");
}

#[test]
fn a_bad_boot_checksum_is_refused() {
    let dir = workdir();
    let img = small(dir.path());
    // A byte of the first extended boot sector (sector 1), inside the checksum.
    let byte = peek(&img, 512 + 100, 1)[0];
    patch(&img, 512 + 100, &[byte ^ 0x40]);
    assert_whole(&scan_file(&img), "checksum");
    patch(&img, 512 + 100, &[byte]);
    // PercentInUse is outside it.
    patch(&img, 112, &[0x33]);
    assert_free(&scan_file(&img), "exFAT");
}

/// The bitmap that says a file's cluster is free contradicts the directory tree.
#[test]
fn a_file_on_a_free_cluster_is_refused() {
    let dir = workdir();
    let img = small(dir.path());
    let boot = peek(&img, 0, 512);
    let sector = 1u64 << boot[108];
    let cluster = sector << boot[109];
    let heap = u64::from(u32::from_le_bytes(boot[88..92].try_into().expect("4"))) * sector;
    let count = u64::from(u32::from_le_bytes(boot[92..96].try_into().expect("4")));
    // Find the bitmap: the first cluster of the root directory holds its entry.
    let root = u64::from(u32::from_le_bytes(boot[96..100].try_into().expect("4")));
    let entries = peek(&img, heap + (root - 2) * cluster, cluster as usize);
    let bitmap_entry = entries
        .chunks_exact(32)
        .find(|e| e[0] == 0x81)
        .expect("bitmap entry");
    let bitmap_first = u64::from(u32::from_le_bytes(
        bitmap_entry[20..24].try_into().expect("4"),
    ));
    let bitmap_at = heap + (bitmap_first - 2) * cluster;
    let bitmap = peek(&img, bitmap_at, count.div_ceil(8) as usize);
    // The last allocated cluster belongs to file.bin (the last thing written).
    let last = (0..count)
        .rev()
        .find(|&i| bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0)
        .expect("allocated");
    patch(
        &img,
        bitmap_at + last / 8,
        &[bitmap[(last / 8) as usize] & !(1 << (last % 8))],
    );
    assert_whole(&scan_file(&img), "calls free");
}

#[test]
fn exfat_is_not_claimed_by_fat_or_swap() {
    let dir = workdir();
    let img = dir.path().join("empty.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(32 << 20)
        .expect("size");
    run("mkfs.exfat", &[img.to_str().expect("utf-8")]);
    let report = scan_file(&img);
    assert_free(&report, "exFAT");
    // Everything but the boot regions, FAT, bitmap, up-case table and root directory.
    assert!(report.free.total() > 28 << 20, "{report:#?}");
}

#[test]
fn checksums_match_the_specification() {
    // The boot checksum skips VolumeFlags and PercentInUse.
    let mut sectors = vec![0u8; 11 * 512];
    sectors[0] = 1;
    let sum = super::boot::checksum(&sectors);
    sectors[106] = 0xFF;
    sectors[107] = 0xFF;
    sectors[112] = 0xFF;
    assert_eq!(super::boot::checksum(&sectors), sum);
    sectors[113] = 1;
    assert_ne!(super::boot::checksum(&sectors), sum);
    // The entry-set checksum skips its own field.
    let mut set = vec![0x85u8; 96];
    let sum = super::dir::set_checksum(&set);
    set[2] = 0;
    set[3] = 0;
    assert_eq!(super::dir::set_checksum(&set), sum);
}

/// TexFAT: two FATs and two allocation bitmaps, free only where both say so. exfatprogs
/// cannot make one, so a populated volume gets a second FAT, a second bitmap (with clusters
/// allocated in it alone) and its root entry, and a boot checksum recomputed.
#[test]
fn texfat_uses_the_union_of_both_bitmaps() {
    let dir = workdir();
    let img = small(dir.path());
    let boot = peek(&img, 0, 512);
    let le32 = |at: usize| u64::from(u32::from_le_bytes(boot[at..at + 4].try_into().expect("4")));
    let sector = 1u64 << boot[108];
    let cluster = sector << boot[109];
    let (fat_offset, fat_len, heap, count, root) =
        (le32(80), le32(84), le32(88), le32(92), le32(96));
    assert!(fat_offset + 2 * fat_len <= heap, "no room for a second FAT");
    let offset = |c: u64| heap * sector + (c - 2) * cluster;

    let root_bytes = peek(&img, offset(root), cluster as usize);
    let entry = root_bytes
        .chunks_exact(32)
        .position(|e| e[0] == 0x81)
        .expect("bitmap entry");
    let first = u64::from(u32::from_le_bytes(
        root_bytes[entry * 32 + 20..entry * 32 + 24]
            .try_into()
            .expect("4"),
    ));
    let bitmap_len = count.div_ceil(8);
    let mut bitmap = peek(&img, offset(first), bitmap_len as usize);
    let is_set = |b: &[u8], i: u64| b[(i / 8) as usize] & (1 << (i % 8)) != 0;
    // The second bitmap goes in the last cluster, allocated in both bitmaps and the FAT.
    let home = count + 1;
    assert!(!is_set(&bitmap, home - 2));
    bitmap[((home - 2) / 8) as usize] |= 1 << ((home - 2) % 8);
    patch(&img, offset(first), &bitmap);
    patch(
        &img,
        fat_offset * sector + 4 * home,
        &0xFFFF_FFFFu32.to_le_bytes(),
    );
    let mut second = bitmap.clone();
    let extra: Vec<u64> = (home - 200..home - 100).collect();
    for &c in &extra {
        assert!(!is_set(&bitmap, c - 2));
        second[((c - 2) / 8) as usize] |= 1 << ((c - 2) % 8);
    }
    patch(&img, offset(home), &second);
    let fat = peek(&img, fat_offset * sector, (fat_len * sector) as usize);
    patch(&img, (fat_offset + fat_len) * sector, &fat);
    // Its root entry, in the first unused slot.
    let slot = root_bytes
        .chunks_exact(32)
        .position(|e| e[0] == 0x00)
        .expect("free slot");
    let mut new = [0u8; 32];
    new[0] = 0x81;
    new[1] = 1;
    new[20..24].copy_from_slice(&(home as u32).to_le_bytes());
    new[24..32].copy_from_slice(&bitmap_len.to_le_bytes());
    patch(&img, offset(root) + slot as u64 * 32, &new);
    // With one FAT, two bitmaps do not add up.
    assert_whole(&scan_file(&img), "2 allocation bitmap(s) for 1 FAT(s)");

    let set_fats = |fats: u8, flags: u8| {
        patch(&img, 110, &[fats]);
        patch(&img, 106, &[flags]);
        let main = peek(&img, 0, (11 * sector) as usize);
        let sum = super::boot::checksum(&main);
        patch(
            &img,
            11 * sector,
            &sum.to_le_bytes().repeat((sector / 4) as usize),
        );
    };
    for active in [0, 1] {
        set_fats(2, active);
        let report = scan_file(&img);
        assert_free(&report, "exFAT");
        for &c in &extra {
            let bytes = crate::scan::Ranges::from_iter([(offset(c), offset(c) + cluster)]);
            assert_eq!(
                report.free.subtract(&bytes).total(),
                report.free.total(),
                "cluster {c}, allocated in the second bitmap only, was called free (active FAT {active})"
            );
        }
        // The clusters after the extra ones are free in both.
        let after = crate::scan::Ranges::from_iter([(offset(home - 100), offset(home))]);
        assert!(report.free.subtract(&after).total() < report.free.total());
    }
}
