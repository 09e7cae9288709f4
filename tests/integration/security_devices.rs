//! A destination that shares storage with what is being read, a device node that names another
//! device by the time it is opened, and a card swapped for another between confirmation and
//! writing: each refused, with words that say which file, which device and why. Real loop
//! devices, a real FUSE symlink, and (gui builds) the udisksd stand-in.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use blockprint::target::{Target, TargetError, TargetOptions};
use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, Generation, INodeNo, MountOption,
    ReplyAttr, ReplyData, ReplyEntry, Request,
};

use crate::harness::support::{
    LoopDevice, blockprint, blockprint_with, random_bytes, require_root, scratch,
};

const MIB: usize = 1 << 20;

/// A file of `len` random bytes; returns its path and bytes.
fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let bytes = random_bytes(seed, len);
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

#[track_caller]
fn unchanged(path: &Path, before: &[u8]) {
    assert!(
        std::fs::read(path).unwrap() == before,
        "{} was changed",
        path.display()
    );
}

/// F5: `copy disk.img $LOOP` where the loop device is over disk.img itself is refused (it
/// used to succeed, having zeroed the image's last MiB before reading it).
#[test]
fn f5_a_loop_device_over_the_image_is_refused() {
    require_root("loop devices");
    let dir = scratch();
    let (image, before) = random_file(dir.path(), "disk.img", 8 * MIB, 51);
    let dev = LoopDevice::new(&image);
    let image_arg = image.to_str().unwrap();
    blockprint(["copy", "--nobmap", image_arg, dev.name()]).fails_with(&[
        &format!("device '{}' holds '{image_arg}'", dev.name()),
        &format!("({} is a loop device over it)", dev.name()),
        "write to another device",
    ]);
    unchanged(&image, &before);
}

/// F5: `copy $LOOP $LOOP`, the image being the destination device itself, is refused.
#[test]
fn f5_the_destination_as_the_image_is_refused() {
    require_root("loop devices");
    let dir = scratch();
    let (backing, before) = random_file(dir.path(), "disk.img", 8 * MIB, 52);
    let dev = LoopDevice::new(&backing);
    blockprint(["copy", "--nobmap", dev.name(), dev.name()]).fails_with(&[
        &format!("device '{0}' holds '{0}'", dev.name()),
        &format!("(it is {} itself)", dev.name()),
    ]);
    unchanged(&backing, &before);
}

/// F5: the bmap being read is protected as the image is: a loop device over it is refused.
#[test]
fn f5_a_loop_device_over_the_bmap_is_refused() {
    require_root("loop devices");
    let dir = scratch();
    let (image, bmap, _) = crate::harness::support::sparse_image(dir.path(), 6 * MIB as u64);
    let text = std::fs::read(&bmap).unwrap();
    assert!(text.len() >= 512, "a loop device needs a sector of it");
    let dev = LoopDevice::new(&bmap);
    let bmap_arg = bmap.to_str().unwrap();
    blockprint([
        "copy",
        "--bmap",
        bmap_arg,
        image.to_str().unwrap(),
        dev.name(),
    ])
    .fails_with(&[
        &format!("device '{}' holds '{bmap_arg}'", dev.name()),
        "is a loop device over it",
    ]);
    unchanged(&bmap, &text);
}

/// F5: a partition and its disk overlap whichever of them is the image.
#[test]
fn f5_a_partition_and_its_disk_are_refused_as_each_others_image() {
    require_root("loop devices");
    let dir = scratch();
    let (backing, _) = random_file(dir.path(), "disk.img", 16 * MIB, 53);
    crate::harness::support::sh(
        "sh",
        &[
            "-c",
            &format!("echo '2048,8192,L' | sfdisk -q {}", backing.display()),
        ],
    );
    let before = std::fs::read(&backing).unwrap();
    let dev = LoopDevice::new(&backing);
    dev.add_partitions();
    let part = format!("{}p1", dev.name());
    // The partition first: closing the disk opened for writing makes udev re-read its table
    // (and drop the partition, which this kernel cannot parse).
    blockprint(["copy", "--nobmap", dev.name(), &part]).fails_with(&[
        &format!("device '{part}' holds '{}'", dev.name()),
        &format!("(it is {}, and {part} is stored on it)", dev.name()),
    ]);
    blockprint(["copy", "--nobmap", &part, dev.name()]).fails_with(&[
        &format!("device '{}' holds '{part}'", dev.name()),
        &format!("(it is {part}, which is stored on {})", dev.name()),
    ]);
    unchanged(&backing, &before);
}

/// F5: `list --image` shows a loop device over the image as not writable, and why (it used to
/// say "needs confirmation").
#[test]
fn f5_list_shows_a_loop_device_over_the_image_blocked() {
    require_root("loop devices");
    let dir = scratch();
    let (image, _) = random_file(dir.path(), "disk.img", 4 * MIB, 54);
    let dev = LoopDevice::new(&image);
    let no_bus = [("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")];
    let image_arg = image.to_str().unwrap();
    let run = blockprint_with(
        ["list", "--all", "--image", image_arg],
        &no_bus,
        None,
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    let mut lines = text.lines().skip_while(|l| !l.starts_with(dev.name()));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {}: {text}", dev.name()));
    assert!(first.ends_with("\tnot writable"), "{text}");
    let blocked = format!(
        "  blocked: it holds the image file {image_arg} ({} is a loop device over it)",
        dev.name()
    );
    assert!(
        lines
            .take_while(|l| l.starts_with("  "))
            .any(|l| l == blocked),
        "want '{blocked}' in: {text}"
    );
}

/// The inode of [`FlipFs`]'s one symlink.
const LINK: INodeNo = INodeNo(2);

/// A FUSE filesystem with one symlink, `dest`, that leads to `first` when followed the first
/// time and to `then` every time after: a device node replaced between two lookups, without a
/// race. (FUSE asks for a symlink's target on every path walk unless the filesystem asks the
/// kernel to cache it, which this one does not.)
struct FlipFs {
    first: PathBuf,
    then: PathBuf,
    followed: AtomicUsize,
    born: SystemTime,
}

impl FlipFs {
    fn attr(&self, ino: INodeNo) -> FileAttr {
        let (kind, perm, size) = if ino == INodeNo::ROOT {
            (FileType::Directory, 0o755, 0)
        } else {
            let longest = self
                .first
                .as_os_str()
                .len()
                .max(self.then.as_os_str().len());
            (FileType::Symlink, 0o777, longest as u64)
        };
        FileAttr {
            ino,
            size,
            blocks: 0,
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind,
            perm,
            nlink: if ino == INodeNo::ROOT { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

impl Filesystem for FlipFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT && name == "dest" {
            reply.entry(&Duration::from_secs(60), &self.attr(LINK), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino == INodeNo::ROOT || ino == LINK {
            reply.attr(&Duration::from_secs(60), &self.attr(ino));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if ino != LINK {
            return reply.error(Errno::EINVAL);
        }
        let target = match self.followed.fetch_add(1, Ordering::SeqCst) {
            0 => &self.first,
            _ => &self.then,
        };
        reply.data(target.as_os_str().as_encoded_bytes());
    }
}

/// F16: the checks are made on the device opened, not on whatever the path named before. The
/// path is a symlink that leads to a harmless loop device when it is first looked at and to
/// a loop device over the image when it is opened; the open is refused, naming the device
/// that was really opened (it used to pass the checks on the first and open the second).
#[test]
fn f16_the_checks_see_the_device_opened_not_the_one_the_path_named_before() {
    require_root("loop devices and a FUSE mount");
    let dir = scratch();
    let (image, before) = random_file(dir.path(), "disk.img", 4 * MIB, 61);
    let (spare, _) = random_file(dir.path(), "spare.img", 4 * MIB, 62);
    let over_image = LoopDevice::new(&image);
    let harmless = LoopDevice::new(&spare);
    let options = TargetOptions {
        removable_only: false,
        protected: vec![image.clone()],
    };
    // Each one as itself: the harmless one opens, the other is refused.
    drop(Target::open(&harmless.path, &options).expect("the spare device opens"));
    assert!(matches!(
        Target::open(&over_image.path, &options),
        Err(TargetError::HoldsSource { .. })
    ));

    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let flip = FlipFs {
        first: harmless.path.clone(),
        then: over_image.path.clone(),
        followed: AtomicUsize::new(0),
        born: SystemTime::now(),
    };
    let mut config = Config::default();
    config.mount_options = vec![MountOption::FSName("blockprint-flip".into())];
    let session = fuser::spawn_mount(flip, &mountpoint, &config).expect("mount the FUSE link");
    let link = mountpoint.join("dest");
    let opened = Target::open(&link, &options);
    session.umount_and_join().expect("unmount the FUSE link");
    match opened {
        Err(e @ TargetError::HoldsSource { .. }) => {
            let want = format!(
                "device '{}' holds '{}', which is being read ({} is a loop device over it)",
                link.display(),
                image.display(),
                over_image.name()
            );
            assert!(e.to_string().starts_with(&want), "{e}");
        }
        Err(other) => panic!("expected the image to be protected, got: {other}"),
        Ok(target) => panic!(
            "{} was opened for writing: the checks looked at another device",
            target.path().display()
        ),
    }
    unchanged(&image, &before);
}

/// F17: a drive chosen in the app is opened only if it is still the card chosen. Another card
/// of the same make and size put in the same slot (another serial number), or a card inserted
/// again in a reader (the reader's serial number stays), is refused before anything is asked
/// of udisksd; the card there now, chosen as it is, opens. (It used to be opened whenever the
/// size, the model and the object path matched.)
#[cfg(feature = "gui")]
#[test]
fn f17_another_card_in_the_same_slot_is_not_opened() {
    use blockprint::udisks::{Udisks, UdisksError};

    use crate::harness::udisksd_standin::{Bus, Disk, Standin};

    require_root("a loop device");
    let dir = scratch();
    let (backing, before) = random_file(dir.path(), "card.img", 4 * MIB, 71);
    let card = LoopDevice::new(&backing);
    let inserted = 1_790_000_000_000_000;
    let slot = |serial, media_detected| Disk {
        bus: "sdio",
        serial,
        media_detected,
        can_power_off: false,
        opens: Some(card.path.clone()),
        ..Disk::usb("mmcblk0", "", "SC64G", 63_864_569_856)
    };
    let bus = Bus::start();
    let connection =
        zbus::block_on(zbus::connection::Builder::address(bus.address.as_str()).build())
            .expect("client connection");
    let listed = |udisks: &Udisks| {
        udisks
            .drives()
            .expect("drives")
            .into_iter()
            .find(|d| d.device.to_str() == Some("/dev/mmcblk0"))
            .expect("the card is listed")
    };
    let refused = |udisks: &Udisks, chosen, standin: &Standin| match udisks.open(chosen) {
        Err(e @ UdisksError::Changed { .. }) => {
            assert!(
                standin.calls().iter().all(|c| !c.starts_with("OpenDevice")),
                "{:?}",
                standin.calls()
            );
            e.to_string()
        }
        Err(other) => panic!("expected another card to be refused, got: {other}"),
        Ok(_) => panic!("another card was opened for writing"),
    };

    let first = Standin::serve(&bus, vec![slot("0x1234abcd", inserted)]);
    let udisks = Udisks::with_connection(connection).expect("the stand-in answers");
    let chosen = listed(&udisks);
    drop(first);
    let second = Standin::serve(&bus, vec![slot("0x5678ef01", inserted)]);
    assert_eq!(
        refused(&udisks, &chosen, &second),
        "/dev/mmcblk0 is not the drive that was chosen (its serial number is '0x5678ef01', it \
         was '0x1234abcd'): another card or drive is in its place; nothing was written, check \
         which drive it is and choose it again"
    );
    let chosen = listed(&udisks);
    drop(second);
    let third = Standin::serve(&bus, vec![slot("0x5678ef01", inserted + 5_000_000)]);
    assert!(
        refused(&udisks, &chosen, &third).contains("(a card or disc was inserted again since)")
    );

    let now = listed(&udisks);
    drop(udisks.open(&now).expect("the card there now opens"));
    assert_eq!(third.calls().len(), 1, "{:?}", third.calls());
    unchanged(&backing, &before);
}
