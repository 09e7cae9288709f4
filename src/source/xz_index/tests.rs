use super::*;
use crate::source::LocalFile;
use crate::source::testing::{in_memory, xz, xz_list};

/// What `read` makes of `bytes` in a local file.
fn info_of(bytes: &[u8]) -> Result<Option<XzInfo>, SourceError> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("x.xz");
    std::fs::write(&path, bytes).expect("write");
    read(&LocalFile::open(&path).expect("open"), false).map(|index| index.map(|i| i.info))
}

/// What `read` makes of `bytes` in memory, named `x.xz`.
fn read_memory(bytes: &[u8]) -> Result<Option<XzInfo>, SourceError> {
    read(&*in_memory("x.xz", bytes), false).map(|index| index.map(|i| i.info))
}

/// The block table `read` gives of `bytes`.
fn table_of(bytes: &[u8]) -> Option<Vec<XzBlock>> {
    match read(&*in_memory("x.xz", bytes), true) {
        Ok(Some(index)) => index.blocks,
        other => panic!("a whole xz file: {other:?}"),
    }
}

/// The blocks `xz --robot -lvv` lists in `bytes`: (file offset, uncompressed offset,
/// size in the file with padding, uncompressed size).
fn listed_blocks(bytes: &[u8]) -> Vec<[u64; 4]> {
    xz_list(bytes)
        .into_iter()
        .filter(|fields| fields.first().is_some_and(|f| f == "block"))
        .map(|fields| {
            let numbers: Vec<u64> = fields[4..8]
                .iter()
                .map(|f| f.parse().expect("a number"))
                .collect();
            [numbers[0], numbers[1], numbers[2], numbers[3]]
        })
        .collect()
}

/// The size `read` finds in a whole file.
fn size_of(bytes: &[u8]) -> XzInfo {
    match read_memory(bytes) {
        Ok(Some(info)) => info,
        other => panic!("a whole xz file: {other:?}"),
    }
}

/// The reason `read` refuses `bytes` as incomplete, after checking the rest of the message.
fn refusal(bytes: &[u8]) -> String {
    match read_memory(bytes) {
        Err(e @ SourceError::Incomplete { .. }) => {
            let text = e.to_string();
            let start = format!(
                "xz file 'x.xz' is incomplete (it ends at byte {}, ",
                bytes.len()
            );
            assert!(text.starts_with(&start), "{text}");
            assert!(text.ends_with("); download it again"), "{text}");
            match e {
                SourceError::Incomplete { reason, .. } => reason,
                _ => unreachable!(),
            }
        }
        other => panic!(
            "{} bytes: not refused as incomplete: {other:?}",
            bytes.len()
        ),
    }
}

fn data() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn sizes_of_single_multi_block_and_concatenated_streams() {
    let data = data();
    let one = xz(&[], &data);
    let single = XzInfo {
        size: 3_000_000,
        blocks: 1,
    };
    assert_eq!(info_of(&one).expect("whole"), Some(single));
    let blocks = xz(&["-T2", "--block-size=1000000"], &data);
    assert_eq!(
        info_of(&blocks).expect("whole"),
        Some(XzInfo {
            size: 3_000_000,
            blocks: 3
        })
    );
    let mut two = one.clone();
    two.extend_from_slice(&[0; 8]); // stream padding
    two.extend_from_slice(&blocks);
    assert_eq!(
        info_of(&two).expect("whole"),
        Some(XzInfo {
            size: 6_000_000,
            blocks: 4
        })
    );
}

/// The block table is what the xz tool lists, stream after stream with padding between,
/// and the blocks follow one another in the file and in the uncompressed bytes.
#[test]
fn the_block_table_is_what_xz_lists() {
    let data = data();
    let multi = xz(
        &["-c", "-T2", "--block-size=700000", "--check=sha256"],
        &data,
    );
    let one = xz(&["--check=crc32"], &data[..100_000]);
    let mut joined = multi.clone();
    joined.extend_from_slice(&[0; 8]);
    joined.extend_from_slice(&one);
    joined.extend_from_slice(&multi);
    let table = table_of(&joined).expect("a table");
    let listed = listed_blocks(&joined);
    assert_eq!(table.len(), 11);
    assert_eq!(table.len(), listed.len());
    for (block, &[offset, start, stored, size]) in table.iter().zip(&listed) {
        assert_eq!(
            [
                block.offset,
                block.start,
                block.unpadded.div_ceil(4) * 4,
                block.size
            ],
            [offset, start, stored, size],
            "{block:?}"
        );
    }
    for pair in table.windows(2) {
        assert_eq!(pair[0].start + pair[0].size, pair[1].start);
    }
    // The check each stream's flags name: SHA-256 (10), CRC32 (1), SHA-256.
    let checks: Vec<u8> = table.iter().map(|b| b.flags[1]).collect();
    assert_eq!(checks, [10, 10, 10, 10, 10, 1, 10, 10, 10, 10, 10]);
    assert_eq!(table.last().map(|b| b.start + b.size), Some(6_100_000));
    // Asked for nothing, the walk gives none.
    let index = read(&*in_memory("x.xz", &joined), false).expect("whole");
    assert_eq!(index.expect("known").blocks, None);
}

/// No table for a block over the largest listed; the size is still known.
#[test]
fn a_block_over_the_largest_gives_no_table() {
    let zeros = vec![0u8; usize::try_from(MAX_BLOCK_SIZE).expect("small") + 4096];
    let big = xz(&["-0", "--block-size=100MiB", "-T2"], &zeros);
    assert_eq!(table_of(&big), None);
    assert_eq!(size_of(&big).size, zeros.len() as u64);
    let split = xz(&["-0", "--block-size=32MiB", "-T2"], &zeros);
    assert_eq!(table_of(&split).map(|t| t.len()), Some(3));
}

/// A table of the most blocks listed, and none of one block more.
#[test]
fn more_blocks_than_the_most_listed_give_no_table() {
    let zeros = vec![0u8; MAX_TABLE_BLOCKS * 16];
    let most = xz(&["-0", "-T1", "--block-size=16"], &zeros);
    assert_eq!(table_of(&most).map(|t| t.len()), Some(MAX_TABLE_BLOCKS));
    let more = xz(
        &["-c", "-0", "-T1", "--block-size=16"],
        &[&zeros[..], &[0; 16]].concat(),
    );
    assert_eq!(size_of(&more).blocks, MAX_TABLE_BLOCKS as u64 + 1);
    assert_eq!(table_of(&more), None);
    // Also when the blocks are in two streams.
    let mut two = most.clone();
    two.extend_from_slice(&xz(&[], b"one more block"));
    assert_eq!(table_of(&two), None);
}

/// Whatever the xz tool writes is whole: one thread or many, one block or many, every
/// check, no data at all, streams joined with and without padding, padding at the end.
#[test]
fn every_whole_xz_file_is_accepted() {
    let data = data();
    for args in [
        &["-c"][..],
        &["-c", "-T1"],
        &["-c", "-T0"],
        &["-c", "-0", "-T0"],
        &["-c", "-0", "-T2", "--block-size=65536"],
        &["-c", "--check=none"],
        &["-c", "--check=crc32"],
        &["-c", "--check=sha256"],
    ] {
        let file = xz(args, &data);
        assert_eq!(size_of(&file).size, 3_000_000, "xz {args:?}");
    }
    // `-T0` splits what is larger than its blocks: 3 * 256 KiB at -0, 1 MiB at least.
    assert!(size_of(&xz(&["-0", "-T0"], &data)).blocks > 1);
    assert_eq!(size_of(&xz(&[], b"")), XzInfo { size: 0, blocks: 0 });

    let small = xz(&[], &data[..1000]);
    let multi = xz(&["-T2", "--block-size=400"], &data[..1000]);
    for padding in [0, 4, 8, 4096, 4100, 300_000] {
        let mut joined = small.clone();
        joined.extend(std::iter::repeat_n(0, padding));
        joined.extend_from_slice(&multi);
        joined.extend(std::iter::repeat_n(0, padding));
        joined.extend_from_slice(&small);
        joined.extend(std::iter::repeat_n(0, padding));
        let info = size_of(&joined);
        assert_eq!(info.size, 3000, "{padding} bytes of padding");
        assert_eq!(info.blocks, 5, "{padding} bytes of padding");
    }
}

/// A download cut short anywhere is refused: in its last stream's footer, index or
/// blocks, or in an earlier stream, and cut where zeros follow.
#[test]
fn every_cut_is_refused_as_incomplete() {
    let data = data();
    let multi = xz(
        &["-c", "-0", "-T2", "--block-size=100000"],
        &data[..1_000_000],
    );
    let len = multi.len();
    let mut cuts: Vec<usize> = (0..len).step_by(997).collect();
    cuts.extend(len.saturating_sub(300)..len);
    for &cut in &cuts {
        let reason = refusal(&multi[..cut]);
        assert!(reason.contains("inside an xz stream that"), "{reason}");
    }
    // Cut, and the rest of the file's room left as zeros (a download made in place).
    let mut zeroed = multi.clone();
    zeroed[len / 2..].fill(0);
    let reason = refusal(&zeroed);
    assert!(
        reason.ends_with("inside an xz stream that has no stream footer"),
        "{reason}"
    );
    // Two streams, cut inside the second, but not where the first one (with its padding)
    // ends: that is a whole file of one stream.
    let mut two = multi.clone();
    two.extend_from_slice(&[0; 4]);
    let first = two.len();
    two.extend_from_slice(&multi);
    for cut in (first + 1..two.len()).step_by(1009) {
        refusal(&two[..cut]);
    }
    assert_eq!(size_of(&two[..first]).size, 1_000_000);
    assert_eq!(size_of(&two[..len]).size, 1_000_000);
}

/// A complete file whose end is garbled: each part of it is checked and named.
#[test]
fn damaged_ends_are_refused_and_say_what_is_wrong() {
    let good = xz(&[], &data()[..100_000]);
    let n = good.len();
    let mut magic = good.clone();
    magic[n - 2] = b'X';
    assert!(refusal(&magic).ends_with("inside an xz stream that has no stream footer"));

    let mut footer_crc = good.clone();
    footer_crc[n - 12] ^= 1;
    assert!(refusal(&footer_crc).contains("has a damaged stream footer"));

    // The footer's checksum made right for a wrong backward size.
    let with_backward = |backward: u32| {
        let mut bytes = good.clone();
        bytes[n - 8..n - 4].copy_from_slice(&backward.to_le_bytes());
        let crc = crc32(&bytes[n - 8..n - 2]);
        bytes[n - 12..n - 8].copy_from_slice(&crc.to_le_bytes());
        bytes
    };
    let outside = refusal(&with_backward(1 << 20));
    assert!(
        outside.contains("has a footer that points to an index of 4194308 bytes"),
        "{outside}"
    );
    let elsewhere = refusal(&with_backward(1));
    assert!(
        elsewhere.contains("has no valid index at byte"),
        "{elsewhere}"
    );

    let backward = u64::from(u32_at(&good, n - 8));
    let index_at = n - 12 - usize::try_from((backward + 1) * 4).expect("small");
    let mut index = good.clone();
    index[index_at + 2] ^= 0x40;
    let text = refusal(&index);
    assert!(
        text.contains(&format!(
            "has no valid index at byte {index_at}, where its footer points"
        )),
        "{text}"
    );

    let mut header = good.clone();
    header[0] = 0;
    let text = refusal(&header);
    assert!(
        text.contains("has no stream header at byte 0, where its index says it starts"),
        "{text}"
    );
    let mut flags = good.clone();
    flags[7] ^= 0x0F;
    assert!(refusal(&flags).contains("has no stream header at byte 0"));

    // Stream padding comes in fours, and nothing else may follow a stream.
    for tail in [
        &[0u8][..],
        &[0, 0],
        &[0, 0, 0],
        &[0, 0, 0, 0, 0, 0],
        b"junk",
        b"\n",
    ] {
        let mut padded = good.clone();
        padded.extend_from_slice(tail);
        let text = refusal(&padded);
        assert!(text.contains("has no stream footer"), "{tail:?}: {text}");
    }

    // An earlier stream is named by where it ends.
    let mut two = magic.clone();
    two.extend_from_slice(&good);
    let text = refusal(&two);
    assert!(
        text.ends_with(&format!(
            "and the xz stream that ends at byte {n} has no stream footer"
        )),
        "{text}"
    );

    for bytes in [&[][..], &[0u8; 3], &[0u8; 64], &HEADER_MAGIC] {
        refusal(bytes);
    }
}

/// What cannot be told in a few reads is left to the decoder, not refused.
#[test]
fn odd_but_possible_ends_leave_the_size_unknown() {
    let good = xz(&[], &data()[..100_000]);
    let mut padded = good.clone();
    padded.extend(std::iter::repeat_n(0, 2 << 20));
    assert_eq!(read_memory(&padded).expect("not refused"), None);

    // Flags a newer xz might set, with a footer checksum that holds.
    let n = good.len();
    let mut newer = good.clone();
    newer[n - 4] = 0x01;
    let crc = crc32(&newer[n - 8..n - 2]);
    newer[n - 12..n - 8].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(read_memory(&newer).expect("not refused"), None);
}
