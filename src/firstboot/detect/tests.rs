use super::*;
use crate::firstboot::testing::{Part, disk_image, fat_image};

const MIB: u64 = 1 << 20;

/// A boot partition's files: names and contents.
type Files = Vec<(&'static str, &'static [u8])>;
const RPI: &[(&str, &[u8])] = &[
    (
        "cmdline.txt",
        b"console=serial0,115200 root=PARTUUID=abcd-02 rootwait\n",
    ),
    ("config.txt", b"[all]\narm_64bit=1\n"),
];

/// An image like a Raspberry Pi's: the FAT boot partition at 4 MiB, a root after it.
fn pi_image(dir: &Path, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    disk_image(
        dir,
        "pi.img",
        "dos",
        64,
        &[
            Part {
                line: "type=c",
                start_kib: 4096,
                mib: 40,
                fat: Some(files),
            },
            Part {
                line: "type=83",
                start_kib: 45056,
                mib: 20,
                fat: None,
            },
        ],
    )
}

fn with(extra: &[(&'static str, &'static [u8])]) -> Vec<(&'static str, &'static [u8])> {
    RPI.iter().chain(extra).copied().collect()
}

#[test]
fn each_format_is_told_by_the_boot_files() {
    let issue: &[u8] = b"Raspberry Pi reference 2025-10-01\nGenerated using pi-gen\n";
    let cases: Vec<(Files, Format)> = vec![
        (with(&[]), Format::Systemd),
        (
            with(&[
                ("user-data", b"#cloud-config\n"),
                ("meta-data", b"instance_id: cloud-image\n"),
            ]),
            Format::CloudInit,
        ),
        (
            vec![
                ("user-data", b"#cloud-config\n"),
                ("meta-data", b"instance_id: iid\n"),
            ],
            Format::CloudInit,
        ),
        (
            with(&[
                ("issue.txt", issue),
                ("user-data", b"#cloud-config\n"),
                ("meta-data", b"dsmode: local\ninstance_id: rpios-image\n"),
            ]),
            Format::CloudInitRpi,
        ),
        (
            with(&[
                ("issue.txt", issue),
                ("user-data", b"#cloud-config\n# rpi_userconf:\n"),
            ]),
            Format::CloudInitRpi,
        ),
        // Raspberry Pi OS with a seed of someone else's: plain cloud-init.
        (
            with(&[
                ("issue.txt", issue),
                ("user-data", b"#cloud-config\n"),
                ("meta-data", b"instance_id: mine\n"),
            ]),
            Format::CloudInit,
        ),
        // pi-gen's seed, but no issue.txt saying Raspberry Pi OS: plain cloud-init.
        (
            with(&[
                ("user-data", b"#cloud-config\n"),
                ("meta-data", b"instance_id: rpios-image\n"),
            ]),
            Format::CloudInit,
        ),
        (
            with(&[("rpi-preseed.toml", b"[user]\n")]),
            Format::RpiPreseed,
        ),
        (vec![("USER-DATA", b"#cloud-config\n")], Format::CloudInit),
    ];
    for (files, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = pi_image(dir.path(), &files);
        let before = std::fs::read(&image).expect("read");
        assert_eq!(
            detect_image(&image, None).expect("a format"),
            want,
            "{files:?}"
        );
        assert_eq!(
            std::fs::read(&image).expect("read"),
            before,
            "looking changes nothing"
        );
    }
}

#[test]
fn the_boot_partition_is_found_where_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = pi_image(dir.path(), RPI);
    let mut file = File::open(&image).expect("open");
    let boot = boot_partition(&mut file, "pi.img").expect("found");
    assert_eq!(
        boot,
        BootPartition {
            number: 1,
            start: 4 * MIB,
            len: 40 * MIB,
            table: Table::Mbr
        }
    );
    assert_eq!(boot.place(), "partition 1 (MBR, bytes 4194304 to 46137343)");
}

#[test]
fn a_partition_flagged_to_boot_wins_over_the_first_fat_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other: &[(&str, &[u8])] = &[("data.txt", b"data\n")];
    let image = disk_image(
        dir.path(),
        "flagged.img",
        "dos",
        100,
        &[
            Part {
                line: "type=c",
                start_kib: 1024,
                mib: 40,
                fat: Some(other),
            },
            Part {
                line: "type=83",
                start_kib: 41984,
                mib: 8,
                fat: None,
            },
            Part {
                line: "type=c, bootable",
                start_kib: 51200,
                mib: 40,
                fat: Some(RPI),
            },
        ],
    );
    let boot =
        boot_partition(&mut File::open(&image).expect("open"), "flagged.img").expect("found");
    assert_eq!((boot.number, boot.start), (3, 50 * MIB));
    assert_eq!(detect_image(&image, None).expect("format"), Format::Systemd);
}

#[test]
fn a_gpt_esp_wins_and_a_gpt_is_read_with_its_checksums() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other: &[(&str, &[u8])] = &[("data.txt", b"data\n")];
    let seed: &[(&str, &[u8])] = &[("user-data", b"#cloud-config\n"), ("meta-data", b"{}\n")];
    let image = disk_image(
        dir.path(),
        "gpt.img",
        "gpt",
        100,
        &[
            Part {
                line: "type=linux",
                start_kib: 1024,
                mib: 8,
                fat: None,
            },
            Part {
                line: "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                start_kib: 10240,
                mib: 40,
                fat: Some(other),
            },
            Part {
                line: "type=uefi",
                start_kib: 53248,
                mib: 40,
                fat: Some(seed),
            },
        ],
    );
    let boot = boot_partition(&mut File::open(&image).expect("open"), "gpt.img").expect("found");
    assert_eq!(
        boot,
        BootPartition {
            number: 3,
            start: 52 * MIB,
            len: 40 * MIB,
            table: Table::Gpt(512)
        }
    );
    assert_eq!(
        detect_image(&image, None).expect("format"),
        Format::CloudInit
    );

    // One bit of the entry array flipped: the GPT is refused, not half read.
    let mut bytes = std::fs::read(&image).expect("read");
    bytes[1024 + 2 * 128 + 32] ^= 1;
    std::fs::write(&image, &bytes).expect("write");
    let err = detect_image(&image, None).expect_err("a bad GPT");
    assert!(
        err.to_string()
            .contains("its GPT entry array checksum (CRC32) does not match"),
        "{err}"
    );
}

#[test]
fn a_disk_that_is_one_fat_filesystem_is_its_own_boot_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("bare.img");
    fat_image(&image, 40, RPI);
    let boot = boot_partition(&mut File::open(&image).expect("open"), "bare.img").expect("found");
    assert_eq!(boot.table, Table::None);
    assert_eq!((boot.start, boot.len), (0, 40 * MIB));
    assert_eq!(detect_image(&image, None).expect("format"), Format::Systemd);
}

#[test]
fn no_mechanism_and_no_fat_partition_are_refused_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = pi_image(dir.path(), &[("README.txt", b"hello\n")]);
    let err = detect_image(&image, None).expect_err("nothing to use");
    assert!(matches!(err, FirstBootError::NoMechanism { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("this image has no first-boot mechanism Blockprint knows (no cloud-init seed, no cmdline.txt on its boot partition"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("write it without settings"),
        "{err}"
    );
    // The catalog's word wins over the files.
    assert_eq!(
        detect_image(&image, Some(Format::CloudInit)).expect("declared"),
        Format::CloudInit
    );

    let image = disk_image(
        dir.path(),
        "linux.img",
        "dos",
        32,
        &[Part {
            line: "type=83",
            start_kib: 1024,
            mib: 30,
            fat: None,
        }],
    );
    let err = detect_image(&image, Some(Format::Systemd)).expect_err("no FAT partition");
    assert!(
        err.to_string().contains("has no FAT boot partition to take first-boot settings (none of its 1 partition holds a FAT filesystem)"),
        "{err}"
    );

    let blank = dir.path().join("blank.img");
    std::fs::write(&blank, vec![0u8; 1 << 20]).expect("write");
    let err = detect_image(&blank, None).expect_err("no table");
    assert!(
        err.to_string().contains("(it has no partition table)"),
        "{err}"
    );
    std::fs::write(&blank, [0u8; 100]).expect("write");
    let err = detect_image(&blank, None).expect_err("too short");
    assert!(
        err.to_string().contains("(it is only 100 bytes long)"),
        "{err}"
    );
    let err = detect_image(&dir.path().join("missing.img"), None).expect_err("no file");
    assert!(err.to_string().contains("cannot open the image '"), "{err}");
}

#[test]
fn random_sectors_are_never_taken_for_a_table_or_a_fat() {
    for seed in 0..200 {
        let mut disk = std::io::Cursor::new(crate::scan::testing::noise(seed, 64 << 10));
        let mut sector = [0u8; 512];
        disk.get_mut()[510..512].copy_from_slice(&[0x55, 0xAA]);
        sector.copy_from_slice(&disk.get_ref()[..512]);
        assert!(!is_fat(&sector));
        // Whatever it finds, it does not panic.
        let _ = boot_partition(&mut disk, "noise");
    }
}
