//! zstd as concatenated frames ([`super::frames`]): the data in libzstd's multi-threaded
//! frames, long free runs as copies of frames of zeros.
//!
//! Fed to the compressor, zeros cost little in libzstd's workers, but the calling thread
//! copies every byte into their buffers (on the 2-core machine this was measured on, that
//! copying was most of the calling thread's time): the 60 GB free of a 64 GB card would be
//! 60 GB of copying for nothing. Ending a frame costs only its last job (a few MiB, tens of
//! milliseconds), so any free run of [`CUT`] or more is left out of the compressor.

use std::io::{self, Write};

use zstd::stream::write::Encoder as ZstdEncoder;
use zstd::zstd_safe::CParameter;

use super::encode::{Counted, write_zeros};
use super::frames::Codec;

/// The shortest free run that ends the data frame.
pub(super) const CUT: u64 = 16 << 20;

/// zstd for [`super::frames::Framed`]: libzstd with worker threads.
pub(super) struct Zstd {
    level: i32,
    /// Worker threads; 0 when libzstd was built without them.
    workers: u32,
}

impl Zstd {
    /// zstd at `level` with `threads` worker threads (one, without workers, if libzstd was
    /// built without threads); also the threads it uses. A refused level shows now.
    pub(super) fn new(level: i32, threads: u32) -> io::Result<(Self, u32)> {
        let threads = threads.max(1);
        let mut probe = ZstdEncoder::new(io::sink(), level)?;
        let workers = match probe.set_parameter(CParameter::NbWorkers(threads)) {
            Ok(()) => threads,
            Err(_) => 0,
        };
        Ok((Self { level, workers }, workers.max(1)))
    }

    fn encoder<W: Write>(
        &self,
        out: W,
        level: i32,
        workers: u32,
    ) -> io::Result<ZstdEncoder<'static, W>> {
        let mut encoder = ZstdEncoder::new(out, level)?;
        if workers > 0 {
            encoder.set_parameter(CParameter::NbWorkers(workers))?;
        }
        encoder.include_checksum(true)?;
        Ok(encoder)
    }
}

impl Codec for Zstd {
    type Frame = ZstdEncoder<'static, Counted>;

    fn open(&mut self, out: Counted) -> io::Result<Self::Frame> {
        self.encoder(out, self.level, self.workers)
    }

    fn close(&mut self, frame: Self::Frame) -> io::Result<Counted> {
        frame.finish()
    }

    /// One frame of `size` zero bytes, at level 1 on this thread (zeros become a few bytes a
    /// block at any level).
    fn zeros_frame(&self, size: u64) -> io::Result<Vec<u8>> {
        let mut encoder = self.encoder(Vec::new(), 1, 0)?;
        encoder.set_pledged_src_size(Some(size))?;
        write_zeros(&mut encoder, size)?;
        encoder.finish()
    }

    fn cut(&self) -> u64 {
        CUT
    }
}
