//! Interoperability with Debian's bmaptool, both ways, and `create` giving bmaptool's answer.

use std::path::Path;

use blockprint::bmap::Bmap;

use crate::harness::support::{
    Mounted, blockprint, mixed_image, require_tool, scratch, sh, sparse_image, unpack, vectors,
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

fn create_both(dir: &Path) {
    let image = mixed_image(dir);
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
    assert_same_bmap(&ours, &theirs);
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
