//! NTFS against the real tools: mkntfs images filled through an ntfs-3g FUSE mount (ntfscp
//! cannot create directories), flashed onto garbage, then judged by `ntfsfix -n`, by reading
//! every file back through read-only ntfs-3g mounts, by the backup boot sector, and against
//! partclone.ntfs.
//!
//! ntfs-3g runs in the foreground (`no_detach`) and is waited for after `umount`: on a plain
//! file it is a `fuse` (not `fuseblk`) mount, whose unmount does not wait for its last writes.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::record::{Record, Runs, apply_fixups};
use super::{boot_sector, le_u16, scan};
use crate::scan::testing::{
    assert_subset, bmaptool_mapped, garbled, noise, partclone_free, run, scan_file, source_tree,
    try_run,
};
use crate::scan::xfs::tests::support::compare_trees;
use crate::scan::{Ranges, Verdict};
use crate::source::LocalFile;

mod fuzz;

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// An ntfs-3g mount, unmounted (and its process waited for) on drop.
struct Mounted {
    at: PathBuf,
    child: Child,
}

impl Mounted {
    fn new(image: &Path, at: PathBuf, read_only: bool) -> Self {
        std::fs::create_dir_all(&at).expect("mount point");
        let options = if read_only {
            "ro,no_detach"
        } else {
            "no_detach"
        };
        let child = Command::new("ntfs-3g")
            .args(["-o", options])
            .arg(image)
            .arg(&at)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ntfs-3g (run build-aux/install-deps)");
        let started = Instant::now();
        let wanted = format!(" {} ", at.display());
        while !std::fs::read_to_string("/proc/mounts")
            .expect("mounts")
            .contains(&wanted)
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "ntfs-3g did not mount {}",
                image.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Mounted { at, child }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
        let _ = self.child.wait();
    }
}

/// A 512 MiB NTFS image (`mkntfs` plus extra arguments) holding the source tree.
pub(super) fn make_image(dir: &Path, size: u64, args: &[&str]) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    source_tree(&tree, false);
    let image = dir.join("ntfs.img");
    std::fs::File::create(&image)
        .expect("image")
        .set_len(size)
        .expect("size");
    let mut all = vec!["-q", "-F", "-Q"];
    all.extend_from_slice(args);
    all.push(path_str(&image));
    run("mkntfs", &all);
    let mounted = Mounted::new(&image, dir.join("fill"), false);
    run(
        "cp",
        &[
            "-r",
            &format!("{}/.", tree.display()),
            path_str(&mounted.at),
        ],
    );
    drop(mounted);
    (image, tree)
}

/// `ntfsfix -n`'s verdict, with the image name taken out so two runs compare.
fn ntfsfix(image: &Path) -> (bool, String) {
    let (ok, out) = try_run("ntfsfix", &["-n", path_str(image)]);
    (ok, out.replace(path_str(image), "IMAGE"))
}

/// The honest check: garble `free` in a copy, then ntfsfix, readback and the backup boot
/// sector must all be as on the original.
fn check_flash(image: &Path, free: &Ranges, dir: &Path) -> Result<String, String> {
    let target = garbled(image, free, &dir.join("garbled.img"));
    let outcome = (|| {
        let (expected, got) = (ntfsfix(image), ntfsfix(&target));
        if !got.0 || got != expected {
            return Err(format!(
                "ntfsfix -n differs:\n{}\nversus the original:\n{}",
                got.1, expected.1
            ));
        }
        let len = std::fs::metadata(image).expect("size").len();
        let last = |path: &Path| {
            let mut sector = vec![0; 512];
            std::fs::File::open(path)
                .expect("open")
                .read_exact_at(&mut sector, len - 512)
                .expect("read");
            sector
        };
        if last(image) != last(&target) {
            return Err("the backup boot sector changed".into());
        }
        let original = Mounted::new(image, dir.join("mnt-original"), true);
        let flashed = Mounted::new(&target, dir.join("mnt-garbled"), true);
        let files = compare_trees(&original.at, &flashed.at)?;
        Ok(format!(
            "{files} files identical (ntfs-3g), ntfsfix -n clean, backup boot sector intact"
        ))
    })();
    let _ = std::fs::remove_file(&target);
    outcome
}

/// The image offset of the first 4 KiB of the tree's big random file, found by content.
fn big_file_offset(image: &Path) -> u64 {
    let needle = noise(1, 4096);
    let bytes = std::fs::read(image).expect("image");
    let at = bytes
        .chunks_exact(512)
        .position(|c| c == &needle[..512])
        .expect("big.bin in the image");
    assert_eq!(bytes[at * 512..at * 512 + 4096], needle[..]);
    at as u64 * 512
}

#[test]
fn variants_survive_flashing_onto_garbage() {
    let mut table = vec![format!(
        "{:<16} {:>9} {:>10} {:>10} {:>9}",
        "NTFS variant", "scan %", "partclone", "bmaptool", "scan ms"
    )];
    for (name, args) in [
        ("512M 4K clusters", &[][..]),
        ("512M 64K clusters", &["-c", "65536"][..]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (image, _tree) = make_image(dir.path(), 512 << 20, args);
        let size = std::fs::metadata(&image).expect("size").len();
        let started = Instant::now();
        let report = scan_file(&image);
        let took = started.elapsed();
        let free = match &report.findings[0].verdict {
            Verdict::Free { notes, .. } => {
                eprintln!("{name}: {notes:?}");
                report.free.clone()
            }
            other => panic!("{name}: expected free space, got {other:?}"),
        };
        let partclone = partclone_free("partclone.ntfs", &image).expect("partclone.ntfs");
        assert_subset(&free, &partclone, &format!("{name}: partclone"));
        let readback =
            check_flash(&image, &free, dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: {readback}");
        if args.is_empty() {
            // Negative control: a block of file data called free must be caught.
            let at = big_file_offset(&image) / 4096 * 4096;
            let mut wrong = free.clone();
            wrong.add(at, at + 4096);
            wrong.normalize();
            assert!(
                check_flash(&image, &wrong, dir.path()).is_err(),
                "a used block called free went unnoticed"
            );
        }
        let share = |free: u64| 100.0 * (size - free) as f64 / size as f64;
        table.push(format!(
            "{:<16} {:>9.1} {:>10.1} {:>10.1} {:>9.1}",
            name,
            share(free.total()),
            share(partclone.total()),
            bmaptool_mapped(&image),
            took.as_secs_f64() * 1000.0
        ));
    }
    eprintln!("{}", table.join("\n"));
}

/// The byte offset of MFT record `number` and the record's bytes, fixups undone.
fn locate_record(image: &Path, number: u64) -> (u64, Vec<u8>) {
    let file = LocalFile::open(image).expect("open");
    let vol = boot_sector(&file).expect("boot sector");
    let at = vol.mft_lcn * vol.cluster + number * vol.record;
    let mut bytes = vec![0; vol.record as usize];
    std::fs::File::open(image)
        .expect("open")
        .read_exact_at(&mut bytes, at)
        .expect("read");
    apply_fixups(&mut bytes, b"FILE", "record").expect("fixups");
    (at, bytes)
}

fn refusal(image: &Path) -> String {
    match &scan_file(image).findings[0].verdict {
        Verdict::MapWhole { fs, reason } => {
            assert_eq!(fs, "NTFS");
            reason.clone()
        }
        other => panic!("expected the volume mapped whole, got {other:?}"),
    }
}

fn patch(image: &Path, at: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .expect("open");
    file.write_all_at(bytes, at).expect("patch");
}

#[test]
fn refusals_name_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clean, _) = make_image(dir.path(), 64 << 20, &[]);
    let copy = dir.path().join("patched.img");
    let fresh = || {
        run(
            "cp",
            &["--sparse=always", path_str(&clean), path_str(&copy)],
        )
    };

    // $Volume marked dirty: the flags of $VOLUME_INFORMATION (never at a fixup position).
    fresh();
    let (at, record) = locate_record(&copy, 3);
    let mut offset = usize::from(le_u16(&record, 20).expect("first attribute"));
    while u32::from_le_bytes(record[offset..offset + 4].try_into().expect("type")) != 0x70 {
        offset +=
            u32::from_le_bytes(record[offset + 4..offset + 8].try_into().expect("len")) as usize;
    }
    let flags = offset + usize::from(le_u16(&record, offset + 20).expect("value")) + 10;
    assert_ne!(flags % 512, 510, "the flags sit where a fixup goes");
    patch(&copy, at + flags as u64, &[0x01, 0x00]);
    assert!(
        refusal(&copy).contains("marked dirty"),
        "{}",
        refusal(&copy)
    );

    // A torn $Bitmap record: a sector end that does not match the update sequence number.
    fresh();
    let (at, _) = locate_record(&copy, 6);
    patch(&copy, at + 510, &[0xAB, 0xCD]);
    assert!(
        refusal(&copy).contains("update-sequence"),
        "{}",
        refusal(&copy)
    );

    // An unclean $LogFile: a restart page with a client in use and no clean flag.
    fresh();
    let file = LocalFile::open(&copy).expect("open");
    let vol = boot_sector(&file).expect("boot");
    let mft = Record::read(&file, &vol, None, 0).expect("$MFT");
    let mft = Runs::decode(
        &mft.unnamed(0x80, "$MFT", true).expect("data"),
        &vol,
        false,
        "$MFT",
    )
    .expect("runs");
    let log = Record::read(&file, &vol, Some(&mft), 2).expect("$LogFile");
    let log = Runs::decode(
        &log.unnamed(0x80, "$LogFile", false).expect("data"),
        &vol,
        true,
        "$LogFile",
    )
    .expect("runs");
    let log_at = log.runs[0].1 * vol.cluster;
    let mut page = vec![0u8; 4096];
    page[..4].copy_from_slice(b"RSTR");
    page[4..6].copy_from_slice(&0x1Eu16.to_le_bytes()); // update sequence array offset
    page[6..8].copy_from_slice(&9u16.to_le_bytes()); // 8 sectors + 1
    page[16..20].copy_from_slice(&4096u32.to_le_bytes()); // system page size
    page[20..24].copy_from_slice(&4096u32.to_le_bytes()); // log page size
    page[24..26].copy_from_slice(&0x30u16.to_le_bytes()); // restart area offset
    page[0x30 + 12..0x30 + 14].copy_from_slice(&0u16.to_le_bytes()); // client 0 in use
    page[0x1E..0x20].copy_from_slice(&1u16.to_le_bytes()); // sequence number 1
    for sector in 0..8 {
        page[sector * 512 + 510..sector * 512 + 512].copy_from_slice(&1u16.to_le_bytes());
    }
    patch(&copy, log_at, &page);
    assert!(
        refusal(&copy).contains("not shut down cleanly"),
        "{}",
        refusal(&copy)
    );

    // A volume longer than its region.
    fresh();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .expect("open")
        .set_len((64 << 20) - 4096)
        .expect("cut");
    assert!(
        refusal(&copy).contains("larger than its region"),
        "{}",
        refusal(&copy)
    );

    // The clean original still scans.
    assert!(matches!(
        scan(&LocalFile::open(&clean).expect("open")),
        Verdict::Free { .. }
    ));
}
