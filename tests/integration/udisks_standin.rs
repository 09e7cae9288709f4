//! The drive-level paths no loop device has (a Drive object: vendor, bus, removable,
//! PowerOff, Eject), against a small stand-in for udisksd served with zbus on a private bus
//! of its own. In addition to the tests against the real udisksd (udisks.rs), never instead.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use blockprint::udisks::{Removal, Udisks};
use zbus::fdo::ObjectManager;
use zbus::wire::{OwnedObjectPath, OwnedVariant};

const ROOT: &str = "/org/freedesktop/UDisks2";

/// A private dbus-daemon, killed on drop.
struct Bus {
    address: String,
    pid: String,
}

impl Bus {
    fn start() -> Self {
        crate::support::require_tool("dbus-daemon");
        let out = Command::new("dbus-daemon")
            .args([
                "--config-file=/usr/share/dbus-1/session.conf",
                "--fork",
                "--print-address=1",
                "--print-pid=1",
            ])
            .output()
            .expect("dbus-daemon");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        Bus {
            address: lines.next().expect("address").to_owned(),
            pid: lines.next().expect("pid").to_owned(),
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

type Calls = Arc<Mutex<Vec<String>>>;

/// A whole-disk block device of a drive, as udisksd shows one.
struct Block {
    device: &'static str,
    size: u64,
    drive: &'static str,
    calls: Calls,
}

#[zbus::interface(name = "org.freedesktop.UDisks2.Block")]
impl Block {
    #[zbus(property)]
    fn device(&self) -> Vec<u8> {
        [self.device.as_bytes(), b"\0"].concat()
    }
    #[zbus(property)]
    fn size(&self) -> u64 {
        self.size
    }
    #[zbus(property)]
    fn drive(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from(self.drive).unwrap()
    }
    #[zbus(property)]
    fn crypto_backing_device(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from("/").unwrap()
    }
    #[zbus(property)]
    fn read_only(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn hint_system(&self) -> bool {
        false
    }
    fn rescan(&self, _options: HashMap<String, OwnedVariant>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("Rescan {}", self.device));
    }
}

/// A drive with the properties udisksd reports for a USB stick or an SD reader.
struct Drive {
    vendor: &'static str,
    model: &'static str,
    bus: &'static str,
    size: u64,
    can_power_off: bool,
    ejectable: bool,
    calls: Calls,
}

#[zbus::interface(name = "org.freedesktop.UDisks2.Drive")]
impl Drive {
    #[zbus(property)]
    fn vendor(&self) -> String {
        self.vendor.into()
    }
    #[zbus(property)]
    fn model(&self) -> String {
        self.model.into()
    }
    #[zbus(property)]
    fn connection_bus(&self) -> String {
        self.bus.into()
    }
    #[zbus(property)]
    fn size(&self) -> u64 {
        self.size
    }
    #[zbus(property)]
    fn removable(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn media_available(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn can_power_off(&self) -> bool {
        self.can_power_off
    }
    #[zbus(property)]
    fn ejectable(&self) -> bool {
        self.ejectable
    }
    fn power_off(&self, _options: HashMap<String, OwnedVariant>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("PowerOff {}", self.model));
    }
    fn eject(&self, _options: HashMap<String, OwnedVariant>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("Eject {}", self.model));
    }
}

#[test]
fn power_off_or_eject_after_writing() {
    let bus = Bus::start();
    let calls: Calls = Arc::default();
    let stick_drive = format!("{ROOT}/drives/SanDisk_Ultra");
    let reader_drive = format!("{ROOT}/drives/Generic_SD_Reader");
    let _server = zbus::block_on(
        zbus::connection::Builder::address(bus.address.as_str())
            .name("org.freedesktop.UDisks2")
            .serve_at(ROOT, ObjectManager)
            .serve_at(
                format!("{ROOT}/block_devices/sdz"),
                Block {
                    device: "/dev/sdz",
                    size: 32_010_928_128,
                    drive: "/org/freedesktop/UDisks2/drives/SanDisk_Ultra",
                    calls: calls.clone(),
                },
            )
            .serve_at(
                stick_drive.as_str(),
                Drive {
                    vendor: "SanDisk",
                    model: "Ultra",
                    bus: "usb",
                    size: 32_010_928_128,
                    can_power_off: true,
                    ejectable: true,
                    calls: calls.clone(),
                },
            )
            .serve_at(
                format!("{ROOT}/block_devices/sdy"),
                Block {
                    device: "/dev/sdy",
                    size: 63_864_569_856,
                    drive: "/org/freedesktop/UDisks2/drives/Generic_SD_Reader",
                    calls: calls.clone(),
                },
            )
            .serve_at(
                reader_drive.as_str(),
                Drive {
                    vendor: "Generic",
                    model: "SD Reader",
                    bus: "usb",
                    size: 63_864_569_856,
                    can_power_off: false,
                    ejectable: true,
                    calls: calls.clone(),
                },
            )
            .build(),
    )
    .expect("the stand-in serves");

    let connection =
        zbus::block_on(zbus::connection::Builder::address(bus.address.as_str()).build())
            .expect("client connection");
    let udisks = Udisks::with_connection(connection).expect("the stand-in answers");
    let drives = udisks.drives().expect("drives");
    let stick = drives
        .iter()
        .find(|d| d.device.to_str() == Some("/dev/sdz"))
        .expect("stick");
    assert_eq!(stick.display_name(), "SanDisk Ultra");
    assert_eq!(
        (stick.bus.as_str(), stick.icon.as_str()),
        ("usb", "drive-removable-media-usb")
    );
    assert!(stick.is_candidate(false) && stick.can_power_off && stick.removable);
    let reader = drives
        .iter()
        .find(|d| d.device.to_str() == Some("/dev/sdy"))
        .expect("reader");
    assert!(reader.is_candidate(false) && !reader.can_power_off && reader.ejectable);

    assert_eq!(udisks.finish(stick).expect("finish"), Removal::PoweredOff);
    assert_eq!(udisks.finish(reader).expect("finish"), Removal::Ejected);
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "Rescan /dev/sdz",
            "PowerOff Ultra",
            "Rescan /dev/sdy",
            "Eject SD Reader"
        ]
    );
}
