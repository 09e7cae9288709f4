use super::*;
use crate::source::testing::{image, in_memory, noise, read_all, xz};
use crate::source::xz_index;
use crate::source::{Format, open_store};

/// Image-like bytes with stretches of noise, so that blocks compress to different sizes.
fn data(len: usize) -> Vec<u8> {
    let mut data = image(len);
    for (i, chunk) in data
        .chunks_mut(900_000)
        .enumerate()
        .filter(|(i, _)| i % 3 == 1)
    {
        let n = chunk.len() / 2;
        chunk[..n].copy_from_slice(&noise(n, i as u64));
    }
    data
}

/// The blocks of `file`, as opening it finds them.
fn blocks_of(file: &[u8]) -> XzBlocks {
    let store = in_memory("x.img.xz", file);
    let index = xz_index::read(&*store, true)
        .expect("whole")
        .expect("its size is known");
    XzBlocks::new(store, index.blocks.expect("a block table"))
}

/// Deterministic pseudo-random numbers (xorshift).
fn numbers(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Reads at random offsets, of random lengths up to `longest`, equal `want`; so does every
/// read across each block boundary.
fn assert_reads_equal(blocks: &XzBlocks, want: &[u8], longest: u64) {
    assert_eq!(blocks.len(), want.len() as u64);
    let mut next = numbers(5);
    for _ in 0..200 {
        let len = next() % longest;
        let offset = next() % (want.len() as u64 - len);
        let mut got = vec![0; len as usize];
        blocks.read_exact_at(offset, &mut got).expect("reads");
        let at = offset as usize;
        assert!(
            got == want[at..at + len as usize],
            "{len} bytes at {offset}"
        );
    }
    for block in &blocks.inner.blocks[1..] {
        let mut got = vec![0; 8192];
        blocks
            .read_exact_at(block.start - 4096, &mut got)
            .expect("reads");
        let at = block.start as usize - 4096;
        assert!(got == want[at..at + 8192], "across the start of {block:?}");
    }
    let cache = blocks.inner.cache.lock().expect("lock");
    assert!(cache.len() <= CACHED_BLOCKS, "{} blocks kept", cache.len());
}

/// Reads anywhere give the decoded bytes, within a block, across boundaries and across
/// concatenated streams with padding between them and different checks; so do streams.
#[test]
fn reads_anywhere_equal_the_decoded_bytes() {
    let data = data(6 << 20);
    let multi = xz(&["-T2", "-1", "--block-size=1MiB"], &data);
    let blocks = blocks_of(&multi);
    assert_eq!(blocks.inner.blocks.len(), 6);
    assert_reads_equal(&blocks, &data, 3 << 20);

    let tail = &data[..1_500_000];
    let mut joined = multi.clone();
    joined.extend_from_slice(&[0; 12]);
    joined.extend_from_slice(&xz(&["-1", "--check=sha256"], tail));
    joined.extend_from_slice(&xz(
        &["-T2", "-0", "--block-size=300000", "--check=crc32"],
        tail,
    ));
    let want = [&data[..], tail, tail].concat();
    let blocks = blocks_of(&joined);
    assert_eq!(blocks.inner.blocks.len(), 6 + 1 + 5);
    assert_reads_equal(&blocks, &want, 2 << 20);

    let whole = read_all(blocks.stream(0, u64::MAX).expect("stream")).expect("reads");
    assert!(whole == want, "the whole stream");
    let part = read_all(blocks.stream(5_000_000, 3_000_000).expect("stream")).expect("reads");
    assert!(part == want[5_000_000..8_000_000], "part of it");
    let past = read_all(blocks.stream(want.len() as u64 + 10, 10).expect("stream"));
    assert!(past.expect("reads").is_empty());
}

/// Reads past the end are refused; an empty read at the end is not.
#[test]
fn reads_past_the_end_are_refused() {
    let data = data(3 << 20);
    let blocks = blocks_of(&xz(&["-T2", "-0", "--block-size=1MiB"], &data));
    let len = blocks.len();
    blocks
        .read_exact_at(len, &mut [])
        .expect("nothing at the end");
    for (offset, n) in [
        (len - 10, 11),
        (len, 1),
        (u64::MAX, 1),
        (len + (1 << 20), 100),
    ] {
        let err = blocks
            .read_exact_at(offset, &mut vec![0; n])
            .expect_err("past the end");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert!(err.to_string().contains("'x.img.xz'"), "{err}");
    }
}

/// A byte changed anywhere inside a block (its header, its data, its check) makes every read
/// of that block an error naming the file, the block and the byte asked for; the blocks
/// around it still read right.
#[test]
fn a_damaged_block_is_an_error_never_other_bytes() {
    let data = data(4 << 20);
    let good = xz(&["-T2", "-1", "--block-size=1MiB"], &data);
    let table = blocks_of(&good).inner.blocks.clone();
    let block = table[2];
    let (from, to) = (
        block.offset as usize,
        (block.offset + block.unpadded) as usize,
    );
    for at in [from + 1, from + 40, (from + to) / 2, to - 20, to - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        // The index, at the end of the file, is whole: the damage is found by decoding.
        let blocks = blocks_of(&bad);
        for offset in [
            block.start,
            block.start + 12345,
            block.start + block.size - 1,
        ] {
            let err = blocks
                .read_exact_at(offset, &mut [0; 1])
                .expect_err("a damaged block");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
            let text = err.to_string();
            let wanted = format!(
                "xz data of 'x.img.xz' cannot be read at byte {offset} of the image, in its \
                 block at compressed offset {}: ",
                block.offset
            );
            assert!(text.starts_with(&wanted), "byte {at} changed: {text}");
        }
        let err = blocks
            .read_exact_at(block.start - 10, &mut [0; 20])
            .expect_err("a read into it");
        assert!(
            err.to_string()
                .contains(&format!("offset {}", block.offset))
        );
        let mut before = vec![0; 4096];
        blocks
            .read_exact_at(block.start - 4096, &mut before)
            .expect("the block before");
        assert!(before == data[block.start as usize - 4096..block.start as usize]);
        let end = (block.start + block.size) as usize;
        let mut after = vec![0; 4096];
        blocks
            .read_exact_at(end as u64, &mut after)
            .expect("the block after");
        assert!(after == data[end..end + 4096]);
    }
}

/// A table whose sizes are not the blocks' (as a store changed since it was listed would
/// give): the decoded size is checked, and so is the unpadded size.
#[test]
fn a_block_of_another_size_than_its_table_says_is_an_error() {
    let data = data(3 << 20);
    let file = xz(&["-T2", "-1", "--block-size=1MiB"], &data);
    let table = blocks_of(&file).inner.blocks.clone();
    let store = in_memory("x.img.xz", &file);
    for (field, change) in [
        ("size", 1i64),
        ("size", -1),
        ("unpadded", 4),
        ("unpadded", -1),
    ] {
        let mut wrong = table.clone();
        let block = &mut wrong[1];
        let value = if field == "size" {
            &mut block.size
        } else {
            &mut block.unpadded
        };
        *value = value.saturating_add_signed(change);
        let blocks = XzBlocks::new(Arc::clone(&store), wrong);
        let at = table[1].start + 100;
        let err = blocks
            .read_exact_at(at, &mut [0; 10])
            .expect_err("sizes differ");
        let text = err.to_string();
        assert!(
            text.contains(&format!("at compressed offset {}", table[1].offset)),
            "{field} {change}: {text}"
        );
        let mut first = vec![0; 1000];
        blocks.read_exact_at(0, &mut first).expect("block 0");
        assert!(first == data[..1000]);
    }
}

/// The cache holds at most two blocks, whatever is read.
#[test]
fn at_most_two_blocks_are_kept() {
    let data = data(4 << 20);
    let blocks = blocks_of(&xz(&["-T2", "-0", "--block-size=512KiB"], &data));
    let mut next = numbers(9);
    for _ in 0..50 {
        let offset = next() % (blocks.len() - 100);
        blocks.read_exact_at(offset, &mut [0; 100]).expect("reads");
        let cache = blocks.inner.cache.lock().expect("lock");
        assert!(cache.len() <= CACHED_BLOCKS);
        let kept: usize = cache.iter().map(|(_, d)| d.len()).sum();
        assert!(kept as u64 <= CACHED_BYTES);
    }
}

/// Opened, a raw image in an xz file of several blocks has random access, one in a file of
/// one block or in a .tar.xz has not; the copy's source is the stream either way.
#[test]
fn only_a_raw_image_in_several_blocks_gets_random_access() {
    let data = data(3 << 20);
    let multi = xz(&["-T2", "-1", "--block-size=1MiB"], &data);
    let opened = open_store(in_memory("x.img.xz", &multi)).expect("opens");
    assert_eq!(opened.layers.len(), 1);
    assert_eq!(opened.layers[0].format, Format::Xz);
    assert_eq!(opened.layers[0].xz_blocks, Some(3));
    let store = opened.store.expect("random access");
    assert_eq!(store.len(), data.len() as u64);
    assert_eq!(store.name(), "x.img.xz");
    let mut got = vec![0; 2 << 20];
    store.read_exact_at(500_000, &mut got).expect("reads");
    assert!(got == data[500_000..500_000 + (2 << 20)]);
    assert!(read_all(opened.source).expect("streams") == data);

    let single = xz(&["-T1", "-1"], &data);
    let opened = open_store(in_memory("x.img.xz", &single)).expect("opens");
    assert_eq!(opened.layers[0].xz_blocks, Some(1));
    assert!(opened.store.is_none());

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("x.img"), &data).expect("write");
    let tar = crate::source::testing::shell(dir.path(), "tar -cf - x.img");
    let tarred = xz(&["-T2", "-1", "--block-size=1MiB"], &tar);
    let opened = open_store(in_memory("x.tar.xz", &tarred)).expect("opens");
    assert_eq!(opened.layers.len(), 2);
    assert!(opened.store.is_none());
    assert!(read_all(opened.source).expect("streams") == data);
}
