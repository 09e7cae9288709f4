//! Every refusal the parser makes, provoked on a copy of a real image: the whole filesystem
//! mapped with a reason, or (for doubts about chunk interiors only) level A with a note.

use std::path::Path;

use super::oracle::Dump;
use super::patch::{bump_item_u64, super_u64, write};
use super::{mkfs_image, path_str};
use crate::scan::Verdict;
use crate::scan::testing::{run, scan_file, source_tree};

/// What a case must produce.
enum Expect {
    /// Mapped whole, the reason containing this.
    Whole(&'static str),
    /// Free space from level A only, a note containing this.
    LevelA(&'static str),
}

type Edit = fn(&Path, &Dump);

fn any(_: &[u8]) -> bool {
    true
}

/// A regular (not inline, not hole) file extent.
fn regular(data: &[u8]) -> bool {
    data.len() >= 53 && data[20] == 1 && data[21..29].iter().any(|&b| b != 0)
}

fn set_flags(bit: u64) -> impl Fn(&Path, &Dump) {
    move |img, _| super_u64(img, 0x38, |v| v | bit)
}

const CASES: &[(&str, Edit, Expect)] = &[
    (
        "superblock checksum",
        |img, _| write(img, 0x10000 + 0x12B, b"X"),
        Expect::Whole("checksum does not match"),
    ),
    (
        "two devices",
        |img, _| super_u64(img, 0x88, |_| 2),
        Expect::Whole("2 devices"),
    ),
    (
        "seeding flag",
        |img, d| set_flags(1 << 32)(img, d),
        Expect::Whole("seeding"),
    ),
    (
        "error flag",
        |img, d| set_flags(1 << 2)(img, d),
        Expect::Whole("having errors"),
    ),
    (
        "metadata dump",
        |img, d| set_flags(1 << 33)(img, d),
        Expect::Whole("metadata dump"),
    ),
    (
        "unknown superblock flag",
        |img, d| set_flags(1 << 50)(img, d),
        Expect::Whole("unknown superblock flags"),
    ),
    (
        "zoned",
        |img, _| super_u64(img, 0xBC, |v| v | 1 << 12),
        Expect::Whole("zoned"),
    ),
    (
        "extent tree v2",
        |img, _| super_u64(img, 0xBC, |v| v | 1 << 13),
        Expect::Whole("extent_tree_v2"),
    ),
    (
        "unknown incompat bit",
        |img, _| super_u64(img, 0xBC, |v| v | 1 << 40),
        Expect::Whole("unknown incompat"),
    ),
    (
        "unknown compat_ro bit",
        |img, _| super_u64(img, 0xB4, |v| v | 1 << 20),
        Expect::Whole("unknown compat_ro"),
    ),
    (
        "unknown compat bit",
        |img, _| super_u64(img, 0xAC, |v| v | 1),
        Expect::Whole("unknown compat feature"),
    ),
    (
        "unknown checksum type",
        |img, _| super_u64(img, 0xC4, |v| v & !0xFFFF | 7),
        Expect::Whole("unknown checksum type 7"),
    ),
    (
        "sys_chunk_array too large",
        |img, _| super_u64(img, 0xA0, |v| v & !0xFFFF_FFFF | 3000),
        Expect::Whole("exceeds 2048"),
    ),
    (
        "size vs device size",
        |img, _| super_u64(img, 0x70, |v| v + 4096),
        Expect::Whole("differs from its one device"),
    ),
    (
        "filesystem larger than its region",
        |img, _| {
            run("truncate", &["-s", "200M", path_str(img)]);
        },
        Expect::Whole("larger than its region"),
    ),
    (
        "region ends inside the superblock",
        |img, _| {
            run("truncate", &["-s", "65636", path_str(img)]);
        },
        Expect::Whole("cannot read the superblock"),
    ),
    (
        "chunk tree damaged",
        |img, d| break_tree(img, d, "chunk_root"),
        Expect::Whole("chunk tree"),
    ),
    (
        "root tree damaged",
        |img, d| break_tree(img, d, "root"),
        Expect::Whole("root tree"),
    ),
    (
        "device tree damaged",
        |img, d| break_tree(img, d, "DEV_TREE"),
        Expect::Whole("device tree"),
    ),
    (
        "device extent length",
        |img, d| bump_item_u64(img, d, (4, 204, &any), 24, 4096),
        Expect::Whole("chunk stripes and device extents disagree"),
    ),
    (
        "device item bytes_used",
        |img, d| bump_item_u64(img, d, (3, 216, &any), 16, 4096),
        Expect::Whole("device item disagrees"),
    ),
    (
        "extent tree damaged",
        |img, d| break_tree(img, d, "EXTENT_TREE"),
        Expect::LevelA("extent tree"),
    ),
    (
        "block group used",
        |img, d| bump_item_u64(img, d, (2, 192, &any), 0, 4096),
        Expect::LevelA("bytes are used, its extents add up to"),
    ),
    (
        "file extent outside the extent tree",
        |img, d| bump_item_u64(img, d, (5, 108, &regular), 21, 1 << 30),
        Expect::LevelA("file extent at logical"),
    ),
    (
        "log tree",
        |img, _| super_u64(img, 0x60, |_| 1 << 30),
        Expect::LevelA("log tree"),
    ),
];

/// Makes every copy of a tree's root block fail its checksum: the superblock's root or
/// chunk root, or a root item's tree.
fn break_tree(img: &Path, dump: &Dump, which: &str) {
    let logical = match which {
        "root" | "chunk_root" => {
            let sup = run("btrfs", &["inspect-internal", "dump-super", path_str(img)]);
            sup.lines()
                .find_map(|l| l.strip_prefix(which).and_then(|r| r.strip_prefix('\t')))
                .and_then(|r| r.trim().parse().ok())
                .expect("root address")
        }
        tree => super::oracle::tree_root(img, tree),
    };
    super::patch::break_block(img, dump, logical);
}

#[test]
fn refusals_name_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    source_tree(&src, true);
    let base = mkfs_image(dir.path(), &src, 256 << 20, &[]);
    let dump = Dump::read(&base);
    for (name, edit, expect) in CASES {
        let img = dir.path().join("case.img");
        run("cp", &["--sparse=always", path_str(&base), path_str(&img)]);
        edit(&img, &dump);
        let report = scan_file(&img);
        let verdict = &report.findings[0].verdict;
        match (expect, verdict) {
            (Expect::Whole(want), Verdict::MapWhole { fs, reason }) => {
                assert_eq!(fs, "btrfs", "{name}");
                assert!(
                    reason.contains(want),
                    "{name}: reason {reason:?} lacks {want:?}"
                );
                eprintln!("refused, {name}: {reason}");
            }
            (Expect::LevelA(want), Verdict::Free { notes, .. }) => {
                let note = notes.iter().find(|n| n.starts_with("level A only"));
                assert!(
                    note.is_some_and(|n| n.contains(want)),
                    "{name}: notes {notes:?} lack {want:?}"
                );
                eprintln!("level A, {name}: {}", note.map_or("", String::as_str));
            }
            (_, other) => panic!("{name}: unexpected verdict {other:?}"),
        }
    }
}
