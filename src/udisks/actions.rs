//! What the app asks udisksd to do with a drive: free it (unmount, lock, stop swap), open it
//! for writing (or reading, to back it up), make it safe to remove afterwards, and restore it to normal use.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use zbus::wire::Variant;

use super::objects::{self, Objects};
use super::{Options, Udisks, UdisksError, is_not_mounted};
use crate::drives::Drive;

/// Cards up to this size get MBR and FAT32 when restored; larger ones GPT and exFAT.
const FAT32_LIMIT: u64 = 32_000_000_000;
/// Where the restored partition starts: 1 MiB, aligned for every card.
const PARTITION_OFFSET: u64 = 1 << 20;
/// GPT's "Microsoft basic data" type, which exFAT and FAT volumes carry.
const GPT_BASIC_DATA: &str = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7";

/// What [`Udisks::prepare`] did to free a drive, one line each (for the log).
pub type Prepared = Vec<String>;

/// A device opened through udisksd.
#[derive(Debug)]
pub struct Opened {
    /// The open device (close-on-exec; exclusive when opened for writing).
    pub file: File,
    /// Whether it is open with `O_DIRECT` (refused by some bridges; then it is not).
    pub direct: bool,
}

/// How a drive was made safe to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Powered off (it may have vanished from the bus).
    PoweredOff,
    /// Its media was ejected.
    Ejected,
    /// Neither is possible: it is safe to remove now that it is closed and flushed.
    Nothing,
}

impl Udisks {
    /// Frees a drive for writing: unmounts every mounted filesystem on it (also inside unlocked
    /// encrypted volumes, which are then locked) and stops swap on it. "Not mounted" counts as
    /// done; a busy mount is an error naming it.
    pub fn prepare(&self, drive: &Drive) -> Result<Prepared, UdisksError> {
        let objects = self.objects()?;
        let mut done = Vec::new();
        for volume in &drive.volumes {
            let Some(path) = objects::block_path(&objects, &volume.device) else {
                continue;
            };
            if let Some(clear) = objects::cleartext_of(&objects, &path) {
                self.unmount(&objects, &clear, &volume.device, &mut done)?;
                self.call(
                    &path,
                    "Encrypted",
                    "Lock",
                    &(Options::new(),),
                    ("lock", &volume.device),
                )?;
                done.push(format!("locked {}", volume.device.display()));
            }
            self.unmount(&objects, &path, &volume.device, &mut done)?;
            if volume.swap_active {
                self.call(
                    &path,
                    "Swapspace",
                    "Stop",
                    &(Options::new(),),
                    ("stop swap on", &volume.device),
                )?;
                done.push(format!("stopped swap on {}", volume.device.display()));
            }
        }
        Ok(done)
    }

    fn unmount(
        &self,
        objects: &Objects,
        path: &str,
        device: &Path,
        done: &mut Prepared,
    ) -> Result<(), UdisksError> {
        if !objects::is_mounted(objects, path) {
            return Ok(());
        }
        match self.call(
            path,
            "Filesystem",
            "Unmount",
            &(Options::new(),),
            ("unmount", device),
        ) {
            Ok(_) => {
                done.push(format!("unmounted {}", device.display()));
                Ok(())
            }
            Err(e) if is_not_mounted(&e) => Ok(()),
            Err(UdisksError::Busy { device, message }) => {
                let mounts = objects::mount_points(objects, path).join(", ");
                Err(UdisksError::Busy {
                    device,
                    message: format!("mounted on {mounts}: {message}"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Opens the drive read-write through `Block.OpenDevice`, which polkit authorises:
    /// `O_EXCL | O_CLOEXEC | O_DIRECT`, or without `O_DIRECT` where the device refuses it.
    /// The drive must still be the one chosen: there, with media, and the same in every fact
    /// that tells drives and media apart (see [`Drive::change_to`]): another card in the same
    /// reader, or a loop device set up anew on the same node, is not it.
    pub fn open(&self, drive: &Drive) -> Result<Opened, UdisksError> {
        self.open_mode(drive, "rw", libc::O_EXCL)
    }

    /// Opens the drive read-only through `Block.OpenDevice` (to back it up), with
    /// `O_CLOEXEC | O_DIRECT` (without `O_DIRECT` where refused), and `O_EXCL` when
    /// `exclusive`: then the kernel grants it only while nothing on the drive is mounted, and
    /// nothing can be mounted until it is closed. The same checks as [`Udisks::open`] that it
    /// is still the drive chosen.
    pub fn open_read(&self, drive: &Drive, exclusive: bool) -> Result<Opened, UdisksError> {
        let flags = if exclusive { libc::O_EXCL } else { 0 };
        self.open_mode(drive, "r", flags)
    }

    /// `Block.OpenDevice` of `drive` in `mode` with `flags | O_CLOEXEC`, `O_DIRECT` if taken.
    fn open_mode(&self, drive: &Drive, mode: &str, flags: i32) -> Result<Opened, UdisksError> {
        let now = objects::drives(&self.objects()?)
            .into_iter()
            .find(|d| d.key == drive.key && d.media_available);
        let Some(now) = now else {
            return Err(UdisksError::Gone {
                device: drive.device.clone(),
            });
        };
        if let Some(change) = drive.change_to(&now) {
            return Err(UdisksError::Changed {
                device: drive.device.clone(),
                change,
            });
        }
        let what = ("open", drive.device.as_path());
        let open = |flags: i32| -> Result<File, UdisksError> {
            let mut options = Options::new();
            options.insert("flags", Variant::from(flags));
            let reply = self.call(&drive.key, "Block", "OpenDevice", &(mode, options), what)?;
            let fd: zbus::wire::OwnedFd =
                reply
                    .body()
                    .deserialize()
                    .map_err(|e| UdisksError::Failed {
                        action: "open".into(),
                        device: drive.device.clone(),
                        message: format!("unexpected reply: {e}"),
                    })?;
            Ok(File::from(std::os::fd::OwnedFd::from(fd)))
        };
        let base = flags | libc::O_CLOEXEC;
        match open(base | libc::O_DIRECT) {
            Ok(file) => Ok(Opened { file, direct: true }),
            Err(UdisksError::Failed { message, .. }) if message.contains("Invalid argument") => {
                open(base).map(|file| Opened {
                    file,
                    direct: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// After writing (the device closed): re-reads the partition table, then powers the drive
    /// off if it can be, else ejects it if that means anything.
    pub fn finish(&self, drive: &Drive) -> Result<Removal, UdisksError> {
        let device = drive.device.as_path();
        self.rescan(drive)?;
        let Some(drive_path) = self.drive_object(drive)? else {
            return Ok(Removal::Nothing);
        };
        let (method, removal) = if drive.can_power_off {
            ("PowerOff", Removal::PoweredOff)
        } else if drive.ejectable {
            ("Eject", Removal::Ejected)
        } else {
            return Ok(Removal::Nothing);
        };
        self.call(
            &drive_path,
            "Drive",
            method,
            &(Options::new(),),
            ("power off", device),
        )?;
        Ok(removal)
    }

    /// After writing (the device closed): has the kernel re-read the partition table, so the
    /// new partitions appear (without powering the drive off).
    pub fn rescan(&self, drive: &Drive) -> Result<(), UdisksError> {
        self.call(
            &drive.key,
            "Block",
            "Rescan",
            &(Options::new(),),
            ("rescan", drive.device.as_path()),
        )
        .map(drop)
    }

    fn drive_object(&self, drive: &Drive) -> Result<Option<String>, UdisksError> {
        let objects = self.objects()?;
        Ok(objects
            .get(&drive.key)
            .and_then(|o| o.get("Block"))
            .and_then(|b| b.get("Drive"))
            .and_then(|d| d.as_str())
            .filter(|d| *d != "/")
            .map(str::to_owned))
    }

    /// Restores a drive to normal use: its signatures wiped, a new partition table (MBR up to
    /// 32 GB, GPT above) and one partition from 1 MiB to the end, formatted FAT32 (MBR) or
    /// exFAT (GPT) with `label`. The drive must have been [prepared](Self::prepare).
    pub fn restore(&self, drive: &Drive, label: &str) -> Result<(), UdisksError> {
        let device = drive.device.as_path();
        let small = drive.size <= FAT32_LIMIT;
        let (table, part_type, fs) = if small {
            ("dos", "0x0c", "vfat")
        } else {
            ("gpt", GPT_BASIC_DATA, "exfat")
        };
        // No "erase": zeroing a whole card takes long, and only the signatures need to go.
        let mut wipe = Options::new();
        wipe.insert("tear-down", Variant::from(true));
        self.call(
            &drive.key,
            "Block",
            "Format",
            &(table, wipe),
            ("create a partition table on", device),
        )?;
        let format = || {
            let mut format = Options::new();
            format.insert("label", Variant::from(label));
            format.insert("update-partition-type", Variant::from(true));
            format
        };
        let created = self.call(
            &drive.key,
            "PartitionTable",
            "CreatePartitionAndFormat",
            &(
                PARTITION_OFFSET,
                // 1 MiB left at the end, where GPT keeps its backup.
                drive.size.saturating_sub(PARTITION_OFFSET + (1 << 20)),
                part_type,
                "",
                Options::new(),
                fs,
                format(),
            ),
            ("create a partition on", device),
        );
        match created {
            Ok(_) => Ok(()),
            // udisksd wipes the new partition before udev has settled and sometimes finds it
            // gone for a moment (a known race; GNOME Disks and Cockpit users meet it). The
            // partition is in the table: format it once it is back, as a user would.
            Err(UdisksError::Failed { message, .. })
                if message.contains("wiping newly created partition") =>
            {
                let partition = self.wait_for_partition(drive)?;
                let formatted = self.call(
                    &partition,
                    "Block",
                    "Format",
                    &(fs, format()),
                    ("format the new partition on", device),
                );
                match formatted {
                    Ok(_) => Ok(()),
                    Err(UdisksError::Failed { message, .. }) if is_sync_timeout(&message) => {
                        self.wait_for_filesystem(&partition, fs, drive)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(UdisksError::Failed { message, .. }) if is_sync_timeout(&message) => {
                let partition = self.wait_for_partition(drive)?;
                self.wait_for_filesystem(&partition, fs, drive)
            }
            Err(e) => Err(e),
        }
    }

    /// After udisksd gave up waiting for udev to report the filesystem it has just made (mkfs
    /// itself succeeded, the wait comes after it): asks for a fresh probe of the partition and
    /// waits up to 30 s more for it to show `fs`, asking again every 10 s. On a busy machine
    /// the uevent can take longer than udisksd's 20 s; the filesystem is there all the same.
    fn wait_for_filesystem(
        &self,
        partition: &str,
        fs: &str,
        drive: &Drive,
    ) -> Result<(), UdisksError> {
        let start = Instant::now();
        let mut asked: Option<Instant> = None;
        loop {
            if asked.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                // A failed rescan is not the answer: the probe below is.
                let _ = self.call(
                    partition,
                    "Block",
                    "Rescan",
                    &(Options::new(),),
                    ("rescan", drive.device.as_path()),
                );
                asked = Some(Instant::now());
            }
            if objects::fs_type(&self.objects()?, partition) == fs {
                return Ok(());
            }
            if start.elapsed() >= Duration::from_secs(30) {
                return Err(UdisksError::Failed {
                    action: "format the new partition on".into(),
                    device: drive.device.clone(),
                    message: format!(
                        "udev did not report the new {fs} filesystem within 50 s; \
                         unplug the drive, plug it in again and restore it once more"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The object path of the drive's (only) partition once its device node exists, waiting
    /// up to ten seconds for udev.
    fn wait_for_partition(&self, drive: &Drive) -> Result<String, UdisksError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let objects = self.objects()?;
            let found = objects.iter().find(|(_, o)| {
                let in_table = o
                    .get("Partition")
                    .and_then(|p| p.get("Table"))
                    .and_then(|t| t.as_str())
                    == Some(drive.key.as_str());
                let node = o
                    .get("Block")
                    .and_then(|b| b.get("Device"))
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| Path::new(d).exists());
                in_table && node
            });
            if let Some((path, _)) = found {
                return Ok(path.clone());
            }
            if Instant::now() > deadline {
                return Err(UdisksError::Failed {
                    action: "find the new partition on".into(),
                    device: drive.device.clone(),
                    message: "it did not appear within 10 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether udisksd's error says it timed out waiting for udev after formatting, not that
/// formatting failed.
fn is_sync_timeout(message: &str) -> bool {
    message.contains("synchronizing after formatting") || message.contains("Timed out waiting")
}
