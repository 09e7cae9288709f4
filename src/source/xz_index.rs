//! The uncompressed size of an xz file from its indexes, read backwards from the end with a
//! few small positional reads: streams end with a footer that points at their index, and the
//! index lists every block's sizes. Concatenated streams and stream padding are walked.
//!
//! Anything unexpected gives `None` (size unknown), never an error: the decoder, which checks
//! everything, will report damage when it meets it.

use super::random::{RandomAccess, read_vec};

const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Streams walked at most (each costs two reads).
const MAX_STREAMS: usize = 10_000;
/// The largest index read: 16 MiB holds about a million blocks.
const MAX_INDEX: u64 = 16 << 20;

/// What the indexes of an xz file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XzInfo {
    /// Uncompressed size of all streams.
    pub size: u64,
    /// Blocks in all streams; more than one per thread is what multi-threaded decoding needs.
    pub blocks: u64,
}

/// Reads the indexes of the xz file in `store`.
pub(crate) fn read(store: &dyn RandomAccess) -> Option<XzInfo> {
    let mut end = store.len();
    let mut info = XzInfo { size: 0, blocks: 0 };
    for _ in 0..MAX_STREAMS {
        end = skip_padding(store, end)?;
        let footer = read_vec(store, end.checked_sub(12)?, 12).ok()?;
        if footer[10..12] != FOOTER_MAGIC {
            return None;
        }
        let backward = u64::from(u32::from_le_bytes(footer[4..8].try_into().ok()?));
        let index_len = (backward + 1) * 4;
        if index_len > MAX_INDEX {
            return None;
        }
        let index_start = end.checked_sub(12 + index_len)?;
        let index = read_vec(store, index_start, usize::try_from(index_len).ok()?).ok()?;
        let (size, blocks, blocks_bytes) = parse_index(&index)?;
        let stream_start = index_start.checked_sub(blocks_bytes)?.checked_sub(12)?;
        let header = read_vec(store, stream_start, 6).ok()?;
        if header != HEADER_MAGIC {
            return None;
        }
        info.size = info.size.checked_add(size)?;
        info.blocks = info.blocks.checked_add(blocks)?;
        if stream_start == 0 {
            return Some(info);
        }
        end = stream_start;
    }
    None
}

/// Steps back over stream padding (zero bytes, in fours) before `end`.
fn skip_padding(store: &dyn RandomAccess, mut end: u64) -> Option<u64> {
    loop {
        let word = read_vec(store, end.checked_sub(4)?, 4).ok()?;
        if word != [0, 0, 0, 0] {
            return Some(end);
        }
        end -= 4;
    }
}

/// An index: indicator 0, record count, then per block (unpadded size, uncompressed size),
/// all as variable-length integers. Returns (uncompressed total, blocks, bytes of the blocks
/// with their padding to four).
fn parse_index(index: &[u8]) -> Option<(u64, u64, u64)> {
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let count = varint(&mut rest)?;
    let mut size: u64 = 0;
    let mut stored: u64 = 0;
    for _ in 0..count {
        let unpadded = varint(&mut rest)?;
        let uncompressed = varint(&mut rest)?;
        size = size.checked_add(uncompressed)?;
        stored = stored.checked_add(unpadded.checked_add(3)? / 4 * 4)?;
    }
    Some((size, count, stored))
}

/// An xz variable-length integer: seven bits per byte, low first, at most nine bytes.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::source::LocalFile;

    fn xz(args: &[&str], data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("xz")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("xz is needed (apt install xz-utils)");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().expect("xz");
        feeder.join().expect("join").expect("feed");
        out.stdout
    }

    fn info_of(bytes: &[u8]) -> Option<XzInfo> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.xz");
        std::fs::write(&path, bytes).expect("write");
        read(&LocalFile::open(&path).expect("open"))
    }

    #[test]
    fn sizes_of_single_multi_block_and_concatenated_streams() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let one = xz(&["-c"], &data);
        assert_eq!(
            info_of(&one),
            Some(XzInfo {
                size: 3_000_000,
                blocks: 1
            })
        );
        let blocks = xz(&["-c", "-T2", "--block-size=1000000"], &data);
        assert_eq!(
            info_of(&blocks),
            Some(XzInfo {
                size: 3_000_000,
                blocks: 3
            })
        );
        let mut two = one.clone();
        two.extend_from_slice(&[0; 8]); // stream padding
        two.extend_from_slice(&blocks);
        assert_eq!(
            info_of(&two),
            Some(XzInfo {
                size: 6_000_000,
                blocks: 4
            })
        );
    }

    #[test]
    fn damaged_files_give_no_size() {
        let data = vec![7u8; 100_000];
        let good = xz(&["-c"], &data);
        assert!(info_of(&good[..good.len() - 1]).is_none());
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 2] = b'X';
        assert!(info_of(&bad).is_none());
        assert!(info_of(&[0u8; 3]).is_none());
        assert!(info_of(&[0u8; 64]).is_none());
    }
}
