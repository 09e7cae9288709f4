//! The calling thread's side of a copy: prepare, wipe, write, sync, read back, write the
//! held-back header.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread;
use std::time::Instant;

use super::pool::{self, Job, Outcome, WRITERS};
use super::reader::{self, Msg};
use super::{CHUNK, CopyError, CopyOptions, CopyReport, HOLD_BACK, Plan, Planned, RangeLabel};
use crate::bmap::{ChecksumType, Digest, Hasher};
use crate::progress::{CancelToken, Event, Phase, ProgressSink, Reporter, Warning};
use crate::source::ImageSource;
use crate::target::{AlignedBuf, Target, TargetKind};

pub(super) fn run(
    plan: &Plan,
    source: &mut dyn ImageSource,
    target: &mut Target,
    options: &CopyOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<CopyReport, CopyError> {
    let mut reporter = Reporter::new(sink, cancel);
    target.prepare(plan.image_size)?;
    target.reserve(&plan.spans());
    let started = Instant::now();
    let block = target.kind() == TargetKind::BlockDevice;
    if block && !target.is_direct() {
        reporter.emit(Event::Warning(Warning::BufferedFallback {
            device: target.path().to_path_buf(),
        }));
    }
    let unchecked = plan.ranges.iter().filter(|r| r.expected.is_none()).count();
    if plan.from_bmap && options.verify_checksums && unchecked > 0 {
        reporter.emit(Event::Warning(Warning::RangesWithoutChecksum {
            count: unchecked,
        }));
    }
    let hold = if block {
        HOLD_BACK.min(plan.image_size.unwrap_or(HOLD_BACK))
    } else {
        0
    };
    let digest_slots = if options.verify_readback {
        plan.ranges.len()
    } else {
        0
    };
    let mut writer = Writer {
        plan,
        image: source.name().to_owned(),
        verify: options.verify_checksums,
        readback: options.verify_readback,
        hasher: None,
        target,
        reporter: &mut reporter,
        hold: usize::try_from(hold).unwrap_or(0),
        held: AlignedBuf::new(usize::try_from(hold).unwrap_or(0)),
        digests: vec![None; digest_slots],
        verified: 0,
        held_bytes: 0,
        reported: 0,
        segments: Vec::new(),
        started: false,
    };
    writer.stream(source, cancel)?;
    writer.reporter.phase(Phase::Syncing, None);
    writer.target.sync()?;
    let read_back = options.verify_readback && writer.read_back(options.skip_readback.as_ref())?;
    let written = writer.ranges().iter().map(|r| r.end - r.start).sum();
    let image_size = plan.image_size.unwrap_or(written);
    if image_size == 0 {
        return Err(CopyError::EmptyImage {
            image: writer.image.clone(),
        });
    }
    if hold > 0 {
        writer.write_header(read_back)?;
    }
    writer.target.commit()?;
    Ok(CopyReport {
        image_size,
        mapped_bytes: written,
        ranges: writer.ranges().len(),
        ranges_verified: writer.verified,
        read_back,
        direct_io: writer.target.is_direct(),
        elapsed: started.elapsed(),
    })
}

/// Chunks queued between the reader and the writer.
const QUEUE: usize = 4;
/// Chunk buffers in all: the queue, the reader's, and the writers' in flight and queued.
const POOL: usize = QUEUE + 2 + 2 * WRITERS;

/// The error for a helper thread that vanished (it can only have panicked).
fn stopped(thread: &'static str) -> CopyError {
    CopyError::ThreadFailed { thread }
}

/// The writing side of one copy.
struct Writer<'a, 's> {
    plan: &'a Plan,
    /// The image's name, for messages.
    image: String,
    /// Check ranges against their bmap checksums.
    verify: bool,
    /// Read everything back at the end (so ranges without a bmap checksum get a digest).
    readback: bool,
    /// The hash of the range being received, when it is checked or digested.
    hasher: Option<Hasher>,
    target: &'a mut Target,
    reporter: &'a mut Reporter<'s>,
    /// Bytes at the start of the image kept back until the end (0 for files).
    hold: usize,
    /// Those bytes; unmapped parts stay zero, which is what the wiped device holds there.
    held: AlignedBuf,
    /// Digests of ranges without a bmap checksum, computed while writing, for read-back.
    digests: Vec<Option<Digest>>,
    /// Ranges whose checksum matched while streaming.
    verified: usize,
    /// Image bytes kept in `held` so far (they count as done).
    held_bytes: u64,
    /// The last byte count reported for the writing phase.
    reported: u64,
    /// The segments of a whole-image copy, as the data arrives.
    segments: Vec<Planned>,
    /// Whether the first data arrived (and the device was wiped).
    started: bool,
}

impl Writer<'_, '_> {
    /// The ranges being copied: the bmap's, or the segments seen so far.
    fn ranges(&self) -> &[Planned] {
        if self.plan.from_bmap {
            &self.plan.ranges
        } else {
            &self.segments
        }
    }

    /// Records that a whole-image copy's segment `index` reaches `end`.
    fn grow_segment(&mut self, index: usize, offset: u64, end: u64) {
        if self.plan.from_bmap {
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

    fn cancelled(&self) -> CopyError {
        CopyError::Cancelled {
            target: self.target.path().display().to_string(),
        }
    }

    /// Called with the first data: a source that fails before producing any (damaged, empty,
    /// truncated at its first range) leaves the target untouched.
    fn start(&mut self) -> Result<(), CopyError> {
        self.started = true;
        if self.target.kind() == TargetKind::BlockDevice {
            self.wipe()?;
        }
        self.reporter
            .phase(Phase::Writing, self.plan.mapped_bytes());
        Ok(())
    }

    /// Zeroes the device's first and last [`HOLD_BACK`] bytes, so no old partition table
    /// (nor a stale backup GPT at the end) survives.
    fn wipe(&mut self) -> Result<(), CopyError> {
        let capacity = self.target.capacity().unwrap_or(0);
        let head = HOLD_BACK.min(capacity);
        let tail_start = capacity.saturating_sub(HOLD_BACK).max(head);
        let total = head + capacity - tail_start;
        self.reporter.phase(Phase::Wiping, Some(total));
        self.target.zero(0, head)?;
        self.target.zero(tail_start, capacity - tail_start)?;
        self.target.sync()?;
        self.reporter.progress(Phase::Wiping, total);
        Ok(())
    }

    /// Runs the reader thread and the writer pool, and dispatches what the reader sends until
    /// it is done or something fails.
    fn stream(
        &mut self,
        source: &mut dyn ImageSource,
        cancel: &CancelToken,
    ) -> Result<(), CopyError> {
        let (tx, rx) = sync_channel(QUEUE);
        let (buffers_tx, buffers_rx) = channel();
        for _ in 0..POOL {
            // The receiver lives in this function: the send cannot fail.
            let _ = buffers_tx.send(AlignedBuf::new(CHUNK));
        }
        let (jobs_tx, jobs_rx) = sync_channel(WRITERS);
        let jobs_rx = Mutex::new(jobs_rx);
        let shared_writer = self.target.shared_writer()?;
        let outcome = Outcome::default();
        let plan = self.plan;
        thread::scope(|scope| {
            scope.spawn(move || reader::run(plan, source, &tx, &buffers_rx, cancel));
            for _ in 0..WRITERS {
                let (jobs, writer, outcome) = (&jobs_rx, &shared_writer, &outcome);
                let buffers = buffers_tx.clone();
                scope.spawn(move || pool::worker(jobs, writer, outcome, &buffers, cancel));
            }
            // Dropping `rx`, `buffers_tx` and `jobs_tx` on return ends the reader and the
            // writers; the scope then waits for them.
            self.receive(rx, buffers_tx, jobs_tx, &outcome)
        })?;
        if let Some(failure) = outcome.take_failure() {
            return Err(failure.into());
        }
        if self.reporter.cancelled() {
            return Err(self.cancelled());
        }
        self.report(&outcome);
        Ok(())
    }

    fn receive(
        &mut self,
        rx: Receiver<Msg>,
        buffers: Sender<AlignedBuf>,
        jobs: SyncSender<Job>,
        outcome: &Outcome,
    ) -> Result<(), CopyError> {
        loop {
            let msg = rx
                .recv()
                .unwrap_or_else(|_| Msg::Failed(stopped("the reader thread")));
            if self.reporter.cancelled() {
                return Err(self.cancelled());
            }
            if let Some(failure) = outcome.take_failure() {
                return Err(failure.into());
            }
            match msg {
                Msg::Data {
                    index,
                    offset,
                    len,
                    buf,
                } => {
                    if !self.started {
                        self.start()?;
                    }
                    self.grow_segment(index, offset, offset + len as u64);
                    self.hash(index, &buf[..len]);
                    self.dispatch(offset, buf, len, &buffers, &jobs, outcome)?;
                    self.report(outcome);
                }
                Msg::RangeEnd { index } => self.range_end(index)?,
                Msg::Failed(e) => return Err(e),
                Msg::Done => return Ok(()),
            }
        }
    }

    /// Feeds range `index`'s bytes to its hasher, starting one at the range's first chunk if
    /// the range is checked (bmap checksum, verification on) or digested (for read-back).
    fn hash(&mut self, index: usize, data: &[u8]) {
        let Some(range) = self.ranges().get(index) else {
            return;
        };
        if self.hasher.is_none() {
            self.hasher = match (&range.expected, self.verify, self.readback) {
                (Some(_), true, _) => Some(self.plan.kind.hasher()),
                (None, _, true) => Some(ChecksumType::Sha256.hasher()),
                _ => None,
            };
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(data);
        }
    }

    /// Range `index` is complete: compare it with the bmap, or keep its digest for read-back.
    fn range_end(&mut self, index: usize) -> Result<(), CopyError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let Some(range) = self.ranges().get(index).cloned() else {
            return Ok(());
        };
        let digest = hasher.finish();
        match &range.expected {
            Some(expected) if &digest != expected => Err(CopyError::Checksum {
                range: range.label,
                calculated: digest,
                expected: expected.clone(),
                image: self.image.clone(),
                target: self.target.path().display().to_string(),
            }),
            Some(_) => {
                self.verified += 1;
                if let RangeLabel::Blocks { first, last } = range.label {
                    self.reporter
                        .emit(Event::RangeVerified { index, first, last });
                }
                Ok(())
            }
            None => {
                if let Some(slot) = self.digests.get_mut(index) {
                    *slot = Some(digest);
                }
                Ok(())
            }
        }
    }

    /// Keeps the part of `buf[..len]` below `hold` for the end and hands the rest to the pool
    /// (or writes it here, if it needs a read-modify-write).
    fn dispatch(
        &mut self,
        offset: u64,
        buf: AlignedBuf,
        len: usize,
        buffers: &Sender<AlignedBuf>,
        jobs: &SyncSender<Job>,
        outcome: &Outcome,
    ) -> Result<(), CopyError> {
        let below = usize::try_from(offset).map_or(0, |o| self.hold.saturating_sub(o));
        let split = below.min(len);
        if split > 0 {
            let at = usize::try_from(offset).unwrap_or(0);
            self.held[at..at + split].copy_from_slice(&buf[..split]);
            self.held_bytes += split as u64;
        }
        let start = offset + split as u64;
        let data = &buf[split..len];
        self.target.check_room(start + data.len() as u64)?;
        if data.is_empty() {
            // The reader may have stopped; then the buffer is simply freed.
            let _ = buffers.send(buf);
        } else if self.target.is_plain_write(start, data) {
            self.target.count_written(data.len() as u64)?;
            let job = Job {
                offset: start,
                buf,
                from: split,
                to: len,
            };
            jobs.send(job).map_err(|_| stopped("the writer threads"))?;
        } else {
            self.target.write_at(start, data)?;
            outcome.add_written(data.len() as u64);
            let _ = buffers.send(buf);
        }
        Ok(())
    }

    /// Reports the bytes done (held back or written) if they grew.
    fn report(&mut self, outcome: &Outcome) {
        let done = self.held_bytes + outcome.written();
        if done > self.reported {
            self.reported = done;
            self.reporter.progress(Phase::Writing, done);
        }
    }

    /// Reads every range back and compares its digest with the bmap's (or the one computed
    /// while writing). Bytes below the held-back length are not on the device yet: they come
    /// from `held`, which is exactly what will be written there. The device is read ahead on a
    /// helper thread while this one hashes. Returns whether it read everything back (`false`
    /// when `skip` was cancelled part-way).
    fn read_back(&mut self, skip: Option<&CancelToken>) -> Result<bool, CopyError> {
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
        let total = checks.iter().map(|c| c.range.end - c.range.start).sum();
        self.reporter.phase(Phase::ReadBack, Some(total));
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
        let mut failure = None;
        let (memory, reporter) = (&self.held, &mut *self.reporter);
        let path = self.target.path().to_path_buf();
        let finished = self.target.read_spans(&spans, |at, piece, last| {
            if reporter.cancelled() || skip.is_some_and(CancelToken::is_cancelled) {
                return false;
            }
            let hasher = current.get_or_insert_with(|| on_device[at].start(memory, &mut done));
            hasher.update(piece);
            done += piece.len() as u64;
            reporter.progress(Phase::ReadBack, done);
            if last && let Some(hasher) = current.take() {
                failure = on_device[at].compare(hasher, &path).err();
            }
            failure.is_none()
        })?;
        if let Some(error) = failure {
            return Err(error);
        }
        if self.reporter.cancelled() {
            return Err(self.cancelled());
        }
        if !finished {
            return Ok(false);
        }
        Ok(true)
    }

    /// Writes the held-back start of the image, and with read-back checks it; if it does not
    /// read back, it is zeroed again so the device does not look like a valid disk.
    fn write_header(&mut self, readback: bool) -> Result<(), CopyError> {
        if self.reporter.cancelled() {
            return Err(self.cancelled());
        }
        // A stream of unknown size may have ended inside the held-back part.
        let image_end = self
            .plan
            .image_size
            .unwrap_or_else(|| self.ranges().last().map_or(0, |r| r.end));
        let held = &self.held[..self
            .hold
            .min(usize::try_from(image_end).unwrap_or(usize::MAX))];
        let len = held.len() as u64;
        self.reporter.phase(Phase::WritingHeader, Some(len));
        self.target.write_at(0, held)?;
        self.target.sync()?;
        self.reporter.progress(Phase::WritingHeader, len);
        if !readback {
            return Ok(());
        }
        let mut hasher = ChecksumType::Sha256.hasher();
        self.target
            .read_range(0, len, |piece| hasher.update(piece))?;
        let read = hasher.finish();
        let written = ChecksumType::Sha256.digest(held);
        if read != written {
            // Best effort: the error below is what matters, whatever this does.
            let _ = self.target.zero(0, len).and_then(|()| self.target.sync());
            return Err(CopyError::ReadBack {
                target: self.target.path().display().to_string(),
                range: RangeLabel::Header { len },
                read,
                written,
            });
        }
        Ok(())
    }
}

/// One range to read back: what to compare it with, and where its part on the device starts.
struct ReadBackCheck {
    range: Planned,
    kind: ChecksumType,
    expected: Digest,
    device_start: u64,
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
    fn compare(&self, hasher: Hasher, target: &std::path::Path) -> Result<(), CopyError> {
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
