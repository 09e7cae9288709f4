//! lzop files made by lzop 1.04, and rebuilt from its blocks for the flags it never sets.

use std::io::Cursor;
use std::path::Path;

use super::*;
use crate::source::testing::{get, image, mutants, noise, put, read_all, shell};

fn decode(data: &[u8]) -> Result<io::Result<Vec<u8>>, SourceError> {
    decoder(Box::new(Cursor::new(data.to_vec())), "test.lzo").map(read_all)
}

fn decoded(data: &[u8]) -> Vec<u8> {
    match decode(data) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => panic!("read: {e}"),
        Err(e) => panic!("open: {e}"),
    }
}

fn open_error(data: &[u8]) -> String {
    match decode(data) {
        Ok(_) => panic!("the header was accepted"),
        Err(e) => e.to_string(),
    }
}

fn read_error(data: &[u8]) -> io::Error {
    match decode(data) {
        Ok(Ok(_)) => panic!("the data was accepted"),
        Ok(Err(e)) => e,
        Err(e) => panic!("open: {e}"),
    }
}

/// `lzop <args>` of `data`, read from a pipe (so the header has no file name).
fn lzop(dir: &Path, args: &str, data: &[u8]) -> Vec<u8> {
    put(dir, "in.img", data);
    shell(dir, &format!("lzop {args} -c < in.img > out.lzo"));
    get(dir, "out.lzo")
}

/// The length of the header lzop 1.04 writes for standard input.
const PIPED_HEADER: usize = 38;

/// The compressed (or stored) payloads of a piped `lzop` file with Adler-32 checksums.
fn payloads(file: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(file[33], 0, "a piped lzop file has no name");
    let mut at = PIPED_HEADER;
    let mut blocks = Vec::new();
    let be = |at: usize| u32::from_be_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    while be(at) != 0 {
        let packed = be(at + 4) as usize;
        blocks.push(file[at + 12..at + 12 + packed].to_vec());
        at += 12 + packed;
    }
    blocks
}

/// An lzop file with `flags`, holding `data` in the given payloads (256 KiB each when
/// decompressed), and every checksum those flags call for.
fn rebuild(flags: u32, payloads: &[Vec<u8>], data: &[u8], extra: Option<&[u8]>) -> Vec<u8> {
    let sum = |bytes: &[u8]| {
        if flags & F_H_CRC32 != 0 {
            crc32(bytes)
        } else {
            adler32(bytes)
        }
    };
    let mut header = Vec::new();
    header.extend_from_slice(&0x1040u16.to_be_bytes());
    header.extend_from_slice(&0x20a0u16.to_be_bytes());
    header.extend_from_slice(&0x0940u16.to_be_bytes());
    header.extend_from_slice(&[1, 5]);
    header.extend_from_slice(&flags.to_be_bytes());
    if flags & F_H_FILTER != 0 {
        header.extend_from_slice(&1u32.to_be_bytes());
    }
    header.extend_from_slice(&[0; 12]);
    // No name, as lzop writes for standard input: the same layout as `payloads` reads.
    header.push(0);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&sum(&header).to_be_bytes());
    if let Some(extra) = extra {
        let mut field = (extra.len() as u32).to_be_bytes().to_vec();
        field.extend_from_slice(extra);
        out.extend_from_slice(&field);
        out.extend_from_slice(&sum(&field).to_be_bytes());
    }
    for (payload, chunk) in payloads.iter().zip(data.chunks(256 * 1024)) {
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        let mut sums = vec![(F_ADLER32_D, adler32(chunk)), (F_CRC32_D, crc32(chunk))];
        if payload.len() < chunk.len() {
            sums.extend([(F_ADLER32_C, adler32(payload)), (F_CRC32_C, crc32(payload))]);
        }
        for (flag, value) in sums {
            if flags & flag != 0 {
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&[0; 4]);
    out
}

#[test]
fn adler32_known_values() {
    assert_eq!(adler32(b""), 1);
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    // Long enough to need the reduction between runs.
    let long = vec![0xFF; 100_000];
    let mut split = Adler32::new();
    split.update(&long[..3]);
    split.update(&long[3..]);
    assert_eq!(split.sum(), adler32(&long));
    assert_eq!(adler32(&long), 0x149A_302C);
}

#[test]
fn levels_1_and_9_over_several_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(700_000);
    for level in ["-1", "-9"] {
        let file = lzop(dir.path(), level, &img);
        assert_eq!(
            payloads(&file).len(),
            3,
            "lzop {level} wrote 256 KiB blocks"
        );
        assert!(decoded(&file) == img, "lzop {level}");
    }
}

#[test]
fn stored_blocks_of_incompressible_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = noise(600_000, 3);
    let file = lzop(dir.path(), "-1", &data);
    assert_eq!(
        file[PIPED_HEADER..PIPED_HEADER + 4],
        file[PIPED_HEADER + 4..PIPED_HEADER + 8],
        "stored"
    );
    assert!(decoded(&file) == data);
}

#[test]
fn named_crc32_and_unchecked_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(300_000);
    put(dir.path(), "disk.img", &img);
    shell(dir.path(), "lzop -c disk.img > named.lzo");
    assert!(decoded(&get(dir.path(), "named.lzo")) == img);
    for args in ["--crc32", "-F"] {
        assert!(decoded(&lzop(dir.path(), args, &img)) == img, "lzop {args}");
    }
}

#[test]
fn every_checksum_flag_and_an_extra_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = [image(300_000), noise(300_000, 9)].concat();
    let blocks = payloads(&lzop(dir.path(), "-1", &data));
    let all = F_ADLER32_D | F_ADLER32_C | F_CRC32_D | F_CRC32_C;
    for flags in [all, all | F_H_CRC32, F_CRC32_C, F_ADLER32_C] {
        for extra in [None, Some(&b"extra"[..]), Some(&[7; 200][..])] {
            let flags = flags | if extra.is_some() { F_H_EXTRA_FIELD } else { 0 };
            assert!(
                decoded(&rebuild(flags, &blocks, &data, extra)) == data,
                "{flags:#x}"
            );
        }
    }
    let mut bad_extra = rebuild(all | F_H_EXTRA_FIELD, &blocks, &data, Some(b"extra"));
    bad_extra[9 + 25 + 4 + 4] ^= 1;
    let text = open_error(&bad_extra);
    assert!(
        text.contains("the extra field checksum at offset 47 fails"),
        "{text}"
    );
}

#[test]
fn corrupt_blocks_fail_their_checksums() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = noise(300_000, 5);
    let mut stored = lzop(dir.path(), "-1", &data);
    stored[PIPED_HEADER + 12 + 1000] ^= 4;
    let e = read_error(&stored);
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(
        e.to_string().starts_with(&format!(
            "lzop data of 'test.lzo' is corrupt at compressed offset {PIPED_HEADER}: the \
             Adler-32 of the decompressed block fails"
        )),
        "{e}"
    );
    let img = image(300_000);
    let blocks = payloads(&lzop(dir.path(), "-1", &img));
    let mut packed = rebuild(F_ADLER32_D | F_CRC32_C, &blocks, &img, None);
    let first = 9 + 25 + 4;
    packed[first + 12 + 50] ^= 1;
    let e = read_error(&packed);
    assert!(
        e.to_string()
            .contains("the CRC-32 of the compressed block fails"),
        "{e}"
    );
    // Without checksums, damage shows as data that does not decode to the block's length.
    let mut unchecked = lzop(dir.path(), "-F", &img);
    unchecked[PIPED_HEADER + 1] -= 1;
    let e = read_error(&unchecked);
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(
        e.to_string()
            .contains("LZO1X data does not decode (output overrun)"),
        "{e}"
    );
}

#[test]
fn truncation_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(300_000);
    let file = lzop(dir.path(), "-1", &img);
    for (cut, what) in [
        (file.len() / 2, "the file ends inside a block"),
        (file.len() - 4, "the file ends without its end marker"),
        (PIPED_HEADER + 6, "the file ends in a block header"),
    ] {
        let e = read_error(&file[..cut]);
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(
            e.to_string()
                .contains("lzop data of 'test.lzo' is truncated"),
            "{e}"
        );
        assert!(e.to_string().contains(what), "{e}");
    }
    let text = open_error(&file[..20]);
    assert!(
        text.contains("the header ends early, before offset 21"),
        "{text}"
    );
}

#[test]
fn a_multipart_file_is_an_error_not_its_first_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(100_000);
    let file = lzop(dir.path(), "-1", &img);
    let mut two = file.clone();
    two.extend_from_slice(&file);
    let e = read_error(&two);
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(
        e.to_string().contains(&format!(
            "corrupt at compressed offset {}: data follows the end marker",
            file.len()
        )),
        "{e}"
    );
}

#[test]
fn header_damage_and_unsupported_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image(1000);
    let file = lzop(dir.path(), "-1", &img);
    let mut damaged = file.clone();
    damaged[22] ^= 1;
    let text = open_error(&damaged);
    assert!(
        text.contains("lzop image 'test.lzo' is damaged: the header checksum at offset 34"),
        "{text}"
    );
    let blocks = payloads(&file);
    let mut method4 = rebuild(F_ADLER32_D, &blocks, &img, None);
    method4[15] = 4;
    let sum = adler32(&method4[9..9 + 25]);
    method4[34..38].copy_from_slice(&sum.to_be_bytes());
    let text = open_error(&method4);
    assert!(
        text.contains("compression method 4 (not LZO1X) is not supported"),
        "{text}"
    );
    let text = open_error(&rebuild(F_ADLER32_D | F_H_FILTER, &blocks, &img, None));
    assert!(
        text.contains("lzop image 'test.lzo': filter 1 is not supported"),
        "{text}"
    );
    let text = open_error(b"\x89LZX\0\r\n\x1a\n0000000000000000000");
    assert!(
        text.contains("does not start with the lzop magic number"),
        "{text}"
    );
}

#[test]
fn mutated_files_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opened = 0;
    // Two blocks for damage between blocks; a smaller file for many more header mutations.
    for (args, len, count) in [("-1", 270_000, 600), ("--crc32 -9", 50_000, 2400)] {
        let file = lzop(dir.path(), args, &image(len));
        for data in mutants(&file, count) {
            // Errors are fine, at open or while reading; a panic fails the test.
            if decode(&data).is_ok() {
                opened += 1;
            }
        }
    }
    assert!(
        opened > 100,
        "too few mutants opened ({opened}) to exercise the decoder"
    );
}
