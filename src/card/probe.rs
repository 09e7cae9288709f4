//! The capacity probe's passes over a drive: sample blocks written from the top down, a
//! filling that pushes them out of the drive's RAM cache, a flush, the samples read back from
//! the bottom up (the first written last), and the checks of a wrap's period. The drive is
//! reached through [`Medium`], so that the same passes run on an in-memory model in the tests.

use std::path::Path;

use super::analysis::{
    self, GRID, Outcome, REFINE_SAMPLES, Sample, Verdict, alias_distance, anchors, bounds,
    classify, first_pass, period_candidates, refine,
};
use super::pattern::{BLOCK, BLOCK_BYTES, Kind, Parsed, parse_block, probe_block};
use super::report::ProbeError;
use crate::progress::CancelToken;
use crate::target::{AlignedBuf, TargetError};

/// Filling written after each pass's samples and before they are read back: more than the
/// RAM cache of the cards seen, so that what is read comes from the flash.
pub(crate) const FILLER: u64 = 12 << 20;
/// Passes at most: the first over the whole drive, two more closer to its real end.
pub(crate) const MAX_PASSES: u32 = 3;
/// Zeroed at both ends when done, so that nothing of the probe is left where partition
/// tables and their backups live.
pub(crate) const ENDS: u64 = 1 << 20;

/// Why a read or write of the [`Medium`] failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// An I/O error on this block only (the drive said EIO): an outcome, not the end.
    Media,
    /// Anything else: the drive is gone, read-only, or refuses the request.
    Fatal(TargetError),
    /// Reads cannot bypass the page cache.
    Buffered,
}

/// Where the probe writes and reads: the drive, or a model of one in the tests. Buffers are
/// page-aligned, offsets and lengths whole 512-byte sectors.
pub(crate) trait Medium {
    /// Writes `data` at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Fault>;
    /// Fills `out` from `offset`.
    fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Fault>;
    /// Makes what was written stable and what is read next come from the drive.
    fn flush(&mut self) -> Result<(), Fault>;
}

/// What the passes found, before the report is made of it.
#[derive(Debug)]
pub(crate) struct Probed {
    pub verdict: Verdict,
    pub checked: usize,
    pub passes: u32,
    pub written: u64,
}

/// One run of the probe over a medium of `capacity` bytes.
pub(crate) struct Engine<'a> {
    medium: &'a mut dyn Medium,
    device: &'a Path,
    capacity: u64,
    tag: u64,
    progress: &'a mut dyn FnMut(u64, u64),
    cancel: &'a CancelToken,
    done: u64,
    total: u64,
    written: u64,
    block: AlignedBuf,
    samples: Vec<Sample>,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        medium: &'a mut dyn Medium,
        device: &'a Path,
        capacity: u64,
        tag: u64,
        progress: &'a mut dyn FnMut(u64, u64),
        cancel: &'a CancelToken,
    ) -> Self {
        Self {
            medium,
            device,
            capacity,
            tag,
            progress,
            cancel,
            done: 0,
            total: 0,
            written: 0,
            block: AlignedBuf::new(BLOCK),
            samples: Vec::new(),
        }
    }

    /// Runs every pass and zeroes both ends; on cancellation or a fatal error, both ends are
    /// still zeroed where the drive lets them be.
    pub(crate) fn run(mut self) -> Result<Probed, ProbeError> {
        let result = self.passes();
        let cleaned = self.zero_ends();
        let (verdict, passes) = result?;
        cleaned?;
        (self.progress)(self.total, self.total);
        Ok(Probed {
            verdict,
            checked: self.samples.len(),
            passes,
            written: self.written,
        })
    }

    fn passes(&mut self) -> Result<(Verdict, u32), ProbeError> {
        let first = first_pass(self.capacity);
        let later = (REFINE_SAMPLES + 2) * 2 * BLOCK_BYTES + FILLER;
        self.total = first.len() as u64 * 2 * BLOCK_BYTES
            + FILLER
            + u64::from(MAX_PASSES - 1) * later
            + 2 * ENDS.min(self.capacity);
        (self.progress)(0, self.total);
        self.pass(1, &first)?;
        let mut distance = alias_distance(&self.samples);
        let mut period = self.find_period()?;
        let mut passes = 1;
        while passes < MAX_PASSES {
            let Some(bounds) = bounds(&self.samples, period).filter(|b| b.needs_refining()) else {
                break;
            };
            let offsets = refine(&bounds, &self.samples, self.capacity);
            if offsets.is_empty() {
                break;
            }
            passes += 1;
            self.pass(passes, &offsets)?;
            if alias_distance(&self.samples) != distance {
                distance = alias_distance(&self.samples);
                period = self.find_period()?;
            }
        }
        Ok((
            analysis::verdict(self.capacity, &self.samples, period),
            passes,
        ))
    }

    /// Writes the samples at `offsets` (ascending) from the top down, the filling, flushes,
    /// and reads them back from the bottom up.
    fn pass(&mut self, pass: u32, offsets: &[u64]) -> Result<(), ProbeError> {
        let mut unwritable = Vec::new();
        for &offset in offsets.iter().rev() {
            self.check_cancel(offset)?;
            probe_block(&mut self.block, self.tag, offset, pass, Kind::Sample);
            match self.medium.write(offset, &self.block) {
                Ok(()) => self.written += BLOCK_BYTES,
                Err(Fault::Media) => unwritable.push(offset),
                Err(fault) => return Err(self.fatal(fault, Some(offset))),
            }
            self.advance(BLOCK_BYTES);
        }
        self.fill(pass, offsets)?;
        self.medium
            .flush()
            .map_err(|fault| self.fatal(fault, None))?;
        for &offset in offsets {
            self.check_cancel(offset)?;
            let outcome = if unwritable.contains(&offset) {
                Outcome::Unwritable
            } else {
                match self.medium.read(offset, &mut self.block) {
                    Ok(()) => classify(parse_block(&self.block, self.tag), offset, pass),
                    Err(Fault::Media) => Outcome::Unreadable,
                    Err(fault) => return Err(self.fatal(fault, Some(offset))),
                }
            };
            self.samples.push(Sample { offset, outcome });
            self.advance(BLOCK_BYTES);
        }
        Ok(())
    }

    /// Writes [`FILLER`] bytes low on the drive (where every counterfeit has real flash), in
    /// the rest of each MiB after its first block, skipping any MiB that holds a sample.
    fn fill(&mut self, pass: u32, offsets: &[u64]) -> Result<(), ProbeError> {
        let mut buf = AlignedBuf::new((GRID - BLOCK_BYTES) as usize);
        let mut filled = 0;
        let mut mib = 1;
        while filled < FILLER && (mib + 2) * GRID <= self.capacity {
            let (start, end) = (mib * GRID + BLOCK_BYTES, (mib + 1) * GRID);
            mib += 1;
            let clash = |x: u64| x < end && start < x + BLOCK_BYTES;
            if offsets.iter().any(|&x| clash(x)) || self.samples.iter().any(|s| clash(s.offset)) {
                continue;
            }
            self.check_cancel(start)?;
            for (i, block) in buf.chunks_exact_mut(BLOCK).enumerate() {
                let at = start + (i * BLOCK) as u64;
                probe_block(block, self.tag, at, pass, Kind::Filler);
            }
            match self.medium.write(start, &buf) {
                Ok(()) => self.written += end - start,
                Err(Fault::Media) => {}
                Err(fault) => return Err(self.fatal(fault, Some(start))),
            }
            filled += end - start;
            self.advance(end - start);
        }
        self.advance(FILLER.saturating_sub(filled));
        Ok(())
    }

    /// The wrap's period when samples alias: the smallest alias distance, or a fraction of it
    /// that reading at intact samples plus it confirms.
    fn find_period(&mut self) -> Result<Option<u64>, ProbeError> {
        let Some(distance) = alias_distance(&self.samples) else {
            return Ok(None);
        };
        for candidate in period_candidates(distance) {
            let anchors = anchors(&self.samples, candidate, self.capacity);
            if anchors.is_empty() {
                continue;
            }
            let mut confirmed = true;
            for anchor in anchors {
                let at = anchor + candidate;
                self.check_cancel(at)?;
                let same = match self.medium.read(at, &mut self.block) {
                    Ok(()) => matches!(
                        parse_block(&self.block, self.tag),
                        Parsed::Ours { offset, kind: Kind::Sample, .. } if offset == anchor
                    ),
                    Err(Fault::Media) => false,
                    Err(fault) => return Err(self.fatal(fault, Some(at))),
                };
                confirmed &= same;
            }
            if confirmed {
                return Ok(Some(candidate));
            }
        }
        Ok(Some(distance))
    }

    /// Zeroes the first and the last MiB, and flushes.
    fn zero_ends(&mut self) -> Result<(), ProbeError> {
        let len = ENDS.min(self.capacity);
        let zeros = AlignedBuf::new(len as usize);
        for start in [0, self.capacity - len] {
            match self.medium.write(start, &zeros) {
                Ok(()) => self.written += len,
                Err(Fault::Media) => {}
                Err(fault) => return Err(self.fatal(fault, Some(start))),
            }
            self.advance(len);
        }
        self.medium.flush().map_err(|fault| self.fatal(fault, None))
    }

    fn check_cancel(&self, offset: u64) -> Result<(), ProbeError> {
        if self.cancel.is_cancelled() {
            return Err(ProbeError::Cancelled {
                device: self.device.to_path_buf(),
                offset,
            });
        }
        Ok(())
    }

    fn advance(&mut self, bytes: u64) {
        self.done = (self.done + bytes).min(self.total);
        (self.progress)(self.done, self.total);
    }

    fn fatal(&self, fault: Fault, offset: Option<u64>) -> ProbeError {
        let device = self.device.to_path_buf();
        match fault {
            Fault::Buffered => ProbeError::Buffered { device },
            Fault::Fatal(source) => ProbeError::Device {
                device,
                offset,
                source: Box::new(source),
            },
            Fault::Media => ProbeError::Device {
                device,
                offset,
                source: Box::new(TargetError::DeviceFailed {
                    op: crate::target::Op::Sync,
                    path: self.device.to_path_buf(),
                    offset,
                    source: std::io::Error::from_raw_os_error(libc::EIO),
                }),
            },
        }
    }
}
