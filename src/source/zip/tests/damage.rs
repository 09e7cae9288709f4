//! Damaged and cut-short archives: checksums, truncation, broken directories and mutations
//! are errors that name the place, never panics.

use super::*;

#[test]
fn crc_mismatch_is_detected() {
    let img = image(50_000);
    let mut zip = build(&[Spec::new("disk.img", 0, &img)]);
    zip[30 + 8 + 40_000] ^= 0x40;
    for member in [random(&zip), stream(&zip)] {
        let e = read_error(member);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let text = e.to_string();
        assert!(
            text.contains("zip member 'disk.img' of 'test.zip' fails its CRC-32 check (calculated"),
            "{text}"
        );
    }
    let mut wrong = Spec::new("disk.img", 8, &img);
    wrong.descriptor = true;
    wrong.crc = Some(0x1234_5678);
    let e = read_error(stream(&build(&[wrong])));
    assert!(e.to_string().contains("stored 12345678)"), "{e}");
}

#[test]
fn truncated_members_are_detected() {
    let (dir, img) = workdir(300_000);
    shell(
        dir.path(),
        "zip -q a.zip disk.img && zip -q -0 s.zip disk.img",
    );
    for name in ["a.zip", "s.zip"] {
        let zip = get(dir.path(), name);
        let e = read_error(stream(&zip[..zip.len() / 2]));
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(
            e.to_string()
                .contains("zip member 'disk.img' of 'test.zip' is truncated"),
            "{e}"
        );
        // Cut, the end records are gone: incomplete before any data is read, wherever the
        // cut is (in the member, its descriptor, the directory or the end record).
        let len = zip.len();
        let cuts = (0..len).step_by(4999).chain(len - 200..len);
        for cut in cuts {
            match random(&zip[..cut]) {
                Err(e @ SourceError::Incomplete { .. }) => {
                    let text = e.to_string();
                    let start =
                        format!("zip file 'test.zip' is incomplete (it ends at byte {cut}, ");
                    assert!(text.starts_with(&start), "{text}");
                    assert!(text.ends_with("); download it again"), "{text}");
                }
                Err(e) => panic!("{name} cut at {cut}: {e}"),
                Ok(_) => panic!("{name} cut at {cut}: opened"),
            }
        }
        let text = error_text(random(&zip[..len - 30]));
        assert!(
            text.contains(&format!(
                "(it ends at byte {}, with no end of central directory record in its last {} \
                 bytes); download it again",
                len - 30,
                (len - 30).min(EOCD_SEARCH as usize)
            )),
            "{text}"
        );
    }
    let piped = python_piped(
        dir.path(),
        "zf.writestr('disk.img', img, zipfile.ZIP_DEFLATED)",
    );
    let e = read_error(stream(&piped[..piped.len() / 2]));
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(
        e.to_string()
            .contains("'disk.img' of 'test.zip' is truncated"),
        "{e}"
    );
    // A central directory promising more than the data holds.
    let mut zip = build(&[Spec::new("disk.img", 0, &img[..1000])]);
    let central = zip.len() - 22 - 46 - 8;
    zip[central + 24..central + 28].copy_from_slice(&2000u32.to_le_bytes());
    let e = read_error(random(&zip));
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(
        e.to_string().contains("ends after 1000 of 2000 bytes"),
        "{e}"
    );
}

#[test]
fn damaged_directories_name_the_offset() {
    let mut zip = build(&[Spec::new("disk.img", 0, b"data")]);
    let central = zip.len() - 22 - 46 - 8;
    zip[central] = b'X';
    let text = error_text(random(&zip));
    assert!(
        text.contains(&format!(
            "central directory entry 1 of 1 at offset {central} has no signature"
        )),
        "{text}"
    );
    let text = error_text(random(b"PK\x03\x04 and nothing else of a zip"));
    assert!(
        text.contains("no end of central directory record"),
        "{text}"
    );
    let text = error_text(random(b"PK\x03\x04"));
    assert!(
        text.contains("(it ends at byte 4, too soon for a zip archive's end record)"),
        "{text}"
    );
}

#[test]
fn mutated_archives_never_panic() {
    let (dir, _) = workdir(3000);
    let normal = python(
        dir.path(),
        "zf.writestr('a.txt', b'a' * 100, zipfile.ZIP_DEFLATED)\n\
         zf.writestr('disk.img', img, zipfile.ZIP_BZIP2)",
    );
    let deferred = python_piped(
        dir.path(),
        "zipfile.ZIP64_LIMIT = 0\n\
         zf.compression = zipfile.ZIP_BZIP2\n\
         with zf.open('a.txt', 'w', force_zip64=True) as f:\n    f.write(b'a' * 100)\n\
         zf.writestr('disk.img', img, zipfile.ZIP_DEFLATED)",
    );
    let mut opened = 0;
    for base in [&normal, &deferred] {
        for data in mutants(base, 1500) {
            // Errors are fine, at open or while reading; a panic fails the test.
            for member in [random(&data), stream(&data)].into_iter().flatten() {
                opened += 1;
                let _ = read_all(member.reader);
            }
        }
    }
    assert!(
        opened > 100,
        "too few mutants opened ({opened}) to exercise the readers"
    );
}

#[test]
fn crc_in_a_data_descriptor_is_checked() {
    let (dir, _) = workdir(60_000);
    let narrow = python_piped(
        dir.path(),
        "zf.writestr('disk.img', img, zipfile.ZIP_DEFLATED)",
    );
    let wide = python_piped(
        dir.path(),
        "zf.compression = zipfile.ZIP_DEFLATED\n\
         with zf.open('disk.img', 'w', force_zip64=True) as f:\n    f.write(img)",
    );
    shell(dir.path(), "zip -q - disk.img | cat > i.zip");
    let info_zip = get(dir.path(), "i.zip");
    let central = CENTRAL_SIG.to_le_bytes();
    for (what, mut zip, descriptor_len) in [
        ("narrow", narrow, 16),
        ("wide", wide, 24),
        ("zip", info_zip, 16),
    ] {
        let Some(end) = zip.windows(4).position(|w| w == central) else {
            panic!("{what}: no central directory");
        };
        assert_eq!(
            zip[end - descriptor_len..end - descriptor_len + 4],
            DESCRIPTOR_SIG.to_le_bytes(),
            "{what}"
        );
        zip[end - descriptor_len + 4] ^= 1;
        let e = read_error(stream(&zip));
        assert!(
            e.to_string().contains("fails its CRC-32 check"),
            "{what}: {e}"
        );
    }
}
