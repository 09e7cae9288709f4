//! The drive model over property sets, recorded from a real udisksd and composed from the
//! documented API (tests/data/udisks/README.md); and the D-Bus value conversion.

use std::path::Path;

use zbus::wire::Variant;

use super::objects::{Objects, drives};
use crate::drives::{Context, Drive, Severity};

fn load(text: &str) -> Objects {
    serde_json::from_str(text).expect("fixture")
}

fn by_device<'a>(drives: &'a [Drive], device: &str) -> &'a Drive {
    drives
        .iter()
        .find(|d| d.device == Path::new(device))
        .unwrap_or_else(|| panic!("{device} not found in {drives:#?}"))
}

#[test]
fn a_recorded_loop_device_with_a_mount_and_swap() {
    let found = drives(&load(include_str!(
        "../../tests/data/udisks/loop-ext4-swap.json"
    )));
    assert_eq!(
        found.len(),
        1,
        "partitions are volumes, not drives: {found:#?}"
    );
    let d = &found[0];
    assert_eq!(d.key, "/org/freedesktop/UDisks2/block_devices/loop0");
    assert_eq!(d.device, Path::new("/dev/loop0"));
    assert_eq!(d.size, 96 << 20);
    assert_eq!(
        d.backing_file.as_deref(),
        Some(Path::new("/tmp/blockprint-udisks-rec/rec.img"))
    );
    assert!(d.hint_system && !d.is_candidate(false) && d.is_candidate(true));
    assert_eq!(d.volumes.len(), 2);
    assert_eq!(d.volumes[0].device, Path::new("/dev/loop0p1"));
    assert_eq!(d.volumes[0].fs_type, "ext4");
    assert_eq!(d.volumes[0].label, "rootfs");
    assert_eq!(d.volumes[0].mount_points, [Path::new("/media/root/rootfs")]);
    assert!(d.volumes[1].swap_active);
    // What tells this medium from another: the partitions' and filesystems' UUIDs (a loop
    // device has no Drive, so no serial number or insertion time).
    assert_eq!(
        d.media.uuids,
        [
            "4aa683be-ca90-48f1-b53f-a1d86754170f",
            "5447a705-01",
            "5447a705-02"
        ]
    );
    assert_eq!((d.media.serial.as_str(), d.media.media_detected), ("", 0));
    let guards = d.guards(&Context::default());
    let has = |s: Severity, text: &str| {
        guards
            .iter()
            .any(|g| g.severity == s && g.reason.contains(text))
    };
    assert!(
        has(Severity::Confirm, "/dev/loop0p2 is swap in use"),
        "{guards:?}"
    );
    assert!(has(Severity::Confirm, "system drive"));
    assert!(has(
        Severity::Warning,
        "/dev/loop0p1 is mounted on /media/root/rootfs: it will be unmounted"
    ));
}

#[test]
fn a_composed_desktop_with_stick_reader_card_and_internal_disk() {
    let found = drives(&load(include_str!(
        "../../tests/data/udisks/composed-desktop.json"
    )));
    // The cleartext device of the LUKS volume is not a drive.
    assert_eq!(found.len(), 4, "{found:#?}");
    let stick = by_device(&found, "/dev/sdb");
    assert_eq!(stick.display_name(), "SanDisk Ultra");
    assert_eq!(stick.icon, "drive-removable-media-usb");
    assert!(stick.is_candidate(false) && stick.can_power_off);
    assert!(stick.volumes[0].unlocked);
    let guards = stick.guards(&Context::default());
    assert_eq!(guards.len(), 1, "{guards:?}");
    assert!(
        guards[0]
            .reason
            .contains("/dev/sdb1 is an unlocked encrypted volume")
    );

    let card = by_device(&found, "/dev/mmcblk0");
    assert_eq!(
        (card.display_name().as_str(), card.bus.as_str()),
        ("SC64G", "sdio")
    );
    assert_eq!(card.icon, "media-flash");
    assert!(card.is_candidate(false));
    assert_eq!(
        card.guards(&Context::default())[0].severity,
        Severity::Blocked
    );

    let reader = by_device(&found, "/dev/sdc");
    assert!(!reader.media_available && !reader.is_candidate(true));

    let internal = by_device(&found, "/dev/nvme0n1");
    assert!(!internal.is_candidate(false) && internal.is_candidate(true));
    let guards = internal.guards(&Context::default());
    assert_eq!(guards[0].severity, Severity::Blocked);
    assert!(
        guards[0]
            .reason
            .contains("/dev/nvme0n1p2 holds / of the running system")
    );
}

#[test]
fn d_bus_values_become_json() {
    let bytes = Variant::from(b"/dev/sdb\0".to_vec());
    let names = Variant::from(vec![b"/media/a\0".to_vec(), b"/media/b\0".to_vec()]);
    assert_eq!(super::objects::to_json(&bytes), "/dev/sdb");
    assert_eq!(
        super::objects::to_json(&names),
        serde_json::json!(["/media/a", "/media/b"])
    );
    assert_eq!(super::objects::to_json(&Variant::from(7u64)), 7);
    assert_eq!(super::objects::to_json(&Variant::from(true)), true);
}
