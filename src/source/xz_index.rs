//! The uncompressed size of an xz file from its indexes, and a check that the file is whole,
//! read backwards from the end with a few small positional reads: streams end with a footer
//! that points at their index, and the index lists every block's sizes. Concatenated streams
//! and stream padding are walked.
//!
//! A whole xz file ends, stream after stream, with what is checked here: stream padding (zero
//! bytes, in fours), a footer whose checksum holds, an index whose checksum holds and whose
//! blocks fit in the file, and a stream header where the index says the stream starts. A file
//! that does not is refused as incomplete ([`SourceError::Incomplete`]): it was cut short in
//! the download, or damaged at its end, and would fail part-way through a write. The blocks'
//! data is not looked at; the decoder checks it.
//!
//! What cannot be told in a few reads gives `Ok(None)` (size unknown), never an error: an
//! index over [`MAX_INDEX`], more than [`MAX_STREAMS`] streams, more than [`MAX_PADDING`] of
//! padding in a row, flags of a newer xz, sizes that overflow. The decoder meets those.

use std::io;

use flate2::Crc;

use super::random::{RandomAccess, read_vec};
use super::{Format, SourceError};
use crate::le::u32_at;

const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Stream header and footer, in bytes.
const HEADER_LEN: u64 = 12;
const FOOTER_LEN: u64 = 12;
/// The smallest index: indicator, no records, padding, CRC-32.
const MIN_INDEX: u64 = 8;
/// Streams walked at most (each costs three reads).
const MAX_STREAMS: usize = 10_000;
/// The largest index read: 16 MiB holds about a million blocks.
const MAX_INDEX: u64 = 16 << 20;
/// The most stream padding stepped over in a row. xz writes none; more than this many zero
/// bytes is someone's odd file, whose end is then left to the decoder.
const MAX_PADDING: u64 = 1 << 20;
/// The first read of padding, in bytes; each next one is twice as large, up to 256 KiB.
const PADDING_READ: u64 = 4096;

/// What the indexes of an xz file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XzInfo {
    /// Uncompressed size of all streams.
    pub size: u64,
    /// Blocks in all streams; more than one per thread is what multi-threaded decoding needs.
    pub blocks: u64,
}

/// Reads the indexes of the xz file in `store`, checking that it ends as a whole xz file does.
/// `Ok(None)` when that cannot be told cheaply; [`SourceError::Incomplete`] when its end is
/// wrong, [`SourceError::Open`] when it cannot be read.
pub(crate) fn read(store: &dyn RandomAccess) -> Result<Option<XzInfo>, SourceError> {
    let name = store.name();
    let len = store.len();
    let read = |offset: u64, len: u64| {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        read_vec(store, offset, len)
    };
    let failed = |source| SourceError::Open {
        name: name.to_owned(),
        source,
    };
    let mut end = len;
    let mut info = XzInfo { size: 0, blocks: 0 };
    for walked in 0..MAX_STREAMS {
        end = match skip_padding(store, end).map_err(failed)? {
            Some(end) => end,
            None => return Ok(None),
        };
        // The last stream is the one a cut-short download ends inside; an earlier one is
        // named by where it ends.
        let incomplete = |problem: String| {
            let reason = if walked == 0 {
                format!("it ends at byte {len}, inside an xz stream that {problem}")
            } else {
                format!(
                    "it ends at byte {len}, and the xz stream that ends at byte {end} {problem}"
                )
            };
            SourceError::incomplete(name, Format::Xz, reason)
        };
        if end < HEADER_LEN + MIN_INDEX + FOOTER_LEN {
            return Err(incomplete(
                "is too short to hold a stream header, an index and a footer".into(),
            ));
        }
        let footer = read(end - FOOTER_LEN, FOOTER_LEN).map_err(failed)?;
        if footer[10..12] != FOOTER_MAGIC {
            return Err(incomplete("has no stream footer".into()));
        }
        if crc32(&footer[4..10]) != u32_at(&footer, 0) {
            return Err(incomplete(
                "has a damaged stream footer (its checksum is wrong)".into(),
            ));
        }
        // Reserved flag bits set: a newer format, which the decoder will name.
        if footer[8] != 0 || footer[9] & 0xF0 != 0 {
            return Ok(None);
        }
        let index_len = (u64::from(u32_at(&footer, 4)) + 1) * 4;
        if index_len > MAX_INDEX {
            return Ok(None);
        }
        let Some(index_start) = (end - FOOTER_LEN)
            .checked_sub(index_len)
            .filter(|&start| start >= HEADER_LEN)
        else {
            return Err(incomplete(format!(
                "has a footer that points to an index of {index_len} bytes, more than the \
                 file holds before it"
            )));
        };
        let index = read(index_start, index_len).map_err(failed)?;
        let Some((size, blocks, blocks_len)) = parse_index(&index) else {
            return Err(incomplete(format!(
                "has no valid index at byte {index_start}, where its footer points"
            )));
        };
        let Some(stream_start) = index_start
            .checked_sub(blocks_len)
            .and_then(|start| start.checked_sub(HEADER_LEN))
        else {
            return Err(incomplete(format!(
                "has an index that lists {blocks_len} bytes of blocks, more than the file \
                 holds before byte {index_start}"
            )));
        };
        let header = read(stream_start, HEADER_LEN).map_err(failed)?;
        if header[..6] != HEADER_MAGIC || crc32(&header[6..8]) != u32_at(&header, 8) {
            return Err(incomplete(format!(
                "has no stream header at byte {stream_start}, where its index says it starts"
            )));
        }
        if header[6..8] != footer[8..10] {
            return Err(incomplete(format!(
                "has a stream header at byte {stream_start} whose flags differ from its footer's"
            )));
        }
        let (Some(total), Some(all_blocks)) =
            (info.size.checked_add(size), info.blocks.checked_add(blocks))
        else {
            return Ok(None);
        };
        info = XzInfo {
            size: total,
            blocks: all_blocks,
        };
        if stream_start == 0 {
            return Ok(Some(info));
        }
        end = stream_start;
    }
    Ok(None)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Steps back over stream padding (zero bytes, in fours) before `end`, reading ever larger
/// pieces; `None` past [`MAX_PADDING`].
fn skip_padding(store: &dyn RandomAccess, mut end: u64) -> io::Result<Option<u64>> {
    let mut piece = PADDING_READ;
    let mut skipped = 0;
    loop {
        let take = piece.min(end / 4 * 4);
        if take == 0 {
            return Ok(Some(end));
        }
        let bytes = read_vec(
            store,
            end - take,
            usize::try_from(take).map_err(io::Error::other)?,
        )?;
        let zeros = bytes
            .rchunks_exact(4)
            .take_while(|word| word.iter().all(|&b| b == 0))
            .count() as u64
            * 4;
        if zeros < take {
            return Ok(Some(end - zeros));
        }
        end -= take;
        skipped += take;
        if skipped > MAX_PADDING {
            return Ok(None);
        }
        piece = (piece * 2).min(256 << 10);
    }
}

/// An index: indicator 0, record count, then per block (unpadded size, uncompressed size),
/// all as variable-length integers, zero padding to four bytes and the CRC-32 of it all.
/// Returns (uncompressed total, blocks, bytes of the blocks with their padding to four), or
/// `None` when it is not an index.
fn parse_index(index: &[u8]) -> Option<(u64, u64, u64)> {
    let (body, crc) = index.split_at_checked(index.len().checked_sub(4)?)?;
    if crc32(body) != u32_at(crc, 0) {
        return None;
    }
    let (&indicator, mut rest) = body.split_first()?;
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
    // What is left is the index padding: fewer than four zero bytes.
    if rest.len() >= 4 || rest.iter().any(|&b| b != 0) {
        return None;
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
    use crate::source::testing::in_memory;

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
        assert!(out.status.success(), "xz {args:?}");
        out.stdout
    }

    /// What `read` makes of `bytes` in a local file.
    fn info_of(bytes: &[u8]) -> Result<Option<XzInfo>, SourceError> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.xz");
        std::fs::write(&path, bytes).expect("write");
        read(&LocalFile::open(&path).expect("open"))
    }

    /// What `read` makes of `bytes` in memory, named `x.xz`.
    fn read_memory(bytes: &[u8]) -> Result<Option<XzInfo>, SourceError> {
        read(&*in_memory("x.xz", bytes))
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
        let one = xz(&["-c"], &data);
        let single = XzInfo {
            size: 3_000_000,
            blocks: 1,
        };
        assert_eq!(info_of(&one).expect("whole"), Some(single));
        let blocks = xz(&["-c", "-T2", "--block-size=1000000"], &data);
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
        assert!(size_of(&xz(&["-c", "-0", "-T0"], &data)).blocks > 1);
        assert_eq!(size_of(&xz(&["-c"], b"")), XzInfo { size: 0, blocks: 0 });

        let small = xz(&["-c"], &data[..1000]);
        let multi = xz(&["-c", "-T2", "--block-size=400"], &data[..1000]);
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
        let good = xz(&["-c"], &data()[..100_000]);
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
        let good = xz(&["-c"], &data()[..100_000]);
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
}
