//! XFS against the real tools: mkfs.xfs images populated from a protofile, flashed onto
//! garbage (every byte the scan calls free overwritten with random data), then judged by
//! xfs_repair, by reading every file back, and against two oracles (xfs_db freesp, partclone).
//!
//! Protofiles cannot hold names with spaces or hard links: the tree's unicode name gets an
//! underscore for its space, and the hard link becomes a second file with the same bytes.
//! The test kernel does not mount v4 filesystems, so v4 files are read back through their
//! extent maps as xfs_db prints them; v5 files through a `ro,norecovery` loop mount.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::crc32c;
use crate::scan::testing::{assert_subset, garbled, run, scan_file, source_tree, try_run};
use crate::scan::{Ranges, ScanReport, Verdict};

pub(in crate::scan) mod fuzz;

/// One mkfs.xfs variant of fs-scan.md §3.6.
struct Variant {
    name: &'static str,
    size: u64,
    args: &'static [&'static str],
    v4: bool,
    /// Mounted read-write and used by the kernel after mkfs (writes, deletes, a clean
    /// unmount): a log written by the kernel, and free blocks that still hold old data.
    kernel: bool,
}

const GIB: u64 = 1 << 30;

const fn variant(name: &'static str, size: u64, args: &'static [&'static str]) -> Variant {
    Variant {
        name,
        size,
        args,
        v4: false,
        kernel: false,
    }
}

const VARIANTS: &[Variant] = &[
    variant("1G", GIB, &[]),
    variant("4G sparse", 4 * GIB, &[]),
    variant("rmapbt+reflink", GIB, &["-m", "rmapbt=1,reflink=1"]),
    variant("1 KiB blocks", GIB, &["-b", "size=1024"]),
    Variant {
        v4: true,
        ..variant("v4 (crc=0)", GIB, &["-m", "crc=0"])
    },
    Variant {
        kernel: true,
        ..variant("kernel-written", GIB, &[])
    },
];

/// The source tree, made protofile-friendly (see the module comment).
pub(super) fn tree(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    source_tree(&tree, true);
    for entry in std::fs::read_dir(&tree).expect("tree") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.contains(' ') {
            std::fs::rename(&path, tree.join(name.replace(' ', "_"))).expect("rename");
        }
    }
    tree
}

/// A mkfs.xfs protofile describing `tree` (files by path, symlinks by target).
fn protofile(tree: &Path) -> String {
    fn entries(dir: &Path, out: &mut String) {
        let mut list: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        list.sort();
        for path in list {
            let name = path
                .file_name()
                .expect("name")
                .to_str()
                .expect("utf-8 name")
                .to_owned();
            assert!(
                !name.contains(char::is_whitespace),
                "protofiles cannot hold {name:?}"
            );
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("link");
                out.push_str(&format!("{name} l--777 0 0 {}\n", target.display()));
            } else if meta.is_dir() {
                out.push_str(&format!("{name} d--755 0 0\n"));
                entries(&path, out);
                out.push_str("$\n");
            } else {
                out.push_str(&format!("{name} ---644 0 0 {}\n", path.display()));
            }
        }
    }
    let mut out = String::from("/dev/null\n0 0\nd--755 0 0\n");
    entries(tree, &mut out);
    out.push_str("$\n");
    out
}

/// Builds an XFS image of `size` bytes from `tree` with extra mkfs arguments.
pub(super) fn make_image(
    dir: &Path,
    tree: &Path,
    size: u64,
    args: &[&str],
    envs: &[(&str, &str)],
) -> PathBuf {
    let proto = dir.join("proto");
    std::fs::write(&proto, protofile(tree)).expect("protofile");
    let image = dir.join("fs.img");
    std::fs::File::create(&image)
        .expect("image")
        .set_len(size)
        .expect("size");
    let mut command = Command::new("mkfs.xfs");
    command
        .args(["-q", "-f"])
        .args(args)
        .arg("-p")
        .arg(&proto)
        .arg(&image)
        .envs(envs.iter().copied());
    let out = command
        .output()
        .expect("mkfs.xfs (run build-aux/install-deps)");
    assert!(
        out.status.success(),
        "mkfs.xfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The free set of a scan, requiring that XFS was understood.
fn free_of(report: &ScanReport) -> Ranges {
    match &report.findings[0].verdict {
        Verdict::Free { .. } => report.free.clone(),
        other => panic!("expected free space, got {other:?}"),
    }
}

/// `(block size, blocks per AG)` as xfs_db reads them.
fn geometry(image: &Path) -> (u64, u64) {
    let out = run(
        "xfs_db",
        &[
            "-r",
            "-c",
            "sb 0",
            "-c",
            "p blocksize agblocks",
            path_str(image),
        ],
    );
    let value = |key: &str| -> u64 {
        out.lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .parse()
                    .ok()
            })
            .expect("sb field")
    };
    (value("blocksize"), value("agblocks"))
}

/// Oracle 1: the free extents xfs_db lists (AGFL blocks included).
fn freesp_oracle(image: &Path) -> Ranges {
    let (block, ag_blocks) = geometry(image);
    let out = run("xfs_db", &["-r", "-c", "freesp -d", path_str(image)]);
    out.lines()
        .filter_map(|line| {
            let n: Vec<u64> = line
                .split_whitespace()
                .map(|w| w.parse().ok())
                .collect::<Option<_>>()?;
            let [ag, bno, len] = n.as_slice() else {
                return None;
            };
            let start = (ag * ag_blocks + bno) * block;
            Some((start, start + len * block))
        })
        .collect()
}

/// Oracle 2: partclone's domain log (`+` = used; everything else free).
fn partclone_oracle(image: &Path, dir: &Path) -> Ranges {
    let domain = dir.join("partclone.dom");
    run(
        "partclone.xfs",
        &["-q", "-D", "-s", path_str(image), "-O", path_str(&domain)],
    );
    let text = std::fs::read_to_string(&domain).expect("domain log");
    text.lines()
        .filter(|l| l.starts_with("0x"))
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            if w.len() != 3 || w[2] == "+" {
                return None;
            }
            Some((hex(w[0])?, hex(w[0])? + hex(w[1])?))
        })
        .collect()
}

/// Mapped share according to `bmaptool create` (holes of the image file).
fn bmaptool_mapped(image: &Path, dir: &Path) -> f64 {
    let bmap = dir.join("image.bmap");
    run(
        "bmaptool",
        &["-q", "create", "-o", path_str(&bmap), path_str(image)],
    );
    let xml = std::fs::read_to_string(&bmap).expect("bmap");
    let field = |tag: &str| -> f64 {
        let open = format!("<{tag}>");
        // The element, not the comment above it that names the same tags.
        let rest = &xml[xml.rfind(&open).expect("tag") + open.len()..];
        rest[..rest.find('<').expect("close")]
            .trim()
            .parse()
            .expect("number")
    };
    100.0 * field("MappedBlocksCount") / field("BlocksCount")
}

fn mapped_share(free: u64, size: u64) -> f64 {
    100.0 * (size - free) as f64 / size as f64
}

/// A read-only loop mount, undone on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn new(image: &Path, at: PathBuf) -> Result<Self, String> {
        std::fs::create_dir_all(&at).expect("mount point");
        let (ok, out) = try_run(
            "mount",
            &[
                "-o",
                "ro,norecovery,nouuid,loop",
                path_str(image),
                path_str(&at),
            ],
        );
        if ok {
            Ok(Mounted(at))
        } else {
            Err(format!("mount failed: {out}"))
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Compares two trees entry by entry: names, kinds, symlink targets and file bytes.
pub(in crate::scan) fn compare_trees(a: &Path, b: &Path) -> Result<usize, String> {
    let names = |dir: &Path| -> Result<Vec<_>, String> {
        let mut list: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        list.sort();
        Ok(list)
    };
    let (left, right) = (names(a)?, names(b)?);
    if left != right {
        return Err(format!(
            "{} lists other names than {}",
            b.display(),
            a.display()
        ));
    }
    let mut files = 0;
    for name in left {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa),
            std::fs::symlink_metadata(&pb),
        );
        let (ma, mb) = (
            ma.map_err(|e| e.to_string())?,
            mb.map_err(|e| format!("{}: {e}", pb.display()))?,
        );
        if ma.file_type() != mb.file_type() {
            return Err(format!("{} changed kind", pb.display()));
        } else if ma.file_type().is_symlink() {
            if std::fs::read_link(&pa).ok() != std::fs::read_link(&pb).ok() {
                return Err(format!("{} points elsewhere", pb.display()));
            }
        } else if ma.is_dir() {
            files += compare_trees(&pa, &pb)?;
        } else {
            let (da, db) = (std::fs::read(&pa), std::fs::read(&pb));
            if da.map_err(|e| e.to_string())? != db.map_err(|e| format!("{}: {e}", pb.display()))? {
                return Err(format!("{} differs", pb.display()));
            }
            files += 1;
        }
    }
    Ok(files)
}

/// Every regular file of `tree`, read from `image` through the extent maps xfs_db prints
/// (for v4, which the test kernel cannot mount). Holes and unwritten extents read as zeros.
fn read_through_xfs_db(image: &Path, tree: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let (block, ag_blocks) = geometry(image);
    let ag_log = u64::BITS - (ag_blocks - 1).leading_zeros();
    let mut files = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                files.push(path.strip_prefix(tree).expect("inside").to_path_buf());
            }
        }
    }
    let mut args = vec!["-r".to_owned()];
    for file in &files {
        args.extend([
            "-c".into(),
            format!("path /{}", file.display()),
            "-c".into(),
            "p core.size".into(),
        ]);
        args.extend(["-c".into(), "bmap".into()]);
    }
    args.push(path_str(image).to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("xfs_db", &args);
    let bytes = std::fs::read(image).expect("image");
    let mut result: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut names = files.into_iter();
    for line in out.lines() {
        if let Some(size) = line.strip_prefix("core.size = ") {
            let name = names.next().expect("one size per file");
            result.push((name, vec![0; size.trim().parse().expect("size")]));
        } else if let Some(rest) = line.strip_prefix("data offset ") {
            // "data offset O startblock S (A/B) count C flag F"
            let w: Vec<&str> = rest.split_whitespace().collect();
            let (offset, fsb, count, flag): (u64, u64, u64, &str) = (
                w[0].parse().expect("o"),
                w[2].parse().expect("s"),
                w[5].parse().expect("c"),
                w[7],
            );
            if flag != "0" {
                continue;
            }
            let at = ((fsb >> ag_log) * ag_blocks + (fsb & ((1 << ag_log) - 1))) * block;
            let data = &mut result.last_mut().expect("file").1;
            for i in 0..count * block {
                let to = usize::try_from(offset * block + i).expect("small");
                if to < data.len() {
                    data[to] = bytes[usize::try_from(at + i).expect("small")];
                }
            }
        }
    }
    result
}

/// The honest check: garble `free` in a copy of `image`, then xfs_repair and file readback.
fn check_flash(
    image: &Path,
    free: &Ranges,
    dir: &Path,
    v4: bool,
    tree: &Path,
) -> Result<String, String> {
    let target = garbled(image, free, &dir.join("garbled.img"));
    let outcome = (|| {
        let (ok, out) = try_run("xfs_repair", &["-n", "-f", path_str(&target)]);
        if !ok {
            return Err(format!("xfs_repair -n found problems:\n{out}"));
        }
        if v4 {
            let (a, b) = (
                read_through_xfs_db(image, tree),
                read_through_xfs_db(&target, tree),
            );
            if a.len() < 300 {
                return Err(format!("only {} files were read back", a.len()));
            }
            match a.iter().zip(&b).find(|(x, y)| x != y) {
                Some((x, _)) => Err(format!("{} differs", x.0.display())),
                None => Ok(format!("{} files identical (xfs_db extent maps)", a.len())),
            }
        } else {
            let original = Mounted::new(image, dir.join("mnt-original"))?;
            let flashed = Mounted::new(&target, dir.join("mnt-garbled"))?;
            let files = compare_trees(&original.0, &flashed.0)?;
            Ok(format!("{files} files identical (loop mount)"))
        }
    })();
    let _ = std::fs::remove_file(&target);
    outcome
}

/// The byte offset of the first data block of `file` (relative to the root) in `image`.
fn first_data_block(image: &Path, file: &str) -> u64 {
    let (block, ag_blocks) = geometry(image);
    let ag_log = u64::BITS - (ag_blocks - 1).leading_zeros();
    let out = run(
        "xfs_db",
        &[
            "-r",
            "-c",
            &format!("path /{file}"),
            "-c",
            "bmap",
            path_str(image),
        ],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("data offset"))
        .expect("an extent");
    let fsb: u64 = line
        .split_whitespace()
        .nth(4)
        .expect("startblock")
        .parse()
        .expect("number");
    ((fsb >> ag_log) * ag_blocks + (fsb & ((1 << ag_log) - 1))) * block
}

#[test]
fn variants_survive_flashing_onto_garbage() {
    let mut table = vec![format!(
        "{:<16} {:>9} {:>10} {:>10} {:>10} {:>9}",
        "XFS variant", "scan %", "freesp %", "partclone", "bmaptool", "scan ms"
    )];
    for variant in VARIANTS {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = tree(dir.path());
        let image = make_image(dir.path(), &tree, variant.size, variant.args, &[]);
        if variant.kernel {
            use_through_kernel(&image, &dir.path().join("rw"));
        }
        let started = Instant::now();
        let report = scan_file(&image);
        let took: Duration = started.elapsed();
        let free = free_of(&report);
        let (freesp, partclone) = (freesp_oracle(&image), partclone_oracle(&image, dir.path()));
        assert_subset(&free, &freesp, &format!("{}: xfs_db freesp", variant.name));
        assert_subset(&free, &partclone, &format!("{}: partclone", variant.name));
        let readback = check_flash(&image, &free, dir.path(), variant.v4, &tree)
            .unwrap_or_else(|e| panic!("{}: {e}", variant.name));
        if variant.name == "1G" {
            // Negative control: one block of a file's data called free must be caught.
            let at = first_data_block(&image, "usr/share/data/big.bin") / 4096 * 4096;
            let mut wrong = free.clone();
            wrong.add(at, at + 4096);
            wrong.normalize();
            let caught = check_flash(&image, &wrong, dir.path(), false, &tree);
            assert!(
                caught.is_err(),
                "a used block called free went unnoticed: {caught:?}"
            );
        }
        eprintln!(
            "{}: {readback}; notes: {:?}",
            variant.name, report.findings[0].verdict
        );
        table.push(format!(
            "{:<16} {:>9.1} {:>10.1} {:>10.1} {:>10.1} {:>9.1}",
            variant.name,
            mapped_share(free.total(), variant.size),
            mapped_share(freesp.total(), variant.size),
            mapped_share(partclone.total(), variant.size),
            bmaptool_mapped(&image, dir.path()),
            took.as_secs_f64() * 1000.0
        ));
    }
    eprintln!("{}", table.join("\n"));
}

/// Mounts `image` read-write and works in it: big files written and deleted (their blocks
/// are free but not zero), many small files, renames; then a clean unmount.
fn use_through_kernel(image: &Path, at: &Path) {
    std::fs::create_dir_all(at).expect("mount point");
    run("mount", &["-o", "loop", path_str(image), path_str(at)]);
    let mounted = Mounted(at.to_path_buf());
    for i in 0..4u64 {
        std::fs::write(
            at.join(format!("scratch{i}")),
            crate::scan::testing::noise(50 + i, 40 << 20),
        )
        .expect("scratch");
    }
    run("sync", &[]);
    for i in 0..4 {
        std::fs::remove_file(at.join(format!("scratch{i}"))).expect("delete");
    }
    std::fs::create_dir_all(at.join("var/log")).expect("dir");
    for i in 0..500u64 {
        let path = at.join(format!("var/log/entry{i}"));
        std::fs::write(
            &path,
            crate::scan::testing::noise(900 + i, 1 + (i as usize * 131) % 20_000),
        )
        .expect("small");
        if i % 3 == 0 {
            std::fs::rename(&path, at.join(format!("var/log/moved{i}"))).expect("rename");
        }
    }
    drop(mounted);
}

/// Rewrites a big-endian field of the superblock and fixes its checksum.
fn patch_superblock(image: &Path, at: u64, value: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .expect("open");
    file.write_all_at(value, at).expect("patch");
    let mut sector = vec![0; 512];
    file.read_exact_at(&mut sector, 0).expect("read");
    let crc = crc32c::with_field_zeroed(&sector, 224).expect("crc");
    file.write_all_at(&crc.to_le_bytes(), 224).expect("crc");
}

/// Copies an image keeping its holes (a plain copy would write a gigabyte of zeros).
fn sparse_copy(from: &Path, to: &Path) {
    run("cp", &["--sparse=always", path_str(from), path_str(to)]);
}

fn refusal(image: &Path) -> String {
    match &scan_file(image).findings[0].verdict {
        Verdict::MapWhole { fs, reason } => {
            assert_eq!(fs, "XFS");
            reason.clone()
        }
        other => panic!("expected the filesystem mapped whole, got {other:?}"),
    }
}

#[test]
fn refusals_name_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = make_image(dir.path(), &tree(dir.path()), GIB, &[], &[]);
    let cases: &[(&str, u64, &[u8], &str)] = &[
        ("realtime", 16, &1u64.to_be_bytes(), "realtime device"),
        ("external log", 48, &0u64.to_be_bytes(), "external device"),
        (
            "unknown incompat",
            216,
            &0x8000_000Bu32.to_be_bytes(),
            "unknown incompatible feature bits",
        ),
        (
            "unknown ro_compat",
            212,
            &0x100Du32.to_be_bytes(),
            "unknown read-only-compatible",
        ),
        (
            "log incompat",
            220,
            &1u32.to_be_bytes(),
            "log-incompatible feature bits",
        ),
        ("needsrepair", 216, &0x1Bu32.to_be_bytes(), "needsrepair"),
        ("mkfs in progress", 126, &[1], "sb_inprogress"),
    ];
    for (name, at, value, reason) in cases {
        let copy = dir.path().join("patched.img");
        sparse_copy(&clean, &copy);
        patch_superblock(&copy, *at, value);
        let got = refusal(&copy);
        assert!(got.contains(reason), "{name}: {got}");
    }

    let copy = dir.path().join("badcrc.img");
    sparse_copy(&clean, &copy);
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&copy)
            .expect("open");
        // A byte of the label, without fixing the checksum.
        file.write_all_at(b"Z", 108).expect("label byte");
    }
    assert!(refusal(&copy).contains("superblock checksum is wrong"));

    let short = dir.path().join("short.img");
    sparse_copy(&clean, &short);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&short)
        .expect("open")
        .set_len(GIB - 4096)
        .expect("cut");
    assert!(refusal(&short).contains("larger than its region"));
}

#[test]
fn a_dirty_log_maps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = make_image(dir.path(), &tree(dir.path()), GIB, &[], &[]);
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mnt");
    run("mount", &["-o", "loop", path_str(&image), path_str(&mnt)]);
    let mounted = Mounted(mnt.clone());
    for i in 0..50 {
        std::fs::write(mnt.join(format!("new{i}")), vec![i as u8; 10_000]).expect("write");
    }
    run("sync", &[]);
    run("xfs_io", &["-x", "-c", "shutdown", path_str(&mnt)]);
    drop(mounted);
    let reason = refusal(&image);
    assert!(
        reason.contains("the log could not be proven clean"),
        "{reason}"
    );
    eprintln!("dirty log: {reason}");
}
