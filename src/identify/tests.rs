//! Unit tests of identification, from images built byte by byte here (the integration tests
//! run the real xorriso, genisoimage, mkudffs, zip, tar, dpkg-deb and mkfs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod build;
mod head;

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::source::Memory;
use crate::source::testing::{mutants, noise};
use build::{SECTOR, iso, le32, tag, tar, udf, zip};

fn id(data: &[u8]) -> Identity {
    identify(&Memory::new(data, "test.img"))
}

fn windows(volume: &str, evidence: &[&str]) -> Identity {
    Identity::WindowsInstaller {
        volume: volume.into(),
        evidence: evidence.iter().map(|&e| e.into()).collect(),
    }
}

fn not_a_disk(looks_like: Looks) -> Identity {
    Identity::NotADiskImage { looks_like }
}

/// The UDF tag checksum is CRC-16/XMODEM; its published check value keeps the tests' images,
/// which are checksummed with the same function, honest.
#[test]
fn the_udf_tag_crc_matches_the_published_check_value() {
    assert_eq!(super::udf::crc_itu(b"123456789"), 0x31C3);
    assert_eq!(super::udf::crc_itu(b""), 0);
}

const WIN: &[&str] = &["SOURCES/INSTALL.WIM;1", "BOOTMGR.;1", "README.TXT;1"];

#[test]
fn a_windows_iso_is_found_by_its_files_in_either_tree() {
    let both = ["sources/install.wim", "bootmgr"];
    assert_eq!(
        id(&iso("CCCOMA_X64FRE", WIN, None)),
        windows("CCCOMA_X64FRE", &both)
    );
    // Only Joliet knows the files (the primary tree holds a README): found there.
    let joliet = ["sources/install.esd", "README.txt"];
    let image = iso("ESD", &["README.TXT;1"], Some(&joliet));
    assert_eq!(id(&image), windows("ESD", &["sources/install.esd"]));
    // No Windows files: an ISO that boots from optical media only.
    let linux = iso(
        "DEBIAN",
        &["BOOT/VMLINUZ.;1", "SOURCES/README;1"],
        Some(&["boot/vmlinuz"]),
    );
    let optical = Identity::OpticalOnlyIso {
        volume: "DEBIAN".into(),
    };
    assert_eq!(id(&linux), optical);
    assert_eq!(optical.advice(), Advice::Warn);
    // A file named like the directory is not the directory.
    assert_eq!(
        id(&iso("X", &["SOURCES.;1"], None)),
        Identity::OpticalOnlyIso { volume: "X".into() }
    );
}

#[test]
fn an_mbr_or_gpt_in_the_system_area_makes_an_iso_hybrid() {
    let mut image = iso("LIVE", WIN, None);
    image[510..512].copy_from_slice(&[0x55, 0xAA]);
    // A boot signature alone, without a partition in use, is not a table.
    assert_eq!(
        id(&image),
        windows("LIVE", &["sources/install.wim", "bootmgr"])
    );
    image[0x1BE] = 0x80;
    image[0x1BE + 4] = 0x17;
    le32(&mut image, 0x1BE + 8, 0);
    le32(&mut image, 0x1BE + 12, 192);
    let hybrid = Identity::HybridIso {
        volume: "LIVE".into(),
        table: TableKind::Mbr,
    };
    assert_eq!(id(&image), hybrid);
    assert_eq!(hybrid.advice(), Advice::Fine);
    let mut gpt = iso("LIVE", &[], None);
    gpt[512..520].copy_from_slice(b"EFI PART");
    assert_eq!(
        id(&gpt),
        Identity::HybridIso {
            volume: "LIVE".into(),
            table: TableKind::Gpt
        }
    );
}

#[test]
fn damaged_iso_directories_are_a_doubt_never_a_refusal() {
    let good = iso("D", WIN, None);
    // A record too short to be one.
    let mut short = good.clone();
    short[20 * SECTOR + 68] = 20;
    // The root extent past the end of the image.
    let mut far = good.clone();
    le32(&mut far, 16 * SECTOR + 156 + 2, 1 << 30);
    // A root directory larger than is read.
    let mut huge = good.clone();
    le32(&mut huge, 16 * SECTOR + 156 + 10, 64 << 20);
    for image in [short, far, huge] {
        let identity = id(&image);
        assert!(
            matches!(identity, Identity::Undetermined { .. }),
            "{identity:?}"
        );
        assert_eq!(identity.advice(), Advice::Fine);
    }
}

#[test]
fn a_udf_only_windows_volume_is_read_through_every_descriptor() {
    let both = ["sources/install.wim", "bootmgr"];
    for block in [512, 2048, 4096] {
        for long in [false, true] {
            let image = udf(
                block,
                "CCCOMA_X64",
                &["sources/install.wim", "bootmgr"],
                long,
            );
            assert_eq!(
                id(&image),
                windows("CCCOMA_X64", &both),
                "{block}, long {long}"
            );
        }
    }
    let empty = udf(2048, "PLAIN", &["docs/a.txt"], false);
    assert_eq!(
        id(&empty),
        Identity::OpticalOnlyIso {
            volume: "PLAIN".into()
        }
    );
}

#[test]
fn microsoft_layout_the_files_only_in_udf() {
    // ISO 9660 holds a README, UDF everything: both are read, UDF finds the files.
    let mut image = udf(
        2048,
        "CCCOMA_X64",
        &["sources/install.esd", "bootmgr"],
        false,
    );
    let iso_part = iso("CCCOMA_X64", &["README.TXT;1"], None);
    // ISO descriptors at 16-17, then UDF's recognition sequence from 18.
    let vrs: Vec<u8> = image[16 * SECTOR..19 * SECTOR].to_vec();
    image[16 * SECTOR..18 * SECTOR].copy_from_slice(&iso_part[16 * SECTOR..18 * SECTOR]);
    image[18 * SECTOR..21 * SECTOR].copy_from_slice(&vrs);
    image[20 * SECTOR..21 * SECTOR].copy_from_slice(&iso_part[20 * SECTOR..21 * SECTOR]);
    // The ISO root at sector 20 overwrote TEA01: the sequence ends at a sector it does not
    // know, which is allowed.
    assert_eq!(
        id(&image),
        windows("CCCOMA_X64", &["sources/install.esd", "bootmgr"])
    );
}

#[test]
fn damaged_udf_descriptors_are_a_doubt() {
    let good = udf(2048, "W", &["sources/install.wim"], false);
    let block = |n: u32| (build::PARTITION.0 + n) as usize * 2048;
    type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(&str, Damage)> = vec![
        ("root entry checksum", Box::new(|d| d[block(1) + 4] ^= 1)),
        ("root entry CRC", Box::new(|d| d[block(1) + 200] ^= 1)),
        (
            "root entry location",
            Box::new(|d| {
                le32(d, block(1) + 12, 7);
                let body = usize::from(u16::from_le_bytes([d[block(1) + 10], d[block(1) + 11]]));
                tag(&mut d[block(1)..block(2)], 261, 7, body);
            }),
        ),
        (
            "subdirectory data past the partition",
            Box::new(|d| {
                le32(d, block(2) + 216 + 4, 5000);
                tag(&mut d[block(2)..block(3)], 266, 2, 216 + 8 - 16);
            }),
        ),
        (
            "file identifier",
            Box::new(|d| d[block(20) + 40 + 4] ^= 0x55),
        ),
        ("partition map", Box::new(|d| d[301 * 2048 + 441] = 200)),
    ];
    for (what, damage) in cases {
        let mut image = good.clone();
        damage(&mut image);
        let identity = id(&image);
        assert!(
            matches!(identity, Identity::Undetermined { .. }),
            "{what}: {identity:?}"
        );
    }
    // A wrong anchor: not a UDF volume at all, and nothing else either.
    let mut image = good.clone();
    image[256 * 2048 + 4] ^= 1;
    assert!(matches!(id(&image), Identity::Undetermined { .. }));
}

#[test]
fn partition_tables_filesystems_and_boot_sectors() {
    let mut mbr = vec![0u8; 1 << 20];
    mbr[510..512].copy_from_slice(&[0x55, 0xAA]);
    mbr[0x1BE + 4] = 0x83;
    le32(&mut mbr, 0x1BE + 8, 64);
    le32(&mut mbr, 0x1BE + 12, 100);
    assert_eq!(
        id(&mbr),
        Identity::Disk {
            table: TableKind::Mbr
        }
    );
    mbr[0x1BE + 4] = 0xEE;
    assert_eq!(
        id(&mbr),
        Identity::Disk {
            table: TableKind::Gpt
        }
    );
    let mut boot = vec![0u8; 4096];
    boot[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    boot[510..512].copy_from_slice(&[0x55, 0xAA]);
    assert_eq!(id(&boot), Identity::BootSector);
    let mut squash = vec![0u8; 8192];
    squash[..4].copy_from_slice(b"hsqs");
    let bare = Identity::BareFilesystem {
        fs: "squashfs".into(),
    };
    assert_eq!(id(&squash), bare);
    assert_eq!(bare.advice(), Advice::Note);
}

#[test]
fn files_that_are_no_disk_image_say_what_they_are() {
    let pe = {
        let mut d = vec![0u8; 4096];
        d[..2].copy_from_slice(b"MZ");
        le32(&mut d, 0x3C, 0x80);
        d[0x80..0x84].copy_from_slice(b"PE\0\0");
        d
    };
    let html = b"\xEF\xBB\xBF\n  <!DOCTYPE html>\n<html><body>Download</body></html>\n";
    let cases: Vec<(Vec<u8>, Looks)> = vec![
        (
            b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n".repeat(40),
            Looks::Pdf,
        ),
        (pe, Looks::WindowsProgram),
        (
            [&b"\x7FELF\x02\x01\x01"[..], &[0; 2000]].concat(),
            Looks::ElfProgram,
        ),
        (
            b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n".to_vec(),
            Looks::DebianPackage,
        ),
        (
            zip(&["a.txt", "docs/", "docs/b.txt", "c.txt"]),
            Looks::Zip { files: Some(3) },
        ),
        (
            tar(&[
                ("dir/", b'5', b""),
                ("dir/a.txt", b'0', b"hello"),
                ("dir/b.txt", b'0', b""),
            ]),
            Looks::Tar { files: Some(2) },
        ),
        (html.to_vec(), Looks::Html),
        (
            "Read me first: ünïcode text\n".repeat(200).into_bytes(),
            Looks::Text,
        ),
        (
            [&b"\x89PNG\r\n\x1A\n"[..], &noise(3000, 1)].concat(),
            Looks::Picture { format: "PNG" },
        ),
        (
            [&b"7z\xBC\xAF\x27\x1C"[..], &noise(3000, 2)].concat(),
            Looks::Compressed { format: "7-Zip" },
        ),
        (
            [&b"QFI\xFB\0\0\0\x03"[..], &[0; 600]].concat(),
            Looks::VirtualDisk { format: "QCOW2" },
        ),
        (Vec::new(), Looks::Empty),
        (noise(100, 3), Looks::Tiny { bytes: 100 }),
    ];
    for (data, looks) in cases {
        let identity = id(&data);
        assert_eq!(identity, not_a_disk(looks.clone()), "{looks:?}");
        assert_eq!(identity.advice(), Advice::Refuse);
    }
    // Data nothing recognises, zeros, and a bare "MZ" in noise are written without a word.
    let mut mz = noise(1 << 20, 4);
    mz[..2].copy_from_slice(b"MZ");
    for data in [noise(1 << 20, 5), vec![0; 1 << 20], mz] {
        assert_eq!(id(&data), Identity::Unknown);
        assert_eq!(Identity::Unknown.advice(), Advice::Fine);
    }
}

#[test]
fn the_messages_name_what_it_is_and_what_to_do() {
    assert_eq!(
        windows(
            "CCCOMA_X64FRE_EN-US_DV9",
            &["sources/install.wim", "bootmgr"]
        )
        .to_string(),
        "this is a Windows installer ISO (volume 'CCCOMA_X64FRE_EN-US_DV9': sources/install.wim, bootmgr): written raw to a USB stick it will not boot; use Microsoft's Media Creation Tool or a tool that makes a Windows stick (WoeUSB, Ventoy)"
    );
    assert_eq!(
        not_a_disk(Looks::Zip { files: Some(12) }).to_string(),
        "this is a ZIP archive of 12 files, not a disk image: extract it and write the disk image inside, if there is one"
    );
    assert_eq!(
        Looks::Tar { files: Some(1) }.to_string(),
        "a tar archive of 1 file"
    );
    assert_eq!(Looks::Zip { files: None }.to_string(), "a ZIP archive");
    assert!(
        not_a_disk(Looks::Html)
            .to_string()
            .contains("the download led to a web page instead of the image")
    );
}

/// A store that claims to be 1 TiB, holds `data` at its start (zeros after it), and counts
/// the bytes read of it.
struct Counting {
    data: Vec<u8>,
    read: AtomicU64,
}

impl RandomAccess for Counting {
    fn name(&self) -> &str {
        "counting.img"
    }

    fn len(&self) -> u64 {
        1 << 40
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        buf.fill(0);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(rest) = self.data.get(start..) {
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
        }
        Ok(())
    }

    fn stream(&self, _: u64, _: u64) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        Ok(Box::new(std::io::empty()))
    }
}

#[test]
fn work_is_bounded_whatever_the_structures_claim() {
    // Directories that claim to be 4 GiB, and a volume of 1 TiB.
    let mut iso_image = iso("BIG", WIN, None);
    le32(&mut iso_image, 16 * SECTOR + 156 + 10, u32::MAX);
    let mut udf_image = udf(2048, "BIG", &["sources/install.wim"], false);
    let root = (build::PARTITION.0 + 1) as usize * 2048;
    udf_image[root + 56..root + 64].copy_from_slice(&u64::MAX.to_le_bytes());
    let body = usize::from(u16::from_le_bytes([
        udf_image[root + 10],
        udf_image[root + 11],
    ]));
    tag(&mut udf_image[root..root + 2048], 261, 1, body);
    for data in [iso_image, udf_image, zip(&["a"; 300]), noise(8 << 20, 6)] {
        let store = Counting {
            data,
            read: AtomicU64::new(0),
        };
        let _ = identify(&store);
        let read = store.read.load(Ordering::Relaxed);
        assert!(read <= BUDGET + (1 << 20), "{read} bytes read");
    }
}

#[test]
fn damaged_images_never_panic() {
    let images = [
        iso("W", WIN, Some(&["sources/install.wim", "bootmgr"])),
        udf(2048, "W", &["sources/install.wim", "bootmgr"], false),
        udf(512, "W", &["sources/install.wim", "bootmgr"], true),
        zip(&["a.txt", "b/"]),
        tar(&[("a", b'0', b"x")]),
    ];
    for image in &images {
        for mutant in mutants(image, 400) {
            let identity = id(&mutant);
            // Whatever it is, it has words.
            assert!(!identity.to_string().is_empty());
        }
    }
}
