//! Whether writing a block device would change a file that is being read: the image or its
//! bmap living on the device, being the device (or a partition of it, or the disk it is a
//! partition of), or being the file behind a loop device the device is.
//!
//! A device is *stored on* another when writing the first changes the second: a partition on
//! its disk, a device-mapper or md device on its members, a loop device on the file (and so on
//! the filesystem's device) or the device behind it. Two devices overlap when either is stored
//! on the other, directly or through a chain; two partitions of one disk, or two loop devices
//! over two files of one filesystem, do not.
//!
//! ```text
//!  file ── st_dev ──► filesystem device(s) ─┐
//!       └─ (st_dev, st_ino) ────────────────┼─► compared with: the device, what is stacked on it
//!  block-device file ── st_rdev ────────────┘   (stack), and what it is stored on (below),
//!                                               loop devices' backing (dev, inode) included
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{DevId, StackedDevice, children, filesystem_devices, kernel_name, read_dev, stack};

/// How a file being read shares storage with the device about to be written. Every name is a
/// kernel name (`sdb1`, `loop0`, `dm-0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlap {
    /// The file is on a filesystem of `fs_device`, which is `device` or is stored on it.
    FileOn {
        /// Where the filesystem is.
        fs_device: String,
        /// The device to be written.
        device: String,
    },
    /// The file is the block device `device` itself.
    SameDevice {
        /// The device to be written.
        device: String,
    },
    /// The file is the block device `image`, which is stored on `device` (a partition of it,
    /// or something built on it).
    ImageOnDevice {
        /// The block device being read.
        image: String,
        /// The device to be written.
        device: String,
    },
    /// The file is the block device `image`, and `device` is stored on it (one of its
    /// partitions, or something built on it).
    DeviceOnImage {
        /// The block device being read.
        image: String,
        /// The device to be written.
        device: String,
    },
    /// `loop_device` reads and writes the file itself; it is `device` or `device` is stored on it.
    LoopOver {
        /// The loop device over the file.
        loop_device: String,
        /// The device to be written.
        device: String,
    },
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlap::FileOn { fs_device, device } if fs_device == device => {
                write!(f, "it is a file on /dev/{device}")
            }
            Overlap::FileOn { fs_device, device } => write!(
                f,
                "it is a file on /dev/{fs_device}, which is stored on /dev/{device}"
            ),
            Overlap::SameDevice { device } => write!(f, "it is /dev/{device} itself"),
            Overlap::ImageOnDevice { image, device } => {
                write!(f, "it is /dev/{image}, which is stored on /dev/{device}")
            }
            Overlap::DeviceOnImage { image, device } => {
                write!(f, "it is /dev/{image}, and /dev/{device} is stored on it")
            }
            Overlap::LoopOver {
                loop_device,
                device,
            } if loop_device == device => write!(f, "/dev/{device} is a loop device over it"),
            Overlap::LoopOver {
                loop_device,
                device,
            } => write!(
                f,
                "/dev/{device} is stored on /dev/{loop_device}, a loop device over it"
            ),
        }
    }
}

/// How writing the block device numbered `device` would change `file`, if it would. `opened`
/// is the device itself when it is already open: a loop device's backing file is then asked
/// of that descriptor, not looked up by name. A file that cannot be examined overlaps nothing
/// (it cannot be read either).
pub fn overlap(file: &Path, device: DevId, opened: Option<&File>) -> Option<Overlap> {
    let meta = fs::metadata(file).ok()?;
    let name = kernel_name(device);
    let up = stack(device);
    let down = below(device, opened);
    if meta.file_type().is_block_device() {
        let image = DevId::from_dev_t(meta.rdev());
        let image_name = kernel_name(image);
        if image == device {
            return Some(Overlap::SameDevice { device: name });
        }
        if contains(&up, image) || contains(&below(image, None).devices, device) {
            return Some(Overlap::ImageOnDevice {
                image: image_name,
                device: name,
            });
        }
        if contains(&down.devices, image) || contains(&stack(image), device) {
            return Some(Overlap::DeviceOnImage {
                image: image_name,
                device: name,
            });
        }
        return None;
    }
    let at = DevId::from_dev_t(meta.dev());
    if let Some((loop_device, _)) = down
        .loops
        .iter()
        .find(|(_, b)| b.rdev.is_none() && b.dev == at && b.ino == meta.ino())
    {
        return Some(Overlap::LoopOver {
            loop_device: loop_device.clone(),
            device: name,
        });
    }
    filesystem_devices(at)
        .into_iter()
        .find(|&fs| contains(&up, fs) || contains(&below(fs, None).devices, device))
        .map(|fs| Overlap::FileOn {
            fs_device: kernel_name(fs),
            device: name,
        })
}

fn contains(devices: &[StackedDevice], id: DevId) -> bool {
    devices.iter().any(|d| d.id == id)
}

/// What a loop device reads and writes: `(st_dev, st_ino)` of its backing file, and its
/// `st_rdev` when that is a block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backing {
    dev: DevId,
    ino: u64,
    rdev: Option<DevId>,
}

/// A device and everything it is stored on, with the backing of every loop device among them.
#[derive(Debug, Default)]
struct Below {
    devices: Vec<StackedDevice>,
    loops: Vec<(String, Backing)>,
}

/// The device, the disk of a partition, the members of a device-mapper or md device, and what
/// a loop device is over (the device behind it, or its file's filesystem devices), recursively.
fn below(device: DevId, opened: Option<&File>) -> Below {
    let mut found = Below::default();
    let mut todo = vec![device];
    while let Some(id) = todo.pop() {
        if contains(&found.devices, id) || found.devices.len() > 4096 {
            continue;
        }
        let dir = id.sysfs_dir();
        let name = kernel_name(id);
        if dir.join("partition").exists()
            && let Some(disk) = fs::canonicalize(&dir)
                .ok()
                .and_then(|real| real.parent().and_then(read_dev))
        {
            todo.push(disk);
        }
        todo.extend(children(&dir.join("slaves")));
        let this = if id == device { opened } else { None };
        if let Some(backing) = loop_backing(id, &name, this) {
            match backing.rdev {
                Some(rdev) => todo.push(rdev),
                None => todo.extend(filesystem_devices(backing.dev)),
            }
            found.loops.push((name.clone(), backing));
        }
        found.devices.push(StackedDevice { id, name });
    }
    found
}

/// The backing of loop device `id` (kernel name `name`), if it is one with a file attached:
/// asked of `opened`, or of the device node, with `LOOP_GET_STATUS64`; where the node cannot
/// be opened (an unprivileged user), by the path sysfs gives.
fn loop_backing(id: DevId, name: &str, opened: Option<&File>) -> Option<Backing> {
    let sysfs = id.sysfs_dir().join("loop/backing_file");
    if !sysfs.exists() {
        return None;
    }
    let node = || {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(Path::new("/dev").join(name))
            .ok()?;
        let meta = file.metadata().ok()?;
        (meta.file_type().is_block_device() && DevId::from_dev_t(meta.rdev()) == id).then_some(file)
    };
    let by_ioctl = match opened {
        Some(file) => loop_status(file),
        None => node().and_then(|file| loop_status(&file)),
    };
    by_ioctl.or_else(|| {
        // The kernel ends the path with a newline (and " (deleted)" for a deleted file,
        // which then is not found: nothing else can be reading it by that name).
        let text = fs::read_to_string(&sysfs).ok()?;
        let meta = fs::metadata(text.strip_suffix('\n').unwrap_or(&text)).ok()?;
        Some(backing_of(meta.dev(), meta.ino(), meta.rdev()))
    })
}

fn backing_of(dev: u64, ino: u64, rdev: u64) -> Backing {
    Backing {
        dev: DevId::from_dev_t(dev),
        ino,
        rdev: (rdev != 0).then(|| DevId::from_dev_t(rdev)),
    }
}

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `LOOP_GET_STATUS64`.
const LOOP_GET_STATUS64: libc::Ioctl = 0x4C05;

/// The backing file's numbers, as the kernel has them: `stat` of the file it holds open.
fn loop_status(file: &File) -> Option<Backing> {
    let mut info = LoopInfo64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: 0,
        lo_file_name: [0; 64],
        lo_crypt_name: [0; 64],
        lo_encrypt_key: [0; 32],
        lo_init: [0; 2],
    };
    // SAFETY: the request fills one `struct loop_info64`, which `info` is, and lives through
    // the call.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            LOOP_GET_STATUS64,
            &mut info as *mut LoopInfo64,
        )
    };
    (rc == 0).then(|| backing_of(info.lo_device, info.lo_inode, info.lo_rdevice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_info_has_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
    }

    #[test]
    fn a_file_nobody_can_examine_overlaps_nothing() {
        let none = DevId { major: 7, minor: 0 };
        assert_eq!(overlap(Path::new("/nonexistent/x.img"), none, None), None);
    }

    #[test]
    fn reasons_name_the_devices() {
        let loop_over = Overlap::LoopOver {
            loop_device: "loop3".into(),
            device: "dm-0".into(),
        };
        assert_eq!(
            loop_over.to_string(),
            "/dev/dm-0 is stored on /dev/loop3, a loop device over it"
        );
        let file_on = Overlap::FileOn {
            fs_device: "sdb1".into(),
            device: "sdb".into(),
        };
        assert_eq!(
            file_on.to_string(),
            "it is a file on /dev/sdb1, which is stored on /dev/sdb"
        );
    }
}
