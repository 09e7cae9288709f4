//! `blockprint create`: output forms, options, warnings and refusals.

use std::path::Path;

use blockprint::bmap::Bmap;
use blockprint::create::{CreateOptions, create};
use blockprint::mapping::Method;
use blockprint::progress::{CancelToken, NoProgress};

use crate::harness::support::{Mounted, blockprint, mixed_image, random_bytes, scratch};

#[test]
fn stdout_and_output_file_hold_the_same_bmap() {
    let dir = scratch();
    let image = mixed_image(dir.path());
    let out = dir.path().join("mixed.bmap");
    let to_stdout = blockprint(["create", image.to_str().unwrap()]);
    assert!(
        to_stdout.ok().contains("created bmap of"),
        "{}",
        to_stdout.stderr
    );
    blockprint([
        "-q",
        "create",
        "-o",
        out.to_str().unwrap(),
        image.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(std::fs::read(&out).unwrap(), to_stdout.stdout);
    let bmap = Bmap::from_file(&out).unwrap();
    assert_eq!(bmap.image_size(), (4 << 20) + 3000);
    assert!(bmap.ranges().iter().all(|r| r.checksum.is_some()));
    // Written zeros and the preallocated extent are mapped, as bmaptool maps them.
    let spans: Vec<(u64, u64)> = bmap.ranges().iter().map(|r| (r.first, r.last)).collect();
    assert_eq!(
        spans,
        [(0, 7), (20, 23), (100, 163), (500, 501), (1024, 1024)]
    );
}

#[test]
fn no_checksum_leaves_out_range_checksums_only() {
    let dir = scratch();
    let image = mixed_image(dir.path());
    let out = dir.path().join("bare.bmap");
    blockprint([
        "create",
        "--no-checksum",
        "-o",
        out.to_str().unwrap(),
        image.to_str().unwrap(),
    ])
    .ok();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("<ChecksumType> sha256 </ChecksumType>"));
    assert!(text.contains("<BmapFileChecksum>"));
    assert!(!text.contains("chksum="));
    let bmap = Bmap::from_file(&out).unwrap();
    assert!(bmap.ranges().iter().all(|r| r.checksum.is_none()));
}

#[test]
fn a_fully_mapped_image_gets_a_warning() {
    let dir = scratch();
    let image = dir.path().join("full.img");
    std::fs::write(&image, random_bytes(7, 64 * 1024)).unwrap();
    let run = blockprint(["create", image.to_str().unwrap()]);
    assert!(
        run.ok().contains("warning: all blocks of"),
        "{}",
        run.stderr
    );
}

#[test]
fn refusals_name_the_file() {
    let dir = scratch();
    let empty = dir.path().join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    blockprint(["create", empty.to_str().unwrap()]).fails_with(&["image '", "empty.img' is empty"]);
    blockprint(["create", dir.path().to_str().unwrap()]).fails_with(&["is not a regular file"]);
    blockprint(["create", "/nonexistent.img"])
        .fails_with(&["cannot open image '/nonexistent.img'"]);
    let image = mixed_image(dir.path());
    blockprint([
        "create",
        "-o",
        "/nonexistent/dir/x.bmap",
        image.to_str().unwrap(),
    ])
    .fails_with(&["cannot write bmap file '/nonexistent/dir/x.bmap'"]);
}

fn method_on(dir: &Path) -> Method {
    let image = mixed_image(dir);
    create(
        &image,
        CreateOptions::default(),
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap()
    .method
}

#[test]
fn fiemap_on_ext4_and_seek_hole_on_tmpfs() {
    let dir = scratch();
    assert_eq!(
        method_on(dir.path()),
        Method::Fiemap,
        "target/tmp should be on a FIEMAP filesystem"
    );
    let tmpfs = Mounted::tmpfs(&dir.path().join("tmpfs"));
    assert_eq!(method_on(&tmpfs.path), Method::SeekHole);
}

#[test]
fn cancelling_stops_hashing() {
    let dir = scratch();
    let image = mixed_image(dir.path());
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = create(&image, CreateOptions::default(), &mut NoProgress, &cancel).unwrap_err();
    assert!(
        matches!(err, blockprint::create::CreateError::Cancelled),
        "{err}"
    );
}
