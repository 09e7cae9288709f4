//! `blockprint list` without UDisks2: the drives come from sysfs, and it says so.

use std::fs::File;
use std::time::Duration;

use crate::harness::support::{LoopDevice, blockprint_with, scratch, sh};

#[test]
fn without_udisks_the_list_comes_from_sysfs() {
    let dir = scratch();
    let backing = dir.path().join("disk.img");
    File::create(&backing).unwrap().set_len(40 << 20).unwrap();
    sh(
        "sh",
        &[
            "-c",
            &format!("echo '2048,,L' | sfdisk -q {}", backing.display()),
        ],
    );
    let dev = LoopDevice::new(&backing);
    dev.add_partitions();
    let no_bus = [("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")];
    let run = blockprint_with(
        ["list", "--all", "--json"],
        &no_bus,
        None,
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("listing from sysfs"),
        "the fallback must be said: {}",
        run.stderr
    );
    let list: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == dev.name())
        .unwrap_or_else(|| panic!("{} not listed: {list}", dev.name()));
    assert_eq!(entry["size"], 40 << 20);
    assert_eq!(entry["backing_file"], backing.to_str().unwrap());
    assert_eq!(entry["volumes"][0]["device"], format!("{}p1", dev.name()));
    assert_eq!(entry["guards"][0]["severity"], "confirm", "{entry}");
    // Not offered by default: a loop device is not a removable drive.
    let run = blockprint_with(["list"], &no_bus, None, Duration::from_secs(30));
    assert!(!String::from_utf8_lossy(&run.stdout).contains(dev.name()));
}
