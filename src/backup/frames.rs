//! A compressed file as concatenated frames (xz streams, zstd frames): the data in the
//! codec's multi-threaded frames, and the long runs of zero bytes (free blocks) as copies of
//! frames of zeros made once.
//!
//! Every xz and zstd decoder reads concatenated frames as one file (xz, zstd, bmaptool through
//! them, Python's lzma, blockprint), and its size is the sum of theirs. So a long free run
//! need not pass through the compressor at all: one frame of each size of [`TIERS`] (64 MiB
//! down to 256 KiB of zeros) is made when first needed, and a free run of at least the codec's
//! cut ([`Codec::cut`]) is written as copies of them, largest first; what is left (under
//! 256 KiB) goes into the next data frame. A shorter run goes into the data frame as zeros,
//! because ending a frame is not free either: its last blocks are compressed while the other
//! threads wait for the next one. Each codec says where that balance lies (see
//! [`super::xz`] and [`super::zst`]).

use std::io::{self, Write};

use super::encode::{Counted, write_zeros};

/// The zero bytes of each frame of zeros: powers of four, largest first.
pub(super) const TIERS: [u64; 5] = [64 << 20, 16 << 20, 4 << 20, 1 << 20, 256 << 10];

/// What [`Framed`] needs of a compressed format.
pub(super) trait Codec {
    /// A data frame being written.
    type Frame: Write;

    /// Opens a data frame over the file.
    fn open(&mut self, out: Counted) -> io::Result<Self::Frame>;

    /// Ends a data frame and gives the file back.
    fn close(&mut self, frame: Self::Frame) -> io::Result<Counted>;

    /// One whole frame holding `size` zero bytes.
    fn zeros_frame(&self, size: u64) -> io::Result<Vec<u8>>;

    /// The shortest free run worth ending the data frame for.
    fn cut(&self) -> u64;
}

/// A compressed file being written as concatenated frames.
pub(super) struct Framed<C: Codec> {
    codec: C,
    /// The file, while no data frame is open.
    out: Option<Counted>,
    /// The open data frame.
    frame: Option<C::Frame>,
    /// Zero bytes given and not yet written.
    pending: u64,
    /// The frame of zeros of each of [`TIERS`], once made.
    zero_frames: [Option<Vec<u8>>; TIERS.len()],
    /// Whether any frame was written (a compressed file holds at least one).
    written: bool,
}

impl<C: Codec> Framed<C> {
    /// A file written through `codec` into `out`.
    pub(super) fn new(codec: C, out: Counted) -> Self {
        Self {
            codec,
            out: Some(out),
            frame: None,
            pending: 0,
            zero_frames: Default::default(),
            written: false,
        }
    }

    /// Image bytes after everything given so far.
    pub(super) fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush_zeros()?;
        self.open()?.write_all(bytes)
    }

    /// `len` zero bytes: once the run is long enough to be cut, whole copies of the largest
    /// frame of zeros go out at once, the rest once the run is known to end.
    pub(super) fn zeros(&mut self, len: u64) -> io::Result<()> {
        self.pending += len;
        if self.pending >= self.codec.cut().max(TIERS[0]) || self.cutting() {
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
        self.out.take().ok_or_else(closed)
    }

    /// Whether a run is being written as copies: frames were written and none is open.
    fn cutting(&self) -> bool {
        self.frame.is_none() && self.written
    }

    /// The zeros held back, before data or the end: a long run (or one after copies, when
    /// no data frame is open) as copies of frames of zeros, the rest into the data frame.
    fn flush_zeros(&mut self) -> io::Result<()> {
        if self.pending >= self.codec.cut() || self.cutting() {
            for tier in 0..TIERS.len() {
                self.copies(tier)?;
            }
        }
        if self.pending > 0 {
            let pending = std::mem::take(&mut self.pending);
            write_zeros(self.open()?, pending)?;
        }
        Ok(())
    }

    /// As many copies of the frame of zeros of `TIERS[tier]` as the pending zeros hold.
    fn copies(&mut self, tier: usize) -> io::Result<()> {
        let size = TIERS[tier];
        if self.pending < size {
            return Ok(());
        }
        self.close()?;
        if self.zero_frames[tier].is_none() {
            self.zero_frames[tier] = Some(self.codec.zeros_frame(size)?);
        }
        let (Some(out), Some(copy)) = (self.out.as_mut(), self.zero_frames[tier].as_deref()) else {
            return Err(closed());
        };
        while self.pending >= size {
            out.write_all(copy)?;
            self.pending -= size;
            self.written = true;
        }
        Ok(())
    }

    /// The open data frame, opened if there is none.
    fn open(&mut self) -> io::Result<&mut C::Frame> {
        if self.frame.is_none() {
            let out = self.out.take().ok_or_else(closed)?;
            self.frame = Some(self.codec.open(out)?);
            self.written = true;
        }
        self.frame.as_mut().ok_or_else(closed)
    }

    /// Ends the open data frame, if any.
    fn close(&mut self) -> io::Result<()> {
        if let Some(frame) = self.frame.take() {
            self.out = Some(self.codec.close(frame)?);
        }
        Ok(())
    }
}

fn closed() -> io::Error {
    io::Error::other("the compressed file is closed")
}
