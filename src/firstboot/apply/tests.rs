use std::path::{Path, PathBuf};

use super::*;
use crate::firstboot::disk::TargetDisk;
use crate::firstboot::testing::{Part, assert_clean, disk_image, mtype};
use crate::firstboot::{Format, parse};
use crate::target::{Target, TargetOptions};

const MIB: u64 = 1 << 20;

/// A change to a boot sector.
type Damage = dyn Fn(&mut [u8]);
const CMDLINE: &[u8] = b"console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n";
const CONFIG: &[u8] = b"# For more options and information see\n[all]\narm_64bit=1\n";
const SETTINGS: &str = r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password_hash = "$6$rounds=5000$saltsalt$KVUBhCvRMs0pWEGmDzKyJXrQXhtrp9vQtyhOmnbkb6OzdprJCJ0RKtfRkDDu3cYrnjmEsnOGFexpNFxOgKqSp."
[ssh]
enabled = true
password_login = false
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGN0ZXN0a2V5Zm9ydGVzdHNvbmx5bm90cmVhbDEy alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
"#;

fn first_boot(declared: Option<Format>) -> FirstBoot {
    FirstBoot {
        settings: parse(SETTINGS, "test.toml").expect("the settings"),
        declared,
    }
}

/// The image copied to a file target as a copy leaves it before the header: its first MiB
/// held back in memory, zeros on the target. Returns the target, the held bytes and the
/// image's bytes.
fn written(dir: &Path, image: &Path) -> (Target, Vec<u8>, Vec<u8>) {
    let bytes = std::fs::read(image).expect("read the image");
    let mut target =
        Target::open(&dir.join("card.img"), &TargetOptions::default()).expect("open the target");
    target.prepare(Some(bytes.len() as u64)).expect("size it");
    target
        .write_at(MIB, &bytes[MIB as usize..])
        .expect("write the image");
    (target, bytes[..MIB as usize].to_vec(), bytes)
}

/// Writes the held bytes, names the file and returns its path and bytes.
fn finish(dir: &Path, mut target: Target, held: &[u8]) -> (PathBuf, Vec<u8>) {
    target.write_at(0, held).expect("the header");
    target.sync().expect("sync");
    target.commit().expect("name it");
    let path = dir.join("card.img");
    let bytes = std::fs::read(&path).expect("read the card");
    (path, bytes)
}

fn pi_image(dir: &Path, boot_kib: u64, files: &[(&str, &[u8])]) -> PathBuf {
    disk_image(
        dir,
        "pi.img",
        "dos",
        64,
        &[
            Part {
                line: "type=c",
                start_kib: boot_kib,
                mib: 40,
                fat: Some(files),
            },
            Part {
                line: "type=83",
                start_kib: 44 * 1024,
                mib: 20,
                fat: None,
            },
        ],
    )
}

#[test]
fn systemd_settings_land_in_the_boot_partition_and_nothing_else_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = crate::scan::testing::noise(3, 200_000);
    let image = pi_image(
        dir.path(),
        4096,
        &[
            ("cmdline.txt", CMDLINE),
            ("config.txt", CONFIG),
            ("kernel8.img", &kernel),
        ],
    );
    let (mut target, mut held, original) = written(dir.path(), &image);
    let applied = {
        let mut disk = TargetDisk::new(&mut target, &mut held, original.len() as u64);
        apply(&first_boot(None), &mut disk).expect("applied")
    };
    assert_eq!(applied.format, Format::Systemd);
    assert!(
        applied.files.iter().any(|f| f == "firstrun.sh"),
        "{applied:?}"
    );
    assert!(
        applied.files.iter().any(|f| f == "cmdline.txt"),
        "{applied:?}"
    );
    assert!(
        applied
            .summary
            .starts_with("hostname pi-kitchen, user alex"),
        "{applied:?}"
    );
    assert_eq!(
        held,
        original[..MIB as usize],
        "nothing of the held-back part changed"
    );

    let (card, bytes) = finish(dir.path(), target, &held);
    let (start, end) = (4 * MIB as usize, 44 * MIB as usize);
    assert_eq!(
        bytes[..start],
        original[..start],
        "before the boot partition"
    );
    assert_eq!(bytes[end..], original[end..], "after the boot partition");
    assert_clean(&card, 4 * MIB, 40 * MIB);
    let cmdline = mtype(&card, 4 * MIB, "cmdline.txt");
    assert!(
        cmdline.starts_with(&CMDLINE[..CMDLINE.len() - 1]),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(
        cmdline.windows(12).any(|w| w == b"systemd.run="),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(!mtype(&card, 4 * MIB, "firstrun.sh").is_empty());
    assert_eq!(mtype(&card, 4 * MIB, "config.txt"), CONFIG);
    assert_eq!(mtype(&card, 4 * MIB, "kernel8.img"), kernel);
}

#[test]
fn a_boot_partition_inside_the_first_mib_is_edited_in_the_held_back_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed: &[(&str, &[u8])] = &[
        ("cmdline.txt", CMDLINE),
        ("config.txt", CONFIG),
        ("user-data", b"#cloud-config\n"),
        ("meta-data", b"instance-id: ubuntu\n"),
    ];
    // The FAT starts at 64 KiB: its boot sector, FATs and root directory are all held back.
    let image = pi_image(dir.path(), 64, seed);
    let (mut target, mut held, original) = written(dir.path(), &image);
    let applied = {
        let mut disk = TargetDisk::new(&mut target, &mut held, original.len() as u64);
        apply(&first_boot(None), &mut disk).expect("applied")
    };
    assert_eq!(applied.format, Format::CloudInit);
    assert!(
        applied.files.iter().any(|f| f == "user-data"),
        "{applied:?}"
    );
    assert_ne!(
        held,
        original[..MIB as usize],
        "the FAT's start changed in memory"
    );
    let mut head = Vec::new();
    target
        .read_range(0, MIB, |piece| head.extend_from_slice(piece))
        .expect("read the target");
    assert!(
        head.iter().all(|&b| b == 0),
        "nothing was written below 1 MiB"
    );

    let (card, bytes) = finish(dir.path(), target, &held);
    assert_clean(&card, 64 << 10, 40 * MIB);
    let user_data = mtype(&card, 64 << 10, "user-data");
    assert!(
        user_data.starts_with(b"#cloud-config"),
        "{}",
        String::from_utf8_lossy(&user_data)
    );
    let end = (64 << 10) + 40 * MIB as usize;
    assert_eq!(bytes[end..], original[end..], "after the boot partition");
    assert_eq!(
        bytes[..64 << 10],
        original[..64 << 10],
        "the partition table"
    );
}

#[test]
fn an_image_without_a_mechanism_or_a_format_that_cannot_apply_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = pi_image(dir.path(), 4096, &[("README.txt", b"nothing here\n")]);
    for declared in [None, Some(Format::Systemd)] {
        let (mut target, mut held, original) = written(dir.path(), &image);
        let err = {
            let mut disk = TargetDisk::new(&mut target, &mut held, original.len() as u64);
            apply(&first_boot(declared), &mut disk).expect_err("nothing to apply with")
        };
        match declared {
            None => assert!(matches!(err, FirstBootError::NoMechanism { .. }), "{err:?}"),
            Some(_) => assert!(matches!(err, FirstBootError::Render(_)), "{err:?}"),
        }
        let (_, bytes) = finish(dir.path(), target, &held);
        assert_eq!(bytes, original, "{declared:?}: not a byte changed");
    }
}

#[test]
fn a_damaged_boot_partition_is_an_error_never_a_panic_or_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: &[(&str, &[u8])] = &[
        ("cmdline.txt", CMDLINE),
        ("config.txt", CONFIG),
        ("user-data", b"#cloud-config\n"),
    ];
    let image = pi_image(dir.path(), 1024, files);
    let clean = std::fs::read(&image).expect("read");
    // The boot sector, the start of the FAT, the root directory and the first files.
    let base = MIB as usize;
    let boot = &clean[base..base + 512];
    let reserved = usize::from(u16::from_le_bytes([boot[14], boot[15]]));
    let per_fat = u32::from_le_bytes([boot[36], boot[37], boot[38], boot[39]]) as usize;
    let fat = base + reserved * 512;
    let data = fat + 2 * per_fat * 512;
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let path = dir.path().join("damaged.img");
    for round in 0..300 {
        let mut bytes = clean.clone();
        for _ in 0..1 + next() % 6 {
            let at = match next() % 4 {
                0 => base + (next() % 512) as usize,
                1 => fat + (next() % 64) as usize,
                2 => data + (next() % 1024) as usize,
                _ => data + 512 + (next() % 2048) as usize,
            };
            // Small values too: cluster numbers 0 to 3 are where arithmetic goes wrong.
            bytes[at] = if next() % 3 == 0 {
                (next() % 4) as u8
            } else {
                next() as u8
            };
        }
        std::fs::write(&path, &bytes).expect("write");
        let started = std::time::Instant::now();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        // Any outcome but a panic or a hang: settings written and read back, or an error.
        let _ = apply(&first_boot(None), &mut file);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "round {round} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_boot_sector_whose_numbers_do_not_fit_is_refused_by_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = pi_image(
        dir.path(),
        4096,
        &[("cmdline.txt", CMDLINE), ("config.txt", CONFIG)],
    );
    let clean = std::fs::read(&image).expect("read");
    let boot = 4 * MIB as usize;
    let cases: [(&Damage, &str); 4] = [
        // A FAT of 2^32 - 1 sectors: its end is past any 32-bit sector number.
        (
            &|b| b[36..40].copy_from_slice(&u32::MAX.to_le_bytes()),
            "which does not fit the partition",
        ),
        (
            &|b| b[32..36].copy_from_slice(&u32::MAX.to_le_bytes()),
            "which does not fit the partition",
        ),
        (
            &|b| b[44..48].copy_from_slice(&1u32.to_le_bytes()),
            "its root directory starts at cluster 1",
        ),
        (
            &|b| b[36..40].copy_from_slice(&8u32.to_le_bytes()),
            "its FAT (8 sectors) is too small",
        ),
    ];
    for (damage, words) in cases {
        let mut bytes = clean.clone();
        damage(&mut bytes[boot..boot + 512]);
        let path = dir.path().join("damaged.img");
        std::fs::write(&path, &bytes).expect("write");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let err = apply(&first_boot(None), &mut file).expect_err("refused");
        let text = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(
            text.contains("cannot open the FAT filesystem on the boot partition"),
            "{text}"
        );
        assert!(text.contains(words), "{words}: {text}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            bytes,
            "nothing was written"
        );
    }
}
