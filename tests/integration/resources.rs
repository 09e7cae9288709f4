//! Bounded resources: the peak memory of copying a 4 GiB image in every format, and no file
//! descriptor or thread left behind by many copies in one process (the desktop app writes
//! several cards in one session).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use blockprint::bmap::Bmap;
use blockprint::copy::{CopyOptions, copy};
use blockprint::progress::{CancelToken, NoProgress};
use blockprint::source::{Input, Opener};
use blockprint::target::{Target, TargetOptions};

use crate::harness::support::{create_bmap, random_bytes, require_tool, scratch, sh};

const MIB: u64 = 1 << 20;
/// The image is this piece, 64 times over: 4 GiB.
const PIECE: u64 = 64 * MIB;
const PIECES: u64 = 64;
/// The bound on peak RSS, in bytes.
const MAX_RSS: u64 = 256 * MIB;

/// One 64 MiB piece: random data at its start and middle, zeros elsewhere (as a filesystem
/// image has).
fn piece() -> Vec<u8> {
    let mut piece = vec![0u8; PIECE as usize];
    piece[..MIB as usize].copy_from_slice(&random_bytes(11, MIB as usize));
    let mid = (PIECE / 2) as usize;
    piece[mid..mid + 65536].copy_from_slice(&random_bytes(12, 65536));
    piece
}

/// Runs a shell pipeline, asserting success.
fn shell(script: &str) {
    sh("sh", &["-c", script]);
}

/// The 4 GiB image (sparse), its bmap, and the image in every compressed format: each made
/// by compressing one piece and concatenating 64 copies, which every decoder reads as one
/// stream (lzop and zip, which are not concatenated so, are made from the sparse image).
fn images(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let piece = piece();
    let raw = dir.join("image.img");
    let file = std::fs::File::create(&raw).unwrap();
    file.set_len(PIECE * PIECES).unwrap();
    for k in 0..PIECES {
        for (start, len) in [(0, MIB), (PIECE / 2, 65536)] {
            let at = start as usize;
            file.write_all_at(&piece[at..at + len as usize], k * PIECE + start)
                .unwrap();
        }
    }
    drop(file);
    let bmap = dir.join("image.img.bmap");
    create_bmap(&raw, &bmap);
    let one = dir.join("piece");
    std::fs::write(&one, &piece).unwrap();
    let mut all = vec![raw.clone()];
    let compressors = [
        ("gz", "gzip -1 -c"),
        ("xz", "xz -0 -T2 --block-size=16MiB -c"),
        ("bz2", "bzip2 -1 -c"),
        ("zst", "zstd -1 -q -c"),
        ("lz4", "lz4 -1 -q -c"),
    ];
    for (ext, command) in compressors {
        require_tool(command.split(' ').next().unwrap());
        let compressed = dir.join(format!("piece.{ext}"));
        shell(&format!(
            "{command} {} > {}",
            one.display(),
            compressed.display()
        ));
        let image = dir.join(format!("image.img.{ext}"));
        let copies = vec![compressed.display().to_string(); PIECES as usize].join(" ");
        shell(&format!("cat {copies} > {}", image.display()));
        all.push(image);
    }
    // lzop reads concatenated files as a "multipart archive", not as one stream.
    require_tool("lzop");
    let lzo = dir.join("image.img.lzo");
    shell(&format!("lzop -1 -c {} > {}", raw.display(), lzo.display()));
    all.push(lzo);
    require_tool("zip");
    let zip = dir.join("image.zip");
    shell(&format!(
        "cd {} && zip -q -1 {} image.img",
        dir.display(),
        zip.display()
    ));
    all.push(zip);
    (bmap, all)
}

/// Runs blockprint under GNU time; returns its exit code, peak RSS in bytes and stderr.
/// (Not `wait4` on our own child: a child spawned by this large test process inherits the
/// high-water mark of the address space it was forked from, which exec does not reset.)
fn run_measured(args: &[&str], dir: &Path) -> (i32, u64, String) {
    require_tool("/usr/bin/time");
    let report = dir.join("rss");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_blockprint"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    std::fs::remove_file(&report).unwrap();
    (
        out.status.code().unwrap_or(-1),
        kib * 1024,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_4_gib_image_in_every_format_is_copied_within_256_mb() {
    let dir = scratch();
    let (bmap, images) = images(dir.path());
    let out = dir.path().join("out.img");
    // Every format with its bmap, and the multi-block xz without one too: its filesystems are
    // then scanned first, decoding single blocks, while the copy's multi-threaded decoder has
    // started, within the same bound.
    // (In a folder of its own, where no bmap is found next to it.)
    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    let xz = images
        .iter()
        .find(|i| i.extension().is_some_and(|e| e == "xz"));
    let xz_alone = xz.map(|xz| {
        let path = alone.join("disk.img.xz");
        std::fs::hard_link(xz, &path).unwrap();
        path
    });
    let runs = images
        .iter()
        .map(|image| (image, true))
        .chain(xz_alone.iter().map(|image| (image, false)));
    for (image, with_bmap) in runs {
        let name = image.file_name().unwrap().to_str().unwrap();
        let mut args = vec!["copy", image.to_str().unwrap(), out.to_str().unwrap()];
        if with_bmap {
            args.splice(1..1, ["--bmap", bmap.to_str().unwrap()]);
        }
        let (code, rss, stderr) = run_measured(&args, dir.path());
        if !with_bmap {
            assert!(
                stderr.contains("has no bmap: its filesystems use"),
                "{name}: {stderr}"
            );
        }
        assert_eq!(code, 0, "{name}: {stderr}");
        println!("{name}: peak RSS {} MiB", rss / MIB);
        assert!(rss <= MAX_RSS, "{name}: peak RSS {rss} bytes");
        // Only the image's mapped bytes were written, nothing else was left in the folder.
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{name}: left {leftovers:?}");
        std::fs::remove_file(&out).unwrap();
    }
}

/// Descriptors of this process open on files under `dir`.
fn descriptors_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}

/// Threads of this process that this thread started (directly or not): a thread's name is
/// inherited from the thread that made it unless it is given one, and the test harness
/// names this thread after the test.
fn threads_like_this_one() -> usize {
    let me = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| *comm == me)
        .count()
}

#[test]
fn many_copies_in_one_process_leave_no_descriptors_or_threads() {
    let dir = scratch();
    let d = dir.path();
    let image = d.join("small.img");
    let file = std::fs::File::create(&image).unwrap();
    file.set_len(24 * MIB).unwrap();
    file.write_all_at(&random_bytes(21, 3 * MIB as usize), MIB)
        .unwrap();
    file.write_all_at(&random_bytes(22, MIB as usize), 20 * MIB)
        .unwrap();
    drop(file);
    let bmap_path = d.join("small.bmap");
    create_bmap(&image, &bmap_path);
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    let mut sources = vec![image.clone()];
    for (ext, command) in [
        ("gz", "gzip -1 -k"),
        ("xz", "xz -0 -T2 -k"),
        ("zst", "zstd -q -k"),
    ] {
        shell(&format!("{command} {}", image.display()));
        sources.push(d.join(format!("small.img.{ext}")));
    }
    let threads = threads_like_this_one();
    let opener = Opener::new();
    for round in 0..5 {
        for source in &sources {
            let input = Input::parse(source.to_str().unwrap()).unwrap();
            let mut opened = opener.open(&input).unwrap();
            let out = d.join("out.img");
            let mut target = Target::open(&out, &TargetOptions::default()).unwrap();
            let options = CopyOptions {
                verify_readback: round % 2 == 1,
                ..CopyOptions::default()
            };
            copy(
                &mut *opened.source,
                Some(&bmap),
                &mut target,
                &options,
                &mut NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
            drop((opened, target));
            assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
            assert_eq!(descriptors_under(d), Vec::<PathBuf>::new(), "round {round}");
            assert_eq!(
                threads_like_this_one(),
                threads,
                "round {round}: {source:?}"
            );
        }
    }
}
