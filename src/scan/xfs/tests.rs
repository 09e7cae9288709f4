//! XFS against the real tools: mkfs.xfs images populated from a protofile, flashed onto
//! garbage (every byte the scan calls free overwritten with random data), then judged by
//! xfs_repair, by reading every file back, and against two oracles (xfs_db freesp, partclone).
//!
//! Protofiles cannot hold names with spaces or hard links: the tree's unicode name gets an
//! underscore for its space, and the hard link becomes a second file with the same bytes.
//! The test kernel does not mount v4 filesystems, so v4 files are read back through their
//! extent maps as xfs_db prints them; v5 files through a `ro,norecovery` loop mount.

use std::path::Path;
use std::time::{Duration, Instant};

use super::crc32c;
use crate::scan::testing::{
    assert_subset, bmaptool_mapped, garbled, partclone_free, run, scan_file, try_run,
};
use crate::scan::{Ranges, Verdict};

pub(in crate::scan) mod fuzz;
pub(in crate::scan) mod support;

use support::{
    Mounted, compare_trees, first_data_block, free_of, freesp_oracle, make_image, mapped_share,
    path_str, read_through_xfs_db, tree,
};

/// One mkfs.xfs variant: the options that change the on-disk layout the parser reads.
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
    // The smallest log mkfs allows (with the fstests variables, which lift the 64 MiB
    // floor), so that the kernel's work wraps it several times.
    Variant {
        kernel: true,
        ..variant("kernel, small log", GIB, &["-l", "size=1566b"])
    },
];

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

#[test]
fn variants_survive_flashing_onto_garbage() {
    let mut table = vec![format!(
        "{:<16} {:>9} {:>10} {:>10} {:>10} {:>9}",
        "XFS variant", "scan %", "freesp %", "partclone", "bmaptool", "scan ms"
    )];
    for variant in VARIANTS {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = tree(dir.path());
        let fstests = [("TEST_DIR", "1"), ("TEST_DEV", "1"), ("QA_CHECK_FS", "1")];
        let image = make_image(dir.path(), &tree, variant.size, variant.args, &fstests);
        if variant.kernel {
            use_through_kernel(&image, &dir.path().join("rw"));
        }
        let started = Instant::now();
        let report = scan_file(&image);
        let took: Duration = started.elapsed();
        let free = free_of(&report);
        let (freesp, partclone) = (
            freesp_oracle(&image),
            partclone_free("partclone.xfs", &image).expect("partclone.xfs"),
        );
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
            bmaptool_mapped(&image),
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
    // Thousands of small transactions: enough to wrap a small log.
    std::fs::create_dir_all(at.join("churn")).expect("dir");
    for i in 0..20_000 {
        std::fs::write(at.join(format!("churn/f{i}")), b"").expect("create");
    }
    std::fs::remove_dir_all(at.join("churn")).expect("delete");
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
