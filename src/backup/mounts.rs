//! A drive being backed up must not change while it is read: none of its partitions (nor
//! anything stacked on them, LVM or LUKS) may be mounted writable or be active swap. A
//! read-only mount is fine.
//!
//! The check and the hold are one: the device is opened with `O_EXCL` first, which the kernel
//! grants only while nothing is mounted on it or its partitions, and which keeps anyone from
//! mounting one until the backup ends. Only where that is refused (a read-only mount holds
//! it) are the mounts looked at, in `/proc/self/mountinfo`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::BackupError;
use crate::target::sysfs::{self, DevId, StackedDevice};

/// Refuses to back up the block device at `path` while any of its partitions, or anything
/// stacked on it, is mounted read-write or used as swap. Anything that is not a block device
/// passes. Returns an exclusive descriptor on the device when the kernel grants one: while it
/// is open, nothing can be mounted on the device.
pub fn check_source(path: &Path) -> Result<Option<File>, BackupError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.file_type().is_block_device() {
        return Ok(None);
    }
    let exclusive = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(path);
    if let Ok(held) = exclusive {
        return Ok(Some(held));
    }
    use std::os::unix::fs::MetadataExt;
    let stack = sysfs::stack(DevId::from_dev_t(meta.rdev()));
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some((device, mount_point)) = writable_mount(&text, &stack) {
        return Err(BackupError::Mounted {
            device,
            mount_point,
        });
    }
    for used in sysfs::uses(&stack) {
        if let sysfs::Use::Swap { device } = used {
            return Err(BackupError::Swap { device });
        }
    }
    Ok(None)
}

/// The first mount in `mountinfo` of a device of `stack` that is writable: mounted without
/// `ro`, or on a filesystem whose superblock is not read-only. Its kernel name and mount point.
fn writable_mount(mountinfo: &str, stack: &[StackedDevice]) -> Option<(String, String)> {
    let name_of = |id: DevId| stack.iter().find(|d| d.id == id).map(|d| d.name.clone());
    for line in mountinfo.lines() {
        let Some(mount) = parse(line) else {
            continue;
        };
        // btrfs and overlay report an anonymous number; their source names the device.
        let device = name_of(mount.id).or_else(|| sysfs::node_id(&mount.source).and_then(&name_of));
        let Some(device) = device else {
            continue;
        };
        let read_only = |options: &str| options.split(',').any(|o| o == "ro");
        if !read_only(&mount.options) || !read_only(&mount.super_options) {
            return Some((device, mount.mount_point));
        }
    }
    None
}

/// One line of `/proc/self/mountinfo`.
struct Mount {
    id: DevId,
    mount_point: String,
    options: String,
    source: String,
    super_options: String,
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let (major, minor) = fields.nth(2)?.split_once(':')?;
    let id = DevId {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    };
    let mount_point = sysfs::unescape(fields.nth(1)?);
    let options = fields.next()?.to_owned();
    let mut rest = fields.skip_while(|f| *f != "-").skip(2);
    let source = sysfs::unescape(rest.next()?);
    let super_options = rest.next().unwrap_or_default().to_owned();
    Some(Mount {
        id,
        mount_point,
        options,
        source,
        super_options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Vec<StackedDevice> {
        [(8, 16, "sdb"), (8, 17, "sdb1"), (8, 18, "sdb2")]
            .into_iter()
            .map(|(major, minor, name)| StackedDevice {
                id: DevId { major, minor },
                name: name.into(),
            })
            .collect()
    }

    #[test]
    fn a_writable_mount_of_a_partition_is_found_and_read_only_ones_pass() {
        let ro = "40 30 8:17 / /media/my\\040boot ro,relatime - vfat /dev/sdb1 ro,fmask=0022\n\
                  41 30 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n";
        assert_eq!(writable_mount(ro, &stack()), None);
        let rw = format!("{ro}42 30 8:18 / /media/root rw,relatime shared:1 - ext4 /dev/sdb2 rw\n");
        assert_eq!(
            writable_mount(&rw, &stack()),
            Some(("sdb2".into(), "/media/root".into()))
        );
    }

    #[test]
    fn a_read_only_bind_of_a_writable_filesystem_is_writable() {
        let bind = "50 30 8:18 /srv /mnt ro,relatime - ext4 /dev/sdb2 rw,errors=remount-ro\n";
        assert_eq!(
            writable_mount(bind, &stack()),
            Some(("sdb2".into(), "/mnt".into()))
        );
    }

    #[test]
    fn mount_points_are_unescaped() {
        let mount =
            parse("40 30 8:17 / /media/my\\040boot ro - vfat /dev/sdb1 ro").expect("a line");
        assert_eq!(mount.mount_point, "/media/my boot");
        assert_eq!(
            (mount.options.as_str(), mount.super_options.as_str()),
            ("ro", "ro")
        );
    }

    #[test]
    fn a_regular_file_passes_without_a_hold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("card.img");
        std::fs::write(&file, b"x").expect("write");
        assert!(check_source(&file).expect("a file passes").is_none());
    }
}
