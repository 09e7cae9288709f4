//! xz as concatenated streams ([`super::frames`]): the data in liblzma's multi-threaded
//! streams, long free runs as copies of streams of zeros made at preset 0.
//!
//! liblzma compresses zeros fast but not for free: at preset 6 some 90 MB/s a thread on the
//! 2-core machine this was measured on (card data: 1.8 MB/s a thread), so the free 60 GB of a
//! 64 GB card would still cost ten minutes of both cores. Ending a stream costs too: its last
//! blocks are compressed while the other threads wait for the next stream. Measured (4 GiB
//! card, 2 threads, preset 6), a cut cost about 5 s, a third of a block's time on one thread,
//! while 5 s of zeros are 900 MB; the cut is therefore at [`CUT_BLOCKS`] blocks per thread
//! (768 MiB at preset 6 on 2 threads), so only the long free stretches of a card (the empty
//! tail, the untouched block groups of a large ext4) are skipped.

use std::io;

use liblzma::stream::{Check, MtStreamBuilder, Stream};
use liblzma::write::XzEncoder;

use super::encode::{Counted, write_zeros};
use super::frames::Codec;

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

/// xz for [`super::frames::Framed`]: liblzma's multi-threaded encoder.
pub(super) struct Xz {
    builder: MtStreamBuilder,
    /// The shortest free run that ends the data stream.
    cut: u64,
}

impl Xz {
    /// xz at preset `level` with at most `threads` threads, fewer where their memory would
    /// exceed half of what the system has available; also the threads it uses.
    pub(super) fn new(level: u32, threads: u32) -> Result<(Self, u32), liblzma::stream::Error> {
        let mut builder = MtStreamBuilder::new();
        builder
            .preset(level)
            .check(Check::Crc64)
            .threads(threads)
            .block_size(block_size(level));
        let budget = available_memory().map_or(1 << 30, |m| m / 2);
        let mut used = threads.max(1);
        while used > 1 && builder.memusage() > budget {
            used -= 1;
            builder.threads(used);
        }
        // Refused settings show now, before anything is read.
        builder.encoder()?;
        let cut = Self::cut(level, used);
        Ok((Self { builder, cut }, used))
    }

    /// The shortest free run that ends the data stream at `preset` with `threads` threads.
    pub(super) fn cut(preset: u32, threads: u32) -> u64 {
        u64::from(threads.max(1)) * block_size(preset) * CUT_BLOCKS
    }
}

impl Codec for Xz {
    type Frame = XzEncoder<Counted>;

    fn open(&mut self, out: Counted) -> io::Result<Self::Frame> {
        let stream = self.builder.encoder().map_err(io::Error::other)?;
        Ok(XzEncoder::new_stream(out, stream))
    }

    fn close(&mut self, frame: Self::Frame) -> io::Result<Counted> {
        frame.finish()
    }

    /// One xz stream of `size` zero bytes, at preset 0 (zeros compress as well there).
    fn zeros_frame(&self, size: u64) -> io::Result<Vec<u8>> {
        let stream = Stream::new_easy_encoder(0, Check::Crc64).map_err(io::Error::other)?;
        let mut encoder = XzEncoder::new_stream(Vec::new(), stream);
        write_zeros(&mut encoder, size)?;
        encoder.finish()
    }

    fn cut(&self) -> u64 {
        self.cut
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}
