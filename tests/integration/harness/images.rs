//! Disk images built by the real tools, for the tests that flash them: source trees, every
//! filesystem the scanner reads (made and filled by its own mkfs, mtools, FUSE driver or
//! protofile), partition tables by sfdisk, and the files read back by each filesystem's own
//! tools. The readers return `Err` rather than panic, so a negative control can expect one to
//! fail.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockprint::bmap::Bmap;

use super::support::{LoopDevice, random_bytes, require_tool, sh};

pub const MIB: u64 = 1 << 20;

/// Runs a program; its standard output on success, else what it said and its exit status.
pub fn try_sh(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program} {args:?}: {}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A source tree without links or exotic names (FAT holds neither): a 3 MiB kernel, sixty
/// small overlays in a subfolder, one text file.
pub fn tree(dir: &Path) -> PathBuf {
    seeded_tree(dir, "tree", 0)
}

/// Like [`tree`], under `dir/name`, with contents of its own for each `seed` (seed 0 is
/// [`tree`]'s), so that no two filesystems of one image hold the same bytes.
pub fn seeded_tree(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let root = dir.join(name);
    let salt = seed * 1000;
    std::fs::create_dir_all(root.join("boot/overlays")).unwrap();
    std::fs::write(root.join("boot/kernel.img"), kernel(seed)).unwrap();
    for i in 0..60u64 {
        std::fs::write(
            root.join(format!("boot/overlays/o{i}.dtbo")),
            random_bytes(50 + i + salt, 500 + (i as usize * 97) % 4000),
        )
        .unwrap();
    }
    let config = if seed == 0 {
        "dtparam=audio=on\n".to_owned()
    } else {
        format!("dtparam=audio=on\n# tree {seed}\n")
    };
    std::fs::write(root.join("config.txt"), config).unwrap();
    root
}

/// The bytes of the 3 MiB `boot/kernel.img` of [`seeded_tree`]`(…, seed)`.
pub fn kernel(seed: u64) -> Vec<u8> {
    random_bytes(41 + seed * 1000, 3 << 20)
}

/// Builds a filesystem image of `mib` MiB holding `tree`, by the filesystem's own tools:
/// "fat12", "fat16", "fat32" (mtools), "ext4" (flex_bg, the default), "ext4-noflex" (4 KiB
/// blocks, 8 MiB groups, no flex_bg), "exfat" (filled through exfat-fuse), "btrfs", "xfs"
/// (a protofile), "ntfs" (filled through ntfs-3g) or "swap".
pub fn filesystem(dir: &Path, kind: &str, mib: u64, tree: &Path) -> PathBuf {
    let img = dir.join(format!("{kind}.fs"));
    let _ = std::fs::remove_file(&img);
    File::create(&img).unwrap().set_len(mib * MIB).unwrap();
    let p = img.to_str().unwrap();
    let t = tree.to_str().unwrap();
    match kind {
        "fat12" | "fat16" | "fat32" => {
            sh("mkfs.vfat", &["-F", &kind[3..], "-n", "BOOT", p]);
            let items: Vec<String> = std::fs::read_dir(tree)
                .unwrap()
                .map(|e| e.unwrap().path().display().to_string())
                .collect();
            let mut args = vec!["-s", "-Q", "-i", p];
            args.extend(items.iter().map(String::as_str));
            args.push("::/");
            sh("mcopy", &args);
        }
        "ext4" => {
            let features = "^64bit,^huge_file";
            sh(
                "mke2fs",
                &["-q", "-F", "-t", "ext4", "-O", features, "-d", t, p],
            );
        }
        "ext4-noflex" => {
            let args = [
                "-q", "-F", "-t", "ext4", "-O", "^flex_bg", "-b", "4096", "-g", "2048",
            ];
            let mut args = args.to_vec();
            args.extend(["-d", t, p]);
            sh("mke2fs", &args);
        }
        "exfat" | "ntfs" => {
            if kind == "exfat" {
                sh("mkfs.exfat", &[p]);
            } else {
                sh("mkntfs", &["-q", "-F", "-Q", p]);
            }
            let mount = Mount::new(kind, &img, &dir.join(format!("{kind}-fill")), false).unwrap();
            sh("cp", &["-r", &format!("{t}/."), mount.at.to_str().unwrap()]);
        }
        "btrfs" => {
            sh("mkfs.btrfs", &["-q", "-f", "-r", t, p]);
        }
        "xfs" => {
            let proto = dir.join("xfs.proto");
            std::fs::write(&proto, protofile(tree)).unwrap();
            sh("mkfs.xfs", &["-q", "-f", "-p", proto.to_str().unwrap(), p]);
        }
        "swap" => {
            sh("mkswap", &[p]);
        }
        other => panic!("no such kind {other}"),
    }
    img
}

/// A mkfs.xfs protofile that copies `tree` (folders and regular files only).
fn protofile(tree: &Path) -> String {
    fn walk(dir: &Path, out: &mut String) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_str().unwrap();
            if path.is_dir() {
                out.push_str(&format!("{name} d--755 0 0\n"));
                walk(&path, out);
                out.push_str("$\n");
            } else {
                out.push_str(&format!("{name} ---644 0 0 {}\n", path.display()));
            }
        }
    }
    let mut out = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(tree, &mut out);
    out.push_str("$\n");
    out
}

/// A filesystem image mounted through a loop device of its own ("exfat" and "ntfs" by their
/// FUSE drivers, "xfs" by the kernel, read-only without log recovery); unmounted, then
/// detached, when dropped.
pub struct Mount {
    pub at: PathBuf,
    _device: LoopDevice,
}

impl Mount {
    pub fn new(kind: &str, image: &Path, at: &Path, read_only: bool) -> Result<Self, String> {
        let device = LoopDevice::new(image);
        std::fs::create_dir_all(at).unwrap();
        let (dev, dir) = (device.name(), at.to_str().unwrap());
        let mode = if read_only { "ro" } else { "rw" };
        match kind {
            "exfat" => try_sh("mount.exfat-fuse", &["-o", mode, dev, dir]),
            "ntfs" => try_sh("ntfs-3g", &["-o", mode, dev, dir]),
            "xfs" => try_sh(
                "mount",
                &["-t", "xfs", "-o", "ro,norecovery,nouuid", dev, dir],
            ),
            other => panic!("no mount for {other}"),
        }?;
        Ok(Self {
            at: at.to_path_buf(),
            _device: device,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // A block-device FUSE mount (fuseblk) is synchronous: its daemon has flushed when
        // umount returns.
        let _ = Command::new("umount").arg(&self.at).output();
    }
}

/// Writes a filesystem image into the disk image at `offset`.
pub fn place(disk: &Path, part: &Path, offset: u64) {
    let data = std::fs::read(part).unwrap();
    File::options()
        .write(true)
        .open(disk)
        .unwrap()
        .write_all_at(&data, offset)
        .unwrap();
}

/// Partitions `disk` with an sfdisk script (`\n` escaped for printf).
pub fn sfdisk(disk: &Path, script: &str) {
    sh(
        "sh",
        &[
            "-c",
            &format!(
                "printf '{script}' | sfdisk -q --no-reread --no-tell-kernel {}",
                disk.display()
            ),
        ],
    );
}

/// What a card holds after the image was written with `bmap` onto random bytes: only the
/// mapped ranges are copied, everything else stays garbage.
pub fn flash_onto_garbage(image: &Path, bmap: &Path, target: &Path) {
    let size = std::fs::metadata(image).unwrap().len();
    std::fs::write(target, random_bytes(99, usize::try_from(size).unwrap())).unwrap();
    let bmap = Bmap::from_file(bmap).unwrap();
    let src = File::open(image).unwrap();
    let dst = File::options().write(true).open(target).unwrap();
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        let mut buf = vec![0u8; usize::try_from(end - start).unwrap()];
        src.read_exact_at(&mut buf, start).unwrap();
        dst.write_all_at(&buf, start).unwrap();
    }
}

/// Extracts `len` bytes at `offset` to a file (for tools without an offset option).
pub fn extract(image: &Path, offset: u64, len: u64, out: &Path) -> PathBuf {
    let mut buf = vec![0u8; usize::try_from(len).unwrap()];
    File::open(image)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    std::fs::write(out, buf).unwrap();
    out.to_path_buf()
}

/// Whether `a` and `b` hold the same `len` bytes at `offset`.
pub fn same_bytes(a: &Path, b: &Path, offset: u64, len: usize) -> bool {
    let read = |p: &Path| {
        let mut buf = vec![0u8; len];
        File::open(p)
            .unwrap()
            .read_exact_at(&mut buf, offset)
            .unwrap();
        buf
    };
    read(a) == read(b)
}

/// The share of the image a bmap file maps, in percent.
pub fn mapped_share(bmap: &Path) -> f64 {
    let b = Bmap::from_file(bmap).unwrap();
    100.0 * b.mapped_blocks_count() as f64 / b.blocks_count() as f64
}

/// The checksum of every file under `dir`, sorted by path.
pub fn listing(dir: &Path) -> String {
    try_listing(dir).unwrap()
}

fn try_listing(dir: &Path) -> Result<String, String> {
    let script = format!(
        "cd {} && find . -type f | sort | xargs -r sha256sum",
        dir.display()
    );
    try_sh("sh", &["-c", &script])
}

/// A fresh, empty folder for files read back.
fn fresh(out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
}

/// Files read back from the FAT at `offset` of `image` with mtools.
pub fn fat_files(image: &Path, offset: u64, out: &Path) -> Result<String, String> {
    fresh(out);
    let at = format!("{}@@{offset}", image.display());
    try_sh(
        "mcopy",
        &["-s", "-Q", "-n", "-i", &at, "::/", out.to_str().unwrap()],
    )?;
    try_listing(out)
}

/// Files read back from a btrfs image with `btrfs restore`.
pub fn btrfs_files(image: &Path, out: &Path) -> Result<String, String> {
    fresh(out);
    try_sh(
        "btrfs",
        &["restore", image.to_str().unwrap(), out.to_str().unwrap()],
    )?;
    try_listing(out)
}

/// Files read back from the ext4 at `offset` of `image` with debugfs.
pub fn ext_files(image: &Path, offset: u64, out: &Path) -> Result<String, String> {
    fresh(out);
    try_sh(
        "debugfs",
        &[
            "-R",
            &format!("rdump / {}", out.display()),
            &format!("{}?offset={offset}", image.display()),
        ],
    )?;
    try_listing(out)
}

/// Files read back from an exFAT, NTFS or XFS image through a read-only mount at `at`.
pub fn mounted_files(kind: &str, image: &Path, at: &Path) -> Result<String, String> {
    let mount = Mount::new(kind, image, at, true)?;
    try_listing(&mount.at)
}

/// Files read back from a filesystem image of any kind [`filesystem`] makes but swap, by
/// that filesystem's tools, into (or through) `out`.
pub fn files(kind: &str, image: &Path, out: &Path) -> Result<String, String> {
    match kind {
        "fat12" | "fat16" | "fat32" => fat_files(image, 0, out),
        "ext4" | "ext4-noflex" => ext_files(image, 0, out),
        "btrfs" => btrfs_files(image, out),
        "exfat" | "ntfs" | "xfs" => mounted_files(kind, image, out),
        other => panic!("no files in {other}"),
    }
}

/// The filesystem's own checker on a filesystem image (swap has none): read-only, and
/// `Err` with what it said when it finds anything wrong.
pub fn fsck(kind: &str, fs: &Path) -> Result<(), String> {
    let p = fs.to_str().unwrap();
    match kind {
        "fat12" | "fat16" | "fat32" => try_sh("fsck.vfat", &["-n", p]),
        "ext4" | "ext4-noflex" => try_sh("e2fsck", &["-fn", p]),
        "exfat" => try_sh("fsck.exfat", &["-n", p]),
        "btrfs" => try_sh("btrfs", &["check", "--readonly", "--check-data-csum", p]),
        "xfs" => try_sh("xfs_repair", &["-n", "-f", p]),
        "ntfs" => try_sh("ntfsfix", &["-n", p]),
        "swap" => Ok(String::new()),
        other => panic!("no fsck for {other}"),
    }
    .map(drop)
}

/// The backup superblocks of an ext filesystem image, with e2fsck's verdict from each.
pub fn ext_backups(fs: &Path) -> Vec<(u64, u64, String)> {
    let dump = sh("dumpe2fs", &[fs.to_str().unwrap()]);
    let block: u64 = dump
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap();
    let backups: Vec<(u64, u64, String)> = dump
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Backup superblock at "))
        .map(|rest| {
            let at: u64 = rest.split(',').next().unwrap().parse().unwrap();
            (at, block, e2fsck_from(fs, at, block))
        })
        .collect();
    assert!(
        backups.len() >= 2,
        "too few backup superblocks to prove anything:\n{dump}"
    );
    backups
}

/// `e2fsck -fn -b AT -B BLOCK`'s exit status and output, the image's name taken out.
pub fn e2fsck_from(fs: &Path, at: u64, block: u64) -> String {
    let out = Command::new("e2fsck")
        .args([
            "-fn",
            "-b",
            &at.to_string(),
            "-B",
            &block.to_string(),
            fs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(fs.to_str().unwrap(), "IMAGE")
}

/// The tools [`filesystem`], [`files`] and the checkers of these kinds run.
pub fn require_tools_for(kind: &str) {
    let tools: &[&str] = match kind {
        "fat12" | "fat16" | "fat32" => &["mkfs.vfat", "mcopy", "fsck.vfat"],
        "ext4" | "ext4-noflex" => &["mke2fs", "debugfs", "e2fsck", "dumpe2fs"],
        "exfat" => &[
            "mkfs.exfat",
            "mount.exfat-fuse",
            "fsck.exfat",
            "cp",
            "umount",
        ],
        "ntfs" => &["mkntfs", "ntfs-3g", "ntfsfix", "cp", "umount"],
        "btrfs" => &["mkfs.btrfs", "btrfs"],
        "xfs" => &["mkfs.xfs", "xfs_repair", "mount", "umount"],
        "swap" => &["mkswap"],
        other => panic!("no such kind {other}"),
    };
    for tool in tools {
        require_tool(tool);
    }
}
