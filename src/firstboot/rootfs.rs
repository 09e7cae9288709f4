//! The image's root filesystem, read-only: which partition it is, and the few files that
//! say what its first boot will honour.
//!
//! The root is the first partition, in table order, that is marked as one that may hold
//! it and holds an ext2/3/4 filesystem with an `/etc` directory: an MBR entry of type 0x83,
//! or a GPT entry of type "Linux filesystem data" (`0FC63DAF-8483-4772-8E79-3D69D8477DE4`)
//! or one of the Discoverable Partitions Specification's root types (x86-64, x86, arm64,
//! arm, riscv64); a disk without a table that is one ext filesystem is its own root. The
//! first rather than the largest: images put their root first (after the boot partition),
//! and a data partition after it may well be larger. Another filesystem (btrfs, XFS, F2FS)
//! is not read, so its image is judged by its boot partition alone.
//!
//! What is looked up, following symlinks as Linux would (relative and absolute, at most
//! [`MAX_HOPS`] of them; Debian 12 and Raspberry Pi OS have merged `/usr`, so `/lib` is a
//! link to `usr/lib`), each only when it is a regular file:
//!
//! | path                                               | says                                  |
//! |----------------------------------------------------|---------------------------------------|
//! | `/etc/cloud/cloud.cfg`                             | cloud-init is installed               |
//! | `/usr/lib/raspberrypi-sys-mods/firstboot`          | Raspberry Pi OS's first-boot script (raspberrypi-sys-mods, run once by `init=` to grow the root and apply Imager's files) |
//! | `/usr/lib/raspberrypi-sys-mods/imager_custom`      | its helper for Imager's `firstrun.sh` (which falls back to plain commands without it) |
//! | `/root/.not_logged_in_yet`                         | Armbian, which asks for a root password and a user at the first login |
//! | `/usr/lib/systemd/systemd` or `/lib/systemd/systemd` | systemd, which runs `systemd.run=` from the kernel command line |
//!
//! Each answer is yes, no, or unknown: a lookup that fails (a damaged block, a budget spent,
//! a loop of symlinks) is unknown, never "no", so an image is refused for a missing file
//! only when the file is surely missing.

mod ext;

use std::collections::VecDeque;
use std::io::{Read, Seek};

use self::ext::{Ext, Inode, ROOT};
use super::disk::Partition;
use super::table::{self, Kind, guid};

/// Symlinks followed at most in one lookup.
pub(super) const MAX_HOPS: usize = 8;
/// Partitions tried at most for the root.
const MAX_CANDIDATES: usize = 16;
/// Bytes read at most while looking for the root and at it, whatever the image.
const BUDGET: u64 = 64 << 20;

/// GPT types that may hold a root filesystem.
const ROOT_TYPES: [[u8; 16]; 6] = [
    // Linux filesystem data.
    guid(
        0x0FC6_3DAF,
        0x8483,
        0x4772,
        [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4],
    ),
    // Root partitions of the Discoverable Partitions Specification: x86-64, x86, arm64,
    // arm, riscv64.
    guid(
        0x4F68_BCE3,
        0xE8CD,
        0x4DB1,
        [0x96, 0xE7, 0xFB, 0xCA, 0xF9, 0x84, 0xB7, 0x09],
    ),
    guid(
        0x4447_9540,
        0xF297,
        0x41B2,
        [0x9A, 0xF7, 0xD1, 0x31, 0xD5, 0xF0, 0x45, 0x8A],
    ),
    guid(
        0xB921_B045,
        0x1DF0,
        0x41C3,
        [0xAF, 0x44, 0x4C, 0x6F, 0x28, 0x0D, 0x3F, 0xAE],
    ),
    guid(
        0x69DA_D710,
        0x2CE4,
        0x4E3C,
        [0xB1, 0x6C, 0x21, 0xA1, 0xD4, 0x9A, 0xBE, 0xD3],
    ),
    guid(
        0x72EC_70A6,
        0xCF74,
        0x40E6,
        [0xBD, 0x49, 0x4B, 0xDA, 0x08, 0xE8, 0xF2, 0x24],
    ),
];

/// What an image's root filesystem says about its first boot: for each, `Some(true)` (the
/// file is there), `Some(false)` (surely not) or `None` (it could not be told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFacts {
    /// The root's partition, for messages.
    pub place: String,
    /// cloud-init is installed: `/etc/cloud/cloud.cfg`.
    pub cloud_init: Option<bool>,
    /// Raspberry Pi OS's first-boot script: `/usr/lib/raspberrypi-sys-mods/firstboot`.
    pub rpi_firstboot: Option<bool>,
    /// Its helper for Imager's scripts: `/usr/lib/raspberrypi-sys-mods/imager_custom`.
    pub imager_custom: Option<bool>,
    /// Armbian's first-login marker: `/root/.not_logged_in_yet`.
    pub armbian: Option<bool>,
    /// systemd: `/usr/lib/systemd/systemd` or `/lib/systemd/systemd`.
    pub systemd: Option<bool>,
}

/// Whether an entry of this type may hold the root.
fn may_be_root(kind: Kind) -> bool {
    match kind {
        Kind::Mbr(kind) => kind == 0x83,
        Kind::Gpt(kind) => ROOT_TYPES.contains(&kind),
        Kind::Whole => true,
    }
}

/// The root filesystem of `disk` (the whole disk, from its first byte) and what it says, or
/// `None` when there is none this can read. Reads nothing but the partition table and the
/// ext filesystems of the partitions that may be the root, 64 MiB at most.
pub fn root_facts<D: Read + Seek>(disk: &mut D) -> Option<RootFacts> {
    let layout = table::layout(disk).ok()?.ok()?;
    let mut budget = BUDGET;
    let candidates = layout
        .entries
        .iter()
        .filter(|e| may_be_root(e.kind) && e.fits(layout.size))
        .take(MAX_CANDIDATES);
    for entry in candidates {
        let place = table::place(
            layout.table,
            entry.number,
            entry.start,
            entry.len,
            "the whole disk (an ext2/3/4 filesystem without a partition table)",
        );
        let view = Partition::new(&mut *disk, entry.start, entry.len, place.clone());
        let Ok(mut fs) = Ext::open(view, budget) else {
            continue;
        };
        if matches!(lookup(&mut fs, "/etc"), Ok(Some(etc)) if etc.is_dir()) {
            return Some(facts(&mut fs, place));
        }
        budget = fs.budget_left();
    }
    None
}

/// Looks up each file of the table in the module's documentation.
fn facts<R: Read + Seek>(fs: &mut Ext<R>, place: String) -> RootFacts {
    let mut file = |path: &str| match lookup(fs, path) {
        Ok(found) => Some(found.is_some_and(|inode| inode.is_file())),
        Err(_) => None,
    };
    let cloud_init = file("/etc/cloud/cloud.cfg");
    let rpi_firstboot = file("/usr/lib/raspberrypi-sys-mods/firstboot");
    let imager_custom = file("/usr/lib/raspberrypi-sys-mods/imager_custom");
    let armbian = file("/root/.not_logged_in_yet");
    let systemd = match (
        file("/usr/lib/systemd/systemd"),
        file("/lib/systemd/systemd"),
    ) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    };
    RootFacts {
        place,
        cloud_init,
        rpi_firstboot,
        imager_custom,
        armbian,
        systemd,
    }
}

/// The names of a path, without empty ones (`//` and a trailing `/`).
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|name| !name.is_empty())
        .map(<[u8]>::to_vec)
}

/// The inode at the absolute `path`, following every symlink on the way and at its end:
/// `Ok(None)` when a name is missing, or is not a directory where one is needed; an error
/// when something cannot be read or more than [`MAX_HOPS`] symlinks are met.
fn lookup<R: Read + Seek>(fs: &mut Ext<R>, path: &str) -> ext::Result<Option<Inode>> {
    fs.new_lookup();
    let root = fs.inode(ROOT)?;
    if !root.is_dir() {
        return Err("the root inode is no directory".into());
    }
    let mut names: VecDeque<Vec<u8>> = components(path.as_bytes()).collect();
    let mut at = root.clone();
    let mut hops = 0;
    while let Some(name) = names.pop_front() {
        if name == b"." {
            continue;
        }
        if !at.is_dir() {
            return Ok(None);
        }
        let Some(number) = fs.find(&at, &name)? else {
            return Ok(None);
        };
        let found = fs.inode(number)?;
        if !found.is_symlink() {
            at = found;
            continue;
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(format!(
                "more than {MAX_HOPS} symlinks in a row from {path}"
            ));
        }
        let target = fs.link(&found)?;
        if target.is_empty() {
            return Ok(None);
        }
        if target[0] == b'/' {
            at = root.clone();
        }
        for name in components(&target).rev() {
            names.push_front(name);
        }
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests;
