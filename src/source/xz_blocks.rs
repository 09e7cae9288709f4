//! Random access to the image inside an xz file of several blocks: a read decodes only the
//! blocks that hold the bytes asked for.
//!
//! `xz -T0` (how Raspberry Pi OS and most large images are compressed) cuts its input into
//! blocks of three times the dictionary, 24 MiB at the default preset, and each stream's index
//! lists every block's stored and uncompressed size (see [`super::xz_index`]). A block is
//! decoded on its own: its bytes are framed as a stream of one block, between the stream
//! header of the stream it is in and an index and footer made for it, and that stream goes
//! through liblzma's decoder, which checks the block's own check (CRC-32, CRC-64 or SHA-256)
//! and that the block decodes to the size the index gives. A block that does not is an error
//! naming the file, the block's offset in it and the byte of the image asked for, never other
//! bytes.
//!
//! This is how an image without a bmap is scanned before the copy from its metadata alone, as
//! a raw file is; the copy itself streams the file through the multi-threaded decoder. The
//! last [`CACHED_BLOCKS`] blocks decoded are kept (up to [`CACHED_BYTES`]), so that reads near
//! each other (a filesystem's metadata, a read across a block boundary) decode each block
//! once. Nothing else is kept: dropped, it frees them.
//!
//! ```text
//!  file:  [hdr][block 0 ][block 1  ][block 2 ]…[index][footer]
//!                            │ framed as a stream of its own
//!                            ▼
//!                   [hdr][block 1  ][index][footer] ──► liblzma ──► decoded, checked
//! ```

use std::collections::VecDeque;
use std::io::{self, BufReader, Read};
use std::sync::{Arc, Mutex, PoisonError};

use super::memory;
use super::random::RandomAccess;
use super::xz_index::{FOOTER_MAGIC, HEADER_MAGIC, XzBlock, crc32};

#[cfg(test)]
mod tests;

/// Decoded blocks kept at most: two, for a read across the boundary between them.
const CACHED_BLOCKS: usize = 2;

/// Bytes of decoded blocks kept at most, counting the one being decoded: two blocks of
/// `xz -T0 -6` (24 MiB each), one of larger ones (up to
/// [`MAX_BLOCK_SIZE`](super::xz_index::MAX_BLOCK_SIZE)). The scan runs while the copy's
/// multi-threaded decoder holds what it started on (up to 128 MiB), and the two together must
/// stay well within the copy's 256 MB.
const CACHED_BYTES: u64 = 64 << 20;

/// Compressed bytes read per refill of the decoder.
const INPUT_BUFFER: usize = 64 << 10;

/// The least capacity of a decoded block's buffer; pages never written take no memory. glibc's
/// malloc maps an allocation this large on its own, and freeing it leaves alone the size above
/// which malloc maps (freeing a mapping of 32 MiB or less raises that size to it). Freed 24 MiB
/// blocks would otherwise make the multi-threaded decoder's 24 MiB buffers, allocated later in
/// the copy, come from the heap, which keeps what it once held: measured, 30-50 MB more.
const LEAST_CAPACITY: usize = 33 << 20;

/// The uncompressed bytes of an xz file of several blocks, read at any offset by decoding the
/// blocks that hold them. Its name is the xz file's.
pub(crate) struct XzBlocks {
    inner: Arc<Inner>,
}

/// What [`XzBlocks`] and its streams share.
struct Inner {
    /// The xz file as stored.
    store: Arc<dyn RandomAccess>,
    /// Its blocks in file order, one after another in the uncompressed bytes.
    blocks: Vec<XzBlock>,
    /// The uncompressed size.
    len: u64,
    /// Decoded blocks by their number in `blocks`, the most recently read last.
    cache: Mutex<VecDeque<(usize, Arc<Vec<u8>>)>>,
}

impl XzBlocks {
    /// The uncompressed bytes of the xz file in `store`, whose blocks are `blocks` (as
    /// [`read`](super::xz_index::read) lists them: in file order, each starting where the one
    /// before ends).
    pub(crate) fn new(store: Arc<dyn RandomAccess>, blocks: Vec<XzBlock>) -> Self {
        let len = blocks.last().map_or(0, |b| b.start + b.size);
        Self {
            inner: Arc::new(Inner {
                store,
                blocks,
                len,
                cache: Mutex::new(VecDeque::new()),
            }),
        }
    }
}

impl RandomAccess for XzBlocks {
    fn name(&self) -> &str {
        self.inner.store.name()
    }

    fn len(&self) -> u64 {
        self.inner.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let end = offset.saturating_add(len).min(self.inner.len);
        Ok(Box::new(Stream {
            inner: Arc::clone(&self.inner),
            position: offset.min(end),
            end,
        }))
    }
}

impl Inner {
    /// Fills `buf` from `offset` of the uncompressed bytes, block after block.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read past the end of the image in xz file '{}' ({} bytes) at byte {offset}",
                    self.store.name(),
                    self.len
                ),
            ));
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            // The first block that ends after `at`: it holds `at`, since `at` is inside.
            let number = self.blocks.partition_point(|b| b.start + b.size <= at);
            let Some(block) = self.blocks.get(number) else {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            };
            let data = self.decoded(&mut cache, number, block, at)?;
            let from = usize::try_from(at - block.start).map_err(io::Error::other)?;
            let n = (buf.len() - done).min(data.len().saturating_sub(from));
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            buf[done..done + n].copy_from_slice(&data[from..from + n]);
            done += n;
        }
        Ok(())
    }

    /// Block `number` decoded, from the cache or decoded now (after making room for it); `at`
    /// is the byte of the image asked for, for the error.
    fn decoded(
        &self,
        cache: &mut VecDeque<(usize, Arc<Vec<u8>>)>,
        number: usize,
        block: &XzBlock,
        at: u64,
    ) -> io::Result<Arc<Vec<u8>>> {
        if let Some(hit) = cache.iter().position(|(n, _)| *n == number)
            && let Some(entry) = cache.remove(hit)
        {
            let data = Arc::clone(&entry.1);
            cache.push_back(entry);
            return Ok(data);
        }
        let kept = |cache: &VecDeque<(usize, Arc<Vec<u8>>)>| -> u64 {
            cache.iter().map(|(_, data)| data.len() as u64).sum()
        };
        while cache.len() >= CACHED_BLOCKS
            || (!cache.is_empty() && kept(cache) + block.size > CACHED_BYTES)
        {
            cache.pop_front();
        }
        let data = self
            .decode(block)
            .map_err(|e| {
                let kind = match e.kind() {
                    // The image is not short; its compressed block is.
                    io::ErrorKind::UnexpectedEof => io::ErrorKind::InvalidData,
                    kind => kind,
                };
                io::Error::new(
                    kind,
                    format!(
                        "xz data of '{}' cannot be read at byte {at} of the image, in its \
                         block at compressed offset {}: {e}",
                        self.store.name(),
                        block.offset
                    ),
                )
            })
            .map(Arc::new)?;
        cache.push_back((number, Arc::clone(&data)));
        Ok(data)
    }

    /// Decodes `block` whole as a stream of its own, checked as any xz stream is.
    fn decode(&self, block: &XzBlock) -> io::Result<Vec<u8>> {
        let body = self
            .store
            .stream(block.offset, block.unpadded.div_ceil(4) * 4)?;
        let input = io::Cursor::new(stream_header(block.flags))
            .chain(body)
            .chain(io::Cursor::new(index_and_footer(block)));
        let stream = liblzma::stream::Stream::new_stream_decoder(memory::xz_memlimit(), 0)
            .map_err(io::Error::other)?;
        let decoder = liblzma::bufread::XzDecoder::new_stream(
            BufReader::with_capacity(INPUT_BUFFER, input),
            stream,
        );
        let size = usize::try_from(block.size).map_err(io::Error::other)?;
        let mut data = Vec::with_capacity(size.max(LEAST_CAPACITY));
        // One byte more than the index says, to tell a block that decodes to more.
        decoder.take(block.size + 1).read_to_end(&mut data)?;
        if data.len() != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it decodes to {}{} bytes, where the index says {size}",
                    if data.len() > size { "more than " } else { "" },
                    data.len().min(size)
                ),
            ));
        }
        Ok(data)
    }
}

/// A stream header with `flags`: magic bytes, the flags and their CRC-32.
fn stream_header(flags: [u8; 2]) -> Vec<u8> {
    let mut header = HEADER_MAGIC.to_vec();
    header.extend_from_slice(&flags);
    header.extend_from_slice(&crc32(&flags).to_le_bytes());
    header
}

/// The index of a stream holding only `block`, and its stream footer: indicator 0, one
/// record (unpadded and uncompressed size), padding to four bytes and the CRC-32; then the
/// footer's CRC-32, the index's size in fours less one, the stream flags and "YZ".
fn index_and_footer(block: &XzBlock) -> Vec<u8> {
    let mut index = vec![0, 1];
    put_varint(&mut index, block.unpadded);
    put_varint(&mut index, block.size);
    index.resize(index.len().div_ceil(4) * 4, 0);
    let crc = crc32(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    // At most 2 + 9 + 9 bytes, padded, and the CRC-32: 24, six fours.
    let backward = (index.len() / 4 - 1) as u32;
    let mut footer = backward.to_le_bytes().to_vec();
    footer.extend_from_slice(&block.flags);
    let mut out = index;
    out.extend_from_slice(&crc32(&footer).to_le_bytes());
    out.extend_from_slice(&footer);
    out.extend_from_slice(&FOOTER_MAGIC);
    out
}

/// Appends `value` as an xz variable-length integer: seven bits per byte, low first.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7F) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A sequential reader of part of an [`XzBlocks`], reading into the caller's buffer.
struct Stream {
    inner: Arc<Inner>,
    position: u64,
    end: u64,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        self.inner.read_at(self.position, &mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}
