//! `copy` and `verify` on real block devices (loop devices), as root.

use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;

use blockprint::bmap::{BlockRange, Bmap, ChecksumType};
use blockprint::copy::{CopyError, CopyOptions, CopyReport, RangeLabel, Reopen, copy};
use blockprint::progress::{CancelToken, Event, Phase};
use blockprint::source::{FileSource, ImageSource};
use blockprint::target::{Target, TargetOptions};

use crate::harness::support::{
    LoopDevice, Mounted, assert_written, blockprint, copy_vector, random_bytes, read_at,
    require_root, scratch, sh, sha256, sparse_image, unpack, vectors,
};

const MIB: u64 = 1 << 20;

/// A backing file of `size` random bytes (seeded), returned with its content.
fn random_backing(dir: &Path, name: &str, size: u64, seed: u64) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let bytes = random_bytes(seed, usize::try_from(size).unwrap());
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

#[test]
fn writes_mapped_ranges_and_leaves_other_blocks_untouched() {
    let dir = scratch();
    // The image ends 1000 bytes into a block and mid-sector: the tail goes through a
    // read-modify-write that must keep the device's bytes after it.
    let (image, bmap_path, content) = sparse_image(dir.path(), 6 * MIB + 1000);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    for readback in [false, true] {
        let (backing, before) = random_backing(dir.path(), "dev.img", 8 * MIB, 21);
        let mut dev = LoopDevice::new(&backing);
        let mut args = vec![
            "copy",
            "--bmap",
            bmap_path.to_str().unwrap(),
            image.to_str().unwrap(),
            dev.name(),
        ];
        if readback {
            args.insert(1, "--verify-readback");
        }
        let stderr = blockprint(&args).ok().to_owned();
        assert!(stderr.contains("to block device"), "{stderr}");
        if readback {
            assert!(stderr.contains("all read back and compared"), "{stderr}");
        }
        blockprint([
            "-q",
            "verify",
            "--bmap",
            bmap_path.to_str().unwrap(),
            dev.name(),
        ])
        .ok();
        dev.detach();
        assert_written(&std::fs::read(&backing).unwrap(), &before, &content, &bmap);
    }
}

#[test]
fn upstream_vectors_onto_a_device() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let expected = std::fs::read(&image).unwrap();
    let partial = unpack("partial.img.gz", dir.path(), "partial.img");
    let partial_expected = std::fs::read(&partial).unwrap();
    let (backing, _) = random_backing(dir.path(), "dev.img", 4 * MIB, 22);
    let mut dev = LoopDevice::new(&backing);
    let cases = [
        ("test.image.bmap.v1.2", &image, &expected),
        ("test.image.bmap.v1.3", &image, &expected),
        ("test.image.bmap.v1.4", &image, &expected),
        ("test.image.bmap.v2.0", &image, &expected),
        ("partial.img.bmap", &partial, &partial_expected),
        ("partial.img.nochecksum.bmap", &partial, &partial_expected),
    ];
    for (bmap, image, expected) in cases {
        let bmap = vectors().join(bmap);
        blockprint([
            "-q",
            "copy",
            "--verify-readback",
            "--bmap",
            bmap.to_str().unwrap(),
            image.to_str().unwrap(),
            dev.name(),
        ])
        .ok();
        // The images fit in the first MiB, which is wiped: their holes read back as zeros, so
        // the device starts with exactly the image.
        let on_device = read_at(&dev.path, 0, expected.len());
        assert!(
            on_device == **expected,
            "{} differs on the device",
            bmap.display()
        );
    }
    dev.detach();
}

#[test]
fn refuses_a_device_with_a_mounted_partition() {
    require_root("mounting a partition");
    let dir = scratch();
    let backing = dir.path().join("disk.img");
    std::fs::File::create(&backing)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    sh(
        "sh",
        &[
            "-c",
            &format!("echo '2048,,L' | sfdisk -q {}", backing.display()),
        ],
    );
    let dev = LoopDevice::new(&backing);
    dev.add_partitions();
    let part = format!("{}p1", dev.name());
    sh("mkfs.ext4", &["-q", &part]);
    // Read-only, so the filesystem itself writes nothing and any change would be ours.
    let mount = Mounted::new(&["-o", "ro,noload", &part], &dir.path().join("mnt"));
    let before = sha256(&std::fs::read(&dev.path).unwrap());

    let (_, run) = copy_vector(dir.path(), dev.name());
    run.fails_with(&[
        &format!("device '{}' is in use", dev.name()),
        &format!("{part} is mounted on {}", mount.path.display()),
        "unmount",
    ]);
    assert_eq!(
        sha256(&std::fs::read(&dev.path).unwrap()),
        before,
        "the device was changed"
    );
    drop(mount);
}

#[test]
fn refuses_the_device_that_holds_the_image() {
    require_root("mounting a filesystem");
    let dir = scratch();
    let backing = dir.path().join("disk.img");
    std::fs::File::create(&backing)
        .unwrap()
        .set_len(32 * MIB)
        .unwrap();
    let dev = LoopDevice::new(&backing);
    sh("mkfs.ext4", &["-q", dev.name()]);
    let mount = Mounted::new(&[dev.name()], &dir.path().join("mnt"));
    let (image, run) = copy_vector(&mount.path, dev.name());
    run.fails_with(&[&format!(
        "device '{}' holds '{}'",
        dev.name(),
        image.display()
    )]);
    drop(mount);
}

#[test]
fn refuses_a_device_too_small_before_writing() {
    let dir = scratch();
    let (backing, before) = random_backing(dir.path(), "small.img", 512 * 1024, 23);
    let mut dev = LoopDevice::new(&backing);
    let (_, run) = copy_vector(dir.path(), dev.name());
    run.fails_with(&[
        "needs 802.5 KiB (821752 bytes)",
        &format!("'{}' holds only 512.0 KiB", dev.name()),
        "larger device",
    ]);
    dev.detach();
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "a refused device was written"
    );
}

/// Copies with the library so a test can act between phases, like a failing card would.
fn copy_with(
    image: &Path,
    bmap: &Bmap,
    device: &Path,
    options: CopyOptions,
    mut on_event: impl FnMut(&Event) -> ControlFlow<()>,
) -> Result<CopyReport, CopyError> {
    let mut source = FileSource::open(image).unwrap();
    let mut target = Target::open(device, &TargetOptions::default()).unwrap();
    copy(
        &mut source,
        Some(bmap),
        &mut target,
        &options,
        &mut on_event,
        &CancelToken::new(),
    )
}

/// The desktop app's "Skip Verification": the read-back stops, the copy still finishes (the
/// held-back header is written, so the card boots) and the report says it was not read back.
#[test]
fn a_skipped_readback_still_finishes_the_copy() {
    let dir = scratch();
    let (image, bmap_path, content) = sparse_image(dir.path(), 6 * MIB + 1000);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let (backing, before) = random_backing(dir.path(), "dev.img", 8 * MIB, 25);
    let mut dev = LoopDevice::new(&backing);
    let skip = CancelToken::new();
    let options = CopyOptions {
        verify_checksums: true,
        verify_readback: true,
        skip_readback: Some(skip.clone()),
        ..CopyOptions::default()
    };
    let mut phases = Vec::new();
    let report = copy_with(&image, &bmap, &dev.path, options, |event| {
        if let Event::PhaseStarted { phase, .. } = event {
            phases.push(*phase);
            if *phase == Phase::ReadBack {
                skip.cancel();
            }
        }
        ControlFlow::Continue(())
    })
    .expect("a skipped read-back is not a failure");
    assert!(!report.read_back, "the report must not claim a read-back");
    assert_eq!(
        phases,
        [
            Phase::Wiping,
            Phase::Writing,
            Phase::Syncing,
            Phase::ReadBack,
            Phase::WritingHeader
        ]
    );
    dev.detach();
    let device = std::fs::read(&backing).unwrap();
    assert_written(&device, &before, &content, &bmap);
}

/// Copies `image` to `device` and, when read-back starts, changes mapped block 768 (3 MiB)
/// through `backing`, the loop device's file, behind the copy's back. Returns the result and
/// the phases in the order they started.
fn copy_tampered(
    image: &Path,
    bmap: &Bmap,
    device: &Path,
    backing: &Path,
    options: CopyOptions,
) -> (Result<CopyReport, CopyError>, Vec<Phase>) {
    let tamper = std::fs::OpenOptions::new()
        .write(true)
        .open(backing)
        .unwrap();
    let mut phases = Vec::new();
    let result = copy_with(image, bmap, device, options, |event| {
        if let Event::PhaseStarted { phase, .. } = event {
            phases.push(*phase);
            if *phase == Phase::ReadBack {
                tamper
                    .write_all_at(b"flipped by the test", 3 * MIB + 5)
                    .unwrap();
                tamper.sync_all().unwrap();
            }
        }
        ControlFlow::Continue(())
    });
    (result, phases)
}

#[test]
fn verify_readback_catches_a_block_changed_behind_our_back() {
    let dir = scratch();
    let (image, bmap_path, _) = sparse_image(dir.path(), 6 * MIB + 1000);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let (backing, _) = random_backing(dir.path(), "dev.img", 8 * MIB, 24);
    let mut dev = LoopDevice::new(&backing);
    let options = CopyOptions {
        verify_checksums: true,
        verify_readback: true,
        skip_readback: None,
        ..CopyOptions::default()
    };
    let (result, phases) = copy_tampered(&image, &bmap, &dev.path, &backing, options);
    let err = result.expect_err("read-back must catch the change");
    assert!(
        matches!(
            err,
            CopyError::ReadBack {
                range: RangeLabel::Blocks { first: 768, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("read-back mismatch on '{}'", dev.name())),
        "{err}"
    );
    assert_eq!(
        phases,
        [
            Phase::Wiping,
            Phase::Writing,
            Phase::Syncing,
            Phase::ReadBack
        ]
    );
    dev.detach();
    // The header was never written: the device does not look like a disk.
    let head = read_at(&backing, 0, MIB as usize);
    assert!(
        head.iter().all(|&b| b == 0),
        "the first MiB was written despite the failure"
    );
}

/// The same change, with a way to read the image again: the range is written again from a
/// fresh read, reads back, and the copy succeeds, saying so; every other block is as before.
#[test]
fn a_range_changed_behind_our_back_is_written_again() {
    let dir = scratch();
    let (image, bmap_path, content) = sparse_image(dir.path(), 6 * MIB + 1000);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let (backing, before) = random_backing(dir.path(), "dev.img", 8 * MIB, 26);
    let mut dev = LoopDevice::new(&backing);
    let again = image.clone();
    let options = CopyOptions {
        verify_readback: true,
        reopen: Some(Reopen::new(move || {
            Ok(Box::new(FileSource::open(&again).unwrap()) as Box<dyn ImageSource>)
        })),
        ..CopyOptions::default()
    };
    let (result, phases) = copy_tampered(&image, &bmap, &dev.path, &backing, options);
    let report = result.expect("the range is written again and reads back");
    assert_eq!(report.rewritten, 1);
    assert!(report.read_back);
    assert!(report.sentinels > 0, "{report:?}");
    assert!(phases.contains(&Phase::Rewriting), "{phases:?}");
    dev.detach();
    let device = std::fs::read(&backing).unwrap();
    assert_written(&device, &before, &content, &bmap);
}

#[test]
fn a_cancelled_or_failed_copy_leaves_no_partition_table() {
    let dir = scratch();
    let (image, bmap_path, _) = sparse_image(dir.path(), 6 * MIB + 1000);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let (backing, _) = random_backing(dir.path(), "dev.img", 8 * MIB, 25);
    let mut dev = LoopDevice::new(&backing);
    let err = copy_with(
        &image,
        &bmap,
        &dev.path,
        CopyOptions::default(),
        |event| match event {
            Event::Progress {
                phase: Phase::Writing,
                ..
            } => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        },
    )
    .expect_err("cancelled");
    assert!(matches!(err, CopyError::Cancelled { .. }), "{err}");
    assert!(err.to_string().contains("must be rewritten"), "{err}");
    assert!(read_at(&dev.path, 0, MIB as usize).iter().all(|&b| b == 0));

    // A checksum failure past the first MiB: the same guarantee.
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[3 * MIB as usize + 100] ^= 1;
    std::fs::write(&image, bytes).unwrap();
    blockprint([
        "copy",
        "--bmap",
        bmap_path.to_str().unwrap(),
        image.to_str().unwrap(),
        dev.name(),
    ])
    .fails_with(&["checksum mismatch for block 768", dev.name()]);
    dev.detach();
    assert!(read_at(&backing, 0, MIB as usize).iter().all(|&b| b == 0));
}

#[test]
fn small_blocks_on_a_4k_sector_device_go_through_read_modify_write() {
    require_root("a 4K-sector loop device");
    let dir = scratch();
    // A bmap with 512-byte blocks: every range start and the image end are unaligned for a
    // device with 4096-byte logical sectors.
    let size: u64 = 3 * MIB + 700;
    let image_bytes = random_bytes(26, size as usize);
    let image = dir.path().join("odd.img");
    std::fs::write(&image, &image_bytes).unwrap();
    let blocks = |first: u64, last: u64| {
        let (start, end) = (first * 512, ((last + 1) * 512).min(size));
        BlockRange {
            first,
            last,
            checksum: Some(ChecksumType::Sha256.digest(&image_bytes[start as usize..end as usize])),
        }
    };
    let ranges = vec![
        blocks(1, 2),
        blocks(9, 9),
        blocks(2047, 2049),
        blocks(2500, 2600),
        blocks(4000, 4100),
        blocks(6144, 6145),
    ];
    let bmap = Bmap::new(size, 512, ChecksumType::Sha256, ranges).unwrap();
    let bmap_path = dir.path().join("odd.bmap");
    std::fs::write(&bmap_path, bmap.to_xml()).unwrap();

    let (backing, before) = random_backing(dir.path(), "dev4k.img", 8 * MIB, 27);
    let mut dev = LoopDevice::with_sector_size(&backing, 4096);
    let name = dev.path.file_name().unwrap().to_str().unwrap().to_owned();
    let sector =
        std::fs::read_to_string(format!("/sys/block/{name}/queue/logical_block_size")).unwrap();
    assert_eq!(sector.trim(), "4096");
    blockprint([
        "-q",
        "copy",
        "--verify-readback",
        "--bmap",
        bmap_path.to_str().unwrap(),
        image.to_str().unwrap(),
        dev.name(),
    ])
    .ok();
    blockprint([
        "-q",
        "verify",
        "--bmap",
        bmap_path.to_str().unwrap(),
        dev.name(),
    ])
    .ok();
    dev.detach();
    assert_written(
        &std::fs::read(&backing).unwrap(),
        &before,
        &image_bytes,
        &bmap,
    );
}

#[test]
fn verify_reports_every_changed_range_on_a_device() {
    let dir = scratch();
    let (image, bmap_path, _) = sparse_image(dir.path(), 6 * MIB + 1000);
    let (backing, _) = random_backing(dir.path(), "dev.img", 8 * MIB, 28);
    let mut dev = LoopDevice::new(&backing);
    blockprint([
        "-q",
        "copy",
        "--bmap",
        bmap_path.to_str().unwrap(),
        image.to_str().unwrap(),
        dev.name(),
    ])
    .ok();
    let tamper = std::fs::OpenOptions::new()
        .write(true)
        .open(&backing)
        .unwrap();
    tamper.write_all_at(b"x", 5).unwrap();
    tamper.write_all_at(b"y", 3 * MIB).unwrap();
    tamper.sync_all().unwrap();
    let run = blockprint(["verify", "--bmap", bmap_path.to_str().unwrap(), dev.name()]);
    run.fails_with(&["2 of", &format!("'{}' do not match", dev.name())]);
    assert!(
        run.stderr.contains("mismatch in blocks range 0-1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("mismatch in block 768"),
        "{}",
        run.stderr
    );
    dev.detach();
}
