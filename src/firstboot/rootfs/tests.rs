use std::fs::File;
use std::path::{Path, PathBuf};

use super::*;
use crate::firstboot::testing::{Part, disk_image, ext_image, inode_at, inode_of, put, tree};
use crate::firstboot::{FirstBoot, FirstBootError, Format, Unsupported, apply, detect_image};

/// A boot partition's files: names and contents.
type Files<'a> = &'a [(&'a str, &'a [u8])];
const RPI: Files = &[
    (
        "cmdline.txt",
        b"console=serial0,115200 root=PARTUUID=abcd-02 rootwait\n",
    ),
    ("config.txt", b"[all]\narm_64bit=1\n"),
];
const SEED: Files = &[
    ("user-data", b"#cloud-config\n"),
    ("meta-data", b"instance-id: a\n"),
];
/// Raspberry Pi OS's root, as far as detection looks: merged /usr, systemd and
/// raspberrypi-sys-mods.
const PI_ROOT: Files = &[
    ("etc/hostname", b"raspberrypi\n"),
    ("usr/lib/systemd/systemd", b"\x7fELF"),
    ("usr/lib/raspberrypi-sys-mods/firstboot", b"#!/bin/sh\n"),
    ("usr/lib/raspberrypi-sys-mods/imager_custom", b"#!/bin/sh\n"),
];
const MERGED: &[(&str, &str)] = &[("lib", "usr/lib"), ("bin", "usr/bin"), ("sbin", "usr/sbin")];
/// An Armbian root: its first-login marker, and systemd.
const ARMBIAN_ROOT: Files = &[
    ("etc/armbian-release", b"BOARD=orangepizero3\n"),
    ("root/.not_logged_in_yet", b""),
    ("usr/lib/systemd/systemd", b"\x7fELF"),
];
const KIB: u64 = 1 << 10;

/// An ext4 filesystem of `mib` MiB holding `files` and `links`, made in `dir` as `name`.
fn root_fs(dir: &Path, name: &str, mib: u64, files: Files, links: &[(&str, &str)]) -> PathBuf {
    let from = dir.join(format!("{name}.tree"));
    tree(&from, files, links);
    let image = dir.join(name);
    ext_image(&image, &["-t", "ext4", "-b", "4096"], mib, &from);
    image
}

/// A card like a Raspberry Pi's, with `label` (dos or gpt) table: a FAT boot partition of 40
/// MiB at 4 MiB with `boot`, then a root of 48 MiB, of `root_type`, holding `root`.
fn pi_card(dir: &Path, label: &str, root_type: &str, boot: Files, root: &Path) -> PathBuf {
    let boot_type = if label == "gpt" {
        "type=uefi"
    } else {
        "type=c"
    };
    let root_line = format!("type={root_type}");
    let card = disk_image(
        dir,
        "card.img",
        label,
        100,
        &[
            Part {
                line: boot_type,
                start_kib: 4096,
                mib: 40,
                fat: Some(boot),
            },
            Part {
                line: &root_line,
                start_kib: 45056,
                mib: 48,
                fat: None,
            },
        ],
    );
    put(&card, 45056 * KIB, root);
    card
}

fn facts_of(image: &Path) -> Option<RootFacts> {
    root_facts(&mut File::open(image).expect("open"))
}

/// Why detection refuses `image`, and the whole message.
fn refusal(image: &Path) -> (Unsupported, String) {
    let err = detect_image(image, None).expect_err("refused");
    let message = err.to_string();
    match err {
        FirstBootError::NoMechanism { why } => (why, message),
        other => panic!("not the refusal expected: {other:?}"),
    }
}

#[test]
fn a_raspberry_pi_os_image_has_its_root_read_and_keeps_the_systemd_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = root_fs(dir.path(), "root.img", 48, PI_ROOT, MERGED);
    for (label, kind, table) in [
        ("dos", "83", "MBR"),
        ("gpt", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "GPT"),
    ] {
        let card = pi_card(dir.path(), label, kind, RPI, &root);
        let facts = facts_of(&card).expect("a root");
        let place = format!("partition 2 ({table}, bytes 46137344 to 96468991)");
        assert_eq!(
            facts,
            RootFacts {
                place,
                cloud_init: Some(false),
                rpi_firstboot: Some(true),
                imager_custom: Some(true),
                armbian: Some(false),
                systemd: Some(true),
            }
        );
        assert_eq!(
            detect_image(&card, None).expect("a format"),
            Format::Systemd
        );
    }
}

#[test]
fn boot_files_for_firstrun_sh_on_a_root_without_systemd_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Files = &[("etc/hostname", b"pi\n"), ("sbin/init", b"\x7fELF")];
    let root = root_fs(dir.path(), "root.img", 48, files, &[("lib", "usr/lib")]);
    let card = pi_card(dir.path(), "dos", "83", RPI, &root);
    assert_eq!(facts_of(&card).expect("a root").systemd, Some(false));
    let (why, message) = refusal(&card);
    assert!(matches!(why, Unsupported::NoSystemd { .. }), "{why:?}");
    assert_eq!(
        message,
        "this image's boot partition, partition 1 (MBR, bytes 4194304 to 46137343), is laid out \
         for a firstrun.sh started by systemd, but its root filesystem, partition 2 (MBR, bytes \
         46137344 to 96468991), has no systemd to start it (neither /usr/lib/systemd/systemd \
         nor /lib/systemd/systemd): write it without settings"
    );
    // The catalog's word still wins.
    assert_eq!(
        detect_image(&card, Some(Format::Systemd)).expect("declared"),
        Format::Systemd
    );
}

#[test]
fn an_armbian_image_is_refused_for_being_armbian_with_or_without_a_fat_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = root_fs(dir.path(), "root.img", 56, ARMBIAN_ROOT, MERGED);
    // Armbian's usual card: one ext4 partition from 4 MiB.
    let card = disk_image(
        dir.path(),
        "armbian.img",
        "dos",
        64,
        &[Part {
            line: "type=83",
            start_kib: 4096,
            mib: 56,
            fat: None,
        }],
    );
    put(&card, 4096 * KIB, &root);
    let (why, message) = refusal(&card);
    let place = "partition 1 (MBR, bytes 4194304 to 62914559)";
    assert_eq!(why, Unsupported::Armbian { root: place.into() });
    assert_eq!(
        message,
        format!(
            "this image is Armbian, which asks for its settings at the first login on the \
             board, and Blockprint does not write into its root filesystem, {place}: write it \
             without settings"
        )
    );
    // Declared by a catalog, a format still needs a FAT partition to take its files.
    let err = detect_image(&card, Some(Format::Systemd)).expect_err("no FAT");
    assert!(
        matches!(err, FirstBootError::NoBootPartition { .. }),
        "{err:?}"
    );

    // The filesystem alone, without a table.
    let (why, _) = refusal(&root);
    let whole = "the whole disk (an ext2/3/4 filesystem without a partition table)";
    assert_eq!(why, Unsupported::Armbian { root: whole.into() });

    // With a boot partition that would otherwise take firstrun.sh: Armbian still.
    let root = root_fs(dir.path(), "root48.img", 48, ARMBIAN_ROOT, MERGED);
    let card = pi_card(dir.path(), "dos", "83", RPI, &root);
    assert!(matches!(refusal(&card).0, Unsupported::Armbian { .. }));
    // And on the card, after writing: nothing is written.
    let before = std::fs::read(&card).expect("read");
    let settings = crate::firstboot::parse("hostname = \"pi\"\n", "s.toml").expect("settings");
    let mut disk = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&card)
        .expect("open");
    let first_boot = FirstBoot {
        settings,
        declared: None,
    };
    let err = apply(&first_boot, &mut disk).expect_err("Armbian");
    assert!(err.to_string().contains("this image is Armbian"), "{err}");
    assert_eq!(
        std::fs::read(&card).expect("read"),
        before,
        "nothing written"
    );
}

#[test]
fn cloud_init_without_a_seed_is_named_and_with_one_is_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Files = &[
        ("etc/cloud/cloud.cfg", b"users: [default]\n"),
        ("usr/lib/systemd/systemd", b"\x7fELF"),
    ];
    let root = root_fs(dir.path(), "root.img", 48, files, MERGED);
    let readme: Files = &[("README.txt", b"hello\n")];
    let card = pi_card(
        dir.path(),
        "gpt",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        readme,
        &root,
    );
    assert_eq!(facts_of(&card).expect("a root").cloud_init, Some(true));
    let (why, message) = refusal(&card);
    assert!(
        matches!(why, Unsupported::UnseededCloudInit { .. }),
        "{why:?}"
    );
    assert!(
        message.starts_with(
            "this image has cloud-init installed (/etc/cloud/cloud.cfg on its root filesystem, \
             partition 2 (GPT, bytes 46137344 to 96468991)) but no seed for it"
        ),
        "{message}"
    );
    let card = pi_card(
        dir.path(),
        "gpt",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        SEED,
        &root,
    );
    assert_eq!(
        detect_image(&card, None).expect("a format"),
        Format::CloudInit
    );
}

#[test]
fn the_root_is_the_first_ext_partition_of_a_root_type_with_an_etc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = root_fs(
        dir.path(),
        "data.img",
        16,
        &[("srv/www/index.html", b"hi\n")],
        &[],
    );
    let root = root_fs(dir.path(), "root.img", 16, &[("etc/hostname", b"x\n")], &[]);
    let home = root_fs(dir.path(), "home.img", 16, PI_ROOT, MERGED);
    let part = |line, start_kib, mib, fat| Part {
        line,
        start_kib,
        mib,
        fat,
    };
    let linux = "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    let card = disk_image(
        dir.path(),
        "gpt.img",
        "gpt",
        120,
        &[
            part("type=uefi", 1024, 40, Some(RPI)),
            // Random bytes, then an ext filesystem without /etc: passed over.
            part(linux, 41984, 16, None),
            part(linux, 58368, 16, None),
            // The home partition's type (933AC7E1-…) is not a root's, whatever it holds.
            part("type=933AC7E1-2EB4-4F13-B844-0E14E2AEF915", 74752, 16, None),
            part("type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", 91136, 16, None),
        ],
    );
    put(&card, 58368 * KIB, &data);
    put(&card, 74752 * KIB, &home);
    put(&card, 91136 * KIB, &root);
    let facts = facts_of(&card).expect("a root");
    assert!(facts.place.starts_with("partition 5 (GPT"), "{facts:?}");
    assert_eq!(facts.systemd, Some(false));
    assert!(matches!(refusal(&card).0, Unsupported::NoSystemd { .. }));
}

#[test]
fn a_damaged_root_leaves_the_boot_files_to_decide_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Without systemd: a readable root would have the image refused.
    let files: Files = &[("etc/hostname", b"pi\n"), ("usr/share/doc/x", b"x\n")];
    let links: &[(&str, &str)] = &[("lib", "lib/../lib"), ("usr/lib", "/lib")];
    let root = root_fs(dir.path(), "root.img", 48, files, links);
    let clean = std::fs::read(&root).expect("read");
    let card = pi_card(dir.path(), "dos", "83", RPI, &root);
    // /lib and /usr/lib go round in circles: systemd is unknown, not absent.
    let facts = facts_of(&card).expect("a root");
    assert_eq!((facts.systemd, facts.cloud_init), (None, Some(false)));
    assert_eq!(
        detect_image(&card, None).expect("a format"),
        Format::Systemd
    );

    let bs = 4096;
    let root_inode = inode_at(&root, 2, bs);
    let usr = inode_at(&root, inode_of(&root, "/usr"), bs);
    let damages: [(usize, u8, bool); 4] = [
        // The superblock's magic, the root directory's extent tree, an inode table pointer
        // (group 0's descriptor, in the block after the superblock's): no root at all.
        (1024 + 0x38, 0x53, false),
        (root_inode + 0x28, 0x0A, false),
        (4096 + 0x8, 0xFF, false),
        // /usr's extent tree: /etc is fine, every systemd lookup fails.
        (usr + 0x28, 0x0A, true),
    ];
    for (at, flip, found) in damages {
        let mut bytes = clean.clone();
        bytes[at] ^= flip;
        let damaged = dir.path().join("damaged.img");
        std::fs::write(&damaged, &bytes).expect("write");
        let card = pi_card(dir.path(), "dos", "83", RPI, &damaged);
        let facts = facts_of(&card);
        assert_eq!(facts.is_some(), found, "{at}: {facts:?}");
        assert!(facts.is_none_or(|f| f.systemd.is_none()), "{at}");
        assert_eq!(
            detect_image(&card, None).expect("a format"),
            Format::Systemd,
            "{at}"
        );
    }
}
