//! Patched images: dirty flags, broken chains, stale copies and inconsistent BPBs are
//! refused; other filesystems are not taken for FAT; a negative control proves the checks bite.

use super::*;

/// The geometry of an image, through the parser (for fixtures that patch FAT entries).
fn geometry(image: &Path) -> crate::scan::fat::bpb::Geometry {
    let boot: [u8; 512] = peek(image, 0, 512).try_into().expect("512");
    crate::scan::fat::bpb::parse(&boot, std::fs::metadata(image).expect("meta").len())
        .expect("geometry")
}

/// Writes FAT entry `n` in every copy (FAT16/32 only).
fn set_entry(
    image: &Path,
    g: &crate::scan::fat::bpb::Geometry,
    n: u64,
    value: u32,
    copies: &[u64],
) {
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

fn get_entry(image: &Path, g: &crate::scan::fat::bpb::Geometry, n: u64, copy: u64) -> u32 {
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
        &partclone_free("partclone.fat", &img).expect("partclone.fat"),
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
    assert!(!crate::scan::fat::bpb::looks_like_fat(&boot));
    // Even with FAT fields, the OEM id says NTFS.
    let mut forged = boot;
    forged[16] = 2;
    forged[22] = 1;
    assert!(!crate::scan::fat::bpb::looks_like_fat(&forged));
    // Only the NTFS parser claims it, and it refuses a boot sector this incomplete.
    assert_whole(&scan_file(&path), "MFT record size");

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
    assert!(!crate::scan::fat::bpb::looks_like_fat(&boot));

    let exfat = dir.path().join("exfat.img");
    std::fs::File::create(&exfat)
        .expect("create")
        .set_len(8 << 20)
        .expect("size");
    run("mkfs.exfat", &[exfat.to_str().expect("utf-8")]);
    let boot: [u8; 512] = peek(&exfat, 0, 512).try_into().expect("512");
    assert!(!crate::scan::fat::bpb::looks_like_fat(&boot));
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
            &crate::scan::fat::PARSER,
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
