//! The uncompressed size of an xz file from its indexes, and a check that the file is whole,
//! read backwards from the end with a few small positional reads: streams end with a footer
//! that points at their index, and the index lists every block's sizes. Concatenated streams
//! and stream padding are walked. The same walk can also give the table of the file's blocks
//! (where each one is, in the file and in the uncompressed bytes), which lets
//! [`XzBlocks`](super::xz_blocks::XzBlocks) read any part of the image by decoding only the
//! block that holds it.
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
//! padding in a row, flags of a newer xz, sizes that overflow. The decoder meets those. The
//! block table is left out (`None`) for a file of more than [`MAX_TABLE_BLOCKS`] blocks or
//! with a block over [`MAX_BLOCK_SIZE`]: such a file is only streamed.

use std::io;

use flate2::Crc;

use super::random::{RandomAccess, read_vec};
use super::{Format, SourceError};
use crate::le::u32_at;

pub(super) const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
pub(super) const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
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

/// Blocks listed at most in a block table: 64 Ki of them take 2.5 MiB, and cover 1.5 TiB in
/// the 24 MiB blocks of `xz -T0 -6`.
pub(crate) const MAX_TABLE_BLOCKS: usize = 1 << 16;

/// The largest block, uncompressed, that a block table lists: a block is decoded whole to read
/// any byte of it. `xz -T0` makes blocks of three times the dictionary, 24 MiB at its default
/// preset and 48 MiB at `-7`; `-8` and `-9` make larger ones, which are only streamed.
pub(crate) const MAX_BLOCK_SIZE: u64 = 64 << 20;

/// One block of an xz file, as its stream's index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XzBlock {
    /// Where its block header starts in the file.
    pub offset: u64,
    /// Its unpadded size: block header, compressed data and check, without the block padding
    /// to four bytes.
    pub unpadded: u64,
    /// Where its data starts in the uncompressed bytes of the whole file.
    pub start: u64,
    /// Its uncompressed size.
    pub size: u64,
    /// The stream flags of the stream it is in (which check its blocks carry), as its stream
    /// header has them.
    pub flags: [u8; 2],
}

/// What the indexes of an xz file say, and with [`read`]'s `table` the table of its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XzIndex {
    /// The size and the number of blocks.
    pub info: XzInfo,
    /// Every block of every stream, in file order; `None` when not asked for, or over
    /// [`MAX_TABLE_BLOCKS`] or [`MAX_BLOCK_SIZE`].
    pub blocks: Option<Vec<XzBlock>>,
}

/// Reads the indexes of the xz file in `store`, checking that it ends as a whole xz file does,
/// and with `table` lists its blocks too. `Ok(None)` when that cannot be told cheaply;
/// [`SourceError::Incomplete`] when its end is wrong, [`SourceError::Open`] when it cannot be
/// read.
pub(crate) fn read(store: &dyn RandomAccess, table: bool) -> Result<Option<XzIndex>, SourceError> {
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
    // The blocks of each stream walked, last stream first; `None` once there is no table.
    let mut streams: Option<Vec<Vec<XzBlock>>> = table.then(Vec::new);
    let mut listed = 0;
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
        let mut records = Vec::new();
        let keep = streams.is_some();
        let record = |unpadded, size| {
            if keep && listed + records.len() < MAX_TABLE_BLOCKS {
                records.push((unpadded, size));
            }
        };
        let Some((size, blocks, blocks_len)) = parse_index(&index, record) else {
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
        if let Some(list) = streams.as_mut() {
            let flags = [header[6], header[7]];
            match stream_blocks(stream_start, flags, &records) {
                Some(blocks)
                    if usize::try_from(all_blocks).is_ok_and(|n| n <= MAX_TABLE_BLOCKS) =>
                {
                    listed += blocks.len();
                    list.push(blocks);
                }
                _ => streams = None,
            }
        }
        if stream_start == 0 {
            return Ok(Some(XzIndex {
                info,
                blocks: streams.map(in_file_order),
            }));
        }
        end = stream_start;
    }
    Ok(None)
}

/// The blocks of the stream at `stream_start` from its index records (unpadded size,
/// uncompressed size), their uncompressed starts counted from the stream's; `None` when one
/// is over [`MAX_BLOCK_SIZE`].
fn stream_blocks(
    stream_start: u64,
    flags: [u8; 2],
    records: &[(u64, u64)],
) -> Option<Vec<XzBlock>> {
    let mut offset = stream_start + HEADER_LEN;
    let mut start: u64 = 0;
    let mut blocks = Vec::with_capacity(records.len());
    for &(unpadded, size) in records {
        if size > MAX_BLOCK_SIZE {
            return None;
        }
        blocks.push(XzBlock {
            offset,
            unpadded,
            start,
            size,
            flags,
        });
        offset = offset.checked_add(unpadded.checked_add(3)? / 4 * 4)?;
        start = start.checked_add(size)?;
    }
    Some(blocks)
}

/// The streams' blocks (walked last stream first) in file order, each block's start counted
/// from the start of the whole file's uncompressed bytes.
fn in_file_order(streams: Vec<Vec<XzBlock>>) -> Vec<XzBlock> {
    let mut base = 0;
    let mut all = Vec::with_capacity(streams.iter().map(Vec::len).sum());
    for stream in streams.into_iter().rev() {
        let size = stream.last().map_or(0, |b| b.start + b.size);
        all.extend(stream.into_iter().map(|b| XzBlock {
            start: base + b.start,
            ..b
        }));
        // The streams' sizes add up to the file's, which did not overflow.
        base += size;
    }
    all
}

/// The CRC-32 of `bytes`, as xz's headers, indexes and footers carry it.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
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
/// `None` when it is not an index; `record` hears each block's (unpadded, uncompressed) sizes
/// in order, before the index is known to be whole.
fn parse_index(index: &[u8], mut record: impl FnMut(u64, u64)) -> Option<(u64, u64, u64)> {
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
        record(unpadded, uncompressed);
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
mod tests;
