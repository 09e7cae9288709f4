//! Test helpers for the filesystem parsers: a realistic source tree, running the real tools,
//! scanning an image file, and the honest check of a scan — overwrite every block the
//! scan calls free with random bytes (what a card holds where nothing is written), then let
//! fsck and file comparison judge.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Ranges, ScanReport, scan};
use crate::source::LocalFile;

/// Runs a tool and returns its stdout; fails the test (never skips) when it is missing or
/// fails. `build-aux/install-deps` installs every tool used.
#[track_caller]
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); run build-aux/install-deps"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a tool and returns (success, stdout + stderr), for checks expected to fail.
pub(crate) fn try_run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); run build-aux/install-deps"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Deterministic incompressible bytes.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A source tree like a real root filesystem, in `dir`: a large random file, hundreds of
/// small files, deep directories, a sparse file, a zero-filled (but allocated) file, and — when
/// `links` — symlinks, a hard link and unicode names (FAT cannot hold those).
pub(crate) fn source_tree(dir: &Path, links: bool) {
    std::fs::create_dir_all(dir.join("usr/share/data")).expect("dirs");
    std::fs::write(dir.join("usr/share/data/big.bin"), noise(1, 3 << 20)).expect("big");
    for i in 0..300 {
        let sub = dir.join(format!("etc/conf{}", i % 7));
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::write(
            sub.join(format!("file{i}.txt")),
            noise(100 + i, 100 + (i as usize * 37) % 9000),
        )
        .expect("small");
    }
    let mut deep = dir.join("deep");
    for level in 0..12 {
        deep = deep.join(format!("level{level}"));
    }
    std::fs::create_dir_all(&deep).expect("deep");
    std::fs::write(deep.join("bottom.txt"), b"the bottom\n").expect("bottom");
    let sparse = File::create(dir.join("sparse.img")).expect("sparse");
    sparse.set_len(2 << 20).expect("sparse size");
    sparse
        .write_all_at(b"middle", 1 << 20)
        .expect("sparse data");
    std::fs::write(dir.join("zeros.bin"), vec![0u8; 1 << 20]).expect("zeros");
    if links {
        std::os::unix::fs::symlink("usr/share/data/big.bin", dir.join("link")).expect("symlink");
        std::fs::hard_link(dir.join("etc/conf0/file0.txt"), dir.join("hardlink.txt"))
            .expect("hardlink");
        std::fs::write(dir.join("fïlè ünïcødé.txt"), b"unicode\n").expect("unicode");
    }
}

/// Scans an image file.
pub(crate) fn scan_file(image: &Path) -> ScanReport {
    scan(&LocalFile::open(image).expect("open image"))
}

/// A copy of `image` whose `free` bytes are overwritten with random data: what a card holds
/// after the image was written with a bmap that leaves those blocks out.
pub(crate) fn garbled(image: &Path, free: &Ranges, out: &Path) -> PathBuf {
    std::fs::copy(image, out).expect("copy image");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .expect("open copy");
    for (i, &(start, end)) in free.as_slice().iter().enumerate() {
        let mut at = start;
        while at < end {
            let n = usize::try_from((end - at).min(1 << 20)).expect("small");
            file.write_all_at(&noise(7_000 + i as u64 + at, n), at)
                .expect("garble");
            at += n as u64;
        }
    }
    file.sync_all().expect("sync");
    out.to_path_buf()
}

/// Byte ranges (e.g. from an oracle) as a set; `used` ones are inverted within `size`.
pub(crate) fn ranges(list: &[(u64, u64)]) -> Ranges {
    list.iter().copied().collect()
}

/// Asserts that every byte the scan calls free is free for the oracle too.
#[track_caller]
pub(crate) fn assert_subset(scan_free: &Ranges, oracle_free: &Ranges, what: &str) {
    let outside = scan_free.subtract(oracle_free);
    assert!(
        outside.as_slice().is_empty(),
        "{what}: the scan calls {} bytes free that the oracle says are used: {:?}",
        outside.total(),
        &outside.as_slice()[..outside.as_slice().len().min(8)]
    );
}

/// The share of `image` (in %) that `bmaptool create` maps: its holes are all it knows.
pub(crate) fn bmaptool_mapped(image: &Path) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let bmap = dir.path().join("holes.bmap");
    let (image_arg, bmap_arg) = (
        image.to_str().expect("utf-8"),
        bmap.to_str().expect("utf-8"),
    );
    run("bmaptool", &["-q", "create", "-o", bmap_arg, image_arg]);
    let bmap = crate::bmap::Bmap::from_file(&bmap).expect("bmaptool's bmap");
    100.0 * bmap.mapped_blocks_count() as f64 / bmap.blocks_count() as f64
}

/// The free byte ranges in partclone's domain log of `image` (`TOOL -D`: `+` is used, anything
/// else is free), or the tool's output when it fails.
pub(crate) fn partclone_free(tool: &str, image: &Path) -> Result<Ranges, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("partclone.dom");
    let (image_arg, log_arg) = (image.to_str().expect("utf-8"), log.to_str().expect("utf-8"));
    let (ok, output) = try_run(tool, &["-q", "-D", "-s", image_arg, "-O", log_arg]);
    if !ok {
        return Err(output);
    }
    let text = std::fs::read_to_string(&log).expect("domain log");
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
    let mut free = Ranges::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        // The first line is the position reached and its status: two fields.
        if let [pos, size, status] = line.split_whitespace().collect::<Vec<_>>()[..]
            && status != "+"
        {
            free.add(hex(pos), hex(pos) + hex(size));
        }
    }
    free.normalize();
    Ok(free)
}
