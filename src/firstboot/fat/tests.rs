use std::fs::OpenOptions;

use super::*;
use crate::firstboot::disk::{Cached, Partition};
use crate::firstboot::testing::{assert_clean, fat_image, fat_image_of, mtype};
use crate::scan::testing::noise;

const MIB: u64 = 1 << 20;

/// The FAT filesystem of the image at `path`, opened through the views the copy uses.
fn open(path: &std::path::Path) -> Fat<Cached<Partition<std::fs::File>>> {
    try_open(path).expect("a FAT")
}

/// [`open`], its error kept.
pub(super) fn try_open(
    path: &std::path::Path,
) -> Result<Fat<Cached<Partition<std::fs::File>>>, crate::firstboot::FirstBootError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the image");
    let len = file.metadata().expect("stat").len();
    let view = Partition::new(file, 0, len, "the test partition".into());
    Fat::open(Cached::new(view).expect("window"), "the test partition")
}

#[test]
fn files_are_read_listed_written_and_cut_and_the_filesystem_stays_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("boot.img");
    let kernel = noise(7, 300_000);
    fat_image(
        &image,
        40,
        &[
            (
                "cmdline.txt",
                b"console=tty1 root=PARTUUID=1234-02 rootwait\n",
            ),
            ("config.txt", b"[all]\n"),
            ("kernel8.img", &kernel),
            ("overlays/README", b"overlays\n"),
        ],
    );
    let fat = open(&image);
    let mut names = fat.list_root().expect("list");
    names.sort();
    assert_eq!(
        names,
        ["cmdline.txt", "config.txt", "kernel8.img", "overlays"]
    );
    assert_eq!(
        fat.read("CMDLINE.TXT").expect("read").as_deref(),
        Some(&b"console=tty1 root=PARTUUID=1234-02 rootwait\n"[..]),
        "FAT names are case-blind"
    );
    assert_eq!(fat.read("user-data").expect("read"), None);
    // Longer than before, emptied, new (with a long name), in a folder, larger than a cluster,
    // then cut short.
    let script = noise(8, 70_000);
    fat.write(
        "cmdline.txt",
        b"console=tty1 root=PARTUUID=1234-02 rootwait systemd.run=/boot/firstrun.sh\n",
    )
    .expect("longer");
    fat.write("config.txt", b"").expect("emptied");
    fat.write("network-config", b"network:\n  version: 2\n")
        .expect("new");
    fat.write("firstrun.sh", &script)
        .expect("larger than a cluster");
    fat.write("overlays/settings.toml", b"x = 1\n")
        .expect("in a folder");
    let err = fat
        .write("custom/settings.toml", b"x = 1\n")
        .expect_err("no such folder");
    assert!(
        err.to_string()
            .contains("cannot open the folder 'custom' for 'custom/settings.toml'"),
        "{err}"
    );
    fat.write("firstrun.sh", &script[..5000])
        .expect("cut short");
    fat.close().expect("close");

    let fat = open(&image);
    assert_eq!(
        fat.read("firstrun.sh").expect("read"),
        Some(script[..5000].to_vec())
    );
    assert_eq!(fat.read("config.txt").expect("read"), Some(Vec::new()));
    fat.close().expect("close");
    assert_clean(&image, 0, 40 * MIB);
    assert_eq!(
        mtype(&image, 0, "cmdline.txt"),
        b"console=tty1 root=PARTUUID=1234-02 rootwait systemd.run=/boot/firstrun.sh\n"
    );
    assert_eq!(
        mtype(&image, 0, "network-config"),
        b"network:\n  version: 2\n"
    );
    assert_eq!(mtype(&image, 0, "firstrun.sh"), &script[..5000]);
    assert_eq!(mtype(&image, 0, "overlays/settings.toml"), b"x = 1\n");
    assert_eq!(
        mtype(&image, 0, "kernel8.img"),
        kernel,
        "other files are untouched"
    );
    assert_eq!(mtype(&image, 0, "overlays/README"), b"overlays\n");
}

#[test]
fn a_file_too_large_to_be_a_setting_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("boot.img");
    let big = noise(9, usize::try_from(MAX_READ).expect("fits") + 1);
    fat_image(&image, 40, &[("user-data", &big)]);
    let fat = open(&image);
    let err = fat.read("user-data").expect_err("too large");
    assert!(
        err.to_string()
            .contains("'user-data' on the boot partition, the test partition, is larger than"),
        "{err}"
    );
}

#[test]
fn something_that_is_not_fat_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("zeros.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).expect("write");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&image)
        .expect("open");
    let view = Partition::new(file, 0, 1 << 20, "partition 9".into());
    let Err(err) = Fat::open(Cached::new(view).expect("window"), "partition 9") else {
        panic!("zeros are no FAT");
    };
    assert!(
        err.to_string()
            .contains("cannot open the FAT filesystem on the boot partition, partition 9"),
        "{err}"
    );
}

#[test]
fn time_stamps_are_utc_and_within_what_fat_holds() {
    // 2024-02-29 12:34:56 UTC.
    let t = date_time(1_709_210_096);
    assert_eq!((t.date.year, t.date.month, t.date.day), (2024, 2, 29));
    assert_eq!((t.time.hour, t.time.min, t.time.sec), (12, 34, 56));
    let t = date_time(0);
    assert_eq!((t.date.year, t.date.month, t.date.day), (1980, 1, 1));
    let t = date_time(u64::MAX);
    assert_eq!((t.date.year, t.date.month, t.date.day), (2107, 12, 31));
    let t = date_time(4_102_444_800); // 2100-01-01, not a leap year's end
    assert_eq!((t.date.year, t.date.month, t.date.day), (2100, 1, 1));
}

#[test]
fn fat16_and_fat12_are_edited_as_cleanly() {
    for (bits, mib) in [("16", 32), ("12", 4)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("boot.img");
        fat_image_of(
            &image,
            bits,
            mib,
            &[("cmdline.txt", b"root=/dev/mmcblk0p2 rootwait\n")],
        );
        let fat = open(&image);
        fat.write(
            "cmdline.txt",
            b"root=/dev/mmcblk0p2 rootwait systemd.run=/boot/firstrun.sh\n",
        )
        .expect("rewrite");
        fat.write("firstrun.sh", &noise(4, 9000)).expect("new");
        fat.close().expect("close");
        assert_clean(&image, 0, mib * MIB);
        assert_eq!(mtype(&image, 0, "firstrun.sh"), noise(4, 9000), "FAT{bits}");
        assert_eq!(
            mtype(&image, 0, "cmdline.txt"),
            b"root=/dev/mmcblk0p2 rootwait systemd.run=/boot/firstrun.sh\n"
        );
    }
}
