//! The Image step's facts, read from real files: bmaptool's test vectors, and ext4 images
//! made by mkfs.ext4.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bmaptool")
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[test]
fn a_compressed_image_with_its_bmap_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("test.image.gz");
    copy(&vectors().join("test.image.gz"), &image);
    copy(
        &vectors().join("test.image.bmap.v2.0"),
        &dir.path().join("test.image.bmap"),
    );
    let info = inspect(&Input::Path(image.clone()), None).unwrap();
    assert_eq!(info.name, "test.image.gz");
    assert_eq!(info.layers.len(), 1);
    assert_eq!(info.layers[0].format.to_string(), "gzip");
    assert_eq!(
        info.stored_size,
        Some(std::fs::metadata(&image).unwrap().len())
    );
    let BmapState::Found { location, bmap } = &info.bmap else {
        panic!("expected the bmap, got {:?}", info.bmap);
    };
    assert!(location.ends_with("test.image.bmap"), "{location}");
    assert_eq!(info.image_size, Some(bmap.image_size()));
    assert_eq!(info.signature, SignatureState::Unsigned);
    assert!(!info.blocked());
}

#[test]
fn no_bmap_a_broken_bmap_and_a_missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("plain.img");
    std::fs::write(&image, vec![7u8; 8192]).unwrap();
    let info = inspect(&Input::Path(image.clone()), None).unwrap();
    assert!(matches!(info.bmap, BmapState::Missing));
    assert_eq!(info.signature, SignatureState::NoBmap);
    assert_eq!(info.image_size, Some(8192));
    assert!(info.usable_bmap().is_none() && !info.blocked());

    std::fs::write(dir.path().join("plain.img.bmap"), "<bmap version='2.0'>").unwrap();
    let info = inspect(&Input::Path(image.clone()), None).unwrap();
    assert!(
        matches!(&info.bmap, BmapState::Invalid { location, .. } if location.ends_with("plain.img.bmap")),
        "{:?}",
        info.bmap
    );
    assert!(info.blocked(), "a broken bmap is never ignored quietly");

    // A block map the user chose wins over the one beside the image.
    let chosen = dir.path().join("chosen.bmap");
    copy(&vectors().join("test.image.bmap.v1.4"), &chosen);
    let info = inspect(&Input::Path(image.clone()), Some(&Input::Path(chosen))).unwrap();
    assert!(matches!(info.bmap, BmapState::Found { .. }));

    let err = inspect(&Input::Path(dir.path().join("gone.img")), None).unwrap_err();
    assert!(format!("{err:#}").contains("gone.img"), "{err:#}");
}

fn mkfs_ext4(path: &Path) {
    std::fs::File::create(path).unwrap();
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
        .arg(path)
        .arg("32M")
        .status()
        .expect("mkfs.ext4 (apt install e2fsprogs)");
    assert!(status.success());
}

#[test]
fn scanning_maps_only_what_the_filesystem_uses_even_through_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("root.img");
    mkfs_ext4(&image);
    let cancel = CancelToken::new();
    let scratch = dir.path().join("scratch");
    let bmap = scan_bmap(&Input::Path(image.clone()), &scratch, &cancel).unwrap();
    assert_eq!(bmap.image_size(), 32 << 20);
    assert!(
        bmap.mapped_bytes() < bmap.image_size() / 4,
        "an empty ext4 is mostly free: {} of {}",
        bmap.mapped_bytes(),
        bmap.image_size()
    );

    let status = Command::new("gzip").arg("-k").arg(&image).status().unwrap();
    assert!(status.success());
    let packed = dir.path().join("root.img.gz");
    let from_gzip = scan_bmap(&Input::Path(packed), &scratch, &cancel).unwrap();
    assert_eq!(from_gzip.ranges(), bmap.ranges());
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "the decoded copy is removed"
    );
}
