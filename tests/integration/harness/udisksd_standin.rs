//! A stand-in for udisksd, served with zbus on a private bus of its own that every user may
//! reach: drives with what loop devices cannot have (a vendor, a model, a USB bus, partitions
//! mounted by the desktop, power-off and eject). `Block.OpenDevice` opens a real device (a
//! loop device) with the flags asked for, so the app really writes. Every method call is
//! recorded. It adds to the tests against the real udisksd (udisks.rs, gui.rs), never replaces
//! them.

use std::collections::HashMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use zbus::fdo::ObjectManager;
use zbus::wire::{OwnedFd, OwnedObjectPath, OwnedVariant};

pub(crate) const ROOT: &str = "/org/freedesktop/UDisks2";

/// A private dbus-daemon any local user may connect to; killed on drop.
pub(crate) struct Bus {
    pub(crate) address: String,
    pid: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    pub(crate) fn start() -> Self {
        crate::harness::support::require_tool("dbus-daemon");
        let dir = tempfile::Builder::new()
            .prefix("blockprint-standin-")
            .tempdir()
            .unwrap();
        // The app runs as an unprivileged user: it must reach the socket inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let out = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--fork", "--print-pid=1"])
            .output()
            .expect("dbus-daemon");
        assert!(out.status.success(), "dbus-daemon: {out:?}");
        Bus {
            address: format!("unix:path={}", socket.display()),
            pid: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// Every method call the stand-in received, as "Method subject", in order.
pub(crate) type Calls = Arc<Mutex<Vec<String>>>;

/// A drive as the stand-in shows it.
pub(crate) struct Disk {
    /// The kernel name shown ("sdb").
    pub(crate) name: &'static str,
    pub(crate) vendor: &'static str,
    pub(crate) model: &'static str,
    /// `usb`, `sdio`, …
    pub(crate) bus: &'static str,
    pub(crate) size: u64,
    pub(crate) can_power_off: bool,
    pub(crate) ejectable: bool,
    pub(crate) read_only: bool,
    /// The drive's serial number (a USB reader's own, or an SD card's in an SD slot).
    pub(crate) serial: &'static str,
    /// When the medium was inserted, in microseconds since 1970.
    pub(crate) media_detected: u64,
    /// The real device `OpenDevice` opens; `None` refuses to open.
    pub(crate) opens: Option<PathBuf>,
    pub(crate) partitions: Vec<Part>,
}

impl Disk {
    /// A USB drive that can be powered off, with no partitions, that cannot be opened.
    pub(crate) fn usb(
        name: &'static str,
        vendor: &'static str,
        model: &'static str,
        size: u64,
    ) -> Self {
        Disk {
            name,
            vendor,
            model,
            bus: "usb",
            size,
            can_power_off: true,
            ejectable: true,
            read_only: false,
            serial: "",
            media_detected: 1_790_000_000_000_000,
            opens: None,
            partitions: vec![],
        }
    }
}

/// A partition with a filesystem.
pub(crate) struct Part {
    pub(crate) fs_type: &'static str,
    pub(crate) label: &'static str,
    /// Where the desktop mounted it.
    pub(crate) mount: Option<&'static str>,
}

/// A whole-disk or partition block device.
struct Block {
    device: String,
    size: u64,
    drive: String,
    id_type: &'static str,
    id_label: &'static str,
    read_only: bool,
    opens: Option<PathBuf>,
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
        OwnedObjectPath::try_from(self.drive.as_str()).unwrap()
    }
    #[zbus(property)]
    fn crypto_backing_device(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from("/").unwrap()
    }
    #[zbus(property)]
    fn id_type(&self) -> String {
        self.id_type.into()
    }
    #[zbus(property)]
    fn id_label(&self) -> String {
        self.id_label.into()
    }
    #[zbus(property)]
    fn read_only(&self) -> bool {
        self.read_only
    }
    #[zbus(property)]
    fn hint_ignore(&self) -> bool {
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
    /// Opens the real device behind this one read-write with the flags asked for, as
    /// udisksd does once polkit agrees.
    fn open_device(
        &self,
        _mode: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> zbus::fdo::Result<OwnedFd> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("OpenDevice {}", self.device));
        let flags = options
            .get("flags")
            .and_then(|v| i32::try_from(&**v).ok())
            .unwrap_or(0);
        let path = self
            .opens
            .as_ref()
            .ok_or_else(|| zbus::fdo::Error::Failed(format!("{} cannot be opened", self.device)))?;
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
            .map_err(|e| zbus::fdo::Error::Failed(format!("{}: {e}", path.display())))?;
        Ok(OwnedFd::from(std::os::fd::OwnedFd::from(file)))
    }
}

/// A partition's place in its table.
struct Partition {
    table: String,
}

#[zbus::interface(name = "org.freedesktop.UDisks2.Partition")]
impl Partition {
    #[zbus(property)]
    fn table(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from(self.table.as_str()).unwrap()
    }
}

/// A mountable filesystem.
struct Filesystem {
    device: String,
    mount_points: Mutex<Vec<String>>,
    calls: Calls,
}

#[zbus::interface(name = "org.freedesktop.UDisks2.Filesystem")]
impl Filesystem {
    #[zbus(property)]
    fn mount_points(&self) -> Vec<Vec<u8>> {
        let mounts = self.mount_points.lock().unwrap();
        mounts
            .iter()
            .map(|m| [m.as_bytes(), b"\0"].concat())
            .collect()
    }
    fn unmount(&self, _options: HashMap<String, OwnedVariant>) {
        self.mount_points.lock().unwrap().clear();
        self.calls
            .lock()
            .unwrap()
            .push(format!("Unmount {}", self.device));
    }
}

/// A drive with the properties udisksd reports for a USB stick or a card reader.
struct Drive {
    vendor: &'static str,
    model: &'static str,
    bus: &'static str,
    size: u64,
    can_power_off: bool,
    ejectable: bool,
    serial: &'static str,
    media_detected: u64,
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
    fn optical(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn can_power_off(&self) -> bool {
        self.can_power_off
    }
    #[zbus(property)]
    fn serial(&self) -> String {
        self.serial.into()
    }
    #[zbus(property, name = "WWN")]
    fn wwn(&self) -> String {
        String::new()
    }
    #[zbus(property)]
    fn time_detected(&self) -> u64 {
        1_780_000_000_000_000
    }
    #[zbus(property)]
    fn time_media_detected(&self) -> u64 {
        self.media_detected
    }
    #[zbus(property)]
    fn ejectable(&self) -> bool {
        self.ejectable
    }
    fn power_off(&self, _options: HashMap<String, OwnedVariant>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("PowerOff {} {}", self.vendor, self.model));
    }
    fn eject(&self, _options: HashMap<String, OwnedVariant>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("Eject {} {}", self.vendor, self.model));
    }
}

/// The stand-in, serving `org.freedesktop.UDisks2` until dropped.
pub(crate) struct Standin {
    pub(crate) calls: Calls,
    _connection: zbus::Connection,
}

impl Standin {
    /// Serves `disks` on `bus`.
    pub(crate) fn serve(bus: &Bus, disks: Vec<Disk>) -> Self {
        let calls: Calls = Arc::default();
        let mut builder = zbus::connection::Builder::address(bus.address.as_str())
            .name("org.freedesktop.UDisks2")
            .serve_at(ROOT, ObjectManager);
        for disk in disks {
            let block = format!("{ROOT}/block_devices/{}", disk.name);
            let drive = format!("{ROOT}/drives/{}_{}", disk.vendor, disk.model)
                .replace([' ', '.', '-'], "_");
            builder = builder
                .serve_at(
                    block.clone(),
                    Block {
                        device: format!("/dev/{}", disk.name),
                        size: disk.size,
                        drive: drive.clone(),
                        id_type: "",
                        id_label: "",
                        read_only: disk.read_only,
                        opens: disk.opens,
                        calls: calls.clone(),
                    },
                )
                .serve_at(
                    drive.clone(),
                    Drive {
                        vendor: disk.vendor,
                        model: disk.model,
                        bus: disk.bus,
                        size: disk.size,
                        can_power_off: disk.can_power_off,
                        ejectable: disk.ejectable,
                        serial: disk.serial,
                        media_detected: disk.media_detected,
                        calls: calls.clone(),
                    },
                );
            for (n, part) in disk.partitions.iter().enumerate() {
                let device = format!("/dev/{}{}", disk.name, n + 1);
                let path = format!("{block}{}", n + 1);
                builder = builder
                    .serve_at(
                        path.clone(),
                        Block {
                            device: device.clone(),
                            size: disk.size / 2,
                            drive: drive.clone(),
                            id_type: part.fs_type,
                            id_label: part.label,
                            read_only: disk.read_only,
                            opens: None,
                            calls: calls.clone(),
                        },
                    )
                    .serve_at(
                        path.clone(),
                        Partition {
                            table: block.clone(),
                        },
                    )
                    .serve_at(
                        path.clone(),
                        Filesystem {
                            device,
                            mount_points: Mutex::new(
                                part.mount.into_iter().map(Into::into).collect(),
                            ),
                            calls: calls.clone(),
                        },
                    );
            }
        }
        let connection = zbus::block_on(builder.build()).expect("the stand-in serves");
        Standin {
            calls,
            _connection: connection,
        }
    }

    /// The calls so far.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}
