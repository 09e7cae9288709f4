//! The drive-level paths no loop device has (a Drive object: vendor, bus, removable, PowerOff,
//! Eject), against the udisksd stand-in of `harness/udisksd_standin.rs`. In addition to the
//! tests against the real udisksd (udisks.rs), never instead.

use blockprint::udisks::{Removal, Udisks};

use crate::harness::udisksd_standin::{Bus, Disk, Standin};

#[test]
fn power_off_or_eject_after_writing() {
    let bus = Bus::start();
    let standin = Standin::serve(
        &bus,
        vec![
            Disk::usb("sdz", "SanDisk", "Ultra", 32_010_928_128),
            Disk {
                can_power_off: false,
                ..Disk::usb("sdy", "Generic", "SD Reader", 63_864_569_856)
            },
        ],
    );

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
        standin.calls(),
        [
            "Rescan /dev/sdz",
            "PowerOff SanDisk Ultra",
            "Rescan /dev/sdy",
            "Eject Generic SD Reader"
        ]
    );
}
