use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::map::Run;
use super::*;
use crate::firstboot::rootfs::lookup;
use crate::firstboot::testing::{debugfs, ext_image, inode_at, inode_of, tree, write_at};

/// A symlink target longer than the 60 bytes a fast symlink holds.
const SLOW: &str = "./usr/../usr/lib/./systemd/../systemd/././././././././././././systemd";

/// Paths without a symlink anywhere: found where debugfs finds them.
const PLAIN: &[&str] = &[
    "/etc",
    "/etc/hostname",
    "/etc/cloud/cloud.cfg",
    "/usr/lib/systemd/systemd",
    "/big/a-file-with-a-long-name-0000",
    "/big/a-file-with-a-long-name-1999",
    "/deep/a/b/c/d/file",
];

/// Paths through symlinks, and where they lead.
const LINKED: &[(&str, &str)] = &[
    ("/lib/systemd/systemd", "/usr/lib/systemd/systemd"),
    ("/sbin/init", "/usr/lib/systemd/systemd"),
    ("/slow", "/usr/lib/systemd/systemd"),
    ("/etc/cloud/up/cloud/cloud.cfg", "/etc/cloud/cloud.cfg"),
    ("/c1", "/etc/hostname"),
    ("/./etc//../etc/hostname", "/etc/hostname"),
];

/// Paths that are not there.
const MISSING: &[&str] = &[
    "/nothing",
    "/etc/hostname/below",
    "/dangling",
    "/big/a-file-with-a-long-name-2000",
];

/// A root filesystem's tree at `root`: a directory of 2000 entries, merged /usr, a slow
/// symlink, a link to a directory, a loop and a chain of nine links.
fn sample(root: &Path) {
    let names: Vec<String> = (0..2000)
        .map(|i| format!("big/a-file-with-a-long-name-{i:04}"))
        .collect();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("etc/hostname", b"pi\n"),
        ("etc/cloud/cloud.cfg", b"users: [default]\n"),
        ("usr/lib/systemd/systemd", b"\x7fELF"),
        ("deep/a/b/c/d/file", b"deep\n"),
    ];
    files.extend(names.iter().map(|n| (n.as_str(), &b""[..])));
    let chain: Vec<(String, String)> = (0..8)
        .map(|i| (format!("c{i}"), format!("c{}", i + 1)))
        .chain([("c8".into(), "etc/hostname".into())])
        .collect();
    let mut links: Vec<(&str, &str)> = vec![
        ("lib", "usr/lib"),
        ("sbin/init", "/lib/systemd/systemd"),
        ("slow", SLOW),
        ("etc/cloud/up", ".."),
        ("loop-a", "loop-b"),
        ("loop-b", "/loop-a"),
        ("dangling", "nowhere"),
    ];
    links.extend(chain.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    tree(root, &files, &links);
}

/// An image made by mke2fs with `options` from [`sample`], its directories indexed by
/// `e2fsck -fD` when `htree`.
fn make(dir: &Path, options: &[&str], mib: u64, htree: bool) -> PathBuf {
    let from = dir.join("tree");
    if !from.exists() {
        sample(&from);
    }
    let image = dir.join(format!("{}.img", options.join("").replace(['-', ','], "")));
    ext_image(&image, options, mib, &from);
    if htree {
        let status = Command::new("e2fsck")
            .args(["-fyD", image.to_str().expect("UTF-8")])
            .output()
            .expect("run e2fsck; run build-aux/install-deps");
        // 1: it changed the filesystem (the indexes), as asked.
        assert!(matches!(status.status.code(), Some(0 | 1)), "{status:?}");
    }
    image
}

fn open(image: &Path) -> Ext<File> {
    Ext::open(File::open(image).expect("open"), 1 << 30).expect("an ext filesystem")
}

fn number<R: Read + Seek>(fs: &mut Ext<R>, path: &str) -> Result<Option<u32>> {
    lookup(fs, path).map(|found| found.map(|inode| inode.number))
}

#[test]
fn lookups_agree_with_debugfs_on_every_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layouts: &[(&[&str], u64, bool)] = &[
        (&["-t", "ext4", "-b", "4096"], 32, true),
        (
            &["-t", "ext4", "-b", "4096", "-O", "inline_data"],
            32,
            false,
        ),
        (&["-t", "ext4", "-b", "1024"], 32, true),
        (
            &["-t", "ext4", "-b", "4096", "-O", "^extent,^64bit"],
            32,
            true,
        ),
        (
            &["-t", "ext4", "-O", "^64bit,^flex_bg,meta_bg,^resize_inode"],
            32,
            false,
        ),
        (
            &["-t", "ext4", "-b", "4096", "-O", "bigalloc", "-C", "16384"],
            64,
            false,
        ),
        (&["-t", "ext3", "-b", "4096"], 32, true),
        (&["-t", "ext2", "-b", "1024"], 16, false),
        (&["-t", "ext2", "-I", "128"], 16, false),
    ];
    assert!(SLOW.len() > 60);
    for (options, mib, htree) in layouts {
        let image = make(dir.path(), options, *mib, *htree);
        let mut fs = open(&image);
        for path in PLAIN {
            let want = inode_of(&image, path);
            assert_eq!(number(&mut fs, path), Ok(Some(want)), "{options:?} {path}");
        }
        for (path, target) in LINKED {
            let want = inode_of(&image, target);
            assert_eq!(number(&mut fs, path), Ok(Some(want)), "{options:?} {path}");
        }
        for path in MISSING {
            assert_eq!(number(&mut fs, path), Ok(None), "{options:?} {path}");
        }
        // Nine links in a row, and a loop: refused, not followed for ever.
        for path in ["/c0", "/loop-a", "/loop-b/etc"] {
            let err = number(&mut fs, path).expect_err(path);
            assert!(err.contains("more than 8 symlinks"), "{err}");
        }
        let root = fs.inode(ROOT).expect("root");
        let slow = fs.find(&root, b"slow").expect("read").expect("found");
        let slow = fs.inode(slow).expect("inode");
        assert_eq!(fs.link(&slow).expect("target"), SLOW.as_bytes());
        let stat = debugfs(&image, "stat /slow");
        let inline = options.contains(&"inline_data");
        // With inline_data, the target is kept in the inode and an extended attribute.
        let stored = inline == (slow.flags & FLAG_INLINE_DATA != 0);
        assert!(
            stored && (inline || !stat.contains("Fast link dest")),
            "{stat}"
        );
        // What each layout is meant to exercise is there.
        let big = fs.inode(inode_of(&image, "/big")).expect("big");
        assert!(
            big.size > 16 * fs.geometry.block_size,
            "{options:?}: many blocks"
        );
        assert_eq!(*htree, big.flags & 0x1000 != 0, "{options:?}: htree");
        let etc = fs.inode(inode_of(&image, "/etc")).expect("etc");
        assert_eq!(inline, etc.flags & FLAG_INLINE_DATA != 0, "{options:?}");
        let extents = !options.iter().any(|o| o.contains("^extent")) && options[1] == "ext4";
        assert_eq!(
            extents,
            big.flags & FLAG_EXTENTS != 0,
            "{options:?}: extents"
        );
    }
}

/// The (logical, physical) blocks debugfs lists for `path`, metadata blocks left out.
fn debugfs_blocks(image: &Path, path: &str) -> Vec<(u64, u64)> {
    let out = debugfs(image, &format!("stat {path}"));
    let list = out
        .split_once("BLOCKS:")
        .or_else(|| out.split_once("EXTENTS:"))
        .map(|(_, rest)| rest.split("TOTAL").next().unwrap_or(rest))
        .unwrap_or_else(|| panic!("no block list: {out}"));
    let range = |text: &str| -> (u64, u64) {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        (a.trim().parse().expect("a"), b.trim().parse().expect("b"))
    };
    let mut blocks = Vec::new();
    for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (logical, physical) = token.split_once("):").expect("(L):P");
        let logical = logical.trim_start_matches('(');
        if !logical.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let ((from, to), (at, _)) = (range(logical), range(physical));
        blocks.extend((from..=to).map(|l| (l, at + l - from)));
    }
    blocks
}

fn expand(runs: &[Run]) -> Vec<(u64, u64)> {
    let mut blocks: Vec<(u64, u64)> = runs
        .iter()
        .flat_map(|r| (0..r.len).map(move |k| (r.logical + k, r.physical + k)))
        .collect();
    blocks.sort_unstable();
    blocks
}

#[test]
fn block_maps_agree_with_debugfs_through_triple_indirect_blocks_and_deep_extent_trees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = dir.path().join("tree");
    std::fs::create_dir(&from).expect("mkdir");
    // Blocks of 1 KiB: 12 direct, 256 single, 65536 double, then triple indirect.
    let sparse = from.join("sparse");
    File::create(&sparse).expect("create");
    for block in [0u64, 11, 12, 200, 268, 5000, 65_804, 70_000] {
        write_at(&sparse, block << 10, &[0x5A; 1024]);
    }
    // Every other 4 KiB block: 1500 extents, more than one level of index holds.
    let islands = from.join("islands");
    File::create(&islands).expect("create");
    for i in 0..1500u64 {
        write_at(&islands, (i * 2) << 12, &[0xA5; 4096]);
    }
    let ext2 = dir.path().join("ext2.img");
    ext_image(&ext2, &["-t", "ext2", "-b", "1024"], 16, &from);
    let ext4 = dir.path().join("ext4.img");
    ext_image(&ext4, &["-t", "ext4", "-b", "4096"], 64, &from);
    for (image, name) in [(&ext2, "sparse"), (&ext4, "islands")] {
        let mut fs = open(image);
        let inode = fs.inode(inode_of(image, name)).expect("inode");
        let last = inode.size.div_ceil(fs.geometry.block_size);
        let all = fs.map(&inode, 0..last).expect("mapped");
        let want = debugfs_blocks(image, name);
        assert!(want.len() >= 8, "{want:?}");
        let got = expand(&all);
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!((got.len(), first), (want.len(), None), "{name}");
        // A piece of the file: only the runs that reach into it.
        let piece = fs.map(&inode, 268..5001).expect("mapped");
        let inside: Vec<_> = want
            .iter()
            .copied()
            .filter(|(l, _)| (268..5001).contains(l))
            .collect();
        let got: Vec<_> = expand(&piece)
            .into_iter()
            .filter(|(l, _)| (268..5001).contains(l))
            .collect();
        assert!(
            got == inside,
            "{name}: {} blocks, not {}",
            got.len(),
            inside.len()
        );
    }
    let mut fs = open(&ext4);
    let islands = fs.inode(inode_of(&ext4, "islands")).expect("inode");
    assert!(u16_at(&islands.block, 6) >= 2, "a tree two levels deep");
}

#[test]
fn damaged_structures_are_errors_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = make(dir.path(), &["-t", "ext4", "-b", "4096"], 32, false);
    let clean = std::fs::read(&image).expect("read");
    let bs = open(&image).geometry.block_size;
    let root = inode_at(&image, ROOT, bs);
    let etc = inode_at(&image, inode_of(&image, "/etc"), bs);
    let big = inode_at(&image, inode_of(&image, "/big"), bs);
    let etc_block = debugfs(&image, "bmap /etc 0")
        .trim()
        .parse::<usize>()
        .expect("block");
    let etc_dir = etc_block * usize::try_from(bs).expect("fits");
    type Damage = (&'static str, Box<dyn Fn(&mut Vec<u8>)>);
    let set16 =
        |at: usize, v: u16| move |b: &mut Vec<u8>| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let set32 =
        |at: usize, v: u32| move |b: &mut Vec<u8>| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let or32 = |at: usize, v: u32| {
        move |b: &mut Vec<u8>| {
            let was = u32_at(b, at);
            b[at..at + 4].copy_from_slice(&(was | v).to_le_bytes());
        }
    };
    let damages: Vec<Damage> = vec![
        ("no ext2/3/4 superblock", Box::new(set16(1024 + 0x38, 0))),
        ("needs replaying", Box::new(or32(1024 + 0x60, 0x4))),
        (
            "incompatible features 0x1000",
            Box::new(or32(1024 + 0x60, 0x1000)),
        ),
        ("inode size", Box::new(set16(1024 + 0x58, 100))),
        ("damaged extent tree", Box::new(set16(root + 0x28, 0xF30B))),
        ("damaged extent tree", Box::new(set16(root + 0x28 + 6, 6))),
        ("damaged extent tree", Box::new(set16(root + 0x28 + 2, 5))),
        (
            "an extent of",
            Box::new(set32(root + 0x28 + 12 + 8, 0xFFFF_FFF0)),
        ),
        ("not in use", Box::new(set16(etc + 0x1A, 0))),
        ("does not fit", Box::new(set16(etc_dir + 4, 0))),
        ("does not fit", Box::new(set16(etc_dir + 4, 4100))),
        ("more than a lookup reads", Box::new(set32(big + 0x6C, 1))),
    ];
    for (want, damage) in damages {
        let mut bytes = clean.clone();
        damage(&mut bytes);
        let disk = std::io::Cursor::new(bytes);
        let err = Ext::open(disk, 1 << 30).and_then(|mut fs| {
            for path in ["/etc/hostname", "/big/a-file-with-a-long-name-1999"] {
                number(&mut fs, path)?;
            }
            Ok(())
        });
        let err = err.expect_err(want);
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn flipped_bytes_anywhere_in_the_metadata_never_panic_or_run_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = make(dir.path(), &["-t", "ext4", "-b", "1024"], 16, true);
    let clean = std::fs::read(&image).expect("read");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut bytes = clean.clone();
        for _ in 0..8 {
            let at = usize::try_from(next() % (2 << 20)).expect("fits");
            bytes[at] ^= 1 << (next() % 8);
        }
        let disk = std::io::Cursor::new(bytes);
        let Ok(mut fs) = Ext::open(disk, 64 << 20) else {
            continue;
        };
        for path in PLAIN
            .iter()
            .chain(MISSING)
            .chain(["/lib/systemd/systemd", "/slow"].iter())
        {
            let _ = number(&mut fs, path);
        }
        assert!(fs.budget_left() <= 64 << 20);
    }
}

#[test]
fn directory_entries_are_read_within_their_bounds() {
    let entry = |inode: u32, len: u16, name: &[u8]| {
        let mut e = inode.to_le_bytes().to_vec();
        e.extend(len.to_le_bytes());
        e.extend([u8::try_from(name.len()).expect("short"), 1]);
        e.extend(name);
        e.resize(usize::from(len), 0);
        e
    };
    let mut block = entry(12, 12, b".");
    block.extend(entry(0, 16, b"gone"));
    block.extend(entry(13, 20, b"hostname"));
    assert_eq!(entries(&block, b"hostname", true, 1024), Ok(Some(13)));
    assert_eq!(
        entries(&block, b"gone", true, 1024),
        Ok(None),
        "inode 0 is free"
    );
    assert_eq!(entries(&block, b"host", true, 1024), Ok(None));
    // Without the filetype feature the name length has two bytes.
    let mut old = entry(14, 16, b"hosts");
    old[7] = 0;
    assert_eq!(entries(&old, b"hosts", false, 1024), Ok(Some(14)));
    let mut long = entry(15, 12, b"abcd");
    long[6] = 5;
    assert!(entries(&long, b"abcde", true, 1024).is_err());
    for bad in [8u16, 14, 24] {
        let mut e = entry(16, 12, b"x");
        e[4..6].copy_from_slice(&bad.to_le_bytes());
        assert!(entries(&e, b"y", true, 1024).is_err(), "{bad}");
    }
}
