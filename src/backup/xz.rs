//! xz output as concatenated streams: the data in liblzma's multi-threaded streams, and the
//! long runs of zero bytes (free blocks) as copies of streams of zeros made once.
//!
//! liblzma compresses zeros fast but not for free: at preset 6 some 90 MB/s a thread on the
//! 2-core machine this was measured on (card data: 1.8 MB/s a thread), so the free 60 GB of a
//! 64 GB card would still cost ten minutes of both cores. Instead, one stream of each size of
//! [`TIERS`] (64 MiB down to 256 KiB of zeros) is made when first needed (at preset 0: all of
//! them in under a second), and a free run of at least [`Xz::cut`] is written as copies of
//! them, largest first; what is left (under 256 KiB) goes into the next data stream.
//!
//! A run shorter than the cut goes into the data stream as zeros, because ending a stream is
//! not free either: its last blocks are compressed while the other threads wait for the next
//! stream. Measured (4 GiB card, 2 threads, preset 6), a cut cost about 5 s, a third of a
//! block's time on one thread, while 5 s of zeros are 900 MB; the cut is therefore at
//! [`CUT_BLOCKS`] blocks per thread (768 MiB at preset 6 on 2 threads), so only the long free
//! stretches of a card (the empty tail, the untouched block groups of a large ext4) are
//! skipped. Every xz decoder reads concatenated streams as one file (xz, and bmaptool through
//! it, Python's lzma, blockprint), and its size is the sum of theirs.

use std::io::{self, Write};

use liblzma::stream::{Check, MtStreamBuilder, Stream};
use liblzma::write::XzEncoder;

use super::encode::{Counted, ZERO_CHUNK, zeros};

/// The zero bytes of each stream of zeros: powers of four, largest first.
pub(super) const TIERS: [u64; 5] = [64 << 20, 16 << 20, 4 << 20, 1 << 20, 256 << 10];

/// A free run of this many blocks per thread (see the module's words) ends the data stream.
const CUT_BLOCKS: u64 = 16;

/// The size of the blocks liblzma's threads compress at `preset`: three times its dictionary
/// (`xz --help` lists those), and 1 MiB at least.
fn block_size(preset: u32) -> u64 {
    let dict: u64 = match preset {
        0 => 256 << 10,
        1 => 1 << 20,
        2 => 2 << 20,
        3 | 4 => 4 << 20,
        5 | 6 => 8 << 20,
        7 => 16 << 20,
        8 => 32 << 20,
        _ => 64 << 20,
    };
    (3 * dict).max(1 << 20)
}

/// An xz file being written.
pub(super) struct Xz {
    /// The file, while no data stream is open.
    out: Option<Counted>,
    /// The open data stream.
    stream: Option<XzEncoder<Counted>>,
    /// Zero bytes given and not yet written.
    pending: u64,
    /// The stream of zeros of each of [`TIERS`], once made.
    zero_streams: [Option<Vec<u8>>; TIERS.len()],
    /// Whether any stream was written (an xz file holds at least one).
    written: bool,
    /// The shortest free run that ends the data stream.
    cut: u64,
    builder: MtStreamBuilder,
}

impl Xz {
    /// An xz writer at preset `level` with at most `threads` threads, fewer where their memory
    /// would exceed half of what the system has available; also the threads it uses.
    pub(super) fn new(
        out: Counted,
        level: u32,
        threads: u32,
    ) -> Result<(Self, u32), liblzma::stream::Error> {
        let mut builder = MtStreamBuilder::new();
        let block = block_size(level);
        builder
            .preset(level)
            .check(Check::Crc64)
            .threads(threads)
            .block_size(block);
        let budget = available_memory().map_or(1 << 30, |m| m / 2);
        let mut used = threads.max(1);
        while used > 1 && builder.memusage() > budget {
            used -= 1;
            builder.threads(used);
        }
        // Refused settings show now, before anything is read.
        builder.encoder()?;
        let xz = Self {
            out: Some(out),
            stream: None,
            pending: 0,
            zero_streams: Default::default(),
            written: false,
            cut: Self::cut(level, used),
            builder,
        };
        Ok((xz, used))
    }

    /// The shortest free run that ends the data stream at `preset` with `threads` threads.
    pub(super) fn cut(preset: u32, threads: u32) -> u64 {
        u64::from(threads.max(1)) * block_size(preset) * CUT_BLOCKS
    }

    /// Image bytes after everything given so far.
    pub(super) fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush_zeros()?;
        self.open()?.write_all(bytes)
    }

    /// `len` zero bytes: once the run is long enough to be cut, whole copies of the largest
    /// stream of zeros go out at once, the rest once the run is known to end.
    pub(super) fn zeros(&mut self, len: u64) -> io::Result<()> {
        self.pending += len;
        if self.pending >= self.cut.max(TIERS[0]) || (self.stream.is_none() && self.written) {
            self.copies(0)?;
        }
        Ok(())
    }

    /// Writes what is left and gives the file back.
    pub(super) fn finish(mut self) -> io::Result<Counted> {
        self.flush_zeros()?;
        if !self.written {
            self.open()?;
        }
        self.close()?;
        self.out
            .take()
            .ok_or_else(|| io::Error::other("the xz file is closed"))
    }

    /// The zeros held back, before data or the end: a long run (or one after copies, when
    /// no data stream is open) as copies of streams of zeros, the rest into the data stream.
    fn flush_zeros(&mut self) -> io::Result<()> {
        if self.pending >= self.cut || (self.stream.is_none() && self.written) {
            for tier in 0..TIERS.len() {
                self.copies(tier)?;
            }
        }
        while self.pending > 0 {
            let n = usize::try_from(self.pending).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
            self.open()?.write_all(zeros(n))?;
            self.pending -= n as u64;
        }
        Ok(())
    }

    /// As many copies of the stream of zeros of `TIERS[tier]` as the pending zeros hold.
    fn copies(&mut self, tier: usize) -> io::Result<()> {
        let size = TIERS[tier];
        if self.pending < size {
            return Ok(());
        }
        self.close()?;
        if self.zero_streams[tier].is_none() {
            self.zero_streams[tier] = Some(stream_of_zeros(size)?);
        }
        let (Some(out), Some(copy)) = (self.out.as_mut(), self.zero_streams[tier].as_deref())
        else {
            return Err(io::Error::other("the xz file is closed"));
        };
        while self.pending >= size {
            out.write_all(copy)?;
            self.pending -= size;
            self.written = true;
        }
        Ok(())
    }

    /// The open data stream, opened if there is none.
    fn open(&mut self) -> io::Result<&mut XzEncoder<Counted>> {
        if self.stream.is_none() {
            let out = self
                .out
                .take()
                .ok_or_else(|| io::Error::other("the xz file is closed"))?;
            let stream = self.builder.encoder().map_err(io::Error::other)?;
            self.stream = Some(XzEncoder::new_stream(out, stream));
            self.written = true;
        }
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no xz stream"))
    }

    /// Ends the open data stream, if any.
    fn close(&mut self) -> io::Result<()> {
        if let Some(stream) = self.stream.take() {
            self.out = Some(stream.finish()?);
        }
        Ok(())
    }
}

/// One xz stream of `size` zero bytes, at preset 0 (zeros compress as well there).
fn stream_of_zeros(size: u64) -> io::Result<Vec<u8>> {
    let stream = Stream::new_easy_encoder(0, Check::Crc64).map_err(io::Error::other)?;
    let mut encoder = XzEncoder::new_stream(Vec::new(), stream);
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
        encoder.write_all(zeros(n))?;
        left -= n as u64;
    }
    encoder.finish()
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}
