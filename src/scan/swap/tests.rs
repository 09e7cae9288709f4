//! Swap areas made by mkswap for each page size, scanned, flashed onto garbage, and read by
//! `blkid -p`, which must still see the same swap area; hibernated and obsolete areas are
//! mapped whole.

use std::path::{Path, PathBuf};

use crate::scan::fat::tests::{assert_free, assert_whole, patch, peek, workdir};
use crate::scan::testing::{garbled, run, scan_file};

/// `mkswap [-p PAGE]` on a new file of `mib` MiB.
fn make_swap(dir: &Path, page: Option<u64>, mib: u64) -> PathBuf {
    let img = dir.join(format!("swap-{}.img", page.unwrap_or(4096)));
    std::fs::File::create(&img)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    let page = page.map(|p| p.to_string());
    let mut args = vec!["-L", "blockprint"];
    if let Some(page) = &page {
        args.extend(["-p", page.as_str()]);
    }
    args.push(img.to_str().expect("utf-8"));
    run("mkswap", &args);
    img
}

/// `blkid -p` fields: TYPE, UUID, LABEL.
fn blkid(image: &Path) -> String {
    run(
        "blkid",
        &[
            "-p",
            "-o",
            "export",
            "-s",
            "TYPE",
            "-s",
            "UUID",
            "-s",
            "LABEL",
            image.to_str().expect("utf-8"),
        ],
    )
    .lines()
    .filter(|l| !l.starts_with("DEVNAME="))
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn swap_of_every_page_size() {
    for page in [4096u64, 16384, 65536] {
        let dir = workdir();
        let img = make_swap(dir.path(), Some(page), 64);
        let report = scan_file(&img);
        assert_free(&report, "swap");
        assert_eq!(
            report.free.as_slice(),
            [(page, 64 << 20)],
            "all but the first page is free"
        );
        let target = garbled(&img, &report.free, &dir.path().join("garbled.img"));
        let original = blkid(&img);
        assert!(original.contains("TYPE=swap"), "{original}");
        assert!(original.contains("UUID="), "{original}");
        assert_eq!(
            blkid(&target),
            original,
            "blkid sees the flashed swap area differently"
        );
        assert_eq!(
            peek(&target, 0, page as usize),
            peek(&img, 0, page as usize)
        );
    }
}

#[test]
fn default_mkswap_and_a_region_longer_than_the_area() {
    let dir = workdir();
    let img = make_swap(dir.path(), None, 64);
    // Three pages more than the swap area: not proven swap, so mapped.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    file.set_len((64 << 20) + 3 * 4096).expect("grow");
    let report = scan_file(&img);
    assert_free(&report, "swap");
    assert_eq!(report.free.as_slice(), [(4096, 64 << 20)]);
}

#[test]
fn hibernated_and_old_swap_areas_are_mapped_whole() {
    let dir = workdir();
    let img = make_swap(dir.path(), None, 16);
    for (signature, why) in [
        (&b"S1SUSPEND\0"[..], "hibernation"),
        (b"S2SUSPEND\0", "hibernation"),
        (b"ULSUSPEND\0", "hibernation"),
        (b"LINHIB0001", "hibernation"),
        (b"SWAP-SPACE", "v0"),
    ] {
        patch(&img, 4086, signature);
        assert_whole(&scan_file(&img), why);
    }
    // The kernel keeps the replaced signature just before its own: any signature there is
    // hibernation.
    patch(&img, 4076, b"SWAPSPACE2");
    patch(&img, 4086, b"ZZSUSPEND?");
    assert_whole(&scan_file(&img), "hibernation");
    patch(&img, 4076, &[0; 10]);
    patch(&img, 4086, b"SWAPSPACE2");
    assert_free(&scan_file(&img), "swap");
}

#[test]
fn inconsistent_swap_headers_are_refused() {
    let dir = workdir();
    let img = make_swap(dir.path(), None, 16);
    // A swap area larger than its region.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    file.set_len((16 << 20) - 4096).expect("shrink");
    assert_whole(&scan_file(&img), "larger than its region");
    file.set_len(16 << 20).expect("grow");
    assert_free(&scan_file(&img), "swap");
    // An unknown version.
    patch(&img, 1024, &2u32.to_le_bytes());
    assert_whole(&scan_file(&img), "version");
    patch(&img, 1024, &1u32.to_le_bytes());
    // A second signature for another page size.
    patch(&img, 65526, b"SWAPSPACE2");
    assert_whole(&scan_file(&img), "several page sizes");
    patch(&img, 65526, &[0; 10]);
    // Bad pages stay mapped.
    patch(&img, 1032, &2u32.to_le_bytes());
    patch(
        &img,
        1536,
        &[7u32.to_le_bytes(), 9u32.to_le_bytes()].concat(),
    );
    let report = scan_file(&img);
    assert_free(&report, "swap");
    assert_eq!(
        report.free.as_slice(),
        [
            (4096, 7 * 4096),
            (8 * 4096, 9 * 4096),
            (10 * 4096, 16 << 20)
        ]
    );
}

#[test]
fn swap_is_not_fat_and_fat_is_not_swap() {
    let dir = workdir();
    let img = make_swap(dir.path(), None, 16);
    let open = |p: &Path| crate::source::LocalFile::open(p).expect("open");
    assert!(!(crate::scan::fat::PARSER.detect)(&open(&img)));
    assert!(!(crate::scan::exfat::PARSER.detect)(&open(&img)));
    let fat = dir.path().join("fat.img");
    run("mkfs.vfat", &["-C", fat.to_str().expect("utf-8"), "16384"]);
    assert!(!(super::PARSER.detect)(&open(&fat)));
}
