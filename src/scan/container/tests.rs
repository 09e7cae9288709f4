//! Partition tables made by sfdisk, sgdisk and xorriso, and broken ones made by hand.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Layout, probe};
use crate::scan::testing::run;
use crate::source::LocalFile;

fn image(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let path = dir.join(name);
    File::create(&path)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    path
}

fn layout(path: &Path) -> Layout {
    probe(&LocalFile::open(path).expect("open"))
}

fn sfdisk(path: &Path, extra: &[&str], script: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .args(extra)
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk is needed (fdisk package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    assert!(
        child.wait().expect("sfdisk").success(),
        "sfdisk failed on {script}"
    );
}

fn starts(layout: &Layout) -> Vec<(u64, u64, bool)> {
    layout
        .regions
        .iter()
        .map(|r| (r.start / 512, r.len / 512, r.forced.is_some()))
        .collect()
}

#[test]
fn mbr_with_logical_partitions() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = image(dir.path(), "mbr.img", 64);
    sfdisk(
        &img,
        &[],
        "label: dos\n2048,16384,c\n18432,16384,83\n34816,,5\n36864,8192,83\n47104,8192,82\n",
    );
    let l = layout(&img);
    assert_eq!(l.description, "MBR, 4 partitions (2 logical)");
    assert_eq!(
        starts(&l),
        [
            (2048, 16384, false),
            (18432, 16384, false),
            (36864, 8192, false),
            (47104, 8192, false)
        ]
    );
    assert_eq!(l.regions[2].place, "partition 5 (MBR type 0x83)");
}

#[test]
fn gpt_with_512_and_4096_byte_sectors() {
    let dir = tempfile::tempdir().expect("tmp");
    for sector in [512u64, 4096] {
        let img = image(dir.path(), &format!("gpt{sector}.img"), 64);
        // Debian 12's sfdisk cannot be told a sector size; a loop device with 4 KiB logical
        // sectors makes it write a 4K-native table, as on such disks.
        let device = LoopSectors::new(&img, sector);
        sfdisk(
            &device.path,
            &[],
            "label: gpt\nsize=8MiB, type=uefi, name=ESP\nsize=16MiB, type=linux, name=rootfs\n",
        );
        drop(device);
        let l = layout(&img);
        assert_eq!(
            l.description,
            format!("GPT, {sector}-byte sectors, 2 partitions"),
            "{sector}"
        );
        assert_eq!(l.regions[0].len, 8 << 20);
        assert_eq!(
            l.regions[1].place,
            "partition 2 (GPT 'rootfs', Linux filesystem)"
        );
        // The backup GPT at the end is in no region: it stays mapped.
        let end = l.regions.iter().map(|r| r.start + r.len).max().unwrap_or(0);
        assert!(
            end <= (64 << 20) - 33 * 512,
            "{sector}: a region reaches the backup GPT"
        );
    }
}

/// A loop device with a given logical sector size, detached on drop (needs root: fails loudly
/// without it, as every device test does).
struct LoopSectors {
    path: PathBuf,
}

impl LoopSectors {
    fn new(backing: &Path, sector: u64) -> Self {
        let out = run(
            "losetup",
            &[
                "-f",
                "--show",
                "--sector-size",
                &sector.to_string(),
                backing.to_str().expect("utf-8"),
            ],
        );
        Self {
            path: PathBuf::from(out.trim()),
        }
    }
}

impl Drop for LoopSectors {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&self.path)
            .output();
    }
}

#[test]
fn a_relocated_entry_array_and_a_hybrid_mbr() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = image(dir.path(), "moved.img", 64);
    let p = img.to_str().expect("utf-8");
    // The entry array at LBA 2048 (1 MiB), as boards with a bootloader at 8 KiB need.
    run(
        "sgdisk",
        &[
            "-o",
            "-j",
            "2048",
            "-n",
            "1:4096:+8M",
            "-t",
            "1:0700",
            "-n",
            "2:0:+8M",
            p,
        ],
    );
    let l = layout(&img);
    assert_eq!(starts(&l)[0], (4096, 16384, false), "{}", l.description);

    run("sgdisk", &["-h", "1", p]);
    assert_eq!(
        layout(&img).regions.len(),
        2,
        "a matching hybrid MBR is fine"
    );
    // Move the hybrid entry: the MBR and the GPT disagree.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    let entry = 0x1BE + 16; // sgdisk puts the hybrid partition after the 0xEE entry
    f.write_all_at(&8192u32.to_le_bytes(), entry + 8)
        .expect("patch");
    let l = layout(&img);
    assert!(l.regions.is_empty(), "{}", l.description);
    assert!(l.description.contains("hybrid MBR"), "{}", l.description);
}

#[test]
fn broken_tables_map_everything_or_the_affected_region() {
    let dir = tempfile::tempdir().expect("tmp");
    // A GPT header with a bad CRC.
    let img = image(dir.path(), "badcrc.img", 16);
    sfdisk(&img, &[], "label: gpt\nsize=4MiB\n");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    f.write_all_at(b"X", 512 + 60).expect("patch");
    let l = layout(&img);
    assert!(
        l.regions.is_empty() && l.description.contains("checksum"),
        "{}",
        l.description
    );

    // A GPT without its protective MBR.
    let img = image(dir.path(), "noprotect.img", 16);
    sfdisk(&img, &[], "label: gpt\nsize=4MiB\n");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open")
        .write_all_at(&[0u8; 512], 0)
        .expect("zero");
    let l = layout(&img);
    assert!(
        l.regions.is_empty() && l.description.contains("without a protective MBR"),
        "{}",
        l.description
    );

    // Hand-made MBRs: overlapping partitions, one past the end, an EBR chain that loops.
    let mbr = |entries: &[(u8, u32, u32)]| {
        let mut s = [0u8; 512];
        for (i, &(kind, first, count)) in entries.iter().enumerate() {
            let e = 0x1BE + i * 16;
            s[e + 4] = kind;
            s[e + 8..e + 12].copy_from_slice(&first.to_le_bytes());
            s[e + 12..e + 16].copy_from_slice(&count.to_le_bytes());
        }
        s[510] = 0x55;
        s[511] = 0xAA;
        s
    };
    let img = image(dir.path(), "overlap.img", 16);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    f.write_all_at(
        &mbr(&[(0x83, 2048, 8192), (0x83, 8192, 8192), (0x83, 20480, 40000)]),
        0,
    )
    .expect("mbr");
    let l = layout(&img);
    assert_eq!(
        starts(&l),
        [(2048, 8192, true), (8192, 8192, true), (20480, 12288, true)]
    );
    assert!(
        l.regions[0]
            .forced
            .as_deref()
            .is_some_and(|r| r.contains("overlaps"))
    );
    assert!(
        l.regions[2]
            .forced
            .as_deref()
            .is_some_and(|r| r.contains("past the end"))
    );

    let img = image(dir.path(), "loop.img", 16);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    f.write_all_at(&mbr(&[(0x83, 2048, 4096), (0x05, 8192, 8192)]), 0)
        .expect("mbr");
    // The first EBR links to a second, which links to itself (next EBRs are relative to the
    // extended partition's start: 8192 + 4096).
    f.write_all_at(&mbr(&[(0x83, 2048, 1024), (0x05, 4096, 2048)]), 8192 * 512)
        .expect("ebr");
    f.write_all_at(&mbr(&[(0x83, 16, 16), (0x05, 4096, 16)]), 12288 * 512)
        .expect("ebr loop");
    let l = layout(&img);
    assert!(
        l.regions.is_empty() && l.description.contains("loops"),
        "{}",
        l.description
    );
}

/// GPT headers that lie, each with a valid header CRC so only the lie can give them away:
/// nothing is trusted, so the image is mapped whole.
#[test]
fn gpt_headers_that_lie_about_their_entry_array_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases: [(&str, usize, &[u8], &str); 3] = [
        (
            "huge count",
            80,
            &1_000_000u32.to_le_bytes(),
            "(1000000 entries of 128 bytes) is impossible",
        ),
        (
            "array past the end",
            72,
            &(1u64 << 40).to_le_bytes(),
            "cannot read the GPT entry array at LBA 1099511627776",
        ),
        (
            "array over the header",
            72,
            &1u64.to_le_bytes(),
            "the GPT entry array at LBA 1 overlaps the header",
        ),
    ];
    for (what, at, value, message) in cases {
        let img = image(dir.path(), "lie.img", 16);
        sfdisk(&img, &[], "label: gpt\nsize=4MiB\n");
        let mut header = std::fs::read(&img).expect("read")[512..604].to_vec();
        header[at..at + value.len()].copy_from_slice(value);
        header[16..20].fill(0);
        let crc = u32::try_from(super::gpt::crc32(&header)).expect("32 bits");
        header[16..20].copy_from_slice(&crc.to_le_bytes());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&img)
            .expect("open");
        f.write_all_at(&header, 512).expect("patch");
        let l = layout(&img);
        assert!(
            l.regions.is_empty() && l.description.contains(message),
            "{what}: {}",
            l.description
        );
    }

    // An entry array whose own CRC does not match (the header is intact).
    let img = image(dir.path(), "array.img", 16);
    sfdisk(&img, &[], "label: gpt\nsize=4MiB\n");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open");
    f.write_all_at(b"X", 1024 + 60).expect("patch");
    let l = layout(&img);
    assert!(
        l.regions.is_empty() && l.description.contains("entry array checksum"),
        "{}",
        l.description
    );
}

#[test]
fn bare_filesystems_and_optical_images() {
    let dir = tempfile::tempdir().expect("tmp");
    let fat = dir.path().join("fat.img");
    run("mkfs.vfat", &["-C", fat.to_str().expect("utf-8"), "16384"]);
    let l = layout(&fat);
    assert_eq!(l.description, "no partition table (a bare filesystem)");
    assert_eq!(starts(&l), [(0, 32768, false)]);

    let iso_dir = dir.path().join("iso");
    std::fs::create_dir_all(&iso_dir).expect("dir");
    std::fs::write(iso_dir.join("hello.txt"), b"hello").expect("file");
    let iso = dir.path().join("a.iso");
    run(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            iso.to_str().expect("utf-8"),
            iso_dir.to_str().expect("utf-8"),
        ],
    );
    let l = layout(&iso);
    assert!(
        l.regions.is_empty() && l.description.starts_with("ISO 9660"),
        "{}",
        l.description
    );
}

#[test]
fn mutated_tables_never_panic() {
    use crate::source::testing::in_memory;
    let dir = tempfile::tempdir().expect("tmp");
    let img = image(dir.path(), "m.img", 8);
    sfdisk(&img, &[], "label: gpt\nsize=1MiB\nsize=1MiB\n");
    let gpt = std::fs::read(&img).expect("read");
    let mbr_img = image(dir.path(), "mm.img", 8);
    sfdisk(
        &mbr_img,
        &[],
        "label: dos\n2048,2048,83\n4096,,5\n6144,2048,83\n",
    );
    let mbr = std::fs::read(&mbr_img).expect("read");
    let noise = crate::scan::testing::noise(5, 8000);
    // Headers and entry arrays at the front; EBRs at 2 MiB and beyond.
    for (base, spans) in [
        (&gpt, [0..34 * 512, 0..512]),
        (&mbr, [0..512, 4096 * 512..4098 * 512]),
    ] {
        for round in 0..2000 {
            let mut bytes = base.clone();
            let span = &spans[round % 2];
            let at =
                span.start + usize::from(noise[round * 2 % 7990]) * (span.end - span.start) / 256;
            bytes[at] ^= noise[round * 3 % 7990] | 1;
            let _ = probe(&*in_memory("mutant", &bytes));
        }
    }
}
