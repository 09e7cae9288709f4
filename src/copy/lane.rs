//! One target's side of a copy, on a thread of its own: wipe, write (through a small pool of
//! writer threads), sync, read back, write the held-back header, commit.
//!
//! The coordinating thread reads, hashes and hands each chunk to every lane through a
//! [`Queue`]; a lane only ever touches its own target. A lane's thread may therefore hang in
//! the kernel on a dead device without holding anything up: the coordinator gives it up (its
//! [`Watch`] says how long it has been waiting), empties its queue so the chunks return to the
//! pool, and goes on.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use super::pool::{self, Job, Outcome, WRITERS};
pub(super) use super::queue::{Chunk, Order, Queue};
use super::sentinel::Sentinels;
use super::watch::Watch;
use super::{CopyError, HOLD_BACK, Plan, Planned, RangeLabel, Reopen};
use crate::bmap::Digest;
use crate::card::CapacityReport;
use crate::firstboot::{Applied, FirstBoot};
use crate::progress::{CancelToken, Phase, TargetEvent};
use crate::target::{AlignedBuf, Op, Target, TargetKind};

/// What a lane tells the coordinator.
pub(super) enum Report {
    /// A progress event of this target.
    Event(TargetEvent),
    /// The lane ended; nothing follows.
    Ended(Result<Finished, CopyError>),
}

/// What a lane that finished did.
#[derive(Debug)]
pub(super) struct Finished {
    /// Bytes written (mapped bytes; for a stream, its length).
    pub written: u64,
    /// Ranges written.
    pub ranges: usize,
    /// Whether everything was read back and matched.
    pub read_back: bool,
    /// Whether the target was written with `O_DIRECT`.
    pub direct_io: bool,
    /// The first-boot settings written and read back.
    pub first_boot: Option<Applied>,
    /// How long a write or flush was under way.
    pub busy: std::time::Duration,
    /// Ranges written again after a read-back mismatch, now good.
    pub rewritten: usize,
    /// Sentinels checked at the end.
    pub sentinels: usize,
    /// What the capacity probe found.
    pub capacity: Option<Box<CapacityReport>>,
}

/// One target's thread and its state.
pub(super) struct Lane {
    pub(super) plan: Arc<Plan>,
    /// The image's name, for messages.
    pub(super) image: String,
    pub(super) target: Target,
    /// Read everything back before the header.
    pub(super) readback: bool,
    /// Cancelled by the user's "Skip verification".
    pub(super) skip_readback: Option<CancelToken>,
    /// Settings to write into the boot partition before the header.
    pub(super) first_boot: Option<Arc<FirstBoot>>,
    pub(super) cancel: CancelToken,
    pub(super) watch: Arc<Watch>,
    /// Where reports go, tagged by the coordinator's closure.
    pub(super) report: Box<dyn Fn(Report) + Send>,
    /// Bytes at the start of the image kept back until the end (0 for files).
    pub(super) hold: usize,
    /// Those bytes; unmapped parts stay zero, which is what the wiped device holds there.
    pub(super) held: AlignedBuf,
    /// Digests of ranges without a bmap checksum, for read-back.
    pub(super) digests: Vec<Option<Digest>>,
    /// Image bytes kept in `held` so far (they count as done).
    pub(super) held_bytes: u64,
    /// The last byte count reported for the writing phase.
    pub(super) reported: u64,
    /// The segments of a whole-image copy, as the data arrives.
    pub(super) segments: Vec<Planned>,
    /// Where a stream of unknown size turned out to end (known at `Commit`).
    pub(super) end: Option<u64>,
    /// Whether the first data arrived (and the device was wiped).
    pub(super) started: bool,
    /// Opens the image again, to write again what did not read back.
    pub(super) reopen: Option<Reopen>,
    /// Ranges written again that then read back.
    pub(super) rewritten: usize,
    /// The sentinels planted where the image puts nothing (block devices).
    pub(super) sentinels: Option<Sentinels>,
    /// Probe the device's real capacity before writing it.
    pub(super) check_capacity: bool,
    /// The copy's stall limit, which the probe keeps too.
    pub(super) stall_timeout: Option<std::time::Duration>,
    /// What the probe found.
    pub(super) capacity: Option<Box<CapacityReport>>,
}

impl Lane {
    /// A lane for `target`, which the caller prepared for the plan.
    pub(super) fn new(
        plan: Arc<Plan>,
        image: String,
        target: Target,
        options: &super::CopyOptions,
        first_boot: Option<Arc<FirstBoot>>,
        cancel: CancelToken,
        report: Box<dyn Fn(Report) + Send>,
    ) -> Self {
        let hold = if target.kind() == TargetKind::BlockDevice {
            HOLD_BACK.min(plan.image_size.unwrap_or(HOLD_BACK))
        } else {
            0
        };
        let hold = usize::try_from(hold).unwrap_or(0);
        let slots = if options.verify_readback {
            plan.ranges.len()
        } else {
            0
        };
        Self {
            plan,
            image,
            target,
            readback: options.verify_readback,
            skip_readback: options.skip_readback.clone(),
            first_boot,
            cancel,
            watch: Arc::default(),
            report,
            hold,
            held: AlignedBuf::new(hold),
            digests: vec![None; slots],
            held_bytes: 0,
            reported: 0,
            segments: Vec::new(),
            end: None,
            started: false,
            reopen: options.reopen.clone(),
            rewritten: 0,
            sentinels: None,
            check_capacity: options.check_capacity,
            stall_timeout: options.stall_timeout,
            capacity: None,
        }
    }

    /// Runs the lane to its end and reports how it ended, after closing the target: once a
    /// lane has ended, nothing of the copy holds its device open any more. A lane that failed
    /// (or was cancelled) first puts back what its sentinels overwrote, unless it was given up.
    pub(super) fn run(mut self, queue: &Queue) {
        let result = self.write(queue).and_then(|()| self.finish(queue));
        if result.is_err() && !queue.abandoned() {
            self.remove_sentinels();
        }
        let Lane { target, report, .. } = self;
        drop(target);
        report(Report::Ended(result));
    }

    pub(super) fn emit(&self, event: TargetEvent) {
        (self.report)(Report::Event(event));
    }

    pub(super) fn phase(&self, phase: Phase, total_bytes: Option<u64>) {
        self.emit(TargetEvent::PhaseStarted { phase, total_bytes });
    }

    pub(super) fn progress(&self, phase: Phase, done_bytes: u64) {
        self.emit(TargetEvent::Progress { phase, done_bytes });
    }

    pub(super) fn cancelled(&self) -> CopyError {
        CopyError::Cancelled {
            target: self.target.path().display().to_string(),
        }
    }

    /// The ranges being copied: the bmap's, or the segments seen so far.
    pub(super) fn ranges(&self) -> &[Planned] {
        if self.plan.fixed() {
            &self.plan.ranges
        } else {
            &self.segments
        }
    }

    /// Takes orders until `Finish`, handing plain writes to the writer threads.
    fn write(&mut self, queue: &Queue) -> Result<(), CopyError> {
        let writer = self.target.shared_writer()?;
        let outcome = Outcome::default();
        let (jobs_tx, jobs_rx) = sync_channel(WRITERS);
        let jobs_rx = Mutex::new(jobs_rx);
        let (cancel, watch) = (self.cancel.clone(), Arc::clone(&self.watch));
        let streamed = thread::scope(|scope| {
            for _ in 0..WRITERS {
                let (jobs, writer, outcome) = (&jobs_rx, &writer, &outcome);
                let (cancel, watch) = (&cancel, &*watch);
                scope.spawn(move || pool::worker(jobs, writer, outcome, watch, cancel));
            }
            // Dropping the sender on return ends the writers; the scope waits for them.
            let taken = self.take_orders(queue, &jobs_tx, &outcome);
            drop(jobs_tx);
            taken
        });
        streamed?;
        if let Some(failure) = outcome.take_failure() {
            return Err(failure.into());
        }
        if self.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        self.report_written(&outcome);
        Ok(())
    }

    fn take_orders(
        &mut self,
        queue: &Queue,
        jobs: &SyncSender<Job>,
        outcome: &Outcome,
    ) -> Result<(), CopyError> {
        loop {
            let Some(order) = queue.pop() else {
                return Err(self.cancelled());
            };
            if self.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            if let Some(failure) = outcome.take_failure() {
                return Err(failure.into());
            }
            match order {
                Order::Data {
                    index,
                    offset,
                    len,
                    chunk,
                } => {
                    if !self.started {
                        self.start()?;
                    }
                    self.grow_segment(index, offset, offset + len as u64);
                    self.dispatch(offset, chunk, len, jobs, outcome)?;
                    self.report_written(outcome);
                }
                Order::Digest { index, digest } => {
                    if self.digests.len() <= index {
                        self.digests.resize(index + 1, None);
                    }
                    if let Some(slot) = self.digests.get_mut(index) {
                        *slot = Some(digest);
                    }
                }
                Order::Finish => return Ok(()),
                // Only ever sent after `Finish`.
                Order::Commit { .. } => {}
            }
        }
    }

    /// Called with the first data: a source that fails before producing any (damaged, empty,
    /// truncated at its first range) leaves the target untouched.
    fn start(&mut self) -> Result<(), CopyError> {
        self.started = true;
        if self.target.kind() == TargetKind::BlockDevice {
            if self.check_capacity {
                self.probe()?;
            }
            self.wipe()?;
            self.plant_sentinels()?;
        }
        self.phase(Phase::Writing, self.plan.mapped_bytes());
        Ok(())
    }

    /// Zeroes the device's first and last [`HOLD_BACK`] bytes, so no old partition table
    /// (nor a stale backup GPT at the end) survives.
    fn wipe(&mut self) -> Result<(), CopyError> {
        let capacity = self.target.capacity().unwrap_or(0);
        let head = HOLD_BACK.min(capacity);
        let tail_start = capacity.saturating_sub(HOLD_BACK).max(head);
        let total = head + capacity - tail_start;
        self.phase(Phase::Wiping, Some(total));
        {
            let _op = self.watch.begin(Op::Write, Some(0));
            self.target.zero(0, head)?;
        }
        {
            let _op = self.watch.begin(Op::Write, Some(tail_start));
            self.target.zero(tail_start, capacity - tail_start)?;
        }
        self.sync()?;
        self.progress(Phase::Wiping, total);
        Ok(())
    }

    /// Finds out how much the device really holds; refuses a card that does not hold the
    /// image (or loses data at scattered places). The probe watches its own operations (the
    /// lane's watch sees none of them) and gives a hung device up after the copy's limit. The probe's own blocks in the device's ends
    /// are zeroed by the wipe that follows; elsewhere the image or the sentinels overwrite them,
    /// or they stay in what the image leaves alone, where nothing reads them.
    fn probe(&mut self) -> Result<(), CopyError> {
        let report = &self.report;
        let mut started = false;
        let mut progress = |done: u64, total: u64| {
            if !started {
                started = true;
                report(Report::Event(TargetEvent::PhaseStarted {
                    phase: Phase::Probing,
                    total_bytes: Some(total),
                }));
            }
            report(Report::Event(TargetEvent::Progress {
                phase: Phase::Probing,
                done_bytes: done,
            }));
        };
        let found = crate::card::probe(
            &mut self.target,
            &mut progress,
            &self.cancel,
            self.stall_timeout,
        )?;
        let needed = self
            .plan
            .image_size
            .or_else(|| self.plan.mapped_bytes())
            .unwrap_or(0);
        if !found.is_genuine() && (!found.is_counterfeit() || !found.fits(needed)) {
            return Err(CopyError::Capacity {
                target: self.target.path().display().to_string(),
                report: Box::new(found),
                image_size: needed,
            });
        }
        self.capacity = Some(Box::new(found));
        Ok(())
    }

    /// Plants sentinels where the image puts nothing, between the wiped ends: in the gaps of
    /// a bmap and past the end of an image of known size; on a counterfeit card the image
    /// fits, only in what it really holds.
    fn plant_sentinels(&mut self) -> Result<(), CopyError> {
        let (Some(capacity), Some(size)) = (self.target.capacity(), self.plan.image_size) else {
            return Ok(());
        };
        let mut gaps = Vec::new();
        let mut at = 0;
        for range in self.ranges() {
            if range.start > at {
                gaps.push((at, range.start));
            }
            at = at.max(range.end);
        }
        if !self.plan.fixed() {
            at = size;
        }
        if size > at {
            gaps.push((at, size));
        }
        // The last range is cut at the image size: past it, whole blocks only.
        gaps.push((size.max(at).next_multiple_of(4096), capacity));
        let real = self.capacity.as_ref().map_or(capacity, |c| c.usable);
        let high = capacity.saturating_sub(HOLD_BACK).min(real);
        let mut sentinels = Sentinels::place(&gaps, HOLD_BACK, high, crate::nonce::fresh_u64());
        let planted = {
            let _op = self.watch.begin(Op::Write, None);
            sentinels.plant(&mut self.target)
        };
        // Kept even when planting failed part-way: some may be on the device.
        self.sentinels = Some(sentinels);
        Ok(planted?)
    }

    /// After a failure: puts back what the device held where sentinels are still planted,
    /// and flushes, once, watched. Errors are ignored: the copy's own error is what counts,
    /// and when the device itself failed, this is only a try.
    fn remove_sentinels(&mut self) {
        let Some(sentinels) = self.sentinels.take() else {
            return;
        };
        let _op = self.watch.begin(Op::Write, None);
        let _ = sentinels
            .restore(&mut self.target)
            .and_then(|()| self.target.sync());
    }

    /// Flushes the target, watched.
    pub(super) fn sync(&mut self) -> Result<(), CopyError> {
        let _op = self.watch.begin(Op::Sync, None);
        Ok(self.target.sync()?)
    }

    /// Records that a whole-image copy's segment `index` reaches `end`.
    fn grow_segment(&mut self, index: usize, offset: u64, end: u64) {
        if self.plan.fixed() {
            return;
        }
        if index == self.segments.len() {
            self.segments.push(Planned {
                start: offset,
                end,
                label: RangeLabel::Bytes { start: offset, end },
                expected: None,
            });
        } else if let Some(segment) = self.segments.get_mut(index) {
            segment.end = end;
            segment.label = RangeLabel::Bytes {
                start: segment.start,
                end,
            };
        }
    }

    /// Keeps the part of the chunk below `hold` for the end and hands the rest to the writer
    /// threads (or writes it here, if it needs a read-modify-write).
    fn dispatch(
        &mut self,
        offset: u64,
        chunk: Arc<Chunk>,
        len: usize,
        jobs: &SyncSender<Job>,
        outcome: &Outcome,
    ) -> Result<(), CopyError> {
        let below = usize::try_from(offset).map_or(0, |o| self.hold.saturating_sub(o));
        let split = below.min(len);
        if split > 0 {
            let at = usize::try_from(offset).unwrap_or(0);
            self.held[at..at + split].copy_from_slice(&chunk[..split]);
            self.held_bytes += split as u64;
        }
        let start = offset + split as u64;
        let data = &chunk[split..len];
        self.target.check_room(start + data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        if self.target.is_plain_write(start, data) {
            {
                let _op = self.watch.begin(Op::Sync, None);
                self.target.count_written(data.len() as u64)?;
            }
            let job = Job {
                offset: start,
                chunk,
                from: split,
                to: len,
            };
            // Only fails if every writer thread is gone, which only a panic does.
            jobs.send(job).map_err(|_| CopyError::ThreadFailed {
                thread: "the writer threads",
            })?;
        } else {
            let _op = self.watch.begin(Op::Write, Some(start));
            self.target.write_at(start, data)?;
            outcome.add_written(data.len() as u64);
        }
        Ok(())
    }

    /// Reports the bytes done (held back or written) if they grew.
    fn report_written(&mut self, outcome: &Outcome) {
        let done = self.held_bytes + outcome.written();
        if done > self.reported {
            self.reported = done;
            self.progress(Phase::Writing, done);
        }
    }
}
