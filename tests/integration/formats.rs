//! Every compression and archive format, made by the real tools (tests/data/make-formats.sh):
//! copied bit-exact to a file and to a loop device, found by content when renamed, with and
//! without a bmap, and refused quickly and clearly when truncated or damaged.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use blockprint::bmap::Bmap;

use crate::harness::support::{
    LoopDevice, assert_written, blockprint_with, random_bytes, sparse_image,
};

/// Each fixture and the format name its errors must mention.
const FORMATS: &[(&str, &str)] = &[
    ("image.img.gz", "gzip"),
    ("image.img.xz", "xz"),
    ("image.img.bz2", "bzip2"),
    ("image.img.zst", "zstd"),
    ("image.img.lz4", "lz4"),
    ("image.img.lzo", "lzop"),
    ("image.zip", "zip"),
    ("image.tar", "tar"),
    ("image.tar.gz", "gzip"),
    ("image.tar.bz2", "bzip2"),
    ("image.tar.xz", "xz"),
    ("image.tar.zst", "zstd"),
    ("image.tar.lz4", "lz4"),
];

/// A hang on bad input fails the test rather than CI.
const LIMIT: Duration = Duration::from_secs(30);

pub struct Fixtures {
    dir: PathBuf,
    pub content: Vec<u8>,
    pub bmap: Bmap,
}

impl Fixtures {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn bmap_path(&self) -> PathBuf {
        self.dir.join("image.bmap")
    }
}

/// The image (with holes, written zero blocks and a partial last block) and its formats,
/// made once per test run.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("formats");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (image, bmap, content) = sparse_image(&dir, (4 << 20) + 1000);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make-formats.sh");
        let status = std::process::Command::new(&script)
            .args([&image, &bmap, &dir])
            .status()
            .expect("run make-formats.sh");
        assert!(
            status.success(),
            "make-formats.sh failed; run build-aux/install-deps"
        );
        // Named so bmaptool's discovery finds it for every fixture (image.*.bmap → image.bmap).
        std::fs::rename(&bmap, dir.join("image.bmap")).unwrap();
        std::fs::remove_file(&image).unwrap();
        Fixtures {
            bmap: Bmap::from_file(&dir.join("image.bmap")).unwrap(),
            dir,
            content,
        }
    })
}

fn copy(args: &[&str]) -> crate::harness::support::Run {
    let mut all = vec!["copy"];
    all.extend(args);
    blockprint_with(all, &[], None, LIMIT)
}

#[test]
fn every_format_copies_bit_exact_with_a_discovered_bmap() {
    let f = fixtures();
    let out = tempfile::tempdir().unwrap();
    for (name, format) in FORMATS {
        let dest = out.path().join(format!("{name}.out"));
        let run = copy(&[f.path(name).to_str().unwrap(), dest.to_str().unwrap()]);
        let stderr = run.ok();
        assert!(stderr.contains("discovered bmap file"), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("is {format}")),
            "{name}: layers not reported: {stderr}"
        );
        assert!(std::fs::read(&dest).unwrap() == f.content, "{name} differs");
    }
}

#[test]
fn formats_are_told_by_content_not_by_name() {
    let f = fixtures();
    let out = tempfile::tempdir().unwrap();
    for (name, _) in FORMATS {
        let renamed = out.path().join(format!("{}-noext", name.replace('.', "-")));
        std::fs::copy(f.path(name), &renamed).unwrap();
        let dest = out.path().join("out");
        copy(&[
            "-q",
            "--bmap",
            f.bmap_path().to_str().unwrap(),
            renamed.to_str().unwrap(),
            dest.to_str().unwrap(),
        ])
        .ok();
        assert!(
            std::fs::read(&dest).unwrap() == f.content,
            "{name} renamed differs"
        );
    }
}

#[test]
fn every_format_copies_without_a_bmap() {
    let f = fixtures();
    let out = tempfile::tempdir().unwrap();
    for (name, _) in FORMATS {
        let dest = out.path().join("out");
        let run = copy(&[
            "--nobmap",
            f.path(name).to_str().unwrap(),
            dest.to_str().unwrap(),
        ]);
        run.ok();
        assert!(
            std::fs::read(&dest).unwrap() == f.content,
            "{name} without a bmap differs"
        );
    }
}

#[test]
fn every_format_onto_a_loop_device_with_read_back() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("dev.img");
    let before = random_bytes(31, 8 << 20);
    for (name, _) in FORMATS {
        std::fs::write(&backing, &before).unwrap();
        let mut dev = LoopDevice::new(&backing);
        copy(&[
            "-q",
            "--verify-readback",
            f.path(name).to_str().unwrap(),
            dev.name(),
        ])
        .ok();
        dev.detach();
        let written = std::fs::read(&backing).unwrap();
        assert_written(&written, &before, &f.content, &f.bmap);
    }
}

#[test]
fn truncated_and_damaged_variants_fail_fast_clearly_and_leave_nothing() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let bmap = f.bmap_path();
    for (name, format) in FORMATS {
        let original = std::fs::read(f.path(name)).unwrap();
        let mut cut = original.clone();
        cut.truncate(original.len() * 3 / 5);
        // Damage mapped data: where a container stores the image as is (tar), a flip in a hole
        // of the image changes nothing that is written, and is rightly not an error.
        let mapped = &f.content[950 << 10..(950 << 10) + 32];
        let at = original
            .windows(mapped.len())
            .position(|w| w == mapped)
            .unwrap_or(original.len() / 2);
        let mut flipped = original.clone();
        for byte in &mut flipped[at..at + 16] {
            *byte ^= 0xA5;
        }
        for (what, bytes) in [("truncated", cut), ("damaged", flipped)] {
            let bad = dir.path().join(format!("{what}-{name}"));
            std::fs::write(&bad, bytes).unwrap();
            let dest = dir.path().join("out");
            let run = copy(&[
                "--bmap",
                bmap.to_str().unwrap(),
                bad.to_str().unwrap(),
                dest.to_str().unwrap(),
            ]);
            // The line names the file; the destination was written unnamed, and vanished.
            let line = run.fails_with(&[&format!("{what}-{name}")]);
            assert!(!dest.exists(), "{what} {name}: a destination was left");
            // The format's own check, or the bmap's checksum of what was decoded.
            assert!(
                line.contains(&format!("{format} "))
                    || line.contains("checksum mismatch")
                    || line.contains("ends at offset"),
                "{what} {name}: {line}"
            );
            // Issue 23, finding 6: where the end can be checked without decoding (xz's index,
            // zip's central directory, tar's members, a local gzip's ISIZE), a cut file is refused as incomplete
            // when it is opened, not part-way through the write.
            let checkable = [
                "image.img.xz",
                "image.img.gz",
                "image.zip",
                "image.tar",
                "image.tar.xz",
            ];
            if what == "truncated" && checkable.contains(name) {
                assert!(
                    line.contains(&format!("{format} file '"))
                        && line.contains("is incomplete (it ends")
                        && line.ends_with("; download it again"),
                    "{name}: {line}"
                );
            }
        }
    }
}

#[test]
fn legacy_lz4_is_refused_by_name() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("image.img.lz4");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc {} | lz4 -l -q -c > {}",
            f.path("image.img.xz").display(),
            legacy.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    copy(&[
        "--bmap",
        f.bmap_path().to_str().unwrap(),
        legacy.to_str().unwrap(),
        "/dev/null",
    ])
    .fails_with(&["legacy lz4", "not supported"]);
}

#[test]
fn standard_input_compressed_and_raw() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let bmap = f.bmap_path();
    for name in ["image.img.xz", "image.tar.gz", "image.zip"] {
        let run = blockprint_with(
            [
                "copy",
                "--bmap",
                bmap.to_str().unwrap(),
                "-",
                dest.to_str().unwrap(),
            ],
            &[],
            Some(&f.path(name)),
            LIMIT,
        );
        run.ok();
        assert!(
            std::fs::read(&dest).unwrap() == f.content,
            "{name} from stdin differs"
        );
    }
    // No bmap, size unknown until the end.
    let run = blockprint_with(
        ["copy", "--nobmap", "-", dest.to_str().unwrap()],
        &[],
        Some(&f.path("image.img.zst")),
        LIMIT,
    );
    assert!(run.ok().contains("known only at its end"), "{}", run.stderr);
    assert!(std::fs::read(&dest).unwrap() == f.content);
    // Nothing can be discovered next to standard input: its filesystems are read as it
    // passes (this image has none that leave anything out).
    let run = blockprint_with(
        ["copy", "-", dest.to_str().unwrap()],
        &[],
        Some(&f.path("image.img.gz")),
        LIMIT,
    );
    assert!(run.ok().contains("read as it passes"), "{}", run.stderr);
    assert!(std::fs::read(&dest).unwrap() == f.content);
    // An empty stream writes nothing.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let untouched = dir.path().join("untouched");
    blockprint_with(
        ["copy", "--nobmap", "-", untouched.to_str().unwrap()],
        &[],
        Some(&empty),
        LIMIT,
    )
    .fails_with(&["is empty"]);
}

/// An archive holding one file is written whatever the file's name, as the README promises:
/// tar and zip, each read at offsets (a local file) and as a stream (compressed, or stdin),
/// for a small file (held while the stream is read on) and a large one (taken at once, the
/// rest of the archive checked).
#[test]
fn an_archive_of_one_file_of_any_name_is_its_image() {
    let dir = tempfile::tempdir().unwrap();
    for len in [1 << 20, 20 << 20] {
        let content = random_bytes(len as u64, len);
        std::fs::write(dir.path().join("img"), &content).unwrap();
        crate::harness::support::sh(
            "sh",
            &[
                "-c",
                &format!(
                    "cd {} && rm -f img.tar img.tar.gz img.zip && tar cf img.tar img && \
                     tar czf img.tar.gz img && zip -q img.zip img",
                    dir.path().display()
                ),
            ],
        );
        for (archive, stdin) in [
            ("img.tar", false),
            ("img.tar.gz", false),
            ("img.tar", true),
            ("img.zip", false),
            ("img.zip", true),
        ] {
            let path = dir.path().join(archive);
            let dest = dir.path().join("out.img");
            let source = if stdin { "-" } else { path.to_str().unwrap() };
            let run = blockprint_with(
                ["copy", "--nobmap", source, dest.to_str().unwrap()],
                &[],
                stdin.then_some(path.as_path()),
                LIMIT,
            );
            run.ok();
            assert!(
                std::fs::read(&dest).unwrap() == content,
                "{archive} (stdin: {stdin}, {len} bytes) differs"
            );
        }
    }
    // A second file makes a file not named like an image no image at all.
    std::fs::write(dir.path().join("notes"), b"notes\n").unwrap();
    crate::harness::support::sh(
        "sh",
        &[
            "-c",
            &format!(
                "cd {} && tar czf two.tar.gz img notes",
                dir.path().display()
            ),
        ],
    );
    let dest = dir.path().join("out.img");
    copy(&[
        "--nobmap",
        dir.path().join("two.tar.gz").to_str().unwrap(),
        dest.to_str().unwrap(),
    ])
    .fails_with(&["two.tar.gz", "'img', 'notes'", "extract the image"]);
}
