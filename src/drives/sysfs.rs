//! Drives from sysfs and procfs alone, for systems without UDisks2 (and builds without the
//! `gui` feature): no labels or filesystem types (those need probing), but sizes, buses,
//! removability, read-only flags, mounts, swap and holders are all there.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Drive, MediaId, Volume, icon_for};
use crate::target::sysfs::{DevId, Use, stack, uses};

/// Every whole disk in `/sys/block` except RAM disks, zram, device-mapper and md devices,
/// and loop devices with nothing behind them.
pub fn list() -> Vec<Drive> {
    let Ok(entries) = fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["ram", "zram", "dm-", "md"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    names.into_iter().filter_map(|n| drive(&n)).collect()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn parse_dev(text: &str) -> Option<DevId> {
    let (major, minor) = text.split_once(':')?;
    Some(DevId {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    })
}

fn drive(name: &str) -> Option<Drive> {
    let dir = Path::new("/sys/block").join(name);
    let number = parse_dev(&read(&dir.join("dev")));
    let backing_file = name
        .starts_with("loop")
        .then(|| read(&dir.join("loop/backing_file")));
    if backing_file.as_deref() == Some("") {
        return None;
    }
    let size = read(&dir.join("size")).parse::<u64>().unwrap_or(0) * 512;
    let real = fs::canonicalize(&dir).unwrap_or_default();
    let real = real.to_string_lossy();
    let bus = if real.contains("/usb") {
        "usb"
    } else if real.contains("/mmc") {
        "sdio"
    } else if real.contains("/firewire") {
        "ieee1394"
    } else {
        ""
    };
    let removable = read(&dir.join("removable")) == "1";
    let volumes = number.map(volumes).unwrap_or_default();
    Some(Drive {
        key: dir.display().to_string(),
        device: PathBuf::from("/dev").join(name),
        number,
        // virtio and NVMe give a PCI vendor id here, which names nothing.
        vendor: Some(read(&dir.join("device/vendor")))
            .filter(|v| !v.starts_with("0x"))
            .unwrap_or_default(),
        model: read(&dir.join("device/model")),
        size,
        bus: bus.into(),
        removable,
        read_only: read(&dir.join("ro")) == "1",
        media_available: size > 0,
        optical: name.starts_with("sr"),
        hint_ignore: false,
        hint_system: !removable && bus.is_empty(),
        backing_file: backing_file.map(PathBuf::from),
        media: MediaId::default(),
        can_power_off: false,
        ejectable: false,
        icon: icon_for(bus, removable).into(),
        volumes,
    })
}

/// The disk and its partitions, with what uses each (filesystem types and labels unknown).
fn volumes(number: DevId) -> Vec<Volume> {
    let devices = stack(number);
    let used = uses(&devices);
    let is_partition = |d: &str| {
        Path::new("/sys/class/block")
            .join(d)
            .join("partition")
            .exists()
    };
    devices
        .iter()
        .filter(|d| d.id == number || is_partition(&d.name))
        .map(|d| {
            let mut volume = Volume {
                device: PathBuf::from("/dev").join(&d.name),
                number: Some(d.id),
                ..Volume::default()
            };
            for u in &used {
                match u {
                    Use::Mounted {
                        device,
                        mount_point,
                    } if *device == d.name => volume.mount_points.push(mount_point.into()),
                    Use::Swap { device } if *device == d.name => volume.swap_active = true,
                    Use::Holder { device, .. } if *device == d.name => volume.raid_or_lvm = true,
                    _ => {}
                }
            }
            volume
        })
        // The disk itself only when something uses it directly.
        .filter(|v| v.number != Some(number) || *v != bare(v))
        .collect()
}

/// `volume` with nothing using it.
fn bare(volume: &Volume) -> Volume {
    Volume {
        device: volume.device.clone(),
        number: volume.number,
        ..Volume::default()
    }
}
