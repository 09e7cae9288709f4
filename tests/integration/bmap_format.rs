//! Reading bmap files: every upstream version, bmaptool's lenient spellings, and a clear error
//! (naming the file, and the line where there is one) for every kind of bad file.

use std::path::Path;

use blockprint::bmap::{Bmap, BmapError, ChecksumType, Version};

use crate::harness::bad_bmaps::{TEMPLATE, bad_bmaps};
use crate::harness::support::{rechecksum, vectors};

fn parse(text: &str) -> Result<Bmap, BmapError> {
    Bmap::from_bytes(text.as_bytes(), Path::new("edited.bmap"))
}

fn spans(bmap: &Bmap) -> Vec<(u64, u64)> {
    bmap.ranges().iter().map(|r| (r.first, r.last)).collect()
}

#[test]
fn upstream_vectors_of_every_version_agree() {
    let mut seen = Vec::new();
    for (version, kind) in [
        ("1.2", ChecksumType::Sha1),
        ("1.3", ChecksumType::Sha1),
        ("1.4", ChecksumType::Sha256),
        ("2.0", ChecksumType::Sha256),
    ] {
        let path = vectors().join(format!("test.image.bmap.v{version}"));
        let bmap = Bmap::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bmap.version().to_string(), version);
        assert_eq!(bmap.image_size(), 821_752);
        assert_eq!(bmap.block_size(), 4096);
        assert_eq!(bmap.blocks_count(), 201);
        assert_eq!(bmap.mapped_blocks_count(), 117);
        assert_eq!(bmap.checksum_type(), kind);
        assert_eq!(bmap.ranges().len(), 48);
        assert!(bmap.ranges().iter().all(|r| r.checksum.is_some()));
        seen.push(spans(&bmap));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "versions disagree on ranges"
    );
    assert_eq!(seen[0][0], (0, 1));
    assert_eq!(seen[0][47], (198, 199));
}

#[test]
fn partial_last_block_and_no_checksum_vectors() {
    let bmap = Bmap::from_file(&vectors().join("partial.img.bmap")).expect("parses");
    assert_eq!(bmap.image_size(), 66_536);
    assert_eq!(spans(&bmap), [(2, 2), (5, 6), (16, 16)]);
    // The last range is cut at the image size: 1000 real bytes, no padding.
    assert_eq!(
        bmap.byte_span(&bmap.ranges().get(2).unwrap()),
        (65_536, 66_536)
    );
    assert_eq!(bmap.mapped_bytes(), 4096 + 8192 + 1000);

    let bare = Bmap::from_file(&vectors().join("partial.img.nochecksum.bmap")).expect("parses");
    assert_eq!(spans(&bare), spans(&bmap));
    assert!(bare.ranges().iter().all(|r| r.checksum.is_none()));
}

#[test]
fn whitespace_and_every_range_spelling_are_accepted() {
    let text = rechecksum(
        &TEMPLATE
            .replace("<Range> 0-1 </Range>", "<Range>  0 - 1 </Range>")
            .replace("<Range> 3 </Range>", "<Range>\n\t3 -\t3\n</Range>")
            .replace("<MappedBlocksCount> 3 ", "<MappedBlocksCount> 3     "),
    );
    let bmap = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spans(&bmap), [(0, 1), (3, 3)]);
}

#[test]
fn future_minor_versions_and_unknown_elements_are_accepted() {
    let text = rechecksum(
        &TEMPLATE
            .replace(r#"version="2.0""#, r#"version="2.7""#)
            .replace(
                "<BlockMap>",
                "<FutureThing kind=\"x\"><Nested/>text</FutureThing>\n<BlockMap>",
            )
            .replace(
                "<Range> 3 </Range>",
                "<Range future=\"1\"> 3 </Range><Other>9</Other>",
            ),
    );
    let bmap = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bmap.version(), Version { major: 2, minor: 7 });
    assert_eq!(spans(&bmap), [(0, 1), (3, 3)]);
}

#[test]
fn sha512_is_supported() {
    let text = TEMPLATE
        .replace("sha256", "sha512")
        .replace(&"0".repeat(64), &"0".repeat(128));
    // rechecksum() knows only SHA-256; do the SHA-512 rule by hand.
    let zeros = "0".repeat(128);
    let digest = ChecksumType::Sha512.digest(text.as_bytes()).to_string();
    let text = text.replacen(&zeros, &digest, 1);
    let bmap = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bmap.checksum_type(), ChecksumType::Sha512);
}

#[test]
fn a_whitespace_edit_breaks_the_file_checksum() {
    // bmaptool hashes the raw bytes, so moving one space is a different file.
    let text = std::fs::read_to_string(vectors().join("test.image.bmap.v2.0")).expect("read");
    let moved = text.replacen(
        "<ImageSize> 821752 </ImageSize>",
        "<ImageSize>821752  </ImageSize>",
        1,
    );
    let err = parse(&moved).expect_err("must fail");
    assert!(
        err.to_string()
            .contains("checksum mismatch for the bmap file itself"),
        "{err}"
    );
}

/// Each bad file, what the error must say, and the line it must point at (if any).
#[test]
fn every_bad_bmap_gets_a_clear_error() {
    for (what, text, message, line) in bad_bmaps() {
        let err = parse(&text).expect_err(what);
        let shown = err.to_string();
        assert!(
            shown.starts_with("bmap file 'edited.bmap'"),
            "{what}: {shown}"
        );
        assert!(
            shown.contains(message),
            "{what}: '{message}' not in: {shown}"
        );
        if line.is_some() {
            assert_eq!(err.line, line, "{what}: {shown}");
        }
    }
}

#[test]
fn version_1_3_file_checksum_is_sha1_and_checked() {
    let text = std::fs::read_to_string(vectors().join("test.image.bmap.v1.3")).expect("read");
    let tampered = text.replacen("<Range sha1=", "<Range  sha1=", 1);
    let err = parse(&tampered).expect_err("tampered 1.3");
    assert!(
        err.to_string()
            .contains("checksum mismatch for the bmap file itself"),
        "{err}"
    );
}

#[test]
fn a_clearsigned_file_must_be_extracted_first() {
    let signed = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{TEMPLATE}-----BEGIN PGP SIGNATURE-----\n\nx\n-----END PGP SIGNATURE-----\n"
    );
    let err = parse(&signed).expect_err("clearsigned");
    assert!(err.to_string().contains("clearsigned"), "{err}");
    // The extracted text is exactly the signed document, as `gpg --decrypt` prints it.
    let text = blockprint::bmap::cleartext(signed.as_bytes()).expect("extracts");
    assert_eq!(text, TEMPLATE.as_bytes());
}

#[test]
fn huge_files_are_refused_before_parsing() {
    let dir = crate::harness::support::scratch();
    let path = dir.path().join("huge.bmap");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(blockprint::bmap::MAX_FILE_SIZE + 1)
        .expect("sparse");
    let err = Bmap::from_file(&path).expect_err("too large");
    assert!(err.to_string().contains("is larger than"), "{err}");
    assert!(err.to_string().contains("huge.bmap"), "{err}");
}

#[test]
fn mutated_vectors_never_panic() {
    use crate::harness::support::random_bytes;
    let names = [
        "test.image.bmap.v1.2",
        "test.image.bmap.v1.3",
        "test.image.bmap.v2.0",
        "partial.img.bmap",
    ];
    let interesting: &[&[u8]] = &[
        b"<",
        b">",
        b"-",
        b"&",
        b"0",
        b"9999999999999999999999",
        b" ",
        b"\"",
        b"</Range>",
        b"<Range>",
    ];
    for (n, name) in names.iter().enumerate() {
        let original = std::fs::read(vectors().join(name)).unwrap();
        let noise = random_bytes(100 + n as u64, 3 * 4000);
        for round in 0..1500 {
            let pick = |k: usize| {
                usize::from(noise[round * 3 + k])
                    | usize::from(noise[(round * 3 + k + 1) % noise.len()]) << 8
            };
            let mut bytes = original.clone();
            let at = pick(0) % bytes.len();
            match round % 4 {
                0 => bytes[at] = noise[round * 3 + 2],
                1 => bytes.truncate(at),
                2 => {
                    let insert = interesting[pick(1) % interesting.len()];
                    bytes.splice(at..at, insert.iter().copied());
                }
                _ => {
                    let end = (at + pick(1) % 64).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
            // Ok or a clear error: anything but a panic (which fails the test).
            if let Err(e) = Bmap::from_bytes(&bytes, Path::new("mutated.bmap")) {
                assert!(e.to_string().starts_with("bmap file 'mutated.bmap'"));
            }
        }
    }
}
