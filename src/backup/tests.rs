//! The backup of a real ext4 image (made by mke2fs, with deleted data in its free blocks), in
//! every format, decoded here and compared with the source; cancelled and failing backups.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::*;
use crate::progress::{Event, NoProgress};
use crate::scan::testing::{noise, run};
use crate::source::testing::names;
use crate::source::{LocalFile, Memory};

/// A 24 MiB ext4 image holding a few files, and the 2 MiB of random bytes of a deleted one
/// still in its free blocks.
fn ext4_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).expect("tree");
    std::fs::write(tree.join("etc/hostname"), b"pi\n").expect("file");
    std::fs::write(tree.join("kernel.img"), noise(1, 3 << 20)).expect("file");
    std::fs::write(tree.join("deleted.bin"), noise(2, 2 << 20)).expect("file");
    let image = dir.join("card.img");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(24 << 20))
        .expect("image");
    let (t, i) = (
        tree.to_str().expect("utf-8"),
        image.to_str().expect("utf-8"),
    );
    run("mke2fs", &["-q", "-F", "-t", "ext4", "-d", t, i]);
    run("debugfs", &["-w", "-R", "rm deleted.bin", i]);
    image
}

fn decode(format: Format, path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("open output");
    let mut out = Vec::new();
    let result = match format {
        Format::Raw => io::BufReader::new(file).read_to_end(&mut out),
        Format::Zstd => {
            zstd::stream::read::Decoder::new(file).and_then(|mut d| d.read_to_end(&mut out))
        }
        Format::Xz => liblzma::read::XzDecoder::new_multi_decoder(file).read_to_end(&mut out),
        Format::Gzip => flate2::read::MultiGzDecoder::new(file).read_to_end(&mut out),
    };
    result.expect("decode");
    out
}

#[test]
fn every_format_holds_the_used_blocks_and_zeros_with_a_matching_bmap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = ext4_image(dir.path());
    let source_bytes = std::fs::read(&image).expect("read image");
    let store = LocalFile::open(&image).expect("open");
    let scanned = scan::scan(&store);
    let free = scanned.free.total();
    assert!(free > 16 << 20, "the scan finds the free space: {free}");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("out");
    for format in [Format::Raw, Format::Zstd, Format::Xz, Format::Gzip] {
        let out = out_dir.join(format!("card.{}", format.name()));
        let options = BackupOptions {
            threads: 2,
            ..BackupOptions::default()
        };
        let report = backup(
            &store,
            &out,
            format,
            options,
            &mut NoProgress,
            &CancelToken::new(),
        )
        .expect("backup");
        assert_eq!(report.used_bytes, source_bytes.len() as u64 - free);
        assert_eq!(
            report.read_bytes, report.used_bytes,
            "{format}: only the used blocks are read"
        );
        let restored = decode(format, &out);
        assert_eq!(restored.len(), source_bytes.len(), "{format}");
        let bmap = Bmap::from_file(&report.bmap).expect("bmap");
        assert_eq!(bmap.mapped_bytes(), report.used_bytes);
        let mut mapped = vec![false; source_bytes.len()];
        for range in bmap.ranges() {
            let (start, end) = bmap.byte_span(&range);
            let (s, e) = (start as usize, end as usize);
            mapped[s..e].fill(true);
            assert_eq!(
                restored[s..e],
                source_bytes[s..e],
                "{format}: range {range}"
            );
            let digest = range.checksum.as_ref().expect("a checksum");
            assert_eq!(*digest, ChecksumType::Sha256.digest(&source_bytes[s..e]));
        }
        let expected_free = scanned.free.as_slice();
        let bmap_free: Vec<(u64, u64)> = bmap.ranges().iter().map(|r| bmap.byte_span(&r)).collect();
        assert_eq!(
            crate::scan::Ranges::from_iter(bmap_free)
                .complement(bmap.image_size())
                .as_slice(),
            expected_free,
            "{format}: the bmap maps what the scan maps"
        );
        assert!(
            restored.iter().zip(&mapped).all(|(&b, &m)| m || b == 0),
            "{format}: free blocks are zeros"
        );
        assert!(
            report.output_allocated < source_bytes.len() as u64 / 2,
            "{format}"
        );
    }
    assert_eq!(
        names(&out_dir),
        [
            "card.gz",
            "card.gz.bmap",
            "card.raw",
            "card.raw.bmap",
            "card.xz",
            "card.xz.bmap",
            "card.zst",
            "card.zst.bmap"
        ]
    );
}

#[test]
fn a_cancelled_backup_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = ext4_image(dir.path());
    let store = LocalFile::open(&image).expect("open");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("out");
    let mut stop = |event: &Event| match event {
        Event::Progress {
            phase: Phase::Hashing,
            ..
        } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let out = out_dir.join("card.img.zst");
    let result = backup(
        &store,
        &out,
        Format::Zstd,
        BackupOptions::default(),
        &mut stop,
        &CancelToken::new(),
    );
    assert!(matches!(result, Err(BackupError::Cancelled)), "{result:?}");
    assert!(names(&out_dir).is_empty(), "{:?}", names(&out_dir));
}

/// A source whose reads fail from an offset on, as a failing card's do.
struct Failing {
    inner: Memory,
    from: u64,
}

impl RandomAccess for Failing {
    fn name(&self) -> &str {
        "/dev/failing"
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset + buf.len() as u64 > self.from {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.read_exact_at(offset, buf)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        self.inner.stream(offset, len)
    }
}

#[test]
fn a_failing_source_names_the_block_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = ext4_image(dir.path());
    let bytes = std::fs::read(&image).expect("read");
    let report = scan::scan(&Memory::new(&bytes, "card"));
    // A block well inside the last used range: the metadata before it reads.
    let &(start, end) = report
        .free
        .complement(bytes.len() as u64)
        .as_slice()
        .iter()
        .rev()
        .find(|(s, e)| e - s > 64 * 1024)
        .expect("a large used range");
    let from = (start + end) / 2 / BLOCK * BLOCK + 512;
    let failing = Failing {
        inner: Memory::new(&bytes, "card"),
        from,
    };
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("out");
    let result = backup(
        &failing,
        &out_dir.join("card.img.xz"),
        Format::Xz,
        BackupOptions::default(),
        &mut NoProgress,
        &CancelToken::new(),
    );
    match result {
        Err(e @ BackupError::Read { .. }) => {
            let text = e.to_string();
            let at = from / BLOCK * BLOCK;
            assert!(
                text.contains(&format!("'/dev/failing' at offset {at}")),
                "{text}"
            );
        }
        other => panic!("expected a read error: {other:?}"),
    }
    assert!(names(&out_dir).is_empty(), "{:?}", names(&out_dir));
}

#[test]
fn an_empty_source_and_a_bad_level_are_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.img.gz");
    let result = backup(
        &Memory::new(&[], "empty"),
        &out,
        Format::Gzip,
        BackupOptions::default(),
        &mut NoProgress,
        &CancelToken::new(),
    );
    assert!(
        matches!(result, Err(BackupError::Empty { .. })),
        "{result:?}"
    );
    let options = BackupOptions {
        level: Some(12),
        ..BackupOptions::default()
    };
    let result = backup(
        &Memory::new(&[1; 8192], "data"),
        &out,
        Format::Gzip,
        options,
        &mut NoProgress,
        &CancelToken::new(),
    );
    let error = result.expect_err("level 12");
    assert_eq!(
        error.to_string(),
        "gzip has no compression level 12; choose one from 1 to 9"
    );
    assert!(names(dir.path()).is_empty());
}

#[test]
fn formats_follow_the_name_and_parse() {
    assert_eq!(Format::from_path(Path::new("card.img.zst")), Format::Zstd);
    assert_eq!(Format::from_path(Path::new("card.img.xz")), Format::Xz);
    assert_eq!(Format::from_path(Path::new("card.img.gz")), Format::Gzip);
    assert_eq!(Format::from_path(Path::new("card.img")), Format::Raw);
    assert_eq!("zst".parse::<Format>(), Ok(Format::Zstd));
    assert_eq!("GZIP".parse::<Format>(), Ok(Format::Gzip));
    assert!("bz2".parse::<Format>().is_err());
}
