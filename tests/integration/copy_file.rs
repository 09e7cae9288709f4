//! `blockprint copy` to regular files: every upstream vector bit-exact, bad inputs refused
//! with one clear line before anything is created, and the CLI's options.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::harness::support::{blockprint, rechecksum, scratch, unpack, vectors};

fn vector(name: &str) -> String {
    vectors().join(name).display().to_string()
}

#[test]
fn every_upstream_vector_copies_bit_exact_and_sparse() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let expected = std::fs::read(&image).expect("read image");
    for version in ["1.2", "1.3", "1.4", "2.0"] {
        let out = dir.path().join(format!("out-{version}"));
        let bmap = vector(&format!("test.image.bmap.v{version}"));
        let run = blockprint([
            "copy",
            "--bmap",
            &bmap,
            image.to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        let stderr = run.ok();
        assert!(
            stderr.contains("48 of 48 ranges verified"),
            "{version}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("block map format version {version}")),
            "{stderr}"
        );
        assert!(
            stderr.contains("mapped 117 blocks (468.0 KiB or 58.2%)"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(&out).expect("read out"),
            expected,
            "v{version} differs"
        );
        // Holes stay holes: about the 117 mapped blocks are allocated, not all 201.
        let allocated = std::fs::metadata(&out).expect("stat").blocks() * 512;
        assert!(
            allocated <= 117 * 4096 + 64 * 1024,
            "v{version}: {allocated} bytes allocated"
        );
    }
}

#[test]
fn partial_last_block_and_no_checksum_bmaps() {
    let dir = scratch();
    let image = unpack("partial.img.gz", dir.path(), "partial.img");
    std::fs::copy(
        vectors().join("partial.img.bmap"),
        dir.path().join("partial.img.bmap"),
    )
    .unwrap();
    let expected = std::fs::read(&image).unwrap();
    let out = dir.path().join("out");
    // The bmap is found next to the image, as bmaptool finds it.
    let stderr = blockprint(["copy", image.to_str().unwrap(), out.to_str().unwrap()])
        .ok()
        .to_owned();
    assert!(stderr.contains("discovered bmap file"), "{stderr}");
    assert!(stderr.contains("3 of 3 ranges verified"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), expected);

    let bare = vector("partial.img.nochecksum.bmap");
    let stderr = blockprint([
        "copy",
        "--bmap",
        &bare,
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .ok()
    .to_owned();
    assert!(
        stderr.contains("3 ranges of the bmap have no checksum"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), expected);
}

#[test]
fn nobmap_copies_every_byte() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let out = dir.path().join("out");
    let stderr = blockprint([
        "copy",
        "--nobmap",
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .ok()
    .to_owned();
    assert!(stderr.contains("without a bmap"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
}

#[test]
fn format_1_2_range_checksums_are_verified() {
    // bmaptool 3.x ignores the sha1 attributes of format 1.2; a writer must not.
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let text = std::fs::read_to_string(vectors().join("test.image.bmap.v1.2")).unwrap();
    let bad = text.replacen(
        "94789636db14cdb8929133e7b8d3a158837e2e5a",
        "0000000000000000000000000000000000000000",
        1,
    );
    assert_ne!(bad, text);
    let bmap = dir.path().join("bad.bmap");
    std::fs::write(&bmap, bad).unwrap();
    let out = dir.path().join("out");
    blockprint([
        "copy",
        "--bmap",
        bmap.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .fails_with(&[
        "checksum mismatch for blocks range 0-1",
        "should be 0000000000000000000000000000000000000000",
        "test.image",
    ]);
}

/// Writes `text` as a bmap into `dir` and returns its path.
fn bmap_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn bad_inputs_fail_with_one_line_and_create_nothing() {
    let dir = scratch();
    let d = dir.path();
    let image = unpack("test.image.gz", d, "test.image");
    let image = image.to_str().unwrap();
    let v20 = std::fs::read_to_string(vectors().join("test.image.bmap.v2.0")).unwrap();

    let tampered = bmap_file(
        d,
        "tampered.bmap",
        &v20.replacen("> 198-199 <", "> 197-199 <", 1),
    );
    let v3 = bmap_file(
        d,
        "v3.bmap",
        &rechecksum(&v20.replacen(r#"version="2.0""#, r#"version="3.0""#, 1)),
    );
    let past_end = bmap_file(
        d,
        "past-end.bmap",
        &rechecksum(
            &v20.replacen("> 198-199 <", "> 198-201 <", 1)
                .replacen("> 117 <", "> 119 <", 1),
        ),
    );
    let truncated = d.join("truncated.image");
    std::fs::write(&truncated, &std::fs::read(image).unwrap()[..500_000]).unwrap();
    let good = vector("test.image.bmap.v2.0");
    let empty = d.join("empty.img");
    std::fs::write(&empty, b"").unwrap();

    let dest = d.join("never-created");
    let dest = dest.to_str().unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["copy", "--bmap", &tampered, image, dest],
            vec![
                "tampered.bmap",
                "checksum mismatch for the bmap file itself",
            ],
        ),
        (
            vec!["copy", "--bmap", &v3, image, dest],
            vec![
                "v3.bmap",
                "bmap format version 3.0 is not supported (up to 2.x)",
            ],
        ),
        (
            vec!["copy", "--bmap", &past_end, image, dest],
            vec![
                "past-end.bmap",
                "range 198-201 goes past the end of the image (201 blocks)",
            ],
        ),
        (
            vec!["copy", "--bmap", &good, truncated.to_str().unwrap(), dest],
            vec![
                "truncated.image",
                "has 500000 bytes but its bmap describes an image of 821752 bytes",
            ],
        ),
        (
            vec!["copy", "--bmap", &good, "/nonexistent/x.img", dest],
            vec!["cannot open image '/nonexistent/x.img'", "No such file"],
        ),
        (
            vec!["copy", "--require-signature", image, dest],
            vec![
                "no bmap file found for image",
                "test.image.bmap",
                "--require-signature refuses an image without a signed bmap",
            ],
        ),
        (
            vec!["copy", "--bmap", image, image, dest],
            vec!["is the image itself"],
        ),
        (
            vec![
                "copy",
                "--bmap",
                &good,
                image,
                "/dev/blockprint-no-such-disk",
            ],
            vec!["'/dev/blockprint-no-such-disk' does not exist", "lsblk"],
        ),
        (
            vec!["copy", "--bmap", &good, image, d.to_str().unwrap()],
            vec!["is a directory"],
        ),
        (
            vec!["copy", "--bmap", &good, image, "/dev/zero"],
            vec!["'/dev/zero' is a character device"],
        ),
    ];
    for (args, needles) in cases {
        blockprint(&args).fails_with(&needles);
        assert!(
            !Path::new(dest).exists(),
            "{args:?} created the destination"
        );
    }

    // The image as destination: refused, and the image is left as it was.
    let before = std::fs::read(image).unwrap();
    blockprint(["copy", "--bmap", &good, image, image]).fails_with(&["is the same file as"]);
    assert_eq!(std::fs::read(image).unwrap(), before);

    // An existing destination is not touched by a refused copy.
    let keep = d.join("keep");
    std::fs::write(&keep, b"precious").unwrap();
    blockprint(["copy", "--bmap", &v3, image, keep.to_str().unwrap()]).fails_with(&["3.0"]);
    assert_eq!(std::fs::read(&keep).unwrap(), b"precious");
}

#[test]
fn corrupt_image_data_names_the_range_both_digests_and_the_image() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[4 * 4096 + 17] ^= 0x40; // inside range 3-5
    std::fs::write(&image, bytes).unwrap();
    let out = dir.path().join("out");
    let line = blockprint([
        "copy",
        "--bmap",
        &vector("test.image.bmap.v2.0"),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .fails_with(&[
        "checksum mismatch for blocks range 3-5",
        "should be e8a26f49a71262870f8294a73f40f122d622fd70fb82bef01c0322785e9fd6b2",
        "test.image",
        "must be rewritten",
    ]);
    assert!(line.contains("calculated "), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    // (Conflicting options exit 1, as with bmaptool: tests/integration/dropin.rs.)
    for args in [
        vec!["copy", "--fingerprint", "F", "a", "b"],
        vec!["copy", "a"],
        vec!["copy", "--no-such-option", "a", "b"],
        vec!["frobnicate"],
    ] {
        let run = blockprint(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"));
    }
}

#[test]
fn signature_options_that_cannot_work_are_clear_errors() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let out = dir.path().join("out");
    let bmap = vector("test.image.bmap.v2.0");
    let (img, o) = (image.to_str().unwrap(), out.to_str().unwrap());
    blockprint([
        "copy",
        "--bmap",
        &bmap,
        "--keyring",
        "/nonexistent/keys.gpg",
        img,
        o,
    ])
    .fails_with(&["cannot read the keys in '/nonexistent/keys.gpg'"]);
    blockprint([
        "copy",
        "--bmap",
        &bmap,
        "--bmap-sig",
        "/nonexistent/x.asc",
        img,
        o,
    ])
    .fails_with(&["signature file '/nonexistent/x.asc' does not exist"]);
    let junk = dir.path().join("junk.gpg");
    std::fs::write(&junk, b"not a key").unwrap();
    blockprint([
        "copy",
        "--bmap",
        &bmap,
        "--keyring",
        junk.to_str().unwrap(),
        img,
        o,
    ])
    .fails_with(&["junk.gpg' holds no OpenPGP certificates"]);
    blockprint(["copy", "--nobmap", "--bmap-sig", "x.asc", img, o]).fails_with(&[
        "--bmap-sig checks the bmap's signature, but --nobmap copies without a bmap",
    ]);
    assert!(!out.exists());
}

#[test]
fn quiet_debug_help_and_version() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let out = dir.path().join("out");
    let bmap = vector("test.image.bmap.v2.0");
    let run = blockprint([
        "-q",
        "copy",
        "--bmap",
        &bmap,
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.ok(), "", "-q must print nothing on success");
    let run = blockprint([
        "copy",
        "-d",
        "--bmap",
        &bmap,
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(
        run.ok().contains("blockprint: debug: phase: writing"),
        "{}",
        run.stderr
    );

    // (`blockprint` alone starts the desktop app where there is one: launch.rs tests it
    // without a display, where it prints this help.)
    let help = blockprint(["--help"]);
    assert_eq!(help.code, 0);
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["copy", "create", "verify"] {
        assert!(text.contains(word), "help lacks {word}: {text}");
    }
    let version = blockprint(["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("blockprint "));
}

#[test]
fn psplash_pipe_receives_progress_up_to_100() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let fifo = dir.path().join("psplash_fifo");
    crate::harness::support::sh("mkfifo", &[fifo.to_str().unwrap()]);
    // A non-blocking reader counts as a reader at once, as psplash does.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let out = dir.path().join("out");
    blockprint([
        "copy",
        "--verify-readback",
        "--psplash-pipe",
        fifo.to_str().unwrap(),
        "--bmap",
        &vector("test.image.bmap.v2.0"),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .ok();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    let values: Vec<u64> = text
        .lines()
        .map(|l| l.strip_prefix("PROGRESS ").expect(l).parse().unwrap())
        .collect();
    assert_eq!(values.last(), Some(&100), "{text}");
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {text}"
    );
    assert!(values.len() > 2, "{text}");

    // Not a FIFO: a warning, and the copy goes on.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"").unwrap();
    let run = blockprint([
        "copy",
        "--psplash-pipe",
        plain.to_str().unwrap(),
        "--bmap",
        &vector("test.image.bmap.v2.0"),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(run.ok().contains("is not a FIFO"), "{}", run.stderr);
}

#[test]
fn verify_checks_a_file_against_the_bmap() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let out = dir.path().join("out");
    let bmap = vector("test.image.bmap.v2.0");
    blockprint([
        "-q",
        "copy",
        "--bmap",
        &bmap,
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .ok();
    let stderr = blockprint(["verify", "--bmap", &bmap, out.to_str().unwrap()])
        .ok()
        .to_owned();
    assert!(stderr.contains("matches bmap file"), "{stderr}");

    let mut bytes = std::fs::read(&out).unwrap();
    bytes[15 * 4096] ^= 1; // range 15-18
    std::fs::write(&out, bytes).unwrap();
    let run = blockprint(["verify", "--bmap", &bmap, out.to_str().unwrap()]);
    run.fails_with(&["1 of 48 ranges", "do not match"]);
    assert!(
        run.stderr.contains("mismatch in blocks range 15-18"),
        "{}",
        run.stderr
    );

    blockprint([
        "verify",
        "--bmap",
        &vector("partial.img.nochecksum.bmap"),
        out.to_str().unwrap(),
    ])
    .fails_with(&["no range checksums"]);
    blockprint(["verify", "--bmap", &bmap, "/nonexistent"]).fails_with(&["/nonexistent"]);
}

#[test]
fn the_event_stream_is_exact() {
    use blockprint::bmap::Bmap;
    use blockprint::copy::{CopyOptions, copy};
    use blockprint::progress::{CancelToken, Event, Phase};
    use blockprint::source::FileSource;
    use blockprint::target::{Target, TargetOptions};

    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let bmap = Bmap::from_file(&vectors().join("test.image.bmap.v2.0")).unwrap();
    let mut events = Vec::new();
    let mut sink = |e: &Event| {
        events.push(e.clone());
        std::ops::ControlFlow::Continue(())
    };
    let mut source = FileSource::open(&image).unwrap();
    let mut target = Target::open(&dir.path().join("out"), &TargetOptions::default()).unwrap();
    let options = CopyOptions {
        verify_checksums: true,
        verify_readback: true,
        skip_readback: None,
        ..CopyOptions::default()
    };
    let report = copy(
        &mut source,
        Some(&bmap),
        &mut target,
        &options,
        &mut sink,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(
        (report.ranges, report.ranges_verified, report.mapped_bytes),
        (48, 48, 117 * 4096)
    );

    let phases: Vec<(Phase, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::PhaseStarted { phase, total_bytes } => Some((*phase, *total_bytes)),
            _ => None,
        })
        .collect();
    // A file: no wiping and no held-back header.
    let mapped = Some(117 * 4096);
    assert_eq!(
        phases,
        [
            (Phase::Writing, mapped),
            (Phase::Syncing, None),
            (Phase::ReadBack, mapped)
        ]
    );

    let verified: Vec<(usize, u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::RangeVerified { index, first, last } => Some((*index, *first, *last)),
            _ => None,
        })
        .collect();
    let expected: Vec<(usize, u64, u64)> = bmap
        .ranges()
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.first, r.last))
        .collect();
    assert_eq!(verified, expected);

    for phase in [Phase::Writing, Phase::ReadBack] {
        let done: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Progress {
                    phase: p,
                    done_bytes,
                } if *p == phase => Some(*done_bytes),
                _ => None,
            })
            .collect();
        assert!(
            done.windows(2).all(|w| w[0] < w[1]),
            "{phase:?} progress not increasing"
        );
        assert_eq!(
            done.last(),
            Some(&(117 * 4096)),
            "{phase:?} must end at the total"
        );
    }
    assert!(!events.iter().any(|e| matches!(e, Event::Warning(_))));
}
