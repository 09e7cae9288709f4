//! Test helpers: FAT filesystems and partitioned disk images made by the real tools
//! (mkfs.vfat, mtools, sfdisk), and checks by them (fsck.vfat, mtype).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a tool and returns its stdout; fails the test (never skips) when it is missing or
/// fails. `build-aux/install-deps` installs every tool used.
#[track_caller]
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
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

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A FAT32 filesystem of `mib` MiB at `path`, made by mkfs.vfat, holding `files` (root
/// names, or `dir/name` with the folder made first) copied in by mcopy.
pub(crate) fn fat_image(path: &Path, mib: u64, files: &[(&str, &[u8])]) {
    fat_image_of(path, "32", mib, files);
}

/// As [`fat_image`], with a FAT of `bits` ("12", "16" or "32") bits.
pub(crate) fn fat_image_of(path: &Path, bits: &str, mib: u64, files: &[(&str, &[u8])]) {
    std::fs::File::create(path)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    run(
        "mkfs.vfat",
        &["-F", bits, "-n", "BOOTFS", "--mbr=n", utf8(path)],
    );
    let staging = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in files {
        let (dir, _) = name.rsplit_once('/').unwrap_or(("", name));
        if !dir.is_empty() {
            run("mmd", &["-D", "s", "-i", utf8(path), &format!("::{dir}")]);
        }
        let local = staging.path().join(name.replace('/', "_"));
        std::fs::write(&local, bytes).expect("stage the file");
        run(
            "mcopy",
            &["-o", "-i", utf8(path), utf8(&local), &format!("::{name}")],
        );
    }
}

/// One partition of [`disk_image`]: its sfdisk line and, for a FAT one, its files.
pub(crate) struct Part<'a> {
    /// The sfdisk line without the start, such as `size=40MiB, type=c` or
    /// `size=40MiB, type=uefi` in a GPT.
    pub(crate) line: &'a str,
    /// The start in KiB.
    pub(crate) start_kib: u64,
    /// The size in MiB.
    pub(crate) mib: u64,
    /// `Some(files)`: a FAT32 filesystem with them; `None`: random bytes.
    pub(crate) fat: Option<&'a [(&'a str, &'a [u8])]>,
}

/// A disk image of `mib` MiB at `path` with a `label` (`dos` or `gpt`) table made by sfdisk
/// and these partitions; returns the path.
pub(crate) fn disk_image(
    dir: &Path,
    name: &str,
    label: &str,
    mib: u64,
    parts: &[Part<'_>],
) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    let mut script = format!("label: {label}\n");
    for part in parts {
        script.push_str(&format!(
            // In sectors: sfdisk aligns sizes given with units, and the filesystem must fill
            // exactly the partition.
            "start={}, size={}, {}\n",
            part.start_kib * 2,
            part.mib * 2048,
            part.line
        ));
    }
    let mut child = Command::new("sfdisk")
        .args(["--no-reread", "--no-tell-kernel", "-q", utf8(&path)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run sfdisk; run build-aux/install-deps");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), script.as_bytes())
        .expect("feed sfdisk");
    assert!(
        child.wait().expect("sfdisk").success(),
        "sfdisk failed on {script}"
    );
    for (i, part) in parts.iter().enumerate() {
        let bytes = match part.fat {
            Some(files) => {
                let fs = dir.join(format!("{name}.p{i}"));
                fat_image(&fs, part.mib, files);
                std::fs::read(&fs).expect("read the filesystem")
            }
            None => crate::scan::testing::noise(
                i as u64 + 1,
                usize::try_from(part.mib << 20).expect("fits"),
            ),
        };
        write_at(&path, part.start_kib << 10, &bytes);
    }
    path
}

/// Asserts that `fsck.vfat -n` finds the FAT filesystem at `offset` of `image` clean.
#[track_caller]
pub(crate) fn assert_clean(image: &Path, offset: u64, len: u64) {
    let copy = tempfile::NamedTempFile::new().expect("temp file");
    let bytes = std::fs::read(image).expect("read the image");
    let start = usize::try_from(offset).expect("fits");
    let end = usize::try_from(offset + len).expect("fits");
    std::fs::write(copy.path(), &bytes[start..end]).expect("copy the partition");
    let out = Command::new("fsck.vfat")
        .args(["-n", "-v", utf8(copy.path())])
        .output()
        .expect("run fsck.vfat; run build-aux/install-deps");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fsck.vfat -n failed:\n{text}");
    for worry in [
        "differ",
        "Dirty bit",
        "Free cluster summary",
        "Reclaimed",
        "truncat",
    ] {
        assert!(
            !text.contains(worry),
            "fsck.vfat -n reports '{worry}':\n{text}"
        );
    }
}

/// The file `name` of the FAT filesystem at `offset` of `image`, as mtype reads it.
pub(crate) fn mtype(image: &Path, offset: u64, name: &str) -> Vec<u8> {
    let out = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args([
            "-i",
            &format!("{}@@{offset}", utf8(image)),
            &format!("::{name}"),
        ])
        .output()
        .expect("run mtype; run build-aux/install-deps");
    assert!(
        out.status.success(),
        "mtype {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fills `root` with a tree for `mke2fs -d`: `files` (path, content), their folders made
/// first, and `links` (path, target) as symbolic links.
pub(crate) fn tree(root: &Path, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("make the folders");
        std::fs::write(&path, bytes).expect("write the file");
    }
    for (name, target) in links {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("make the folders");
        std::os::unix::fs::symlink(target, &path).expect("make the link");
    }
}

/// An ext2/3/4 filesystem of `mib` MiB at `path`, made by mke2fs with `options` (such as
/// `["-t", "ext4", "-O", "inline_data"]`) from the tree at `from`.
pub(crate) fn ext_image(path: &Path, options: &[&str], mib: u64, from: &Path) {
    let size = format!("{mib}M");
    let mut args = vec!["-q", "-F"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["-d", utf8(from), utf8(path), &size]);
    run("mke2fs", &args);
}

/// Copies the filesystem image `fs` into the disk image `disk` at byte `offset`.
pub(crate) fn put(disk: &Path, offset: u64, fs: &Path) {
    write_at(
        disk,
        offset,
        &std::fs::read(fs).expect("read the filesystem"),
    );
}

/// Writes `bytes` into the file at `path` at byte `offset`.
pub(crate) fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the disk");
    std::os::unix::fs::FileExt::write_all_at(&file, bytes, offset).expect("write into the disk");
}

/// What debugfs answers to `request` about the ext filesystem `image`.
pub(crate) fn debugfs(image: &Path, request: &str) -> String {
    run("debugfs", &["-R", request, utf8(image)])
}

/// The inode number debugfs gives `path` in `image` (not following a symlink at its end).
pub(crate) fn inode_of(image: &Path, path: &str) -> u32 {
    let out = debugfs(image, &format!("stat {path}"));
    let number = out
        .split("Inode: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("debugfs stat {path}: {out}"));
    number.parse().expect("a number")
}

/// Where inode `number` of `image` lies, as debugfs's imap says.
pub(crate) fn inode_at(image: &Path, number: u32, block_size: u64) -> usize {
    let out = debugfs(image, &format!("imap <{number}>"));
    let block: u64 = out
        .split("located at block ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let offset = out
        .split("offset 0x")
        .nth(1)
        .and_then(|r| u64::from_str_radix(r.trim(), 16).ok())
        .unwrap_or_else(|| panic!("{out}"));
    usize::try_from(block * block_size + offset).expect("fits")
}

/// Where the parts of a FAT filesystem image lie, as `fsck.vfat -v` reports them (not as
/// Blockprint reads them), for tests that damage one on purpose.
#[derive(Debug)]
pub(crate) struct FatLayout {
    /// 12, 16 or 32.
    pub(crate) bits: u64,
    /// The first FAT's offset, each FAT's size and how many there are.
    pub(crate) fat: u64,
    pub(crate) fat_bytes: u64,
    pub(crate) fats: u64,
    /// FAT12/16's root folder region.
    pub(crate) root: Option<u64>,
    /// The data area's offset, and the size of a cluster.
    pub(crate) data: u64,
    pub(crate) cluster: u64,
    /// How many clusters there are.
    pub(crate) clusters: u64,
}

/// The layout of the FAT filesystem image at `path`.
pub(crate) fn fat_layout(path: &Path) -> FatLayout {
    let out = Command::new("fsck.vfat")
        .args(["-n", "-v", utf8(path)])
        .output()
        .expect("run fsck.vfat; run build-aux/install-deps");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The number just before `after` (such as " bytes per cluster") or just after `before`.
    let before = |after: &str| -> u64 {
        let head = text.split(after).next().filter(|h| h.len() < text.len());
        let word = head.and_then(|h| h.split_whitespace().last());
        word.and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no '{after}' in:\n{text}"))
    };
    let after = |before: &str| -> Option<u64> {
        let tail = text.split(before).nth(1)?;
        tail.split_whitespace().next()?.parse().ok()
    };
    FatLayout {
        bits: before(" bit entries"),
        fat: after("First FAT starts at byte ").expect("the FAT's offset"),
        fat_bytes: before(" bytes per FAT"),
        fats: before(" FATs,"),
        root: after("Root directory starts at byte "),
        data: after("Data area starts at byte ").expect("the data area's offset"),
        cluster: before(" bytes per cluster"),
        clusters: before(" data clusters"),
    }
}

impl FatLayout {
    /// The offset of cluster `n`.
    pub(crate) fn cluster_at(&self, n: u64) -> u64 {
        self.data + (n - 2) * self.cluster
    }

    /// FAT entry `n` of the image at `path` (the first FAT).
    pub(crate) fn entry(&self, path: &Path, n: u64) -> u64 {
        let bytes = std::fs::read(path).expect("read the image");
        let at = usize::try_from(self.fat + n * self.bits / 8).expect("fits");
        let word = u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4")));
        match self.bits {
            12 if n % 2 == 1 => (word >> 4) & 0xFFF,
            12 => word & 0xFFF,
            16 => word & 0xFFFF,
            _ => word & 0x0FFF_FFFF,
        }
    }

    /// Sets FAT entry `n` of the image at `path` to `value`, in every FAT.
    pub(crate) fn set_entry(&self, path: &Path, n: u64, value: u64) {
        let bytes = std::fs::read(path).expect("read the image");
        for copy in 0..self.fats {
            let at = self.fat + copy * self.fat_bytes + n * self.bits / 8;
            let i = usize::try_from(at).expect("fits");
            let old = u64::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
            let new = match self.bits {
                12 if n % 2 == 1 => (old & 0x000F) | (value << 4),
                12 => (old & 0xF000) | value,
                16 => value,
                _ => {
                    write_at(path, at, &(value as u32).to_le_bytes());
                    continue;
                }
            };
            write_at(path, at, &(new as u16).to_le_bytes());
        }
    }

    /// The offset of the entry with the 8.3 name `short` (such as `b"CMDLINE TXT"`) in the
    /// folder at `folder` (a root region or a first cluster's offset; one cluster is read).
    pub(crate) fn entry_in(&self, path: &Path, folder: u64, short: &[u8; 11]) -> u64 {
        let bytes = std::fs::read(path).expect("read the image");
        let start = usize::try_from(folder).expect("fits");
        let len = usize::try_from(self.cluster.max(512)).expect("fits");
        let at = bytes[start..start + len]
            .chunks_exact(32)
            .position(|e| &e[..11] == short && e[11] & 0x0F != 0x0F)
            .unwrap_or_else(|| panic!("no {:?} at {folder}", String::from_utf8_lossy(short)));
        folder + at as u64 * 32
    }

    /// The root folder's offset (FAT32: its first cluster, 2 as mkfs.vfat makes it).
    pub(crate) fn root_at(&self) -> u64 {
        self.root.unwrap_or_else(|| self.cluster_at(2))
    }

    /// The first cluster of the folder entry at `entry`.
    pub(crate) fn first_cluster(&self, path: &Path, entry: u64) -> u64 {
        let bytes = std::fs::read(path).expect("read the image");
        let e = usize::try_from(entry).expect("fits");
        let low = u64::from(u16::from_le_bytes([bytes[e + 26], bytes[e + 27]]));
        let high = u64::from(u16::from_le_bytes([bytes[e + 20], bytes[e + 21]]));
        if self.bits == 32 {
            high << 16 | low
        } else {
            low
        }
    }

    /// Sets the first cluster of the folder entry at `entry` to `n`.
    pub(crate) fn set_first_cluster(&self, path: &Path, entry: u64, n: u64) {
        write_at(path, entry + 26, &((n & 0xFFFF) as u16).to_le_bytes());
        if self.bits == 32 {
            write_at(path, entry + 20, &((n >> 16) as u16).to_le_bytes());
        }
    }
}
