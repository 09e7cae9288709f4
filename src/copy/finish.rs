//! The end of a lane: sync, read back (optional), the first-boot settings (optional), the
//! held-back header, commit.

use std::path::Path;

use super::lane::{Finished, Lane, Order, Queue, Report};
use super::{CopyError, Planned, RangeLabel};
use crate::bmap::{ChecksumType, Digest, Hasher};
use crate::firstboot::{self, Applied, FirstBoot, FirstBootError, disk::TargetDisk};
use crate::progress::{CancelToken, Phase, TargetEvent};
use crate::target::{Op, TargetKind};

impl Lane {
    /// Everything after the last write; the header and commit wait for the coordinator's
    /// `Commit` (the image was read to its end), taken from `queue`.
    pub(super) fn finish(&mut self, queue: &Queue) -> Result<Finished, CopyError> {
        self.phase(Phase::Syncing, None);
        self.sync()?;
        let read_back = self.readback && self.read_back()?;
        let sentinels = self.check_sentinels()?;
        let end = loop {
            match queue.pop() {
                Some(Order::Commit { end }) => break end,
                Some(_) => {}
                None => return Err(self.cancelled()),
            }
        };
        // A stream of unknown size may end in free space a stream scan left out: the target
        // must still hold it (a file grows to it), before its header makes it a disk.
        if self.plan.image_size.is_none() {
            self.target.extend_to(end)?;
            self.end = Some(end);
        }
        let written = self.ranges().iter().map(|r| r.end - r.start).sum();
        if self.plan.image_size.unwrap_or(written) == 0 {
            return Err(CopyError::EmptyImage {
                image: self.image.clone(),
            });
        }
        let first_boot = match self.first_boot.clone() {
            Some(first_boot) => Some(self.settings(&first_boot)?),
            None => None,
        };
        // Settings may have changed bytes of the header: it is read back then, whatever the
        // options say.
        if self.hold > 0 {
            self.write_header(read_back || first_boot.is_some())?;
        }
        {
            let _op = self.watch.begin(Op::Rename, None);
            self.target.commit()?;
        }
        Ok(Finished {
            written,
            ranges: self.ranges().len(),
            read_back,
            direct_io: self.target.is_direct(),
            first_boot,
            busy: self.watch.busy(),
            rewritten: self.rewritten,
            sentinels,
            capacity: self.capacity.take(),
        })
    }

    /// Checks that every sentinel survived, then puts back what the device held there;
    /// returns how many there were.
    /// A lost one fails the copy before the header is written (and the lane's end puts back
    /// what they overwrote, as it does for any failure).
    fn check_sentinels(&mut self) -> Result<usize, CopyError> {
        let Some(sentinels) = self.sentinels.as_ref() else {
            return Ok(0);
        };
        let lost = {
            let _op = self.watch.begin(Op::Read, None);
            sentinels.check(&mut self.target)?
        };
        if let Some((offset, found)) = lost {
            return Err(CopyError::LostSentinel {
                target: self.target.path().display().to_string(),
                offset,
                found,
            });
        }
        // Put back once: a device that fails to take them back is not asked again.
        let Some(sentinels) = self.sentinels.take() else {
            return Ok(0);
        };
        {
            let _op = self.watch.begin(Op::Write, None);
            sentinels.restore(&mut self.target)?;
        }
        self.sync()?;
        Ok(sentinels.len())
    }

    /// Where the image ends on the target: a stream of unknown size may have ended inside
    /// the held-back part.
    fn image_end(&self) -> u64 {
        self.plan
            .image_size
            .or(self.end)
            .unwrap_or_else(|| self.ranges().last().map_or(0, |r| r.end))
    }

    /// The bytes of the held-back part that belong to the image.
    fn header_len(&self) -> usize {
        self.hold
            .min(usize::try_from(self.image_end()).unwrap_or(usize::MAX))
    }

    /// Writes the first-boot settings into the written image's boot partition and reads them
    /// back, then flushes the target. What they change below the held-back length lands in
    /// the held-back bytes, written (and read back) with them, last.
    fn settings(&mut self, first_boot: &FirstBoot) -> Result<Applied, CopyError> {
        if self.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let failed = |lane: &Self, source| CopyError::FirstBoot {
            target: lane.target.path().display().to_string(),
            header_withheld: lane.hold > 0,
            source,
        };
        if self.target.kind() == TargetKind::Null {
            let target = self.target.path().display().to_string();
            return Err(failed(self, FirstBootError::NoStorage { target }));
        }
        self.phase(Phase::Settings, None);
        let len = self.header_len();
        let image_end = self.image_end();
        let disk_len = match self.target.kind() {
            TargetKind::BlockDevice => self.target.capacity().unwrap_or(image_end),
            TargetKind::File | TargetKind::Null => image_end,
        };
        let applied = {
            let _op = self.watch.begin(Op::Write, None);
            let mut disk = TargetDisk::new(&mut self.target, &mut self.held[..len], disk_len);
            firstboot::apply(first_boot, &mut disk)
        };
        let applied = applied.map_err(|source| failed(self, source))?;
        self.sync()?;
        Ok(applied)
    }

    /// Reads every range back and compares its digest with the bmap's (or the one computed
    /// while writing); ranges that differ are written again ([`Lane::rewrite`]). Returns
    /// whether it read everything back (`false` when "skip read-back" was cancelled part-way).
    fn read_back(&mut self) -> Result<bool, CopyError> {
        let checks = self.checks();
        let total = checks.iter().map(|c| c.range.end - c.range.start).sum();
        self.phase(Phase::ReadBack, Some(total));
        let outcome = self.read_checks(&checks, Phase::ReadBack)?;
        if let Some(mismatch) = outcome.first {
            self.rewrite(&checks, &outcome.failed, mismatch)?;
        }
        Ok(outcome.finished)
    }

    /// What every range is compared with on read-back.
    fn checks(&self) -> Vec<ReadBackCheck> {
        let hold = self.hold as u64;
        let mut checks = Vec::new();
        for (index, range) in self.ranges().iter().enumerate() {
            let own = self.digests.get(index).cloned().flatten();
            let (kind, expected) = match (&range.expected, own) {
                (Some(expected), _) => (self.plan.kind, expected.clone()),
                (None, Some(own)) => (ChecksumType::Sha256, own),
                // With read-back on, every range has one or the other.
                (None, None) => continue,
            };
            checks.push(ReadBackCheck {
                range: range.clone(),
                kind,
                expected,
                device_start: range.start.max(hold).min(range.end),
            });
        }
        checks
    }

    /// Reads `checks` back, reporting progress in `phase`: whether it read them all (not when
    /// "skip read-back" was cancelled), which differ, and the first difference as an error.
    /// Bytes below the held-back length are not on the device yet: they come from `held`,
    /// which is exactly what will be written there. The device is read ahead on a helper
    /// thread while this one hashes. More than [`MAX_FAILED`] ranges that differ are not a
    /// flaky write but a card that does not keep data: that fails at once.
    pub(super) fn read_checks(
        &mut self,
        checks: &[ReadBackCheck],
        phase: Phase,
    ) -> Result<ReadBackOutcome, CopyError> {
        // Ranges are in order, so those wholly held back come first: nothing to read.
        let in_memory = checks
            .iter()
            .take_while(|c| c.device_start == c.range.end)
            .count();
        let (held, on_device) = checks.split_at(in_memory);
        let mut done = 0;
        for check in held {
            let hasher = check.start(&self.held, &mut done);
            check.compare(hasher, self.target.path())?;
        }
        let spans: Vec<(u64, u64)> = on_device
            .iter()
            .map(|c| (c.device_start, c.range.end))
            .collect();
        let mut current: Option<Hasher> = None;
        let mut failed = Vec::new();
        let mut first_error = None;
        let skip = self.skip_readback.clone();
        let (cancel, watch, report) = (&self.cancel, &*self.watch, &self.report);
        let path = self.target.path().to_path_buf();
        let memory = &self.held;
        // Each piece that arrives ends the watched read and starts the next.
        let mut op = Some(watch.begin(Op::Read, spans.first().map(|s| s.0)));
        let finished = self.target.read_spans(&spans, |at, piece, last| {
            op = None;
            if cancel.is_cancelled() || skip.as_ref().is_some_and(CancelToken::is_cancelled) {
                return false;
            }
            let hasher = current.get_or_insert_with(|| on_device[at].start(memory, &mut done));
            hasher.update(piece);
            done += piece.len() as u64;
            report(Report::Event(TargetEvent::Progress {
                phase,
                done_bytes: done,
            }));
            if last
                && let Some(hasher) = current.take()
                && let Err(error) = on_device[at].compare(hasher, &path)
            {
                failed.push(in_memory + at);
                first_error.get_or_insert(error);
            }
            op = Some(watch.begin(Op::Read, None));
            failed.len() <= MAX_FAILED
        })?;
        drop(op);
        if failed.len() > MAX_FAILED
            && let Some(error) = first_error
        {
            return Err(error);
        }
        if self.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        Ok(ReadBackOutcome {
            finished,
            failed,
            first: first_error,
        })
    }

    /// Writes the held-back start of the image, and with read-back checks it; if it does not
    /// read back, it is zeroed again so the device does not look like a valid disk.
    fn write_header(&mut self, readback: bool) -> Result<(), CopyError> {
        if self.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let len = self.header_len();
        self.phase(Phase::WritingHeader, Some(len as u64));
        {
            let _op = self.watch.begin(Op::Write, Some(0));
            self.target.write_at(0, &self.held[..len])?;
        }
        self.sync()?;
        self.progress(Phase::WritingHeader, len as u64);
        if !readback {
            return Ok(());
        }
        let mut hasher = ChecksumType::Sha256.hasher();
        {
            let _op = self.watch.begin(Op::Read, Some(0));
            self.target
                .read_range(0, len as u64, |piece| hasher.update(piece))?;
        }
        let read = hasher.finish();
        let written = ChecksumType::Sha256.digest(&self.held[..len]);
        if read != written {
            // Best effort: the error below is what matters, whatever this does.
            let _op = self.watch.begin(Op::Write, Some(0));
            let _ = self
                .target
                .zero(0, len as u64)
                .and_then(|()| self.target.sync());
            return Err(CopyError::ReadBack {
                target: self.target.path().display().to_string(),
                range: RangeLabel::Header { len: len as u64 },
                read,
                written,
            });
        }
        Ok(())
    }
}

/// More ranges than this differing on read-back is a card that does not keep data, not a
/// write that was dropped: they are not written again.
pub(super) const MAX_FAILED: usize = 8;

/// What [`Lane::read_checks`] found.
pub(super) struct ReadBackOutcome {
    /// Whether every range was read (not when "skip read-back" was cancelled).
    pub(super) finished: bool,
    /// The indices of the ranges that differ.
    pub(super) failed: Vec<usize>,
    /// The first difference, as the error it is if it stays.
    pub(super) first: Option<CopyError>,
}

/// One range to read back: what to compare it with, and where its part on the device starts.
#[derive(Clone)]
pub(super) struct ReadBackCheck {
    pub(super) range: Planned,
    pub(super) kind: ChecksumType,
    pub(super) expected: Digest,
    pub(super) device_start: u64,
}

impl ReadBackCheck {
    /// A hasher fed with the range's held-back part (from `held`), counted into `done`.
    fn start(&self, held: &[u8], done: &mut u64) -> Hasher {
        let mut hasher = self.kind.hasher();
        let from = usize::try_from(self.range.start).unwrap_or(usize::MAX);
        let to = usize::try_from(self.device_start).unwrap_or(0);
        if let Some(part) = held.get(from..to) {
            hasher.update(part);
            *done += part.len() as u64;
        }
        hasher
    }

    /// Compares the digest of everything read with what was written.
    pub(super) fn compare(&self, hasher: Hasher, target: &Path) -> Result<(), CopyError> {
        let read = hasher.finish();
        if read == self.expected {
            return Ok(());
        }
        Err(CopyError::ReadBack {
            target: target.display().to_string(),
            range: self.range.label,
            read,
            written: self.expected.clone(),
        })
    }
}
