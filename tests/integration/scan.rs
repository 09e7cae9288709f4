//! `blockprint scan` on whole disk images made with the real tools, flashed onto garbage:
//! only the blocks the bmap maps are written onto random bytes, as on a used SD card, and then
//! fsck, file readback, the partition tables and the bootloader gap must all be intact. And on
//! compressed images: an xz file of several blocks read through its blocks, one of a single
//! block decoded to a temporary file, both giving the raw image's bmap.

use std::fs::File;
use std::os::unix::fs::FileExt;

use blockprint::bmap::Bmap;

use crate::harness::images::{
    MIB, btrfs_files, ext_files, extract, fat_files, filesystem, flash_onto_garbage, mapped_share,
    place, same_bytes, sfdisk, tree,
};
use crate::harness::support::{LoopDevice, blockprint, random_bytes, require_tool, sh};

#[test]
fn a_raspberry_pi_like_image_survives_being_flashed_onto_garbage() {
    for tool in [
        "mkfs.vfat",
        "mcopy",
        "mke2fs",
        "e2fsck",
        "debugfs",
        "fsck.vfat",
        "sfdisk",
    ] {
        require_tool(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = tree(d);
    let disk = d.join("rpi.img");
    File::create(&disk).unwrap().set_len(200 * MIB).unwrap();
    // p1 FAT32 at 4 MiB (64 MiB), p2 ext4 after it; the gap holds a "bootloader" at 8 KiB.
    sfdisk(&disk, "label: dos\\n8192,131072,c\\n139264,,83\\n");
    let loader = random_bytes(7, 8192);
    File::options()
        .write(true)
        .open(&disk)
        .unwrap()
        .write_all_at(&loader, 8192)
        .unwrap();
    place(&disk, &filesystem(d, "fat32", 64, &src), 4 * MIB);
    place(&disk, &filesystem(d, "ext4", 132, &src), 68 * MIB);

    let bmap = d.join("rpi.bmap");
    let run = blockprint([
        "scan",
        "--explain",
        "-o",
        bmap.to_str().unwrap(),
        disk.to_str().unwrap(),
    ]);
    let stderr = run.ok();
    assert!(stderr.contains("MBR, 2 partitions"), "{stderr}");
    assert!(
        stderr.contains("partition 1 (MBR type 0x0C)") && stderr.contains("FAT32"),
        "{stderr}"
    );
    assert!(
        stderr.contains("partition 2 (MBR type 0x83)") && stderr.contains("ext4"),
        "{stderr}"
    );
    let share = mapped_share(&bmap);
    assert!(
        share < 30.0,
        "mapped {share:.1}%: the scan saved little; {stderr}"
    );

    let target = d.join("card.img");
    flash_onto_garbage(&disk, &bmap, &target);
    // The table and the whole gap before p1 (the bootloader) are written as they are.
    assert!(
        same_bytes(&disk, &target, 0, 4 << 20),
        "the first 4 MiB (table and gap) differ"
    );
    let fat = extract(&target, 4 * MIB, 64 * MIB, &d.join("p1.fs"));
    sh("fsck.vfat", &["-n", fat.to_str().unwrap()]);
    sh(
        "e2fsck",
        &["-fn", &format!("{}?offset={}", target.display(), 68 * MIB)],
    );
    assert_eq!(
        fat_files(&disk, 4 * MIB, &d.join("a")).unwrap(),
        fat_files(&target, 4 * MIB, &d.join("b")).unwrap()
    );
    assert_eq!(
        ext_files(&disk, 68 * MIB, &d.join("c")).unwrap(),
        ext_files(&target, 68 * MIB, &d.join("e")).unwrap()
    );

    // Debian's bmaptool accepts the bmap too.
    require_tool("bmaptool");
    let copy = d.join("bmaptool-copy.img");
    sh(
        "bmaptool",
        &[
            "-q",
            "copy",
            "--bmap",
            bmap.to_str().unwrap(),
            disk.to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
}

#[test]
fn a_gpt_image_with_four_filesystems_through_a_real_copy() {
    for tool in ["sgdisk", "mkfs.btrfs", "btrfs", "mkswap", "blkid"] {
        require_tool(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = tree(d);
    let disk = d.join("gpt.img");
    File::create(&disk).unwrap().set_len(600 * MIB).unwrap();
    sfdisk(
        &disk,
        "label: gpt\\nstart=1MiB, size=64MiB, type=uefi\\nsize=200MiB, type=linux\\nsize=256MiB, type=linux\\nsize=64MiB, type=swap\\n",
    );
    place(&disk, &filesystem(d, "fat32", 64, &src), MIB);
    place(&disk, &filesystem(d, "ext4", 200, &src), 65 * MIB);
    place(&disk, &filesystem(d, "btrfs", 256, &src), 265 * MIB);
    place(&disk, &filesystem(d, "swap", 64, &src), 521 * MIB);
    let swap_uuid = sh(
        "blkid",
        &[
            "-p",
            "-o",
            "value",
            "-s",
            "UUID",
            d.join("swap.fs").to_str().unwrap(),
        ],
    );

    let bmap = d.join("gpt.bmap");
    let stderr = blockprint([
        "scan",
        "--explain",
        "-o",
        bmap.to_str().unwrap(),
        disk.to_str().unwrap(),
    ])
    .ok()
    .to_owned();
    for fs in ["FAT32", "ext4", "btrfs", "swap"] {
        assert!(
            stderr.contains(&format!(": {fs}")),
            "{fs} not scanned: {stderr}"
        );
    }
    assert!(mapped_share(&bmap) < 30.0, "{stderr}");

    // The real path: copy onto a loop device filled with random bytes.
    let target = d.join("card.img");
    std::fs::write(&target, random_bytes(98, 600 << 20)).unwrap();
    let mut dev = LoopDevice::new(&target);
    blockprint([
        "-q",
        "copy",
        "--bmap",
        bmap.to_str().unwrap(),
        disk.to_str().unwrap(),
        dev.name(),
    ])
    .ok();
    dev.detach();
    let verify = sh("sgdisk", &["-v", target.to_str().unwrap()]);
    assert!(verify.contains("No problems found"), "{verify}");
    let fat = extract(&target, MIB, 64 * MIB, &d.join("esp.fs"));
    sh("fsck.vfat", &["-n", fat.to_str().unwrap()]);
    sh(
        "e2fsck",
        &["-fn", &format!("{}?offset={}", target.display(), 65 * MIB)],
    );
    let btrfs = extract(&target, 265 * MIB, 256 * MIB, &d.join("b.fs"));
    sh(
        "btrfs",
        &[
            "check",
            "--readonly",
            "--check-data-csum",
            btrfs.to_str().unwrap(),
        ],
    );
    assert_eq!(
        btrfs_files(&d.join("btrfs.fs"), &d.join("r1")).unwrap(),
        btrfs_files(&btrfs, &d.join("r2")).unwrap()
    );
    let swap = extract(&target, 521 * MIB, 64 * MIB, &d.join("s.fs"));
    let uuid = sh(
        "blkid",
        &["-p", "-o", "value", "-s", "UUID", swap.to_str().unwrap()],
    );
    assert_eq!(uuid, swap_uuid);
    assert_eq!(
        fat_files(&disk, MIB, &d.join("a")).unwrap(),
        fat_files(&target, MIB, &d.join("b")).unwrap()
    );
    assert_eq!(
        ext_files(&disk, 65 * MIB, &d.join("c")).unwrap(),
        ext_files(&target, 65 * MIB, &d.join("e")).unwrap()
    );
}

#[test]
fn compressed_images_sparse_and_optical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = tree(d);
    let fs = filesystem(d, "ext4", 64, &src);

    // A compressed image gives the bmap of its content, checksums and all: one of several xz
    // blocks is read through its blocks, and a stored zip member where it lies, with no
    // temporary file; one of a single block is decoded to a temporary file, which is gone
    // afterwards.
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (multi, single) = (out.join("fs.img.xz"), out.join("one.img.xz"));
    for (args, xz) in [("-T2 --block-size=1MiB", &multi), ("-T1", &single)] {
        let script = format!("xz {args} -c {} > {}", fs.display(), xz.display());
        sh("sh", &["-c", &script]);
    }
    let zipped = out.join("fs.zip");
    require_tool("zip");
    sh(
        "zip",
        &[
            "-q",
            "-0",
            "-j",
            zipped.to_str().unwrap(),
            fs.to_str().unwrap(),
        ],
    );
    let raw_bmap = d.join("raw.bmap");
    blockprint([
        "-q",
        "scan",
        "-o",
        raw_bmap.to_str().unwrap(),
        fs.to_str().unwrap(),
    ])
    .ok();
    let raw = Bmap::from_file(&raw_bmap).unwrap();
    assert!(raw.ranges().iter().all(|r| r.checksum.is_some()));
    for (packed, how) in [
        (&multi, "through its xz blocks"),
        (&zipped, "in place"),
        (&single, "to a temporary file"),
    ] {
        let bmap = out.join(format!(
            "{}.bmap",
            packed.file_stem().unwrap().to_str().unwrap()
        ));
        let run = blockprint([
            "scan",
            "-o",
            bmap.to_str().unwrap(),
            packed.to_str().unwrap(),
        ]);
        let stderr = run.ok();
        assert!(stderr.contains(how), "{stderr}");
        assert_eq!(
            stderr.contains("to a temporary file"),
            how == "to a temporary file",
            "{stderr}"
        );
        assert_eq!(
            Bmap::from_file(&bmap).unwrap().ranges(),
            raw.ranges(),
            "{}",
            packed.display()
        );
    }
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 6, "a temporary file was left behind: {left:?}");

    // `copy` of the stored zip without a bmap scans it where it lies, before writing, and
    // writes what the scan maps (from a folder where no bmap is found beside it).
    let alone = d.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(&zipped, alone.join("fs.zip")).unwrap();
    let copied = d.join("copied.img");
    let run = blockprint([
        "copy",
        alone.join("fs.zip").to_str().unwrap(),
        copied.to_str().unwrap(),
    ]);
    let stderr = run.ok();
    assert!(stderr.contains("its filesystems use"), "{stderr}");
    blockprint([
        "verify",
        "--bmap",
        raw_bmap.to_str().unwrap(),
        copied.to_str().unwrap(),
    ])
    .ok();
    blockprint(["scan", "--sparse", out.join("fs.img.xz").to_str().unwrap()])
        .fails_with(&["--sparse", "not one"]);

    // --sparse refuses an image whose used areas already have holes (mke2fs leaves some),
    // and punches the free blocks of a dense one without changing what it reads as.
    let sparse = blockprint(["scan", "--sparse", "-o", "/dev/null", fs.to_str().unwrap()]);
    sparse.fails_with(&["already has holes inside used areas"]);
    let dense = d.join("dense.img");
    sh(
        "cp",
        &[
            "--sparse=never",
            fs.to_str().unwrap(),
            dense.to_str().unwrap(),
        ],
    );
    let before = std::fs::read(&dense).unwrap();
    let run = blockprint([
        "scan",
        "--sparse",
        "-o",
        "/dev/null",
        dense.to_str().unwrap(),
    ]);
    assert!(run.ok().contains("punched holes"), "{}", run.stderr);
    let after = std::fs::read(&dense).unwrap();
    for range in raw.ranges() {
        let (s, e) = raw.byte_span(&range);
        assert_eq!(
            before[s as usize..e as usize],
            after[s as usize..e as usize],
            "mapped data changed"
        );
    }
    sh("e2fsck", &["-fn", dense.to_str().unwrap()]);

    // An ISO is mapped whole.
    let iso = d.join("a.iso");
    sh(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            iso.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    let iso_bmap = d.join("iso.bmap");
    let stderr = blockprint([
        "scan",
        "-o",
        iso_bmap.to_str().unwrap(),
        iso.to_str().unwrap(),
    ])
    .ok()
    .to_owned();
    assert!(stderr.contains("ISO 9660"), "{stderr}");
    assert_eq!(mapped_share(&iso_bmap), 100.0);
}
