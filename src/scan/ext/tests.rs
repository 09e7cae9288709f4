//! The ext scanner against the real e2fsprogs: images made with `mke2fs -d`
//! in every layout that moves metadata around, scanned, then "flashed" onto garbage (every
//! block the scan calls free overwritten with random bytes). The garbled copy must pass
//! `e2fsck -fn` from the primary superblock and from every backup (same verdict and output as
//! the untouched image), and read back byte for byte through `debugfs rdump`. The scan's free
//! set must also be free for dumpe2fs and partclone. Negative controls prove each check bites.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::crc::crc32c;
use super::superblock::CHECKSUM_AT;
use crate::scan::testing::{
    assert_subset, bmaptool_mapped, garbled, partclone_free, ranges, run, scan_file, source_tree,
    try_run,
};
use crate::scan::{BLOCK, Ranges, ScanReport, Verdict};

mod matrix;
mod refusal;

/// A source tree and an ext image made from it.
struct Image {
    dir: TempDir,
    src: PathBuf,
    img: PathBuf,
}

impl Image {
    /// `mke2fs -q -F <args> -d src img <size>`.
    fn make(args: &[&str], size: &str) -> Image {
        let dir = TempDir::new().expect("tempdir");
        let src = dir.path().join("src");
        source_tree(&src, true);
        let img = dir.path().join("fs.img");
        let mut all: Vec<&str> = vec!["-q", "-F"];
        all.extend_from_slice(args);
        let (s, i) = (src.to_str().expect("utf-8"), img.to_str().expect("utf-8"));
        all.extend_from_slice(&["-d", s, i, size]);
        run("mke2fs", &all);
        Image { dir, src, img }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn img_str(&self) -> &str {
        self.img.to_str().expect("utf-8")
    }

    fn debugfs(&self, request: &str) -> String {
        run("debugfs", &["-R", request, self.img_str()])
    }

    /// A superblock field as dumpe2fs prints it ("Block size:", …).
    fn field(&self, name: &str) -> String {
        let header = run("dumpe2fs", &["-h", self.img_str()]);
        header
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("dumpe2fs -h has no {name}"))
    }

    fn block_size(&self) -> u64 {
        self.field("Block size:").parse().expect("block size")
    }

    /// The free byte ranges according to libext2fs ("Free blocks:" of every group). With
    /// bigalloc, dumpe2fs names each free cluster by its first block.
    fn dumpe2fs_free(&self) -> Ranges {
        let bs = self.block_size();
        let cluster = if self.field("Filesystem features:").contains("bigalloc") {
            self.field("Cluster size:")
                .parse::<u64>()
                .expect("cluster size")
                / bs
        } else {
            1
        };
        let out = run("dumpe2fs", &[self.img_str()]);
        let mut free = Ranges::new();
        for line in out.lines().filter(|l| l.starts_with("  Free blocks: ")) {
            let list = line.trim_start_matches("  Free blocks: ").trim();
            for item in list.split(", ").filter(|i| !i.is_empty()) {
                let (a, b) = item.split_once('-').unwrap_or((item, item));
                let (a, b): (u64, u64) = (a.parse().expect("block"), b.parse().expect("block"));
                free.add(a * bs, (b + cluster) * bs);
            }
        }
        free.normalize();
        free
    }

    /// The free byte ranges according to partclone's domain log ('+' is used), or its error.
    fn partclone_free(&self) -> Result<Ranges, String> {
        partclone_free("partclone.extfs", &self.img)
    }

    /// Byte offsets and block size for `e2fsck -b`: every backup superblock dumpe2fs lists
    /// (the first four and the last four when there are more).
    fn backups(&self) -> Vec<u64> {
        let out = run("dumpe2fs", &[self.img_str()]);
        let all: Vec<u64> = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Backup superblock at "))
            .map(|rest| {
                rest.split(',')
                    .next()
                    .expect("split")
                    .trim()
                    .parse()
                    .expect("block")
            })
            .collect();
        if all.len() <= 8 {
            all
        } else {
            all[..4]
                .iter()
                .chain(&all[all.len() - 4..])
                .copied()
                .collect()
        }
    }
}

/// The one finding of a bare filesystem image, which must be free space of `fs`.
fn expect_free(report: &ScanReport, fs: &str) -> Ranges {
    let [finding] = report.findings.as_slice() else {
        panic!("one region expected: {report:#?}");
    };
    match &finding.verdict {
        Verdict::Free {
            fs: name, notes, ..
        } => {
            assert_eq!(name, fs, "{notes:?}");
            for note in notes {
                eprintln!("  note: {note}");
            }
        }
        Verdict::MapWhole { reason, .. } => panic!("mapped whole: {reason}"),
    }
    report.free.clone()
}

/// The one finding must map everything, for a reason containing `because`.
#[track_caller]
fn expect_whole(img: &Path, because: &str) {
    let report = scan_file(img);
    let [finding] = report.findings.as_slice() else {
        panic!("one region expected: {report:#?}");
    };
    match &finding.verdict {
        Verdict::MapWhole { reason, .. } => {
            assert!(
                reason.contains(because),
                "refused, but for another reason: {reason}"
            );
        }
        Verdict::Free { .. } => panic!("expected a refusal ({because}), got {:?}", finding.verdict),
    }
    assert!(report.free.as_slice().is_empty());
}

/// `e2fsck -fn` (from the backup superblock at `backup`, if any): its success and output with
/// the image's name taken out.
fn fsck(img: &Path, backup: Option<(u64, u64)>) -> (bool, String) {
    let path = img.to_str().expect("utf-8");
    let (b, bs) = backup
        .map(|(b, bs)| (b.to_string(), bs.to_string()))
        .unwrap_or_default();
    let mut args = vec!["-fn"];
    if backup.is_some() {
        args.extend_from_slice(&["-b", &b, "-B", &bs]);
    }
    args.push(path);
    let (ok, text) = try_run("e2fsck", &args);
    (ok, text.replace(path, "IMG"))
}

/// Every file, directory and symlink under `root`, by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("prefix").to_path_buf();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let kind = if meta.is_symlink() {
                Entry::Link(std::fs::read_link(&path).expect("readlink"))
            } else if meta.is_dir() {
                stack.push(path);
                Entry::Dir
            } else {
                Entry::File(std::fs::read(&path).expect("read"))
            };
            out.insert(rel, kind);
        }
    }
    out
}

#[derive(PartialEq, Eq)]
enum Entry {
    File(Vec<u8>),
    Link(PathBuf),
    Dir,
}

/// The first difference between two trees, if any.
fn tree_difference(a: &Path, b: &Path) -> Option<String> {
    let (ta, tb) = (tree(a), tree(b));
    for (path, entry) in &ta {
        match tb.get(path) {
            None => return Some(format!("{} is missing", path.display())),
            Some(other) if other != entry => return Some(format!("{} differs", path.display())),
            Some(_) => {}
        }
    }
    tb.keys()
        .find(|p| !ta.contains_key(*p))
        .map(|p| format!("{} is extra", p.display()))
}

/// `debugfs rdump /` of `img` into a new directory `out`.
fn rdump(img: &Path, out: &Path) {
    std::fs::create_dir_all(out).expect("mkdir");
    let request = format!("rdump / {}", out.to_str().expect("utf-8"));
    run("debugfs", &["-R", &request, img.to_str().expect("utf-8")]);
}

/// The flash-onto-garbage check: overwrite `free` in a copy, then fsck from the primary and
/// every backup superblock and read every file back. `Err` says what differs.
fn flash_check(im: &Image, free: &Ranges, tag: &str) -> Result<(), String> {
    let tgt = garbled(&im.img, free, &im.path(&format!("{tag}.tgt")));
    let result = (|| {
        let original = fsck(&im.img, None);
        assert!(
            original.0,
            "the untouched image is not clean:\n{}",
            original.1
        );
        let flashed = fsck(&tgt, None);
        if flashed != original {
            return Err(format!("e2fsck -fn differs:\n{}", flashed.1));
        }
        let bs = im.block_size();
        for backup in im.backups() {
            let original = fsck(&im.img, Some((backup, bs)));
            let flashed = fsck(&tgt, Some((backup, bs)));
            if flashed != original {
                return Err(format!(
                    "e2fsck -fn -b {backup} -B {bs} differs:\n{}",
                    flashed.1
                ));
            }
        }
        let want = im.path("readback.img");
        if !want.exists() {
            rdump(&im.img, &want);
            // The image against its source, so that a tool bug cannot pass for agreement.
            std::fs::remove_dir(want.join("lost+found")).expect("lost+found");
            if let Some(diff) = tree_difference(&im.src, &want) {
                panic!("the untouched image does not read back as its source: {diff}");
            }
        }
        let got = im.path(&format!("readback.{tag}"));
        rdump(&tgt, &got);
        std::fs::remove_dir(got.join("lost+found")).map_err(|e| format!("lost+found: {e}"))?;
        match tree_difference(&want, &got) {
            Some(diff) => Err(format!("readback differs: {diff}")),
            None => Ok(()),
        }
    })();
    std::fs::remove_file(&tgt).ok();
    result
}

/// Makes an image, scans it, checks the scan against both oracles and flashes it onto
/// garbage. Returns the image and the scan's free set for further checks.
fn variant(fs: &str, args: &[&str], size: &str) -> (Image, Ranges) {
    let im = Image::make(args, size);
    let report = scan_file(&im.img);
    let free = expect_free(&report, fs);
    let oracle = im.dumpe2fs_free();
    assert_subset(&free, &oracle, "dumpe2fs");
    let size_bytes = report.image_size;
    let share = |free: u64| 100.0 * (size_bytes - free) as f64 / size_bytes as f64;
    let partclone = match im.partclone_free() {
        Ok(pc) => {
            assert_subset(&free, &pc, "partclone");
            format!("{:.1}%", share(pc.total()))
        }
        Err(e) if im.field("Filesystem features:").contains("bigalloc") => {
            eprintln!(
                "  partclone fails on bigalloc, as known: {}",
                e.lines().last().unwrap_or("")
            );
            "fails".to_owned()
        }
        Err(e) => panic!("partclone failed: {e}"),
    };
    // Not needlessly timid either: what is left of the oracle's free space after rounding to
    // bmap blocks is metadata the scan keeps on purpose, a small share.
    let oracle_blocks = oracle.round_inward(BLOCK).total();
    eprintln!(
        "{args:?} {size}: {:.1}% mapped (dumpe2fs: {:.1}%, partclone: {partclone}, bmaptool create: {:.1}%)",
        share(free.total()),
        share(oracle_blocks),
        bmaptool_mapped(&im.img)
    );
    assert!(
        free.total() * 100 >= oracle_blocks * 95,
        "the scan frees {} bytes, dumpe2fs {oracle_blocks}",
        free.total()
    );
    if let Err(e) = flash_check(&im, &free, "flash") {
        panic!("{args:?}: {e}");
    }
    (im, free)
}

/// Rewrites the primary superblock with `edit`, then fixes its checksum (metadata_csum).
fn patch_super(img: &Path, edit: impl FnOnce(&mut [u8])) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .expect("open");
    let mut raw = vec![0u8; 1024];
    file.read_exact_at(&mut raw, 1024).expect("read superblock");
    edit(&mut raw);
    let sum = crc32c(!0, &raw[..CHECKSUM_AT]);
    raw[CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
    file.write_all_at(&raw, 1024).expect("write superblock");
}

/// Flips bit `bit` of the byte at `offset`.
fn flip(img: &Path, offset: u64, bit: u8) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .expect("open");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).expect("read");
    byte[0] ^= 1 << bit;
    file.write_all_at(&byte, offset).expect("write");
}

/// The first number after `label` in dumpe2fs's output ("Block bitmap at ", …).
fn dumpe2fs_number(im: &Image, label: &str) -> u64 {
    let out = run("dumpe2fs", &[im.img_str()]);
    let at = out
        .find(label)
        .unwrap_or_else(|| panic!("dumpe2fs has no {label}"))
        + label.len();
    out[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("number")
}

// The layouts: each moves some metadata somewhere else, or changes what a bitmap bit means.
// The feature variants use 32 MiB groups (-g 8192): 8 groups in 256 MiB, so backups in groups
// 1, 3, 5 and 7 and several BLOCK_UNINIT groups, at half the garbling of 512 MiB.

#[test]
fn scan_notes_say_what_was_done() {
    let im = Image::make(&["-t", "ext4", "-b", "4096"], "512M");
    let report = scan_file(&im.img);
    let [finding] = report.findings.as_slice() else {
        panic!("one region")
    };
    let Verdict::Free { notes, .. } = &finding.verdict else {
        panic!("free")
    };
    assert!(
        notes[0].starts_with("4 KiB blocks, 4 groups, "),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("journal: inode 8, ")),
        "{notes:?}"
    );
}
