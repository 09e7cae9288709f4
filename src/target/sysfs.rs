//! Facts about a block device from sysfs and procfs: its partitions, what is stacked on it
//! (device-mapper, md), and what of all that is mounted or used as swap.
//!
//! Used to give the reason when the kernel's `O_EXCL` refuses a device, and to refuse a device
//! that holds the image being written or shares storage with it (see [`overlap()`]).

mod overlap;

use std::fmt;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use overlap::{Overlap, overlap};

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevId {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevId {
    /// From a `dev_t` (`st_rdev` of a device node, `st_dev` of a file).
    pub fn from_dev_t(dev: u64) -> Self {
        Self {
            major: libc::major(dev),
            minor: libc::minor(dev),
        }
    }

    /// Parses sysfs's and mountinfo's `MAJ:MIN`.
    fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(Self {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    fn sysfs_dir(self) -> PathBuf {
        PathBuf::from(format!("/sys/dev/block/{}:{}", self.major, self.minor))
    }
}

impl fmt::Display for DevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A block device in the stack under a target: the target itself, a partition, or a holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackedDevice {
    /// Its number.
    pub id: DevId,
    /// Its kernel name (`sdb1`, `dm-0`, `md127`).
    pub name: String,
}

/// Something that uses a device and makes writing to it destructive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// A filesystem on it is mounted.
    Mounted {
        /// The kernel name of the mounted device.
        device: String,
        /// Where.
        mount_point: String,
    },
    /// It is active swap.
    Swap {
        /// The kernel name of the swap device.
        device: String,
    },
    /// A device-mapper (LVM, LUKS) or md device is built on it.
    Holder {
        /// The kernel name of the device below.
        device: String,
        /// The holder (`dm-0`, `md127`).
        holder: String,
    },
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Use::Mounted {
                device,
                mount_point,
            } => write!(f, "/dev/{device} is mounted on {mount_point}"),
            Use::Swap { device } => write!(f, "/dev/{device} is in use as swap"),
            Use::Holder { device, holder } => {
                write!(f, "/dev/{device} is used by {holder} (LVM, LUKS or RAID)")
            }
        }
    }
}

/// The device, its partitions, and everything stacked on any of them, recursively.
pub fn stack(device: DevId) -> Vec<StackedDevice> {
    let mut found = Vec::new();
    let mut todo = vec![device];
    while let Some(id) = todo.pop() {
        if found.iter().any(|d: &StackedDevice| d.id == id) || found.len() > 4096 {
            continue;
        }
        let dir = id.sysfs_dir();
        let name = kernel_name(id);
        todo.extend(partitions(&dir));
        todo.extend(children(&dir.join("holders")));
        found.push(StackedDevice { id, name });
    }
    found
}

/// The kernel's name of a block device (`sdb1`, `loop0`, `dm-0`), or `MAJ:MIN` if sysfs does
/// not know it.
fn kernel_name(id: DevId) -> String {
    fs::canonicalize(id.sysfs_dir())
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| id.to_string())
}

/// Partitions of the disk at `dir`: subdirectories with a `partition` file.
fn partitions(dir: &Path) -> Vec<DevId> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().join("partition").exists())
        .filter_map(|e| read_dev(&e.path()))
        .collect()
}

/// Devices listed in a `holders` (or `slaves`) directory.
fn children(dir: &Path) -> Vec<DevId> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| read_dev(&e.path()))
        .collect()
}

fn read_dev(dir: &Path) -> Option<DevId> {
    DevId::parse(&fs::read_to_string(dir.join("dev")).ok()?)
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone)]
struct Mount {
    id: DevId,
    source: String,
    mount_point: String,
}

fn mounts() -> Vec<Mount> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let id = DevId::parse(fields.nth(2)?)?;
    let mount_point = unescape(fields.nth(1)?);
    let mut rest = fields.skip_while(|f| *f != "-");
    rest.next();
    let source = unescape(rest.nth(1)?);
    Some(Mount {
        id,
        source,
        mount_point,
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(crate) fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The device number behind a path, if it is a block device node.
pub(crate) fn node_id(path: impl AsRef<Path>) -> Option<DevId> {
    let meta = fs::metadata(path).ok()?;
    meta.file_type()
        .is_block_device()
        .then(|| DevId::from_dev_t(meta.rdev()))
}

/// What uses any device of `stack`: mounts, swap, and holders outside the stack's own
/// partitions (a holder means LVM, LUKS or md sit on the device).
pub fn uses(stack: &[StackedDevice]) -> Vec<Use> {
    let name_of = |id: DevId| stack.iter().find(|d| d.id == id).map(|d| d.name.clone());
    let mut uses = Vec::new();
    for mount in mounts() {
        // btrfs and overlay report an anonymous number; their source path names the device.
        let device = name_of(mount.id).or_else(|| node_id(&mount.source).and_then(name_of));
        if let Some(device) = device {
            uses.push(Use::Mounted {
                device,
                mount_point: mount.mount_point,
            });
        }
    }
    if let Ok(swaps) = fs::read_to_string("/proc/swaps") {
        for line in swaps.lines().skip(1) {
            let path = unescape(line.split_whitespace().next().unwrap_or_default());
            if let Some(device) = node_id(&path).and_then(name_of) {
                uses.push(Use::Swap { device });
            }
        }
    }
    for device in stack {
        for holder in children(&device.id.sysfs_dir().join("holders")) {
            if let Some(holder) = name_of(holder) {
                uses.push(Use::Holder {
                    device: device.name.clone(),
                    holder,
                });
            }
        }
    }
    uses
}

/// The block devices a file lives on: its `st_dev`, and for filesystems that report an
/// anonymous number (btrfs), the device their mount names as its source.
pub fn devices_holding(path: &Path) -> Vec<DevId> {
    match fs::metadata(path) {
        Ok(meta) => filesystem_devices(DevId::from_dev_t(meta.dev())),
        Err(_) => Vec::new(),
    }
}

/// The devices behind the filesystem whose `st_dev` is `id`: `id` itself, and the sources of
/// the mounts that report it (btrfs and overlay report an anonymous number).
fn filesystem_devices(id: DevId) -> Vec<DevId> {
    let mut ids = vec![id];
    ids.extend(
        mounts()
            .into_iter()
            .filter(|m| m.id == id)
            .filter_map(|m| node_id(&m.source)),
    );
    ids
}

/// `Ok(())` if `/sys/block/<name>/removable` is 1 (bmaptool's `--removable-device` rule, with
/// `name` the kernel's name of the device numbered `device`); otherwise the reason.
pub fn check_removable(device: DevId) -> Result<(), String> {
    let name = kernel_name(device);
    match fs::read_to_string(Path::new("/sys/block").join(&name).join("removable")) {
        Ok(flag) if flag.trim() == "1" => Ok(()),
        Ok(_) => Err(format!("/sys/block/{name}/removable is 0")),
        Err(_) => Err(format!("{name} is not a whole disk (no /sys/block/{name})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escapes() {
        let m = parse_mountinfo_line(
            "36 35 98:0 / /mnt/my\\040disk rw,noatime shared:1 - ext4 /dev/sdb1 rw",
        )
        .expect("parses");
        assert_eq!(
            m.id,
            DevId {
                major: 98,
                minor: 0
            }
        );
        assert_eq!(m.mount_point, "/mnt/my disk");
        assert_eq!(m.source, "/dev/sdb1");
        // No optional fields at all.
        let m = parse_mountinfo_line("1 2 8:1 / / rw - btrfs /dev/sda1 rw").expect("parses");
        assert_eq!(m.source, "/dev/sda1");
        assert!(parse_mountinfo_line("garbage").is_none());
    }

    #[test]
    fn unescape_keeps_plain_backslashes() {
        assert_eq!(unescape(r"a\134b\0"), r"a\b\0");
    }
}
