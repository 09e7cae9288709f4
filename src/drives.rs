//! Drives an image can be written to: what each one is, whether it is offered by default, and
//! the guards that say why it must not be written, or only with care.
//!
//! ```text
//!  UDisks2 objects (gui feature: crate::udisks) ─┐
//!                                                ├──► Drive ──► is_candidate, guards(Context)
//!  sysfs and procfs (always: drives::sysfs)  ────┘
//! ```
//!
//! The guards are advice for people choosing a drive; the engine's own checks when it opens a
//! device (`O_EXCL`, mounts, holders, capacity; see [`crate::target`]) stay the last line of
//! defence whatever the guards said.

mod identity;
pub mod sysfs;

use std::fmt;
use std::path::{Path, PathBuf};

pub use identity::{Change, MediaId};

use crate::size::human;
use crate::target::sysfs::{DevId, Overlap, overlap};

/// Drives larger than this get a warning: cards and sticks rarely are, backup disks are.
pub const LARGE_DRIVE: u64 = 128_000_000_000;

/// Mount points that belong to the running system: a drive holding one is never offered.
const SYSTEM_MOUNTS: &[&str] = &["/", "/boot", "/home", "/usr", "/var"];

/// A whole-disk block device and what is on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drive {
    /// A stable key: the UDisks2 object path of the block device, or `/sys/block/NAME`. Two
    /// identical sticks are two keys.
    pub key: String,
    /// The device node, e.g. `/dev/sdb`.
    pub device: PathBuf,
    /// The device number (`st_rdev`), to find out whether the drive shares storage with the
    /// image.
    pub number: Option<DevId>,
    /// Vendor, possibly empty.
    pub vendor: String,
    /// Model, possibly empty.
    pub model: String,
    /// Size in bytes (0: no media).
    pub size: u64,
    /// `usb`, `sdio`, `ieee1394`, or empty.
    pub bus: String,
    /// The drive or its media can be removed (a hint).
    pub removable: bool,
    /// Write-protected (a lock switch, or a read-only device).
    pub read_only: bool,
    /// There is media (a card reader with no card has none).
    pub media_available: bool,
    /// A CD/DVD/BD drive.
    pub optical: bool,
    /// UDisks2 says: do not show it.
    pub hint_ignore: bool,
    /// UDisks2 says: a system device (internal, or a loop device).
    pub hint_system: bool,
    /// The file behind a loop device.
    pub backing_file: Option<PathBuf>,
    /// What tells this drive and its medium from another of the same make and size.
    pub media: MediaId,
    /// `PowerOff` will make it safe to remove.
    pub can_power_off: bool,
    /// `Eject` is meaningful.
    pub ejectable: bool,
    /// A freedesktop icon name.
    pub icon: String,
    /// The disk itself (if a filesystem sits on it directly) and its partitions.
    pub volumes: Vec<Volume>,
}

/// A block device on a drive: the disk itself or a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// The device node, e.g. `/dev/sdb1`.
    pub device: PathBuf,
    /// Its device number.
    pub number: Option<DevId>,
    /// What is on it (`vfat`, `ext4`, `crypto_LUKS`, `swap`, `LVM2_member`, …), if known.
    pub fs_type: String,
    /// Its filesystem label, if any.
    pub label: String,
    /// Where it is mounted.
    pub mount_points: Vec<PathBuf>,
    /// It is active swap.
    pub swap_active: bool,
    /// It is an unlocked encrypted volume (a cleartext device exists on it).
    pub unlocked: bool,
    /// It is a member of an md RAID or an LVM volume group.
    pub raid_or_lvm: bool,
}

/// How much a guard stands in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Only worth knowing.
    Warning,
    /// Writing needs an explicit confirmation.
    Confirm,
    /// Never written.
    Blocked,
}

impl Severity {
    /// A short lower-case word for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Confirm => "confirm",
            Severity::Blocked => "blocked",
        }
    }
}

/// One reason to be careful with a drive, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// How much it stands in the way.
    pub severity: Severity,
    /// Which reason, with its facts (for a front end that words it in its own language).
    pub kind: GuardKind,
    /// Why, naming the device and what is at stake (English).
    pub reason: String,
}

/// The reasons a guard can give, with the facts each one names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardKind {
    /// A volume holds a mount point of the running system.
    SystemMount {
        /// The volume.
        volume: PathBuf,
        /// Its mount point.
        mount: PathBuf,
    },
    /// A volume is mounted elsewhere and will be unmounted.
    Mounted {
        /// The volume.
        volume: PathBuf,
        /// Its mount point.
        mount: PathBuf,
    },
    /// A volume is swap in use.
    SwapInUse {
        /// The volume.
        volume: PathBuf,
    },
    /// A volume is an unlocked encrypted volume.
    Unlocked {
        /// The volume.
        volume: PathBuf,
    },
    /// A volume belongs to a RAID array or an LVM volume group.
    RaidOrLvm {
        /// The volume.
        volume: PathBuf,
    },
    /// The drive holds the image file, or shares storage with it.
    HoldsImage {
        /// The image file.
        image: PathBuf,
        /// How writing the drive would change it.
        how: Overlap,
    },
    /// The drive is read-only (a card's lock switch).
    ReadOnly,
    /// The image does not fit.
    TooSmall {
        /// Bytes the image needs.
        needed: u64,
        /// Bytes the drive has.
        size: u64,
    },
    /// An internal drive, or one not known to be removable.
    System,
    /// Larger than [`LARGE_DRIVE`].
    Large {
        /// Its size in bytes.
        size: u64,
    },
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity.as_str(), self.reason)
    }
}

/// What is about to be written, for the guards that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The image file, if local: a drive holding it must not be overwritten.
    pub image: Option<&'a Path>,
    /// The image's size (or the bmap's image size), if known.
    pub image_size: Option<u64>,
}

impl Drive {
    /// A name for people: vendor and model, with fallbacks down to the size and device.
    pub fn display_name(&self) -> String {
        let name = [self.vendor.trim(), self.model.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            return name;
        }
        match &self.backing_file {
            Some(file) => format!("Loop device on {}", file.display()),
            None if self.size > 0 => format!("{} drive", human(self.size)),
            None => self.device.display().to_string(),
        }
    }

    /// Whether the drive is listed: by default only drives with media that are removable or
    /// on a USB, SD/MMC or FireWire bus, never optical or hidden ones; with `all`, every disk
    /// with media, loop devices included.
    pub fn is_candidate(&self, all: bool) -> bool {
        if self.hint_ignore || self.size == 0 || !self.media_available {
            return false;
        }
        if all {
            return true;
        }
        let bus = matches!(self.bus.as_str(), "usb" | "sdio" | "ieee1394");
        !self.optical && self.backing_file.is_none() && (self.removable || bus)
    }

    /// Every reason to be careful with this drive, the gravest first.
    pub fn guards(&self, context: &Context<'_>) -> Vec<Guard> {
        let mut guards = Vec::new();
        let mut guard = |severity, kind: GuardKind, reason: String| {
            guards.push(Guard {
                severity,
                kind,
                reason,
            });
        };
        for volume in &self.volumes {
            let dev = volume.device.display();
            let at = || volume.device.clone();
            for mount in &volume.mount_points {
                let (volume, mount_point) = (at(), mount.clone());
                if SYSTEM_MOUNTS.iter().any(|s| mount == Path::new(s)) {
                    guard(
                        Severity::Blocked,
                        GuardKind::SystemMount {
                            volume,
                            mount: mount_point,
                        },
                        format!("{dev} holds {} of the running system", mount.display()),
                    );
                } else {
                    guard(
                        Severity::Warning,
                        GuardKind::Mounted {
                            volume,
                            mount: mount_point,
                        },
                        format!(
                            "{dev} is mounted on {}: it will be unmounted",
                            mount.display()
                        ),
                    );
                }
            }
            if volume.swap_active {
                guard(
                    Severity::Confirm,
                    GuardKind::SwapInUse { volume: at() },
                    format!("{dev} is swap in use: it will be stopped"),
                );
            }
            if volume.unlocked {
                guard(
                    Severity::Warning,
                    GuardKind::Unlocked { volume: at() },
                    format!("{dev} is an unlocked encrypted volume: it will be locked"),
                );
            }
            if volume.raid_or_lvm {
                guard(
                    Severity::Blocked,
                    GuardKind::RaidOrLvm { volume: at() },
                    format!("{dev} belongs to a RAID array or an LVM volume group"),
                );
            }
        }
        if let Some(image) = context.image {
            // A partition overlaps nothing its disk does not: the disk alone, when known.
            let numbers: Vec<DevId> = match self.number {
                Some(disk) => vec![disk],
                None => self.volumes.iter().filter_map(|v| v.number).collect(),
            };
            let how = numbers.into_iter().find_map(|n| overlap(image, n, None));
            if let Some(how) = how {
                let reason = format!("it holds the image file {} ({how})", image.display());
                guard(
                    Severity::Blocked,
                    GuardKind::HoldsImage {
                        image: image.to_path_buf(),
                        how,
                    },
                    reason,
                );
            }
        }
        if self.read_only {
            guard(
                Severity::Blocked,
                GuardKind::ReadOnly,
                "it is read-only: slide the card's lock switch to unlock it".into(),
            );
        }
        if let Some(needed) = context.image_size
            && needed > self.size
        {
            guard(
                Severity::Blocked,
                GuardKind::TooSmall {
                    needed,
                    size: self.size,
                },
                format!(
                    "it is too small: the image needs {}, the drive has {}",
                    human(needed),
                    human(self.size)
                ),
            );
        }
        if self.hint_system {
            guard(
                Severity::Confirm,
                GuardKind::System,
                "it is a system drive (internal, or not known to be removable)".into(),
            );
        }
        if self.size > LARGE_DRIVE {
            guard(
                Severity::Warning,
                GuardKind::Large { size: self.size },
                format!(
                    "it is large ({}) for a card or stick: make sure it is not a backup disk",
                    human(self.size)
                ),
            );
        }
        guards.sort_by_key(|g| std::cmp::Reverse(g.severity));
        guards
    }

    /// The drive and its guards as JSON, for `blockprint list --json`.
    pub fn to_json(&self, guards: &[Guard]) -> serde_json::Value {
        let path = |p: &Path| p.display().to_string();
        serde_json::json!({
            "key": self.key,
            "device": path(&self.device),
            "name": self.display_name(),
            "vendor": self.vendor,
            "model": self.model,
            "size": self.size,
            "bus": self.bus,
            "removable": self.removable,
            "read_only": self.read_only,
            "media_available": self.media_available,
            "system": self.hint_system,
            "backing_file": self.backing_file.as_deref().map(path),
            "icon": self.icon,
            "volumes": self.volumes.iter().map(|v| serde_json::json!({
                "device": path(&v.device),
                "type": v.fs_type,
                "label": v.label,
                "mount_points": v.mount_points.iter().map(|m| path(m)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "guards": guards.iter().map(|g| serde_json::json!({
                "severity": g.severity.as_str(),
                "reason": g.reason,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The icon for a drive on `bus`.
pub fn icon_for(bus: &str, removable: bool) -> &'static str {
    match bus {
        "sdio" => "media-flash",
        "usb" => "drive-removable-media-usb",
        _ if removable => "drive-removable-media",
        _ => "drive-harddisk",
    }
}

#[cfg(test)]
mod tests;
