//! Interoperability with Debian's bmaptool, both ways, and `create` mapping what bmaptool maps
//! (the same ranges, but for runs it cuts at every 64 MiB).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blockprint::bmap::{Bmap, LONGEST_RANGE_MADE};

use crate::harness::support::{
    Mounted, blockprint, mixed_image, random_bytes, require_tool, scratch, sh, sparse_image,
    unpack, vectors,
};

fn bmaptool(args: &[&str]) -> String {
    require_tool("bmaptool");
    sh("bmaptool", args)
}

fn assert_same_bmap(ours: &Path, theirs: &Path) {
    let (a, b) = (
        Bmap::from_file(ours).unwrap(),
        Bmap::from_file(theirs).unwrap(),
    );
    assert_eq!(a.image_size(), b.image_size());
    assert_eq!(a.block_size(), b.block_size());
    assert_eq!(a.blocks_count(), b.blocks_count());
    assert_eq!(a.mapped_blocks_count(), b.mapped_blocks_count());
    assert_eq!(a.checksum_type(), b.checksum_type());
    assert_eq!(a.ranges(), b.ranges(), "ranges or checksums differ");
}

/// Runs of adjacent ranges joined: the blocks a bmap maps, however its ranges are cut.
fn mapped_runs(bmap: &Bmap) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for range in bmap.ranges() {
        match runs.last_mut() {
            Some(run) if run.1 + 1 == range.first => run.1 = range.last,
            _ => runs.push((range.first, range.last)),
        }
    }
    runs
}

fn create_both(dir: &Path) {
    let image = mixed_image(dir);
    let (ours, theirs) = create_both_of(dir, &image);
    assert_same_bmap(&ours, &theirs);
}

/// Our bmap and bmaptool's of `image`, as files in `dir`.
fn create_both_of(dir: &Path, image: &Path) -> (PathBuf, PathBuf) {
    let ours = dir.join("ours.bmap");
    let theirs = dir.join("theirs.bmap");
    blockprint([
        "-q",
        "create",
        "-o",
        ours.to_str().unwrap(),
        image.to_str().unwrap(),
    ])
    .ok();
    bmaptool(&[
        "-q",
        "create",
        "-o",
        theirs.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    (ours, theirs)
}

#[test]
fn create_matches_bmaptool_create_on_ext4() {
    let dir = scratch();
    create_both(dir.path());
}

#[test]
fn create_matches_bmaptool_create_on_tmpfs() {
    let dir = scratch();
    let tmpfs = Mounted::tmpfs(&dir.path().join("tmpfs"));
    create_both(&tmpfs.path);
}

/// A run of mapped blocks across a multiple of 64 MiB is several ranges in our bmap, one in
/// bmaptool's: the same blocks are mapped, the short ranges are equal, and bmaptool copies and
/// verifies with ours.
#[test]
fn create_cuts_a_long_run_into_ranges_bmaptool_verifies() {
    let dir = scratch();
    let image = dir.path().join("long.img");
    let file = std::fs::File::create(&image).unwrap();
    file.set_len(96 << 20).unwrap();
    file.write_all_at(&random_bytes(21, 4096), 0).unwrap();
    file.write_all_at(&random_bytes(22, (70 << 20) + 5000), 1 << 20)
        .unwrap();
    drop(file);
    let (ours, theirs) = create_both_of(dir.path(), &image);
    let (a, b) = (
        Bmap::from_file(&ours).unwrap(),
        Bmap::from_file(&theirs).unwrap(),
    );
    assert_eq!(mapped_runs(&a), mapped_runs(&b));
    assert_eq!(a.mapped_blocks_count(), b.mapped_blocks_count());
    assert_eq!(b.ranges().len(), 2, "bmaptool: one range per run");
    assert_eq!(a.ranges().len(), 3, "ours: the run cut at 64 MiB");
    assert_eq!(
        a.ranges().get(1).map(|r| (r.last + 1) * a.block_size()),
        Some(LONGEST_RANGE_MADE)
    );
    assert!(
        a.ranges()
            .iter()
            .all(|r| r.blocks() * a.block_size() <= LONGEST_RANGE_MADE)
    );
    assert_eq!(
        a.ranges().get(0),
        b.ranges().get(0),
        "the 4 KiB run is one range in both"
    );
    let out = dir.path().join("by-bmaptool");
    bmaptool(&[
        "copy",
        "--bmap",
        ours.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
}

#[test]
fn bmaptool_copies_with_our_bmaps() {
    let dir = scratch();
    let (image, bmap, content) = sparse_image(dir.path(), (6 << 20) + 1000);
    let out = dir.path().join("by-bmaptool");
    bmaptool(&[
        "copy",
        "--bmap",
        bmap.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), content);

    // --no-checksum output too.
    let bare = dir.path().join("bare.bmap");
    blockprint([
        "-q",
        "create",
        "--no-checksum",
        "-o",
        bare.to_str().unwrap(),
        image.to_str().unwrap(),
    ])
    .ok();
    bmaptool(&[
        "copy",
        "--bmap",
        bare.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), content);

    // Every upstream version, read by us and written back as 2.0, is accepted by bmaptool,
    // including the SHA-1 checksums of 1.2 and 1.3.
    let test_image = unpack("test.image.gz", dir.path(), "test.image");
    let expected = std::fs::read(&test_image).unwrap();
    for version in ["1.2", "1.3", "1.4", "2.0"] {
        let bmap = Bmap::from_file(&vectors().join(format!("test.image.bmap.v{version}"))).unwrap();
        let rewritten = dir.path().join(format!("rewritten-{version}.bmap"));
        std::fs::write(&rewritten, bmap.to_xml()).unwrap();
        let out = dir.path().join(format!("out-{version}"));
        bmaptool(&[
            "copy",
            "--bmap",
            rewritten.to_str().unwrap(),
            test_image.to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        assert_eq!(std::fs::read(&out).unwrap(), expected, "v{version}");
    }
}

#[test]
fn we_copy_with_bmaptool_bmaps() {
    let dir = scratch();
    let image = mixed_image(dir.path());
    let theirs = dir.path().join("theirs.bmap");
    bmaptool(&[
        "-q",
        "create",
        "-o",
        theirs.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    let out = dir.path().join("by-blockprint");
    blockprint([
        "-q",
        "copy",
        "--bmap",
        theirs.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
}
