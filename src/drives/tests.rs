//! Guards and the default filter, over drives as udisksd or sysfs describe them.

use std::path::PathBuf;

use super::*;

fn stick() -> Drive {
    Drive {
        key: "/org/freedesktop/UDisks2/block_devices/sdb".into(),
        device: PathBuf::from("/dev/sdb"),
        number: None,
        vendor: "SanDisk".into(),
        model: "Ultra".into(),
        size: 32_010_928_128,
        bus: "usb".into(),
        removable: true,
        read_only: false,
        media_available: true,
        optical: false,
        hint_ignore: false,
        hint_system: false,
        backing_file: None,
        media: MediaId::default(),
        can_power_off: true,
        ejectable: true,
        icon: "drive-removable-media-usb".into(),
        volumes: vec![Volume {
            device: PathBuf::from("/dev/sdb1"),
            fs_type: "vfat".into(),
            label: "BOOT".into(),
            ..Volume::default()
        }],
    }
}

fn severities(drive: &Drive, context: &Context<'_>) -> Vec<(Severity, String)> {
    drive
        .guards(context)
        .into_iter()
        .map(|g| (g.severity, g.reason))
        .collect()
}

#[test]
fn a_plain_stick_is_offered_without_guards() {
    let d = stick();
    assert!(d.is_candidate(false));
    assert!(d.guards(&Context::default()).is_empty());
    assert_eq!(d.display_name(), "SanDisk Ultra");
}

#[test]
fn the_default_filter() {
    let internal = Drive {
        bus: String::new(),
        removable: false,
        hint_system: true,
        ..stick()
    };
    assert!(!internal.is_candidate(false));
    assert!(internal.is_candidate(true));
    let sd_slot = Drive {
        bus: "sdio".into(),
        removable: false,
        ..stick()
    };
    assert!(sd_slot.is_candidate(false));
    let empty_reader = Drive {
        media_available: false,
        size: 0,
        ..stick()
    };
    assert!(!empty_reader.is_candidate(true));
    let optical = Drive {
        optical: true,
        ..stick()
    };
    assert!(!optical.is_candidate(false));
    let hidden = Drive {
        hint_ignore: true,
        ..stick()
    };
    assert!(!hidden.is_candidate(true));
    let looped = Drive {
        backing_file: Some("/srv/card.img".into()),
        bus: String::new(),
        removable: false,
        ..stick()
    };
    assert!(!looped.is_candidate(false) && looped.is_candidate(true));
}

#[test]
fn names_fall_back_to_model_size_and_device() {
    let no_vendor = Drive {
        vendor: String::new(),
        ..stick()
    };
    assert_eq!(no_vendor.display_name(), "Ultra");
    let nameless = Drive {
        vendor: String::new(),
        model: "  ".into(),
        ..stick()
    };
    assert_eq!(nameless.display_name(), "29.8 GiB drive");
    let looped = Drive {
        backing_file: Some("/srv/card.img".into()),
        ..nameless.clone()
    };
    assert_eq!(looped.display_name(), "Loop device on /srv/card.img");
}

#[test]
fn system_mounts_block_and_other_mounts_warn() {
    let mut d = stick();
    d.volumes[0].mount_points = vec!["/media/pi/BOOT".into()];
    d.volumes.push(Volume {
        device: "/dev/sdb2".into(),
        mount_points: vec!["/".into()],
        ..Volume::default()
    });
    let g = severities(&d, &Context::default());
    assert_eq!(g[0].0, Severity::Blocked);
    assert!(
        g[0].1.contains("/dev/sdb2 holds / of the running system"),
        "{g:?}"
    );
    assert!(g.iter().any(|(s, r)| *s == Severity::Warning
        && r.contains("/dev/sdb1 is mounted on /media/pi/BOOT: it will be unmounted")));
}

#[test]
fn every_guard_says_why() {
    let mut d = stick();
    d.read_only = true;
    d.hint_system = true;
    d.size = 256_060_514_304;
    d.volumes[0].swap_active = true;
    d.volumes[0].unlocked = true;
    d.volumes[0].raid_or_lvm = true;
    let context = Context {
        image: None,
        image_size: Some(300_000_000_000),
    };
    let g = severities(&d, &context);
    let has = |s: Severity, text: &str| g.iter().any(|(sev, r)| *sev == s && r.contains(text));
    assert!(
        has(Severity::Blocked, "read-only: slide the card's lock switch"),
        "{g:?}"
    );
    assert!(has(
        Severity::Blocked,
        "too small: the image needs 279.4 GiB, the drive has 238.5 GiB"
    ));
    assert!(has(Severity::Blocked, "RAID array or an LVM volume group"));
    assert!(has(Severity::Confirm, "swap in use: it will be stopped"));
    assert!(has(Severity::Confirm, "system drive"));
    assert!(has(
        Severity::Warning,
        "unlocked encrypted volume: it will be locked"
    ));
    assert!(has(Severity::Warning, "large (238.5 GiB)"));
    // Gravest first.
    assert!(g.windows(2).all(|w| w[0].0 >= w[1].0), "{g:?}");
}

#[test]
fn the_drive_holding_the_image_is_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("os.img");
    std::fs::write(&image, b"image").expect("image");
    let holder = crate::target::sysfs::devices_holding(&image)[0];
    let mut d = stick();
    d.volumes[0].number = Some(holder);
    let context = Context {
        image: Some(&image),
        image_size: None,
    };
    let g = severities(&d, &context);
    assert_eq!(g[0].0, Severity::Blocked);
    assert!(g[0].1.contains("holds the image file"), "{g:?}");
    assert!(stick().guards(&context).is_empty());
}

#[test]
fn json_carries_the_guards() {
    let mut d = stick();
    d.read_only = true;
    let json = d.to_json(&d.guards(&Context::default()));
    assert_eq!(json["device"], "/dev/sdb");
    assert_eq!(json["size"], 32_010_928_128u64);
    assert_eq!(json["volumes"][0]["label"], "BOOT");
    assert_eq!(json["guards"][0]["severity"], "blocked");
}

#[test]
fn guards_carry_their_facts_for_front_ends_that_word_them() {
    let mut d = stick();
    d.volumes[0].mount_points = vec![PathBuf::from("/media/me/BOOT")];
    d.hint_system = true;
    let context = Context {
        image: None,
        image_size: Some(64_000_000_000),
    };
    let kinds: Vec<GuardKind> = d.guards(&context).into_iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        vec![
            GuardKind::TooSmall {
                needed: 64_000_000_000,
                size: 32_010_928_128
            },
            GuardKind::System,
            GuardKind::Mounted {
                volume: PathBuf::from("/dev/sdb1"),
                mount: PathBuf::from("/media/me/BOOT")
            },
        ]
    );
}
