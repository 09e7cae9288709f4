//! UDisks2's objects as plain data, and the drives they describe.
//!
//! `GetManagedObjects` gives every object path with its interfaces and their properties. They
//! are turned into JSON values first ([`Objects`]), which keeps the drive model pure: the unit
//! tests feed it property sets recorded from real systems, and nothing here touches D-Bus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};
use zbus::fdo::ManagedObjects;
use zbus::wire::Variant;

use crate::drives::{Drive, MediaId, Volume, icon_for};
use crate::target::sysfs::DevId;

/// Object path → interface (without the `org.freedesktop.UDisks2.` prefix) → properties.
pub type Objects = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

const PREFIX: &str = "org.freedesktop.UDisks2.";

/// Converts a `GetManagedObjects` reply.
pub(crate) fn from_managed(managed: &ManagedObjects) -> Objects {
    managed
        .iter()
        .map(|(path, interfaces)| {
            let interfaces = interfaces
                .iter()
                .map(|(name, props)| {
                    let name = name.as_str();
                    let props = props.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
                    (name.strip_prefix(PREFIX).unwrap_or(name).to_owned(), props)
                })
                .collect();
            (path.as_str().to_owned(), interfaces)
        })
        .collect()
}

/// A D-Bus value as JSON: byte arrays (UDisks2's paths and labels) become strings without
/// their trailing NUL, arrays of byte arrays arrays of strings.
pub(crate) fn to_json(value: &Variant<'_>) -> Value {
    match value {
        Variant::U8(n) => Value::from(*n),
        Variant::Bool(b) => Value::from(*b),
        Variant::I16(n) => Value::from(*n),
        Variant::U16(n) => Value::from(*n),
        Variant::I32(n) => Value::from(*n),
        Variant::U32(n) => Value::from(*n),
        Variant::I64(n) => Value::from(*n),
        Variant::U64(n) => Value::from(*n),
        Variant::F64(n) => Value::from(*n),
        Variant::Str(s) => Value::from(s.as_str()),
        Variant::Signature(s) => Value::from(s.to_string()),
        Variant::ObjectPath(p) => Value::from(p.as_str()),
        Variant::Variant(inner) => to_json(inner),
        Variant::Array(array) => {
            let items = array.inner();
            if array.element_signature().to_string() == "y" {
                let bytes: Vec<u8> = items
                    .iter()
                    .filter_map(|v| match v {
                        Variant::U8(b) => Some(*b),
                        _ => None,
                    })
                    .collect();
                let text = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
                Value::from(String::from_utf8_lossy(text).into_owned())
            } else {
                Value::Array(items.iter().map(to_json).collect())
            }
        }
        Variant::Dict(dict) => Value::Object(
            dict.iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Variant::Structure(s) => Value::Array(s.fields().iter().map(to_json).collect()),
        #[cfg(unix)]
        Variant::Fd(_) => Value::Null,
    }
}

/// Typed reads of one object's properties; a missing or mistyped property reads as empty.
struct Props<'a>(Option<&'a BTreeMap<String, Map<String, Value>>>);

impl<'a> Props<'a> {
    fn of(objects: &'a Objects, path: &str) -> Self {
        Props(objects.get(path))
    }

    fn has(&self, iface: &str) -> bool {
        self.0.is_some_and(|o| o.contains_key(iface))
    }

    fn get(&self, iface: &str, name: &str) -> Option<&'a Value> {
        self.0?.get(iface)?.get(name)
    }

    fn b(&self, iface: &str, name: &str) -> bool {
        self.get(iface, name)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn t(&self, iface: &str, name: &str) -> u64 {
        self.get(iface, name).and_then(Value::as_u64).unwrap_or(0)
    }

    fn s(&self, iface: &str, name: &str) -> String {
        self.get(iface, name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// An object path property; `/` (none) reads as `None`.
    fn o(&self, iface: &str, name: &str) -> Option<String> {
        Some(self.s(iface, name)).filter(|p| !p.is_empty() && p != "/")
    }

    fn strings(&self, iface: &str, name: &str) -> Vec<String> {
        self.get(iface, name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The drives in `objects`: every whole-disk block device of a drive, and every loop device
/// with a backing file. Partitions, cleartext (unlocked LUKS), device-mapper and md devices
/// are not drives; partitions become [`Volume`]s of their disk.
pub fn drives(objects: &Objects) -> Vec<Drive> {
    objects
        .keys()
        .filter_map(|path| drive(objects, path))
        .collect()
}

fn drive(objects: &Objects, path: &str) -> Option<Drive> {
    let block = Props::of(objects, path);
    if !block.has("Block")
        || block.has("Partition")
        || block.o("Block", "CryptoBackingDevice").is_some()
    {
        return None;
    }
    let backing_file = Some(block.s("Loop", "BackingFile")).filter(|f| !f.is_empty());
    let drive_path = block.o("Block", "Drive");
    if drive_path.is_none() && backing_file.is_none() {
        return None;
    }
    let drive = Props::of(objects, drive_path.as_deref().unwrap_or_default());
    let size = block.t("Block", "Size");
    let bus = drive.s("Drive", "ConnectionBus");
    let removable = drive.b("Drive", "Removable");
    let icon = Some(block.s("Block", "HintIconName"))
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| icon_for(&bus, removable).to_owned());
    let partitions: Vec<&String> = objects
        .keys()
        .filter(|p| Props::of(objects, p).o("Partition", "Table").as_deref() == Some(path))
        .collect();
    let mut volumes = Vec::new();
    if !block.s("Block", "IdType").is_empty() {
        volumes.push(volume(objects, path));
    }
    volumes.extend(partitions.iter().map(|p| volume(objects, p)));
    let mut uuids: Vec<String> = std::iter::once(block.s("Block", "IdUUID"))
        .chain(partitions.iter().flat_map(|p| {
            let part = Props::of(objects, p);
            [part.s("Partition", "UUID"), part.s("Block", "IdUUID")]
        }))
        .filter(|u| !u.is_empty())
        .collect();
    uuids.sort();
    let media = MediaId {
        serial: drive.s("Drive", "Serial"),
        wwn: drive.s("Drive", "WWN"),
        detected: drive.t("Drive", "TimeDetected"),
        media_detected: drive.t("Drive", "TimeMediaDetected"),
        uuids,
    };
    Some(Drive {
        key: path.to_owned(),
        device: PathBuf::from(block.s("Block", "Device")),
        number: number(&block),
        vendor: drive.s("Drive", "Vendor"),
        model: drive.s("Drive", "Model"),
        size,
        bus,
        removable,
        read_only: block.b("Block", "ReadOnly"),
        media_available: if drive_path.is_some() {
            drive.b("Drive", "MediaAvailable") && size > 0
        } else {
            size > 0
        },
        optical: drive.b("Drive", "Optical"),
        hint_ignore: block.b("Block", "HintIgnore"),
        hint_system: block.b("Block", "HintSystem"),
        backing_file: backing_file.map(PathBuf::from),
        media,
        can_power_off: drive.b("Drive", "CanPowerOff"),
        ejectable: drive.b("Drive", "Ejectable"),
        icon,
        volumes,
    })
}

fn number(block: &Props<'_>) -> Option<DevId> {
    Some(block.t("Block", "DeviceNumber"))
        .filter(|&n| n != 0)
        .map(DevId::from_dev_t)
}

fn volume(objects: &Objects, path: &str) -> Volume {
    let block = Props::of(objects, path);
    let fs_type = block.s("Block", "IdType");
    Volume {
        device: PathBuf::from(block.s("Block", "Device")),
        number: number(&block),
        label: block.s("Block", "IdLabel"),
        mount_points: block
            .strings("Filesystem", "MountPoints")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        swap_active: block.b("Swapspace", "Active"),
        unlocked: cleartext_of(objects, path).is_some(),
        raid_or_lvm: block.o("Block", "MDRaidMember").is_some() || fs_type == "LVM2_member",
        fs_type,
    }
}

/// The cleartext device of an unlocked encrypted volume at `path`.
pub(crate) fn cleartext_of(objects: &Objects, path: &str) -> Option<String> {
    objects
        .keys()
        .find(|p| {
            Props::of(objects, p)
                .o("Block", "CryptoBackingDevice")
                .as_deref()
                == Some(path)
        })
        .cloned()
}

/// The object path of the block device with device node `device`.
pub(crate) fn block_path(objects: &Objects, device: &std::path::Path) -> Option<String> {
    objects
        .keys()
        .find(|p| {
            let props = Props::of(objects, p);
            props.has("Block") && PathBuf::from(props.s("Block", "Device")) == device
        })
        .cloned()
}

/// Whether the object at `path` has a filesystem that is mounted.
pub(crate) fn is_mounted(objects: &Objects, path: &str) -> bool {
    !mount_points(objects, path).is_empty()
}

/// Where the filesystem of the object at `path` is mounted.
pub(crate) fn mount_points(objects: &Objects, path: &str) -> Vec<String> {
    Props::of(objects, path).strings("Filesystem", "MountPoints")
}

/// The filesystem type udev's probe reports for the block object at `path` (empty if none).
pub(crate) fn fs_type(objects: &Objects, path: &str) -> String {
    Props::of(objects, path).s("Block", "IdType")
}
