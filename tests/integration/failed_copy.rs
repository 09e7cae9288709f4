//! A copy that fails or is cancelled once it has planted its sentinels (the self-identifying
//! blocks it writes where the image puts nothing) puts back what they overwrote: on a real
//! loop device filled with random bytes, every byte outside the image's ranges is as it was
//! afterwards (the wiped first and last MiB aside), and the sentinels' magic is nowhere on it.

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blockprint::bmap::Bmap;
use blockprint::copy::{CopyError, CopyOptions, copy};
use blockprint::progress::{CancelToken, Event, Phase};
use blockprint::source::{Input, Opener};
use blockprint::target::{Target, TargetOptions};

use crate::harness::support::{LoopDevice, create_bmap, random_bytes, require_tool, scratch, sh};

const MIB: u64 = 1 << 20;
/// The device: larger than the image, so sentinels go past its end too.
const DEVICE: u64 = 40 * MIB;
/// What every sentinel starts with (`src/copy/sentinel.rs`).
const MAGIC: &[u8] = b"BLOCKPRINT-SNTL";

/// Ranges of the image written before its last one: more than the copy's buffers (14), so
/// the image cannot be read to its last range before the device has written one of them,
/// which it does only once its sentinels are planted.
const SMALL_RANGES: u64 = 20;

/// A sparse 24 MiB image: random data in its first 64 KiB, in 64 KiB every 512 KiB from 2 MiB
/// on ([`SMALL_RANGES`] of them) and at 16-20 MiB, holes between, where the sentinels go; and
/// its bmap.
fn image(dir: &Path) -> (PathBuf, PathBuf) {
    let path = dir.join("image.img");
    let file = File::create(&path).unwrap();
    file.set_len(24 * MIB).unwrap();
    let small = (0..SMALL_RANGES).map(|i| (70 + i, 2 * MIB + i * (512 << 10), 64 << 10));
    for (seed, at, len) in [(61, 0, 64 << 10), (62, 16 * MIB, 4 * MIB)]
        .into_iter()
        .chain(small)
    {
        file.write_all_at(&random_bytes(seed, len as usize), at)
            .unwrap();
    }
    drop(file);
    let bmap = dir.join("image.bmap");
    create_bmap(&path, &bmap);
    (path, bmap)
}

/// How often the magic appears in `bytes`, anywhere.
fn magic_count(bytes: &[u8]) -> usize {
    bytes.windows(MAGIC.len()).filter(|w| *w == MAGIC).count()
}

/// Copies `image` (opened as the CLI opens it: decompressed if it is) with `bmap` onto
/// `device`, cancelling when writing starts if `cancel`. Returns the error, and how many
/// sentinels were on the device (read through `backing`) when writing started.
fn failing_copy(
    image: &Path,
    bmap: &Bmap,
    device: &Path,
    backing: &Path,
    cancel: bool,
) -> (CopyError, usize) {
    let mut source = Opener::new()
        .open(&Input::Path(image.to_path_buf()))
        .unwrap()
        .source;
    let mut target = Target::open(device, &TargetOptions::default()).unwrap();
    let mut planted = 0;
    let mut sink = |event: &Event| {
        if let Event::PhaseStarted {
            phase: Phase::Writing,
            ..
        } = event
        {
            // The lane starts writing once every sentinel is on the device.
            planted = magic_count(&std::fs::read(backing).unwrap());
            if cancel {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let options = CopyOptions::default();
    let result = copy(
        &mut *source,
        Some(bmap),
        &mut target,
        &options,
        &mut sink,
        &CancelToken::new(),
    );
    (result.expect_err("the copy must fail"), planted)
}

/// Every byte of `device` outside the image's ranges (`bmap`) and the wiped ends is what
/// `before` holds; the first MiB (held back, never written) is zero; no sentinel is left.
#[track_caller]
fn assert_as_it_was(what: &str, device: &[u8], before: &[u8], bmap: &Bmap) {
    let mut mapped = vec![false; device.len()];
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        mapped[start as usize..end as usize].fill(true);
    }
    let (head, tail) = (MIB as usize, device.len() - MIB as usize);
    assert!(
        device[..head].iter().all(|&b| b == 0),
        "{what}: the first MiB was written"
    );
    let changed = (head..tail).find(|&i| !mapped[i] && device[i] != before[i]);
    assert_eq!(changed, None, "{what}: a byte outside the image changed");
    assert_eq!(magic_count(device), 0, "{what}: a sentinel was left");
}

#[test]
fn a_failed_or_cancelled_copy_puts_back_what_its_sentinels_overwrote() {
    require_tool("gzip");
    let dir = scratch();
    let (raw, bmap_path) = image(dir.path());
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    assert_eq!(bmap.ranges().len() as u64, SMALL_RANGES + 2);
    // The same image gzipped and cut inside its last range (the random data is most of it).
    sh("gzip", &["-k", raw.to_str().unwrap()]);
    let gz = dir.path().join("image.img.gz");
    let compressed = std::fs::read(&gz).unwrap();
    let cut = dir.path().join("cut.img.gz");
    std::fs::write(&cut, &compressed[..compressed.len() * 4 / 5]).unwrap();
    // The image with a byte of its last range changed after its bmap was made.
    let mut bytes = std::fs::read(&raw).unwrap();
    bytes[18 * MIB as usize] ^= 1;
    let damaged = dir.path().join("damaged.img");
    std::fs::write(&damaged, bytes).unwrap();

    for (what, image, cancel) in [
        ("a checksum mismatch", &damaged, false),
        ("a gzip image cut short", &cut, false),
        ("a cancelled copy", &raw, true),
    ] {
        let backing = dir.path().join("dev.img");
        let before = random_bytes(64, DEVICE as usize);
        std::fs::write(&backing, &before).unwrap();
        let mut dev = LoopDevice::new(&backing);
        let (error, planted) = failing_copy(image, &bmap, &dev.path, &backing, cancel);
        dev.detach();
        match what {
            "a checksum mismatch" => {
                assert!(matches!(error, CopyError::Checksum { .. }), "{error}")
            }
            "a cancelled copy" => assert!(matches!(error, CopyError::Cancelled { .. }), "{error}"),
            _ => assert!(
                matches!(error, CopyError::Read { .. } | CopyError::Truncated { .. }),
                "{what}: {error}"
            ),
        }
        assert!(planted > 1, "{what}: {planted} sentinels were planted");
        let device = std::fs::read(&backing).unwrap();
        assert_as_it_was(what, &device, &before, &bmap);
        eprintln!("{what}: {planted} sentinels planted, all taken back ({error})");
    }
}
