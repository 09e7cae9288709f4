//! zip archives made by Info-ZIP's `zip`, Python's `zipfile` and, for methods and damage no
//! tool produces on demand, a small writer here.

use std::io::{self, Cursor, Write};
use std::path::Path;

use flate2::Crc;

use super::*;
use crate::source::member;
use crate::source::testing::{get, image, in_memory, mutants, put, read_all, shell};

fn random(data: &[u8]) -> Result<Member, SourceError> {
    open_random(&in_memory("test.zip", data)).map(|(member, _)| member)
}

fn stream(data: &[u8]) -> Result<Member, SourceError> {
    open_stream(Box::new(Cursor::new(data.to_vec())), "test.zip")
}

/// Opens `data` both ways and checks the member's name and content.
fn assert_member(data: &[u8], name: &str, content: &[u8]) {
    for (how, member) in [("random", random(data)), ("stream", stream(data))] {
        let member = member.unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(member.name, name, "{how}");
        if how == "random" || member.size.is_some() {
            assert_eq!(member.size, Some(content.len() as u64), "{how}");
        }
        let read = read_all(member.reader).unwrap_or_else(|e| panic!("{how}: {e}"));
        assert!(read == content, "{how}: the content differs");
    }
}

fn error_text(result: Result<Member, SourceError>) -> String {
    match result {
        Ok(m) => panic!("opened '{}' instead of failing", m.name),
        Err(e) => e.to_string(),
    }
}

fn read_error(member: Result<Member, SourceError>) -> io::Error {
    let member = member.unwrap_or_else(|e| panic!("{e}"));
    read_all(member.reader).expect_err("the read should fail")
}

/// A zip written by Python's zipfile; `script` uses `zf` and `img` (the image bytes).
fn python(dir: &Path, script: &str) -> Vec<u8> {
    let program = format!(
        "import sys, zipfile\nimg = open('disk.img', 'rb').read()\n\
         zf = zipfile.ZipFile(sys.stdout.buffer, 'w')\n{script}\nzf.close()\n"
    );
    put(dir, "make.py", program.as_bytes());
    // Through a pipe the output cannot seek, so zipfile defers sizes to data descriptors;
    // into a file (`> out`) it does not.
    shell(dir, "python3 make.py > out.zip");
    get(dir, "out.zip")
}

fn python_piped(dir: &Path, script: &str) -> Vec<u8> {
    let program = format!(
        "import sys, zipfile\nimg = open('disk.img', 'rb').read()\n\
         zf = zipfile.ZipFile(sys.stdout.buffer, 'w')\n{script}\nzf.close()\n"
    );
    put(dir, "make.py", program.as_bytes());
    shell(dir, "python3 make.py | cat > piped.zip");
    get(dir, "piped.zip")
}

fn workdir(image_len: usize) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(image_len);
    put(dir.path(), "disk.img", &img);
    (dir, img)
}

/// A member for [`build`]: compressed here, optionally with a data descriptor.
struct Spec<'a> {
    name: &'a str,
    method: u16,
    data: &'a [u8],
    descriptor: bool,
    /// A CRC-32 to store instead of the right one.
    crc: Option<u32>,
    /// The compressed bytes, when not compressed here.
    packed: Option<Vec<u8>>,
}

impl<'a> Spec<'a> {
    fn new(name: &'a str, method: u16, data: &'a [u8]) -> Self {
        Self {
            name,
            method,
            data,
            descriptor: false,
            crc: None,
            packed: None,
        }
    }
}

fn compress(method: u16, data: &[u8]) -> Vec<u8> {
    match method {
        0 => data.to_vec(),
        8 => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("deflate");
            e.finish().expect("deflate")
        }
        93 => zstd::stream::encode_all(data, 3).expect("zstd"),
        95 => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).expect("xz");
            e.finish().expect("xz")
        }
        // Any other method: bytes that no decoder will be asked to read.
        _ => data.to_vec(),
    }
}

/// A zip archive with 32-bit fields, as simple as APPNOTE allows.
fn build(members: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        let packed = m
            .packed
            .clone()
            .unwrap_or_else(|| compress(m.method, m.data));
        let mut crc = Crc::new();
        crc.update(m.data);
        let crc = m.crc.unwrap_or(crc.sum());
        let flags: u16 = if m.descriptor { FLAG_DESCRIPTOR } else { 0 };
        let sizes = [crc, packed.len() as u32, m.data.len() as u32];
        out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&m.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        for v in sizes {
            out.extend_from_slice(&(if m.descriptor { 0 } else { v }).to_le_bytes());
        }
        out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&packed);
        if m.descriptor {
            out.extend_from_slice(&DESCRIPTOR_SIG.to_le_bytes());
            for v in sizes {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0]);
        central.extend_from_slice(&flags.to_le_bytes());
        central.extend_from_slice(&m.method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        for v in sizes {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&EOCD_SIG.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = (members.len() as u16).to_le_bytes();
    out.extend_from_slice(&count);
    out.extend_from_slice(&count);
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn single_member_from_info_zip() {
    let (dir, img) = workdir(300_000);
    shell(dir.path(), "zip -q a.zip disk.img");
    assert_member(&get(dir.path(), "a.zip"), "disk.img", &img);
}

#[test]
fn image_is_chosen_among_other_files_and_macos_forks() {
    let (dir, img) = workdir(100_000);
    let zip = python(
        dir.path(),
        "zf.writestr('README.txt', b'read me')\n\
         zf.writestr('boot/', b'')\n\
         zf.writestr('__MACOSX/._disk.img', b'fork')\n\
         zf.writestr('disk.img.bmap', b'<bmap/>')\n\
         zf.writestr('disk.img', img, zipfile.ZIP_DEFLATED)",
    );
    assert_member(&zip, "disk.img", &img);
}

#[test]
fn several_images_are_ambiguous_and_listed() {
    let (dir, _) = workdir(1000);
    let zip = python(
        dir.path(),
        "zf.writestr('a.img', b'a')\nzf.writestr('b.img', b'b')",
    );
    let text = error_text(random(&zip));
    assert!(
        text.contains("several disk images ('a.img', 'b.img')"),
        "{text}"
    );
    // Read forward, the first image is taken: the rest of the list is not known yet.
    assert_eq!(stream(&zip).expect("stream").name, "a.img");
}

#[test]
fn archives_without_an_image_list_their_members() {
    let (dir, _) = workdir(1000);
    let texts = python(
        dir.path(),
        "zf.writestr('x.txt', b'x')\nzf.writestr('y.txt', b'y')",
    );
    let text = error_text(random(&texts));
    assert!(text.contains("(it holds 'x.txt', 'y.txt')"), "{text}");
    let text = error_text(stream(&texts));
    assert!(
        text.contains("no disk image member (it holds 'x.txt', 'y.txt')"),
        "{text}"
    );
    let empty = python(
        dir.path(),
        "zf.writestr('dir/', b'')\nzf.writestr('__MACOSX/._a', b'')",
    );
    let text = error_text(random(&empty));
    assert!(
        text.contains("no disk image member (it holds 'dir/', '__MACOSX/._a')"),
        "{text}"
    );
    let text = error_text(stream(&python(dir.path(), "")));
    assert!(text.contains("it holds no files"), "{text}");
}

#[test]
fn stored_deflate_and_bzip2_members() {
    let (dir, img) = workdir(200_000);
    for method in ["ZIP_STORED", "ZIP_DEFLATED", "ZIP_BZIP2"] {
        let zip = python(
            dir.path(),
            &format!(
                "zf.writestr('notes.txt', b'n' * 5000, zipfile.{method})\nzf.writestr('disk.img', img, zipfile.{method})"
            ),
        );
        assert_member(&zip, "disk.img", &img);
    }
    shell(
        dir.path(),
        "zip -q -Z bzip2 b.zip disk.img && zip -q -0 s.zip disk.img",
    );
    assert_member(&get(dir.path(), "b.zip"), "disk.img", &img);
    assert_member(&get(dir.path(), "s.zip"), "disk.img", &img);
}

/// Opened, a stored image member has random access (the part of the archive that holds it,
/// for the scan), and its source still checks the CRC; a compressed member has none.
#[test]
fn a_stored_member_gets_random_access_and_keeps_its_crc() {
    let img = image(300_000);
    let stored = build(&[Spec::new("notes.txt", 0, b"n"), Spec::new("d.img", 0, &img)]);
    let opened = crate::source::open_store(in_memory("s.zip", &stored)).expect("opens");
    let store = opened.store.expect("random access");
    assert_eq!(store.len(), img.len() as u64);
    assert_eq!(store.name(), "d.img in s.zip");
    let mut got = vec![0; 100_000];
    store.read_exact_at(150_000, &mut got).expect("reads");
    assert!(got == img[150_000..250_000]);
    drop(store);
    assert!(read_all(opened.source).expect("streams") == img);

    // The same archive with one byte of the member changed: the scan's view shows the change,
    // and the copy's stream refuses it at its end.
    let at = find(&stored, &img[1000..1064]) + 10;
    let mut bad = stored.clone();
    bad[at] ^= 1;
    let opened = crate::source::open_store(in_memory("s.zip", &bad)).expect("opens");
    assert!(opened.store.is_some());
    let error = read_all(opened.source).expect_err("the CRC is checked");
    assert!(error.to_string().contains("CRC"), "{error}");

    let deflated = build(&[Spec::new("d.img", 8, &img)]);
    let opened = crate::source::open_store(in_memory("d.zip", &deflated)).expect("opens");
    assert!(opened.store.is_none());
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the bytes are there")
}

#[test]
fn zstd_and_xz_members() {
    let img = image(150_000);
    for method in [93, 95] {
        let zip = build(&[
            Spec::new("x.txt", method, b"x"),
            Spec::new("d.img", method, &img),
        ]);
        assert_member(&zip, "d.img", &img);
    }
}

/// F15, F18: a member whose xz dictionary or zstd window (`--long=31`) is over the allowance
/// says that it needs more memory, not that it is corrupt.
#[test]
fn members_needing_too_much_memory_say_so() {
    let (dir, img) = workdir(100_000);
    let zstd = shell(dir.path(), "cat disk.img | zstd -q --long=31 -c");
    let mut xz = shell(dir.path(), "xz -c --lzma2=dict=64KiB < disk.img");
    crate::source::testing::declare_huge_dictionary(&mut xz, 12);
    for (method, packed, needle) in [
        (93, zstd, "needs 2048 MiB of window"),
        (95, xz, "needs a dictionary larger than"),
    ] {
        let zip = build(&[Spec {
            packed: Some(packed),
            ..Spec::new("d.img", method, &img)
        }]);
        for e in [read_error(random(&zip)), read_error(stream(&zip))] {
            let text = e.to_string();
            assert!(
                text.contains("zip member 'd.img'") && text.contains(needle),
                "{text}"
            );
        }
    }
}

#[test]
fn lzma_deflate64_and_encryption_are_unsupported() {
    let (dir, _) = workdir(10_000);
    let lzma = python(dir.path(), "zf.writestr('disk.img', img, zipfile.ZIP_LZMA)");
    for text in [error_text(random(&lzma)), error_text(stream(&lzma))] {
        assert!(
            text.contains("compression method 14 (LZMA) of member 'disk.img'"),
            "{text}"
        );
    }
    let deflate64 = build(&[Spec::new("disk.img", 9, b"abc")]);
    let text = error_text(random(&deflate64));
    assert!(text.contains("method 9 (deflate64)"), "{text}");
    shell(dir.path(), "zip -q -P secret e.zip disk.img");
    let encrypted = get(dir.path(), "e.zip");
    for text in [
        error_text(random(&encrypted)),
        error_text(stream(&encrypted)),
    ] {
        assert!(
            text.contains("encrypted member 'disk.img' is not supported"),
            "{text}"
        );
    }
}

#[test]
fn zip64_end_records_and_extra_fields() {
    let (dir, img) = workdir(120_000);
    // A limit of 0 makes every size and offset "too large": Zip64 extra fields in the local
    // and central headers and the Zip64 end records, on a small archive.
    let zip = python(
        dir.path(),
        "zipfile.ZIP64_LIMIT = 0\n\
         for n, d in (('notes.txt', b'n' * 3000), ('disk.img', img)):\n    \
             with zf.open(zipfile.ZipInfo(n), 'w', force_zip64=True) as f:\n        \
                 f.write(d)",
    );
    let eocd64 = EOCD64_SIG.to_le_bytes();
    assert!(
        zip.windows(4).any(|w| w == eocd64),
        "no Zip64 end record was written"
    );
    assert_member(&zip, "disk.img", &img);
}

#[test]
fn sizes_deferred_to_data_descriptors() {
    let (dir, img) = workdir(250_000);
    let plain = "zf.writestr('notes.txt', b'note ' * 999, zipfile.ZIP_DEFLATED)\n\
                 zf.writestr('fw.dat', img[:7777], zipfile.ZIP_BZIP2)\n\
                 zf.writestr('disk.img', img, zipfile.ZIP_DEFLATED)";
    let wide = "zf.compression = zipfile.ZIP_DEFLATED\n\
                with zf.open('big.txt', 'w', force_zip64=True) as f:\n    f.write(b'b' * 999)\n\
                with zf.open('disk.img', 'w', force_zip64=True) as f:\n    f.write(img)";
    for script in [plain, wide] {
        let zip = python_piped(dir.path(), script);
        assert_ne!(zip[6] & 8, 0, "zipfile wrote no data descriptor");
        let member = stream(&zip).expect("stream");
        assert_eq!(member.size, None);
        let read = read_all(member.reader).expect("read");
        assert_eq!(read.len(), img.len());
        assert!(read == img);
        assert_member(&zip, "disk.img", &img);
    }
    // Info-ZIP writing to a pipe: descriptors with signatures, Zip64 local fields.
    shell(
        dir.path(),
        "echo notes > notes.txt && zip -q - notes.txt disk.img | cat > i.zip",
    );
    assert_member(&get(dir.path(), "i.zip"), "disk.img", &img);
    // zstd and xz mark their ends too.
    for method in [93, 95] {
        let mut before = Spec::new("before.txt", method, b"skipped");
        before.descriptor = true;
        let mut disk = Spec::new("d.img", method, &img);
        disk.descriptor = true;
        assert_member(&build(&[before, disk]), "d.img", &img);
    }
}

#[test]
fn stored_member_with_a_descriptor_cannot_be_streamed() {
    let (dir, img) = workdir(1000);
    let zip = python_piped(
        dir.path(),
        "zf.writestr('notes.txt', b'n', zipfile.ZIP_STORED)\nzf.writestr('disk.img', img)",
    );
    let text = error_text(stream(&zip));
    // The first file may be the image (if it is the only one): it cannot be read either.
    assert!(
        text.contains("reading stored member 'notes.txt' from a stream"),
        "{text}"
    );
    let zip = python_piped(
        dir.path(),
        "zf.writestr('a.txt', b'a', zipfile.ZIP_DEFLATED)\nzf.writestr('notes.txt', b'n')\n\
         zf.writestr('disk.img', img)",
    );
    let text = error_text(stream(&zip));
    assert!(
        text.contains("passing over member 'notes.txt' (stored"),
        "{text}"
    );
    let zip = python_piped(
        dir.path(),
        "zf.writestr('disk.img', img, zipfile.ZIP_STORED)",
    );
    let text = error_text(stream(&zip));
    assert!(
        text.contains("reading stored member 'disk.img' from a stream"),
        "{text}"
    );
    let member = random(&zip).expect("random access reads it");
    assert!(read_all(member.reader).expect("read") == img);
}

#[test]
fn data_in_front_of_the_archive_shifts_its_offsets() {
    // A self-extractor: a program stub, then a zip whose offsets count from its own start.
    let img = image(20_000);
    let zip = build(&[
        Spec::new("a.txt", 8, b"text"),
        Spec::new("disk.img", 8, &img),
    ]);
    let prefixed = [vec![0x7F; 3000], zip].concat();
    let member = random(&prefixed).expect("random");
    assert!(read_all(member.reader).expect("read") == img);
    let text = error_text(stream(&prefixed));
    assert!(text.contains("no zip record at offset 0"), "{text}");
}

/// One file, whatever its name, is the image, read at offsets or as a stream: held while
/// the stream is read on (small), or read at once with the rest checked (large, or of a size
/// given only after its data).
#[test]
fn one_member_of_any_name_is_the_image() {
    for len in [1 << 20, (member::HOLD + 4096) as usize] {
        let (dir, img) = workdir(len);
        let script = "zf.writestr('boot/', b'')\nzf.write('disk.img', 'img', zipfile.ZIP_DEFLATED)";
        assert_member(&python(dir.path(), script), "img", &img);
        let piped = python_piped(dir.path(), script);
        assert_member(&piped, "img", &img);
    }
}

/// A file that is not named like an image is not the image when another file follows.
#[test]
fn a_second_file_makes_an_unnamed_one_no_image() {
    for len in [1000, (member::HOLD + 4096) as usize] {
        let (dir, _) = workdir(len);
        let script = "zf.write('disk.img', 'img', zipfile.ZIP_DEFLATED)\n\
                      zf.writestr('notes', b'notes', zipfile.ZIP_DEFLATED)";
        for zip in [python(dir.path(), script), python_piped(dir.path(), script)] {
            let text = error_text(random(&zip));
            assert!(
                text.contains("no disk image member (it holds 'img', 'notes')"),
                "{text}"
            );
            match stream(&zip) {
                Err(e) => assert!(e.to_string().contains("(it holds 'img', 'notes')"), "{e}"),
                Ok(m) => {
                    let e = read_all(m.reader).expect_err("read to the end").to_string();
                    assert!(e.contains("more than one file ('img', 'notes')"), "{e}");
                }
            }
        }
    }
}

mod damage;
