//! Helpers of the XFS tests: the protofile-friendly tree, images, oracles, mounts, tree
//! comparison and readback through xfs_db.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scan::testing::{run, source_tree, try_run};
use crate::scan::{Ranges, ScanReport, Verdict};

/// The source tree, made protofile-friendly (see the module comment).
pub(in crate::scan) fn tree(dir: &Path) -> PathBuf {
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
pub(super) fn protofile(tree: &Path) -> String {
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
pub(in crate::scan) fn make_image(
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

pub(super) fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The free set of a scan, requiring that XFS was understood.
pub(super) fn free_of(report: &ScanReport) -> Ranges {
    match &report.findings[0].verdict {
        Verdict::Free { .. } => report.free.clone(),
        other => panic!("expected free space, got {other:?}"),
    }
}

/// `(block size, blocks per AG)` as xfs_db reads them.
pub(super) fn geometry(image: &Path) -> (u64, u64) {
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
pub(super) fn freesp_oracle(image: &Path) -> Ranges {
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

pub(super) fn mapped_share(free: u64, size: u64) -> f64 {
    100.0 * (size - free) as f64 / size as f64
}

/// A read-only loop mount, undone on drop.
pub(super) struct Mounted(pub(super) PathBuf);

impl Mounted {
    pub(super) fn new(image: &Path, at: PathBuf) -> Result<Self, String> {
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
pub(super) fn read_through_xfs_db(image: &Path, tree: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

/// The byte offset of the first data block of `file` (relative to the root) in `image`.
pub(super) fn first_data_block(image: &Path, file: &str) -> u64 {
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
