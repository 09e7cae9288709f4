//! Writing again what did not read back.
//!
//! A flaky USB reader or a card that dropped one write leaves a range that reads back wrong
//! while the rest of the card is fine; failing the whole copy for it sends the user to start
//! again from scratch. Instead the lane opens the image again ([`CopyOptions::reopen`]), reads
//! each failed range from it (checking it against the same digest, so a changed image is
//! caught), compares it with the device piece by piece and writes only the pieces that differ,
//! flushes, and reads those ranges back again, up to [`ATTEMPTS`] times. A card that keeps
//! corrupting data fails with [`CopyError::Unreliable`]; more than
//! [`MAX_FAILED`](super::finish::MAX_FAILED) ranges failing at once is not tried at all.
//!
//! [`CopyOptions::reopen`]: super::CopyOptions::reopen

use super::finish::ReadBackCheck;
use super::lane::Lane;
use super::{CHUNK, CopyError};
use crate::progress::Phase;
use crate::source::ImageSource;
use crate::target::{AlignedBuf, Op};

/// How many times a range that does not read back is written again.
pub(super) const ATTEMPTS: u32 = 2;

impl Lane {
    /// Writes the ranges `failed` (indices into `checks`) again until they read back, and
    /// counts them in [`Lane::rewritten`]; `mismatch` is the first difference, the error when
    /// the image cannot be read again.
    pub(super) fn rewrite(
        &mut self,
        checks: &[ReadBackCheck],
        failed: &[usize],
        mismatch: CopyError,
    ) -> Result<(), CopyError> {
        let mut pending: Vec<ReadBackCheck> = failed
            .iter()
            .filter_map(|&i| checks.get(i).cloned())
            .collect();
        let (Some(reopen), Some(first)) = (self.reopen.clone(), pending.first()) else {
            return Err(mismatch);
        };
        let first_label = first.range.label;
        let count = pending.len();
        let mut buf = AlignedBuf::new(CHUNK);
        for attempt in 1..=ATTEMPTS {
            if self.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            let total = pending.iter().map(|c| c.range.end - c.device_start).sum();
            self.phase(Phase::Rewriting, Some(total));
            let mut source = reopen.open().map_err(|source| CopyError::Reopen {
                target: self.target.path().display().to_string(),
                image: self.image.clone(),
                range: first_label,
                source: Box::new(source),
            })?;
            let mut done = 0;
            for check in &pending {
                self.write_again(&mut *source, check, &mut buf, &mut done)?;
            }
            self.sync()?;
            let still = self.read_checks(&pending, Phase::Rewriting)?.failed;
            if still.is_empty() {
                self.rewritten += count;
                return Ok(());
            }
            if attempt == ATTEMPTS {
                return Err(CopyError::Unreliable {
                    target: self.target.path().display().to_string(),
                    ranges: still.len(),
                    range: pending[still[0]].range.label,
                    attempts: ATTEMPTS,
                });
            }
            pending = still.iter().map(|&i| pending[i].clone()).collect();
        }
        Ok(())
    }

    /// Reads `check`'s range from `source` (which is before it), writes the pieces of its
    /// on-device part that differ from the device, and checks what was read against the
    /// range's digest.
    fn write_again(
        &mut self,
        source: &mut dyn ImageSource,
        check: &ReadBackCheck,
        buf: &mut AlignedBuf,
        done: &mut u64,
    ) -> Result<(), CopyError> {
        let (start, end) = (check.range.start, check.range.end);
        let image = self.image.clone();
        let read_error = |offset, source| CopyError::Read {
            image: image.clone(),
            offset,
            source,
        };
        source
            .skip_to(start)
            .map_err(|e| read_error(source.position(), e))?;
        let mut hasher = check.kind.hasher();
        let mut pos = start;
        while pos < end {
            let n = usize::try_from(end - pos).map_or(CHUNK, |left| left.min(CHUNK));
            let piece = &mut buf[..n];
            source.read_exact(piece).map_err(|e| read_error(pos, e))?;
            hasher.update(piece);
            let from = check.device_start.max(pos);
            if from < pos + n as u64 {
                let wanted = &piece[usize::try_from(from - pos).unwrap_or(0)..];
                if !self.device_holds(from, wanted)? {
                    let _op = self.watch.begin(Op::Write, Some(from));
                    self.target.write_at(from, wanted)?;
                }
                *done += wanted.len() as u64;
                self.progress(Phase::Rewriting, *done);
            }
            pos += n as u64;
        }
        let calculated = hasher.finish();
        if calculated != check.expected {
            return Err(CopyError::Checksum {
                range: check.range.label,
                calculated,
                expected: check.expected.clone(),
                image: self.image.clone(),
                target: self.target.path().display().to_string(),
            });
        }
        Ok(())
    }

    /// Whether the device holds `wanted` at `offset`.
    fn device_holds(&mut self, offset: u64, wanted: &[u8]) -> Result<bool, CopyError> {
        let _op = self.watch.begin(Op::Read, Some(offset));
        let mut same = true;
        let mut at = 0;
        self.target.read_range(offset, wanted.len() as u64, |got| {
            same &= wanted.get(at..at + got.len()) == Some(got);
            at += got.len();
        })?;
        Ok(same)
    }
}
