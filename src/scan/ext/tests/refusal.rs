//! Negative controls (a wrong free block must fail the checks) and the refusals.

use super::*;

#[test]
fn a_file_block_called_free_fails_the_readback() {
    let im = Image::make(&["-t", "ext4", "-b", "1024"], "64M");
    let free = expect_free(&scan_file(&im.img), "ext4");
    let blocks = im.debugfs("blocks /usr/share/data/big.bin");
    let list: Vec<u64> = blocks
        .split_whitespace()
        .map(|b| b.parse().expect("block"))
        .collect();
    let block = list[list.len() / 2];
    let bad = ranges(&[free.as_slice(), &[(block * 1024, (block + 1) * 1024)]].concat());
    let err = flash_check(&im, &bad, "bad").expect_err("a garbled file block went unnoticed");
    assert!(err.contains("readback differs"), "{err}");
    flash_check(&im, &free, "good").expect("the honest free set passes");
}

#[test]
fn a_backup_descriptor_block_called_free_fails_e2fsck_from_the_backup() {
    let im = Image::make(&["-t", "ext4", "-b", "1024"], "64M");
    let free = expect_free(&scan_file(&im.img), "ext4");
    let backup = im.backups()[0];
    assert_eq!(backup, 8193);
    let gdt = backup + 1;
    let bad = ranges(&[free.as_slice(), &[(gdt * 1024, (gdt + 1) * 1024)]].concat());
    let err = flash_check(&im, &bad, "bad")
        .expect_err("a garbled backup descriptor block went unnoticed");
    assert!(err.contains("-b 8193"), "{err}");
}

// Refusals: the whole filesystem is mapped, with the reason.

#[test]
fn needs_recovery_is_refused() {
    let im = Image::make(&["-t", "ext4"], "32M");
    let data = im.path("block");
    std::fs::write(&data, crate::scan::testing::noise(5, 1024)).expect("write");
    let cmds = im.path("cmds");
    std::fs::write(
        &cmds,
        format!("jo\njw -b 3000,3001 {}\njc\n", data.display()),
    )
    .expect("cmds");
    run(
        "debugfs",
        &["-w", "-f", cmds.to_str().expect("utf-8"), im.img_str()],
    );
    // The state still reads clean: only the feature bit tells.
    assert_eq!(im.field("Filesystem state:"), "clean");
    expect_whole(&im.img, "needs recovery");
    // Without the bit, a journal that still holds a transaction is refused all the same.
    run(
        "debugfs",
        &["-w", "-R", "feature -needs_recovery", im.img_str()],
    );
    expect_whole(&im.img, "journal is not empty");
}

#[test]
fn errors_and_unclean_states_are_refused() {
    let im = Image::make(&["-t", "ext4"], "32M");
    run("debugfs", &["-w", "-R", "ssv state 3", im.img_str()]);
    expect_whole(&im.img, "has errors");
    run("debugfs", &["-w", "-R", "ssv state 0", im.img_str()]);
    expect_whole(&im.img, "not cleanly unmounted");
    run("debugfs", &["-w", "-R", "ssv state 1", im.img_str()]);
    expect_free(&scan_file(&im.img), "ext4");
}

#[test]
fn unknown_feature_bits_are_refused() {
    let im = Image::make(&["-t", "ext4"], "32M");
    patch_super(&im.img, |raw| raw[0x60 + 2] |= 0x04); // incompat 0x40000, unassigned
    expect_whole(&im.img, "unknown incompatible feature bits 0x40000");
    patch_super(&im.img, |raw| {
        raw[0x60 + 2] &= !0x04;
        raw[0x64 + 1] |= 0x40; // ro_compat 0x4000, shared_blocks
    });
    expect_whole(&im.img, "unknown read-only compatible feature bits 0x4000");
    patch_super(&im.img, |raw| {
        raw[0x64 + 1] &= !0x40;
        raw[0x5C + 1] |= 0x80; // compat 0x8000: compatible bits never matter
    });
    expect_free(&scan_file(&im.img), "ext4");
}

#[test]
fn external_journal_devices_are_refused() {
    let dir = TempDir::new().expect("tempdir");
    let img = dir.path().join("journal.img");
    run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-O",
            "journal_dev",
            img.to_str().expect("utf-8"),
            "32M",
        ],
    );
    expect_whole(&img, "journal_dev");
}

#[test]
fn bad_checksums_are_refused() {
    // Superblock: a byte of the volume name changed behind the checksum's back.
    let im = Image::make(&["-t", "ext4", "-b", "4096"], "64M");
    flip(&im.img, 1024 + 0x78, 0);
    expect_whole(&im.img, "superblock checksum is wrong");
    flip(&im.img, 1024 + 0x78, 0);
    // Descriptor of group 0 (bg_itable_unused), primary table at block 1.
    flip(&im.img, 4096 + 0x1C, 0);
    expect_whole(&im.img, "descriptor checksum of group 0 is wrong");
    flip(&im.img, 4096 + 0x1C, 0);
    // Block bitmap of group 0: its last bit, a free block, now called used.
    let bitmap = dumpe2fs_number(&im, "Block bitmap at ");
    flip(&im.img, bitmap * 4096 + 4095, 7);
    expect_whole(&im.img, "block bitmap checksum of group 0 is wrong");
    flip(&im.img, bitmap * 4096 + 4095, 7);
    expect_free(&scan_file(&im.img), "ext4");

    // uninit_bg's CRC16 descriptor checksum.
    let im = Image::make(&["-t", "ext4", "-O", "^metadata_csum,uninit_bg"], "64M");
    flip(&im.img, 2048 + 64 + 0x1C, 0); // group 1's descriptor, 1 KiB blocks
    expect_whole(&im.img, "descriptor checksum of group 1 is wrong");
}

#[test]
fn a_bitmap_disagreeing_with_its_free_count_is_refused() {
    // No checksums to catch it: a used block (the root directory's) called free.
    let im = Image::make(&["-t", "ext4", "-b", "4096", "-O", "^metadata_csum"], "64M");
    let block: u64 = im.debugfs("bmap / 0").trim().parse().expect("block");
    let bitmap = dumpe2fs_number(&im, "Block bitmap at ");
    flip(&im.img, bitmap * 4096 + block / 8, (block % 8) as u8);
    expect_whole(&im.img, "its descriptor says");
}

#[test]
fn a_journal_block_marked_free_is_refused() {
    let im = Image::make(&["-t", "ext4", "-b", "4096"], "64M");
    let block: u64 = im.debugfs("bmap <8> 100").trim().parse().expect("block");
    // With the group's count and checksums fixed to match, only the journal check can tell.
    run(
        "debugfs",
        &["-w", "-R", &format!("freeb {block}"), im.img_str()],
    );
    let out = run("dumpe2fs", &[im.img_str()]);
    let count: u64 = out
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" free blocks, ")
                .map(|(n, _)| n.parse().expect("count"))
        })
        .expect("group 0 count");
    let cmds = im.path("cmds");
    std::fs::write(
        &cmds,
        format!(
            "set_bg 0 free_blocks_count {}\nset_bg 0 checksum calc\n",
            count + 1
        ),
    )
    .expect("cmds");
    run(
        "debugfs",
        &["-w", "-f", cmds.to_str().expect("utf-8"), im.img_str()],
    );
    expect_whole(&im.img, &format!("journal block {block} is marked free"));
}

#[test]
fn a_filesystem_larger_than_its_region_is_refused() {
    let im = Image::make(&["-t", "ext4"], "32M");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&im.img)
        .expect("open");
    file.set_len((32 << 20) - 4096).expect("truncate");
    expect_whole(&im.img, "larger than its region");
}
