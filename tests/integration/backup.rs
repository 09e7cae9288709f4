//! `blockprint backup`: a used Pi card (an image file: MBR, FAT boot, ext4 root with files and
//! a deleted file's data in its free blocks) saved in every format, written back with
//! `blockprint copy` and Debian's bmaptool, and checked by fsck (ext from every backup
//! superblock) and the filesystems' own tools; the bytes read; failures that leave nothing.
//! Files only: no loop device, no udisks (a failing card is a FUSE file).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use blockprint::backup::{self, BackupOptions, Format};
use blockprint::bmap::Bmap;
use blockprint::progress::{CancelToken, NoProgress};
use blockprint::source::{LocalFile, RandomAccess};

use crate::harness::faulty_card::{Faults, FaultyDisk};
use crate::harness::images::{
    MIB, e2fsck_from, ext_backups, ext_files, extract, fat_files, filesystem, flash_onto_garbage,
    fsck, listing, place, require_tools_for, seeded_tree, sfdisk,
};
use crate::harness::support::{
    Mounted, blockprint, finish, random_bytes, read_at, require_root, require_tool, scratch, sh,
    stderr_lines,
};

pub(crate) const SIZE: u64 = 160 * MIB;
const BOOT: (u64, u64) = (4 * MIB, 48 * MIB);
const ROOT: (u64, u64) = (52 * MIB, 108 * MIB);

/// The card, what its filesystems hold, and where the deleted file's bytes still lie.
pub(crate) struct Card {
    pub(crate) image: PathBuf,
    boot_files: String,
    root_files: String,
    /// e2fsck's verdict from each backup superblock of the root as made.
    backups: Vec<(u64, u64, String)>,
    /// Byte ranges of the image holding the deleted file's data (free blocks now).
    deleted: Vec<(u64, u64)>,
}

pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Builds the card in `dir`.
pub(crate) fn pi_card(dir: &Path) -> Card {
    require_tools_for("fat32");
    require_tools_for("ext4");
    let image = dir.join("card.img");
    File::create(&image).unwrap().set_len(SIZE).unwrap();
    let script = format!(
        "label: dos\\nstart={}, size={}, type=c\\nstart={}, type=83\\n",
        BOOT.0 / 512,
        BOOT.1 / 512,
        ROOT.0 / 512
    );
    sfdisk(&image, &script);
    let boot_tree = seeded_tree(dir, "boot", 1);
    let boot = filesystem(dir, "fat32", BOOT.1 / MIB, &boot_tree);
    place(&image, &boot, BOOT.0);
    let root_tree = seeded_tree(dir, "root", 2);
    std::fs::create_dir_all(root_tree.join("etc")).unwrap();
    std::fs::write(root_tree.join("etc/hostname"), b"raspberrypi\n").unwrap();
    std::fs::write(root_tree.join("zeros.bin"), vec![0u8; 2 << 20]).unwrap();
    let secret = random_bytes(77, 6 << 20);
    let staged = dir.join("root-with-deleted");
    sh("cp", &["-a", s(&root_tree), s(&staged)]);
    std::fs::write(staged.join("deleted.bin"), &secret).unwrap();
    let root = dir.join("root.fs");
    File::create(&root).unwrap().set_len(ROOT.1).unwrap();
    // 4 KiB blocks in groups of 32 MiB: backup superblocks in groups 1 and 3.
    let args = ["-q", "-F", "-t", "ext4", "-b", "4096", "-g", "8192", "-d"];
    let mut args = args.to_vec();
    args.extend([s(&staged), s(&root)]);
    sh("mke2fs", &args);
    let blocks = sh("debugfs", &["-R", "blocks deleted.bin", s(&root)]);
    sh("debugfs", &["-w", "-R", "rm deleted.bin", s(&root)]);
    let deleted: Vec<(u64, u64)> = blocks
        .split_whitespace()
        .map(|b| {
            let at = ROOT.0 + b.parse::<u64>().unwrap() * 4096;
            (at, at + 4096)
        })
        .collect();
    assert_eq!(deleted.len(), 6 << 8, "the deleted file had 1536 blocks");
    let backups = ext_backups(&root);
    place(&image, &root, ROOT.0);
    // The deleted data is still there, in blocks the filesystem calls free.
    let (at, _) = deleted[100];
    assert_eq!(read_at(&image, at, 4096), secret[100 * 4096..101 * 4096]);
    Card {
        boot_files: listing(&boot_tree),
        root_files: listing(&root_tree),
        image,
        backups,
        deleted,
    }
}

/// The checks of a card as written: fsck of both partitions (the root from every backup
/// superblock too) and every file, against the card as made.
pub(crate) fn assert_card(card: &Card, target: &Path, work: &Path) {
    std::fs::create_dir_all(work).unwrap();
    let boot = extract(target, BOOT.0, BOOT.1, &work.join("boot.fs"));
    fsck("fat32", &boot).unwrap_or_else(|e| panic!("{}: boot: {e}", target.display()));
    let root = extract(target, ROOT.0, ROOT.1, &work.join("root.fs"));
    fsck("ext4", &root).unwrap_or_else(|e| panic!("{}: root: {e}", target.display()));
    for (at, block, expected) in &card.backups {
        assert_eq!(&e2fsck_from(&root, *at, *block), expected, "e2fsck -b {at}");
    }
    let files = fat_files(target, BOOT.0, &work.join("boot-files")).unwrap();
    assert_eq!(files, card.boot_files, "{}: boot files", target.display());
    let files = ext_files(target, ROOT.0, &work.join("root-files")).unwrap();
    assert_eq!(files, card.root_files, "{}: root files", target.display());
}

#[test]
fn every_format_writes_back_as_the_card_was_with_blockprint_and_bmaptool() {
    require_tool("bmaptool");
    let dir = scratch();
    let card = pi_card(dir.path());
    assert_card(&card, &card.image, &dir.path().join("as-made"));
    let scan_bmap = dir.path().join("scan.bmap");
    blockprint(["scan", "-o", s(&scan_bmap), s(&card.image)]).ok();
    let scanned = Bmap::from_file(&scan_bmap).unwrap();
    let original = std::fs::read(&card.image).unwrap();
    for name in ["card.img", "card.img.zst", "card.img.xz", "card.img.gz"] {
        let folder = dir.path().join(format!("out-{name}"));
        std::fs::create_dir(&folder).unwrap();
        let out = folder.join(name);
        let stderr = blockprint(["backup", s(&card.image), s(&out)])
            .ok()
            .to_owned();
        assert!(stderr.contains("backed up"), "{stderr}");
        let bmap_path = folder.join(format!("{name}.bmap"));
        assert_eq!(entries(&folder), [name.to_owned(), format!("{name}.bmap")]);
        let bmap = Bmap::from_file(&bmap_path).unwrap();
        assert_eq!(bmap.mapped_bytes(), scanned.mapped_bytes(), "{name}");
        assert_eq!(
            bmap.ranges(),
            scanned.ranges(),
            "{name}: the scan's ranges and checksums"
        );
        let meta = std::fs::metadata(&out).unwrap();
        let on_disk = meta.blocks() * 512;
        assert!(on_disk < SIZE / 2, "{name}: {on_disk} on disk");
        if name == "card.img" {
            assert_eq!(meta.len(), SIZE, "a raw backup is the card's size, sparse");
        } else {
            let len = meta.len();
            assert!(len < bmap.mapped_bytes(), "{name}: {len} bytes");
        }

        // Written back with blockprint: the used blocks as they were, nothing else.
        let restored = folder.join("restored.img");
        let stderr = blockprint(["copy", s(&out), s(&restored)]).ok().to_owned();
        let ranges = bmap.ranges().len();
        assert!(
            stderr.contains(&format!("{ranges} of {ranges} ranges verified")),
            "{stderr}"
        );
        let back = std::fs::read(&restored).unwrap();
        assert_eq!(back.len(), original.len());
        let mut mapped = vec![false; back.len()];
        for range in bmap.ranges() {
            let (start, end) = bmap.byte_span(&range);
            let (start, end) = (start as usize, end as usize);
            assert!(
                back[start..end] == original[start..end],
                "{name}: range {range}"
            );
            mapped[start..end].fill(true);
        }
        assert!(
            back.iter().zip(&mapped).all(|(&b, &m)| m || b == 0),
            "{name}: zeros"
        );
        for &(start, end) in &card.deleted {
            assert!(
                !mapped[start as usize],
                "{name}: deleted data at {start} is mapped"
            );
            assert!(back[start as usize..end as usize].iter().all(|&b| b == 0));
        }
        // Onto a used card: whatever the free blocks hold, the filesystems are whole.
        let used_card = folder.join("used-card.img");
        flash_onto_garbage(&restored, &bmap_path, &used_card);
        assert_card(&card, &used_card, &folder.join("checks"));
        std::fs::remove_file(&used_card).unwrap();

        // And with Debian's bmaptool (which reads xz and zst through their own tools).
        let by_bmaptool = folder.join("bmaptool.img");
        sh(
            "bmaptool",
            &["copy", "--bmap", s(&bmap_path), s(&out), s(&by_bmaptool)],
        );
        assert!(
            std::fs::read(&by_bmaptool).unwrap() == back,
            "{name}: bmaptool's copy"
        );
        for file in [restored, by_bmaptool] {
            std::fs::remove_file(file).unwrap();
        }
    }
}

/// A source that counts the bytes read from it, scan included (it hides its path, so the
/// backup reads through it rather than opening the file again).
struct Counting {
    inner: LocalFile,
    read: AtomicU64,
}

impl RandomAccess for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.inner.read_exact_at(offset, buf)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        self.read.fetch_add(len, Ordering::Relaxed);
        self.inner.stream(offset, len)
    }
}

#[test]
fn only_the_used_blocks_are_read_and_the_summary_says_so() {
    let dir = scratch();
    let card = pi_card(dir.path());
    let source = Counting {
        inner: LocalFile::open(&card.image).unwrap(),
        read: AtomicU64::new(0),
    };
    let out = dir.path().join("card.img.zst");
    let report = backup::backup(
        &source,
        &out,
        Format::Zstd,
        BackupOptions::default(),
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(report.read_bytes, report.used_bytes);
    let all = source.read.load(Ordering::Relaxed);
    assert!(
        all as f64 <= 1.05 * report.used_bytes as f64,
        "read {all} bytes for {} used",
        report.used_bytes
    );
    assert!(report.used_bytes < SIZE / 4, "{} used", report.used_bytes);

    let out = dir.path().join("card.backup");
    let stderr = blockprint([
        "backup",
        "--format",
        "gz",
        "--explain",
        s(&card.image),
        s(&out),
    ]);
    let stderr = stderr.ok();
    assert_eq!(
        read_at(&out, 0, 2),
        [0x1f, 0x8b],
        "--format gz over the name"
    );
    for needle in [
        "partition 2 (MBR type 0x83)",
        "ext4",
        "(gzip, 1 thread): read ",
        "SHA-256 each",
    ] {
        assert!(stderr.contains(needle), "'{needle}' not in:\n{stderr}");
    }
}

/// The names in `folder`, sorted.
pub(crate) fn entries(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_folder_that_is_missing_or_read_only_is_one_error_and_leaves_nothing() {
    require_root("a read-only tmpfs");
    let dir = scratch();
    let source = dir.path().join("small.img");
    std::fs::write(&source, random_bytes(5, 1 << 20)).unwrap();
    let missing = dir.path().join("missing/out.img.zst");
    blockprint(["backup", s(&source), s(&missing)]).fails_with(&[
        "missing/out.img.zst",
        "make sure the folder exists",
        "No such file",
    ]);
    let read_only = Mounted::new(
        &["-t", "tmpfs", "-o", "ro,size=1m", "blockprint-test"],
        &dir.path().join("ro"),
    );
    let out = read_only.path.join("out.img.xz");
    blockprint(["backup", s(&source), s(&out)])
        .fails_with(&["ro/out.img.xz", "Read-only file system"]);
    assert!(entries(&read_only.path).is_empty());
    // The image's folder is fine, the bmap's is not: neither is left.
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let bmap = dir.path().join("nowhere/out.bmap");
    let run = blockprint([
        "backup",
        "--bmap",
        s(&bmap),
        s(&source),
        s(&folder.join("out.img")),
    ]);
    run.fails_with(&["nowhere"]);
    assert!(entries(&folder).is_empty(), "{:?}", entries(&folder));
    // Options that cannot work.
    blockprint([
        "backup",
        "--level",
        "30",
        s(&source),
        s(&folder.join("a.zst")),
    ])
    .fails_with(&["zstd has no compression level 30; choose one from 1 to 19"]);
    blockprint([
        "backup",
        "--level",
        "3",
        s(&source),
        s(&folder.join("a.img")),
    ])
    .fails_with(&["--level is for"]);
    blockprint(["backup", s(&source), s(&source)]).fails_with(&["is the source itself"]);
    assert!(entries(&folder).is_empty(), "{:?}", entries(&folder));
}

#[test]
fn a_card_failing_during_the_backup_leaves_nothing_and_says_where() {
    let dir = scratch();
    let card = pi_card(dir.path());
    let disk = FaultyDisk::without_loop(SIZE);
    let bytes = std::fs::read(&card.image).unwrap();
    let fuse = File::options().write(true).open(disk.file()).unwrap();
    fuse.write_all_at(&bytes, 0).unwrap();
    fuse.sync_all().unwrap();
    drop(fuse);
    // A block of the root's kernel: used, past the metadata the scan reads.
    let kernel = sh(
        "debugfs",
        &[
            "-R",
            "blocks boot/kernel.img",
            &format!("{}?offset={}", s(&card.image), ROOT.0),
        ],
    );
    let block: u64 = kernel.split_whitespace().nth(300).unwrap().parse().unwrap();
    let fails_at = ROOT.0 + block * 4096;
    disk.set(Faults {
        fail_reads_from: Some(fails_at),
        ..Faults::default()
    });
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let run = blockprint(["backup", s(&disk.file()), s(&folder.join("card.img.xz"))]);
    run.fails_with(&[
        &format!(
            "cannot read '{}' at offset {fails_at}",
            disk.file().display()
        ),
        "Input/output error",
    ]);
    assert!(entries(&folder).is_empty(), "{:?}", entries(&folder));
}

#[test]
fn an_interrupted_backup_leaves_nothing() {
    let dir = scratch();
    // Random bytes in no partition table: all of it is read, slowly enough (gzip's highest
    // level, on one thread) to be interrupted while it reads.
    let source = dir.path().join("noise.img");
    sh(
        "sh",
        &[
            "-c",
            &format!("head -c {} /dev/urandom > {}", 256 * MIB, s(&source)),
        ],
    );
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .args(["backup", "--level", "9", s(&source)])
        .arg(folder.join("noise.img.gz"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let started = lines.iter().any(|l| l.contains("reading the used"));
    assert!(started, "the backup never began reading");
    // SAFETY: kill(2) of our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let run = finish(child, Duration::from_secs(60));
    let said: Vec<String> = lines.iter().collect();
    assert_eq!(run.code, 1, "{said:?}");
    assert!(
        said.iter().any(|l| l.contains("error: cancelled")),
        "{said:?}"
    );
    assert!(entries(&folder).is_empty(), "{:?}", entries(&folder));
}

/// `--sign-with`: the user's own key (made and exported by gpg) signs the bmap; gpg checks
/// the detached signature, `blockprint copy` with the public key says who signed and writes the
/// card back, and a bmap changed afterwards is refused. Debian 12's bmaptool 3.6 cannot check
/// signatures (it imports the python `gpgme` module, which Debian does not ship), so it writes
/// the backup back with `--no-sig-verify`.
#[test]
fn the_bmap_is_signed_with_the_users_key() {
    use crate::signatures::{Gpg, SIGNED};
    require_tool("bmaptool");
    let dir = scratch();
    let card = pi_card(dir.path());
    let gpg = Gpg::new();
    let fpr = gpg.key("Card Owner <owner@example.invalid>", SIGNED, "never");
    let secret = dir.path().join("secret.asc");
    gpg.export_secret(&fpr, &secret);
    let public = dir.path().join("public.asc");
    gpg.export(&fpr, true, &public);
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let out = folder.join("card.img.zst");
    let stderr = blockprint(["backup", s(&card.image), s(&out), "--sign-with", s(&secret)])
        .ok()
        .to_owned();
    assert!(stderr.contains("signed by Card Owner"), "{stderr}");
    assert_eq!(
        entries(&folder),
        ["card.img.zst", "card.img.zst.bmap", "card.img.zst.bmap.asc"]
    );
    let bmap = folder.join("card.img.zst.bmap");
    let signature = folder.join("card.img.zst.bmap.asc");
    assert!(gpg.verifies(&signature, &bmap), "gpg rejects the signature");

    let restored = dir.path().join("restored.img");
    let copy = |target: &Path| {
        let args = [
            "copy",
            "--keyring",
            s(&public),
            "--require-signature",
            s(&out),
            s(target),
        ];
        blockprint(args)
    };
    let stderr = copy(&restored).ok().to_owned();
    assert!(
        stderr.contains("Card Owner"),
        "the signer is named: {stderr}"
    );
    assert_card(&card, &restored, &dir.path().join("checks"));
    let by_bmaptool = dir.path().join("bmaptool.img");
    sh(
        "bmaptool",
        &[
            "copy",
            "--no-sig-verify",
            "--bmap",
            s(&bmap),
            s(&out),
            s(&by_bmaptool),
        ],
    );
    assert!(std::fs::read(&by_bmaptool).unwrap() == std::fs::read(&restored).unwrap());

    // One range's checksum changed after signing: the signature no longer holds.
    let text = std::fs::read_to_string(&bmap).unwrap();
    let at = text.find("chksum=\"").unwrap() + 8;
    let mut changed = text.into_bytes();
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&bmap, changed).unwrap();
    let refused = dir.path().join("refused.img");
    copy(&refused).fails_with(&["signature"]);
    assert!(!refused.exists(), "nothing is written on a bad signature");
}
