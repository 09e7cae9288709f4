//! The variant matrix: every layout that moves ext metadata around, flashed onto garbage.

use super::*;

#[test]
fn ext2() {
    variant("ext2", &["-t", "ext2"], "512M");
}

#[test]
fn ext3() {
    variant("ext3", &["-t", "ext3"], "512M");
}

#[test]
fn ext4_1k_blocks() {
    // Block 0 is in no group; backups at groups 1, 3, 5, 7 and 9.
    let (im, _) = variant("ext4", &["-t", "ext4", "-b", "1024"], "128M");
    assert_eq!(im.backups()[0], 8193);
}

#[test]
fn ext4_2k_blocks() {
    let (im, _) = variant("ext4", &["-t", "ext4", "-b", "2048"], "256M");
    assert_eq!(im.backups()[0], 16384);
}

#[test]
fn ext4_4k_blocks() {
    let (im, _) = variant("ext4", &["-t", "ext4", "-b", "4096"], "512M");
    assert_eq!(im.backups(), [32768, 98304]);
}

#[test]
fn ext4_small_type_from_mke2fs_conf() {
    // Debian's mke2fs.conf gives filesystems below 512 MiB the "small" type: 1 KiB blocks.
    let (im, _) = variant("ext4", &["-t", "ext4"], "300M");
    assert_eq!(im.block_size(), 1024);
}

#[test]
fn ext4_32_byte_descriptors() {
    variant(
        "ext4",
        &["-t", "ext4", "-b", "4096", "-g", "8192", "-O", "^64bit"],
        "256M",
    );
}

#[test]
fn ext4_without_flex_bg() {
    variant(
        "ext4",
        &["-t", "ext4", "-b", "4096", "-g", "8192", "-O", "^flex_bg"],
        "256M",
    );
}

#[test]
fn ext4_meta_bg() {
    // 1 KiB blocks and 64-byte descriptors: meta-groups of 16 groups, so 25 groups make two,
    // with descriptor blocks in groups 0, 1, 15, 16 and 17.
    let (im, _) = variant(
        "ext4",
        &["-t", "ext4", "-b", "1024", "-O", "meta_bg,^resize_inode"],
        "200M",
    );
    assert!(im.field("Filesystem features:").contains("meta_bg"));
}

#[test]
fn ext4_sparse_super2() {
    // mke2fs puts the two backups in groups 1 and 7 (the last), and no others.
    let (im, _) = variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-O",
            "sparse_super2",
        ],
        "256M",
    );
    assert_eq!(im.backups(), [8192, 7 * 8192]);
}

#[test]
fn ext4_without_sparse_super() {
    // Every group keeps a backup.
    let (im, _) = variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-O",
            "^sparse_super,^resize_inode",
        ],
        "256M",
    );
    assert_eq!(im.backups().len(), 7);
}

#[test]
fn ext4_without_journal() {
    variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-O",
            "^has_journal",
        ],
        "256M",
    );
}

#[test]
fn ext4_bigalloc() {
    // One 2 GiB group (clusters of 16 blocks): no backup to check.
    variant(
        "ext4",
        &["-t", "ext4", "-O", "bigalloc", "-C", "65536"],
        "256M",
    );
}

#[test]
fn ext4_bigalloc_several_groups() {
    variant(
        "ext4",
        &["-t", "ext4", "-O", "bigalloc", "-C", "65536", "-g", "2048"],
        "512M",
    );
}

#[test]
fn ext4_uninit_bg_instead_of_metadata_csum() {
    // BLOCK_UNINIT trusted through CRC16 descriptor checksums.
    variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-O",
            "^metadata_csum,uninit_bg",
        ],
        "256M",
    );
}

#[test]
fn ext4_without_checksums() {
    // No descriptor checksums: BLOCK_UNINIT is not believed, every bitmap is read.
    variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-O",
            "^metadata_csum",
        ],
        "256M",
    );
}

#[test]
fn ext4_inode_tables_zeroed() {
    variant(
        "ext4",
        &[
            "-t",
            "ext4",
            "-b",
            "4096",
            "-g",
            "8192",
            "-E",
            "lazy_itable_init=0",
        ],
        "256M",
    );
}

#[test]
fn ext4_like_raspberry_pi_os() {
    // pi-gen: mkfs.ext4 -O ^64bit,^huge_file (32-byte descriptors).
    variant(
        "ext4",
        &["-t", "ext4", "-b", "4096", "-O", "^64bit,^huge_file"],
        "512M",
    );
}

#[test]
fn ext4_written_by_the_kernel() {
    // Files written and deleted through a real mount: the kernel's allocator, its lazy
    // superblock counters and cleared BLOCK_UNINIT flags. The same changes go to the source
    // tree, which the image must still read back as.
    let im = Image::make(&["-t", "ext4", "-b", "4096"], "256M");
    let mnt = im.path("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    run(
        "mount",
        &["-o", "loop", im.img_str(), mnt.to_str().expect("utf-8")],
    );
    let edit = |root: &Path| {
        std::fs::remove_dir_all(root.join("etc/conf3"))?;
        std::fs::remove_file(root.join("zeros.bin"))?;
        for i in 0..40u64 {
            let len = usize::try_from(1000 + i * 40_000).expect("small");
            std::fs::write(
                root.join(format!("new{i}.bin")),
                crate::scan::testing::noise(i, len),
            )?;
        }
        for i in (0..40).step_by(3) {
            std::fs::remove_file(root.join(format!("new{i}.bin")))?;
        }
        std::fs::write(
            root.join("usr/share/data/later.bin"),
            crate::scan::testing::noise(99, 5 << 20),
        )
    };
    let edited = edit(&mnt);
    run("umount", &[mnt.to_str().expect("utf-8")]);
    edited.expect("edit through the mount");
    edit(&im.src).expect("edit the source");
    let report = scan_file(&im.img);
    let free = expect_free(&report, "ext4");
    let (dumpe2fs, partclone) = (im.dumpe2fs_free(), im.partclone_free().expect("partclone"));
    assert_subset(&free, &dumpe2fs, "dumpe2fs");
    assert_subset(&free, &partclone, "partclone");
    if let Err(e) = flash_check(&im, &free, "flash") {
        panic!("kernel-written: {e}");
    }
    let share = |free: u64| 100.0 * (report.image_size - free) as f64 / report.image_size as f64;
    eprintln!(
        "kernel-written 256M: {:.1}% mapped (dumpe2fs: {:.1}%, partclone: {:.1}%, bmaptool create: {:.1}%)",
        share(free.total()),
        share(dumpe2fs.round_inward(BLOCK).total()),
        share(partclone.total()),
        bmaptool_mapped(&im.img)
    );
}

// Negative controls: one used block called free must make the checks fail.
