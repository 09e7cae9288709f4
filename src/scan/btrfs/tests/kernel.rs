//! Images written by the running kernel through a loop device (the tests run as root), with
//! guards that unmount and detach even when a test fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scan::testing::{noise, run};

/// An attached loop device, detached on drop.
pub(super) struct Loop(String);

impl Loop {
    pub(super) fn attach(image: &Path) -> Loop {
        let dev = run(
            "losetup",
            &["--find", "--show", image.to_str().expect("utf-8")],
        );
        Loop(dev.trim().to_owned())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// A mounted filesystem, unmounted on drop (declare it after its [`Loop`]).
pub(super) struct Mount(PathBuf);

impl Mount {
    pub(super) fn new(dev: &Loop, dir: &Path, options: &str) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        run(
            "mount",
            &[
                "-t",
                "btrfs",
                "-o",
                options,
                &dev.0,
                dir.to_str().expect("utf-8"),
            ],
        );
        Mount(dir.to_path_buf())
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.0.to_str().unwrap_or_default().to_owned();
        let ok = Command::new("umount")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").args(["-l", &dir]).status();
        }
    }
}

fn cp_a(from: &Path, to: &Path) {
    run(
        "cp",
        &[
            "-a",
            &format!("{}/.", from.display()),
            to.to_str().expect("utf-8"),
        ],
    );
}

/// A 2 GiB filesystem written by the kernel: the source tree, a subvolume with a snapshot,
/// a zstd-compressed file, deletions after the snapshot, cleanly unmounted.
pub(super) fn kernel_image(dir: &Path, src: &Path) -> PathBuf {
    let img = dir.join("kernel.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(2 << 30))
        .expect("image");
    run("mkfs.btrfs", &["-q", "-f", img.to_str().expect("utf-8")]);
    let lo = Loop::attach(&img);
    let mnt = Mount::new(&lo, &dir.join("mnt"), "compress=zstd");
    let root = mnt.path();
    cp_a(src, root);
    run(
        "btrfs",
        &[
            "-q",
            "subvolume",
            "create",
            root.join("sub").to_str().expect("utf-8"),
        ],
    );
    cp_a(&src.join("etc"), &root.join("sub"));
    std::fs::write(root.join("sub/before-snapshot.bin"), noise(41, 1 << 20)).expect("write");
    run(
        "btrfs",
        &[
            "-q",
            "subvolume",
            "snapshot",
            root.join("sub").to_str().expect("utf-8"),
            root.join("snap").to_str().expect("utf-8"),
        ],
    );
    let text: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("line {i} of a compressible file\n").into_bytes())
        .collect();
    std::fs::write(root.join("compressed.txt"), text).expect("compressible");
    std::fs::write(root.join("sub/after-snapshot.bin"), noise(42, 1 << 20)).expect("write");
    std::fs::remove_dir_all(root.join("sub/conf1")).ok();
    std::fs::remove_dir_all(root.join("sub/conf2")).expect("delete");
    std::fs::remove_file(root.join("usr/share/data/big.bin")).expect("delete");
    std::fs::remove_dir_all(root.join("etc/conf3")).expect("delete");
    run("sync", &[]);
    drop(mnt);
    drop(lo);
    img
}

/// A copy of a mounted filesystem taken right after an fsync: its superblock points at a
/// non-empty log tree. Returns the copy and the bytes the fsynced file must hold.
pub(super) fn log_tree_image(dir: &Path, src: &Path) -> (PathBuf, Vec<u8>) {
    let img = dir.join("live.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(1 << 30))
        .expect("image");
    run("mkfs.btrfs", &["-q", "-f", img.to_str().expect("utf-8")]);
    let copy = dir.join("log.img");
    let lo = Loop::attach(&img);
    // A long commit interval keeps the transaction open, so the fsync goes to the log tree.
    let mnt = Mount::new(&lo, &dir.join("mnt"), "commit=600");
    cp_a(src, mnt.path());
    run("sync", &[]);
    let data = noise(43, 3 << 20);
    let mut file = std::fs::File::create(mnt.path().join("fsynced.bin")).expect("create");
    file.write_all(&data).expect("write");
    file.sync_all().expect("fsync");
    let mut appended = std::fs::OpenOptions::new()
        .append(true)
        .open(mnt.path().join("etc/conf0/file0.txt"))
        .expect("open");
    appended
        .write_all(b"appended after the commit\n")
        .expect("append");
    appended.sync_all().expect("fsync");
    run(
        "cp",
        &[
            "--sparse=always",
            img.to_str().expect("utf-8"),
            copy.to_str().expect("utf-8"),
        ],
    );
    drop((file, appended));
    drop(mnt);
    drop(lo);
    std::fs::remove_file(&img).ok();
    (copy, data)
}

/// Mounts `image` (replaying its log) and copies its files to `out`.
pub(super) fn mounted_copy(image: &Path, mnt: &Path, out: &Path) {
    let lo = Loop::attach(image);
    let mount = Mount::new(&lo, mnt, "rw");
    std::fs::create_dir_all(out).expect("out");
    cp_a(mount.path(), out);
    drop(mount);
    drop(lo);
}
