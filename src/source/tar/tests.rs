//! tar archives made by GNU tar in each format, plus crafted headers for what tar writes only
//! for huge files (base-256 sizes) and for damage.

use std::io::{self, Cursor};
use std::path::Path;

use super::*;
use crate::source::testing::{get, image, in_memory, mutants, put, read_all, shell};

fn random(data: &[u8]) -> Result<(String, Slice), SourceError> {
    open_random(&in_memory("test.tar", data))
}

fn stream(data: &[u8]) -> Result<Member, SourceError> {
    open_stream(Box::new(Cursor::new(data.to_vec())), "test.tar")
}

fn slice_bytes(slice: &Slice) -> io::Result<Vec<u8>> {
    read_all(slice.stream(0, slice.len())?)
}

/// Opens `data` both ways and checks the member's name and content.
fn assert_member(data: &[u8], name: &str, content: &[u8]) {
    let (found, slice) = random(data).unwrap_or_else(|e| panic!("random: {e}"));
    assert_eq!(found, name);
    assert_eq!(slice.len(), content.len() as u64);
    assert!(
        slice_bytes(&slice).expect("read slice") == content,
        "random: the content differs"
    );
    let member = stream(data).unwrap_or_else(|e| panic!("stream: {e}"));
    assert_eq!(member.name, name);
    assert_eq!(member.size, Some(content.len() as u64));
    assert!(
        read_all(member.reader).expect("read") == content,
        "stream: the content differs"
    );
}

fn random_error(data: &[u8]) -> String {
    match random(data) {
        Ok((name, _)) => panic!("opened '{name}' instead of failing"),
        Err(e) => e.to_string(),
    }
}

fn stream_error(data: &[u8]) -> String {
    match stream(data) {
        Ok(m) => panic!("opened '{}' instead of failing", m.name),
        Err(e) => e.to_string(),
    }
}

/// A directory with the image and a few other files, and the image's bytes.
fn workdir() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(70_001);
    put(dir.path(), "disk.img", &img);
    put(dir.path(), "README.txt", b"read me\n");
    put(dir.path(), "disk.img.bmap", b"<bmap/>\n");
    (dir, img)
}

fn tar(dir: &Path, args: &str) -> Vec<u8> {
    shell(dir, &format!("tar -cf out.tar {args}"));
    get(dir, "out.tar")
}

/// A header block with a valid checksum.
fn header(name: &str, flag: u8, size_field: &[u8]) -> [u8; BLOCK] {
    let mut block = [0; BLOCK];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..108].copy_from_slice(b"0000644\0");
    block[124..124 + size_field.len()].copy_from_slice(size_field);
    block[156] = flag;
    block[257..265].copy_from_slice(b"ustar\x0000");
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

/// A member: header, data, padding.
fn entry_bytes(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(name, b'0', format!("{:011o}\0", data.len()).as_bytes()).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
    out
}

#[test]
fn ustar_gnu_and_pax_formats() {
    let (dir, img) = workdir();
    for format in ["ustar", "gnu", "pax", "v7"] {
        let archive = tar(
            dir.path(),
            &format!("--format={format} README.txt disk.img.bmap disk.img"),
        );
        assert_member(&archive, "disk.img", &img);
    }
}

#[test]
fn long_names_from_each_format() {
    let (dir, img) = workdir();
    let deep = format!("{}/{}", "d".repeat(60), "e".repeat(60));
    let long = format!("{deep}/{}.img", "f".repeat(90));
    put(dir.path(), &long, &img);
    // ustar splits a path into prefix and name; GNU uses an `L` header; pax a `path` record.
    let short = format!("{deep}/disk.img");
    put(dir.path(), &short, &img);
    let archive = tar(dir.path(), &format!("--format=ustar README.txt {short}"));
    assert_member(&archive, &short, &img);
    for format in ["gnu", "pax"] {
        let archive = tar(dir.path(), &format!("--format={format} README.txt {long}"));
        assert_member(&archive, &long, &img);
    }
}

#[test]
fn chosen_among_links_directories_and_other_files() {
    let (dir, img) = workdir();
    shell(dir.path(), "mkdir -p boot && ln -s disk.img other.img");
    let archive = tar(
        dir.path(),
        "boot README.txt other.img disk.img.bmap disk.img",
    );
    assert_member(&archive, "disk.img", &img);
}

#[test]
fn ambiguous_and_missing_images_list_names() {
    let (dir, _) = workdir();
    put(dir.path(), "a.img", b"a");
    put(dir.path(), "b.img", b"b");
    let archive = tar(dir.path(), "README.txt a.img b.img");
    let text = random_error(&archive);
    assert!(
        text.contains("several disk images ('a.img', 'b.img')"),
        "{text}"
    );
    assert_eq!(stream(&archive).expect("stream").name, "a.img");
    let archive = tar(dir.path(), "README.txt disk.img.bmap");
    let text = stream_error(&archive);
    assert!(
        text.contains("it holds 'README.txt', 'disk.img.bmap'"),
        "{text}"
    );
    shell(dir.path(), "mkdir -p empty/sub");
    let text = random_error(&tar(dir.path(), "empty"));
    assert!(
        text.contains("no disk image member (it holds 'empty/', 'empty/sub/')"),
        "{text}"
    );
}

#[test]
fn base_256_sizes() {
    let data = image(1000);
    let mut size = [0u8; 12];
    size[0] = 0x80;
    size[10..].copy_from_slice(&1000u16.to_be_bytes());
    let mut archive = header("disk.img", b'0', &size).to_vec();
    archive.extend_from_slice(&data);
    archive.resize(archive.len().next_multiple_of(BLOCK) + 2 * BLOCK, 0);
    assert_member(&archive, "disk.img", &data);
    assert_eq!(
        number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        Ok(1 << 16)
    );
    assert_eq!(number(b"00000001750\0"), Ok(1000));
    assert_eq!(number(b"  1750 \0\0\0\0\0"), Ok(1000));
    assert!(number(&[0xFF; 12]).is_err(), "negative");
    assert!(
        number(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(),
        "beyond 64 bits"
    );
    assert!(number(b"0000000017a0").is_err());
}

#[test]
fn sparse_members_are_refused_or_passed_over() {
    let (dir, img) = workdir();
    shell(
        dir.path(),
        "truncate -s 3M holes.img && echo data | dd of=holes.img bs=1k seek=2000 conv=notrunc \
         2>/dev/null && cp holes.img holes.dat",
    );
    for format in ["gnu", "pax"] {
        let archive = tar(dir.path(), &format!("--format={format} --sparse holes.img"));
        for text in [random_error(&archive), stream_error(&archive)] {
            assert!(
                text.contains("GNU sparse member 'holes.img'"),
                "{format}: {text}"
            );
        }
        let archive = tar(
            dir.path(),
            &format!("--format={format} --sparse holes.dat disk.img"),
        );
        assert_member(&archive, "disk.img", &img);
    }
}

#[test]
fn truncated_data_is_an_error() {
    let (dir, _) = workdir();
    let archive = tar(dir.path(), "README.txt disk.img");
    let cut = &archive[..3 * BLOCK + 30_000];
    let text = random_error(cut);
    assert!(
        text.contains(
            "tar file 'test.tar' is incomplete (it ends inside member 'disk.img', which starts \
             at byte 1536); download it again"
        ),
        "{text}"
    );
    let member = stream(cut).expect("the header is whole");
    let e = read_all(member.reader).expect_err("short data");
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(
        e.to_string()
            .contains("tar member 'disk.img' of 'test.tar' is truncated: its data ends after 30000 of 70001 bytes"),
        "{e}"
    );
    // An archive cut at a block boundary after a whole member just ends.
    let whole = entry_bytes("notes.txt", b"x");
    let text = random_error(
        &[
            whole.clone(),
            entry_bytes("disk.img", b"ok")[..BLOCK].to_vec(),
        ]
        .concat(),
    );
    assert!(text.contains("ends inside member 'disk.img'"), "{text}");
    // A lone file is the image, whatever its name.
    assert_eq!(stream(&whole).expect("the only file").name, "notes.txt");
}

#[test]
fn bad_headers_are_damage_with_their_offset() {
    let mut archive = [entry_bytes("a.txt", b"a"), entry_bytes("disk.img", b"d")].concat();
    archive[BLOCK * 2 + 5] ^= 1;
    for text in [random_error(&archive), stream_error(&archive)] {
        assert!(
            text.contains("the header at offset 1024 fails its checksum"),
            "{text}"
        );
    }
    let mut pax = header("pax", b'x', b"00000000012\0").to_vec();
    pax.extend_from_slice(b"99 path=x\n\0");
    pax.resize(2 * BLOCK, 0);
    pax.extend_from_slice(&entry_bytes("disk.img", b"d"));
    let text = random_error(&pax);
    assert!(
        text.contains("the pax header at offset 0 has a record with a bad length"),
        "{text}"
    );
    let huge = header(
        "pax",
        b'x',
        format!("{:011o}\0", MAX_EXTENSION + 1).as_bytes(),
    );
    let text = stream_error(&huge);
    assert!(
        text.contains("the pax header at offset 0 is 1048577 bytes"),
        "{text}"
    );
}

#[test]
fn pax_size_and_path_records_apply_to_the_next_member() {
    let data = image(3000);
    let records = b"20 path=renamed.img\n13 size=3000\n";
    let mut archive = header(
        "PaxHeaders/x",
        b'x',
        format!("{:011o}\0", records.len()).as_bytes(),
    )
    .to_vec();
    archive.extend_from_slice(records);
    archive.resize(2 * BLOCK, 0);
    // The header's own size field is overridden by the record.
    archive.extend_from_slice(&header("x", b'0', b"00000000000\0"));
    archive.extend_from_slice(&data);
    archive.resize(archive.len().next_multiple_of(BLOCK), 0);
    assert_member(&archive, "renamed.img", &data);
}

#[test]
fn mutated_archives_never_panic() {
    let (dir, _) = workdir();
    put(dir.path(), &format!("{}.img", "n".repeat(120)), b"long");
    let small = image(1500);
    put(dir.path(), "disk.img", &small);
    let mut opened = 0;
    for format in ["gnu", "pax"] {
        let archive = tar(
            dir.path(),
            &format!(
                "--format={format} README.txt {}.img disk.img",
                "n".repeat(120)
            ),
        );
        for data in mutants(&archive, 1500) {
            if let Ok((_, slice)) = random(&data) {
                opened += 1;
                let _ = slice_bytes(&slice);
            }
            if let Ok(member) = stream(&data) {
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

/// One file, whatever its name, is the image: held in memory while the stream is read on
/// (small), or read at once and the rest of the archive checked (large).
#[test]
fn one_member_of_any_name_is_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    for len in [1 << 20, (member::HOLD + 4096) as usize] {
        let img = image(len);
        put(dir.path(), "img", &img);
        shell(dir.path(), "mkdir -p boot");
        for members in ["img", "boot img", "img boot"] {
            assert_member(&tar(dir.path(), members), "img", &img);
        }
    }
}

/// A file that is not named like an image is not the image when another file follows; read
/// as a stream, a large one fails when its data ends, naming both.
#[test]
fn a_second_file_makes_an_unnamed_one_no_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    for len in [1000, (member::HOLD + 4096) as usize] {
        put(dir.path(), "img", &image(len));
        put(dir.path(), "notes", b"notes\n");
        let archive = tar(dir.path(), "img notes");
        let text = random_error(&archive);
        assert!(
            text.contains("no disk image member (it holds 'img', 'notes')"),
            "{text}"
        );
        match stream(&archive) {
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains("(it holds 'img', 'notes')"), "{len}: {text}");
            }
            Ok(m) => {
                let e = read_all(m.reader).expect_err("read to the end");
                let text = e.to_string();
                assert!(
                    text.contains("more than one file ('img', 'notes')"),
                    "{text}"
                );
            }
        }
        // An image-named member after it is still found.
        put(dir.path(), "disk.img", b"image");
        assert_member(&tar(dir.path(), "notes disk.img"), "disk.img", b"image");
    }
}

/// F4: members with long names (pax `path` records) cost neither memory nor long messages.
#[test]
fn long_member_names_are_not_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    shell(
        dir.path(),
        "python3 -c \"import tarfile, io\n\
         t = tarfile.open('out.tar', 'w', format=tarfile.PAX_FORMAT)\n\
         for i in range(20):\n\
         \x20   m = tarfile.TarInfo(('d%03d/' % i) + 'a' * 200000); m.size = 1\n\
         \x20   t.addfile(m, io.BytesIO(b'x'))\n\
         t.close()\"",
    );
    let archive = get(dir.path(), "out.tar");
    for text in [random_error(&archive), stream_error(&archive)] {
        assert!(text.len() < 8000, "a message of {} bytes", text.len());
        assert!(text.contains("and 8 more"), "{}", &text[text.len() - 200..]);
    }
}
