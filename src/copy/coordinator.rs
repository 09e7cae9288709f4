//! The calling thread's side of a copy: it reads (through the reader thread), checks each
//! range's checksum once, hands every chunk to each target's lane, forwards the lanes'
//! progress to the sink, and watches the lanes, so a hung device costs only its own target.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use super::lane::{Chunk, Finished, Order, Report};
use super::pool::WRITERS;
use super::reader::{self, Msg};
use super::slot::Slot;
use super::{CHUNK, CopyError, CopyOptions, CopyReport, Origin, Plan, RangeLabel};
use crate::bmap::{BlockRange, Bmap, ChecksumType, Digest, Hasher};
use crate::progress::{CancelToken, Event, ProgressSink, Reporter, TargetEvent, Warning};
use crate::scan::{BLOCK, StreamFindings};
use crate::source::ImageSource;
use crate::target::{AlignedBuf, Target, TargetKind};

/// How often the coordinator looks at the lanes and the cancel token when nothing arrives.
const TICK: Duration = Duration::from_millis(100);
/// Chunk buffers in all: those being read, hashed, queued and written. Every target writes
/// each of them, so the slowest target sets the pace and memory does not grow with targets.
const POOL: usize = 14;
/// Buffers a hung lane may keep for ever: its writers' and the one it was handing over.
const PINNED: usize = 2 * WRITERS + 1;

/// What reaches the calling thread: the reader's messages and the lanes' reports.
enum Input {
    Read(Msg),
    Lane(usize, Report),
}

/// Copies to every target; see [`super::copy_to_all`]. An error is a failure before any
/// target was written, and every target's.
pub(super) fn run(
    plan: Plan,
    source: &mut dyn ImageSource,
    mut targets: Vec<Target>,
    options: &CopyOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Vec<Result<CopyReport, Arc<CopyError>>>, CopyError> {
    let mut reporter = Reporter::new(sink, cancel);
    for target in targets.iter_mut() {
        target.prepare(plan.image_size)?;
    }
    let started = Instant::now();
    for target in targets.iter() {
        target.reserve(&plan.spans());
        if target.kind() == TargetKind::BlockDevice && !target.is_direct() {
            reporter.emit(Event::Warning(Warning::BufferedFallback {
                device: target.path().to_path_buf(),
            }));
        }
    }
    let unchecked = plan.ranges.iter().filter(|r| r.expected.is_none()).count();
    if plan.origin == Origin::Bmap && options.verify_checksums && unchecked > 0 {
        reporter.emit(Event::Warning(Warning::RangesWithoutChecksum {
            count: unchecked,
        }));
    }
    let plan = Arc::new(plan);
    let (tx, rx) = channel();
    let image = source.name().to_owned();
    let mut slots = Vec::with_capacity(targets.len());
    for (index, target) in targets.into_iter().enumerate() {
        let lane_tx = tx.clone();
        let report = Box::new(move |report| {
            // The coordinator may have given up on this lane; nobody listens then.
            let _ = lane_tx.send(Input::Lane(index, report));
        });
        let first_boot = options.first_boot_for(index);
        slots.push(Slot::start(
            &plan, &image, target, options, first_boot, cancel, report,
        )?);
    }
    let (home, buffers) = channel();
    for _ in 0..POOL {
        // The receiver lives in this function: the send cannot fail.
        let _ = home.send(AlignedBuf::new(CHUNK));
    }
    let mut coordinator = Coordinator {
        plan: &plan,
        image,
        verify: options.verify_checksums,
        readback: options.verify_readback,
        stall_limit: options.stall_timeout,
        hasher: None,
        written: Vec::new(),
        image_end: None,
        findings: None,
        verified: 0,
        finishing: false,
        reporter,
        slots,
        home,
        started,
    };
    let halt = CancelToken::new();
    let received = thread::scope(|scope| {
        let (plan, halt_reader) = (&*plan, &halt);
        scope.spawn(move || {
            let send = |msg| tx.send(Input::Read(msg)).is_ok();
            reader::run(plan, source, &send, &buffers, cancel, halt_reader);
        });
        let received = coordinator.receive(&rx);
        // The reader stops at its next chunk; lanes still running stop at their next order
        // (they only still run if something failed).
        halt.cancel();
        coordinator.slots.iter().for_each(Slot::stop);
        received
    });
    if let Err(error) = received {
        coordinator.fail_the_rest(error);
        coordinator.await_lanes(&rx);
    }
    Ok(coordinator.results())
}

struct Coordinator<'a, 's> {
    plan: &'a Plan,
    /// The image's name, for messages.
    image: String,
    /// Check ranges against their bmap checksums.
    verify: bool,
    /// Read everything back at the end (so ranges without a bmap checksum get a digest).
    readback: bool,
    stall_limit: Option<Duration>,
    /// The hash of the range being received, when it is checked or digested.
    hasher: Option<Hasher>,
    /// Each range as received (start, end) and its digest once complete: the bmap of what
    /// was written.
    written: Vec<(u64, u64, Option<Digest>)>,
    /// Where the reader found the image's end.
    image_end: Option<u64>,
    /// What a stream scan found.
    findings: Option<Arc<StreamFindings>>,
    /// Ranges whose checksum matched while streaming.
    verified: usize,
    /// The lanes were told to finish (they wait for `Commit` before the header).
    finishing: bool,
    reporter: Reporter<'s>,
    slots: Vec<Slot>,
    /// The reader's buffer pool, topped up when a hung lane keeps some.
    home: Sender<AlignedBuf>,
    started: Instant,
}

impl Coordinator<'_, '_> {
    /// Runs until every lane has ended, or the copy as a whole fails (reading, a checksum,
    /// cancelled).
    fn receive(&mut self, rx: &Receiver<Input>) -> Result<(), CopyError> {
        loop {
            self.give_up_hung_lanes();
            if !self.slots.iter().any(Slot::live) {
                return Ok(());
            }
            if self.reporter.cancelled() {
                return Err(CopyError::Cancelled {
                    target: self.targets(),
                });
            }
            let input = match rx.recv_timeout(TICK) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => continue,
                // The coordinator holds a sender itself, so this cannot happen.
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CopyError::ThreadFailed {
                        thread: "the reader thread",
                    });
                }
            };
            match input {
                Input::Lane(index, Report::Event(event)) => self.forward(index, event),
                Input::Lane(index, Report::Ended(result)) => self.lane_ended(index, result),
                Input::Read(Msg::Data {
                    index,
                    offset,
                    len,
                    buf,
                }) => {
                    self.hash(index, &buf[..len]);
                    self.record(index, offset, len);
                    let chunk = Arc::new(Chunk::new(buf, self.home.clone()));
                    self.push(|| Order::Data {
                        index,
                        offset,
                        len,
                        chunk: Arc::clone(&chunk),
                    });
                }
                Input::Read(Msg::RangeEnd { index }) => self.range_end(index)?,
                Input::Read(Msg::Failed(error)) => return Err(error),
                Input::Read(Msg::Sent) => {
                    self.push(|| Order::Finish);
                    self.finishing = true;
                }
                Input::Read(Msg::Done { end, findings }) => {
                    self.image_end = Some(end);
                    self.findings = findings.map(|f| Arc::new(*f));
                    if !self.finishing {
                        self.push(|| Order::Finish);
                    }
                    self.push(|| Order::Commit { end });
                }
            }
        }
    }

    /// Gives `order` to every lane still running.
    fn push(&self, order: impl Fn() -> Order) {
        for slot in &self.slots {
            slot.push(order());
        }
    }

    /// Sends a lane's event on, tagged with its target.
    fn forward(&mut self, index: usize, event: TargetEvent) {
        self.reporter.emit(Event::Target { index, event });
    }

    fn lane_ended(&mut self, index: usize, result: Result<Finished, CopyError>) {
        let elapsed = self.started.elapsed();
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let result = slot.join().and(result);
        let result = result.map(|finished| self.report(&finished, elapsed));
        self.end(index, result.map_err(Arc::new));
    }

    /// Target `index` has its result, which is announced, unless the copy as a whole has
    /// already given it one.
    fn end(&mut self, index: usize, result: Result<CopyReport, Arc<CopyError>>) {
        let Some(slot) = self.slots.get_mut(index).filter(|s| s.result.is_none()) else {
            return;
        };
        let event = match &result {
            Ok(report) => TargetEvent::Done(report.clone()),
            Err(error) => TargetEvent::Failed(Arc::clone(error)),
        };
        slot.result = Some(result);
        self.reporter.emit(Event::Target { index, event });
    }

    /// The copy as a whole failed: that is the result of every target without one.
    fn fail_the_rest(&mut self, error: CopyError) {
        let error = Arc::new(error);
        for slot in self.slots.iter_mut().filter(|s| s.result.is_none()) {
            slot.result = Some(Err(Arc::clone(&error)));
        }
    }

    /// A target's report, once its lane has finished well.
    fn report(&self, finished: &Finished, elapsed: Duration) -> CopyReport {
        CopyReport {
            image_size: self.plan.image_size.unwrap_or(finished.written),
            mapped_bytes: finished.written,
            ranges: finished.ranges,
            ranges_verified: self.verified,
            read_back: finished.read_back,
            direct_io: finished.direct_io,
            elapsed,
            first_boot: finished.first_boot.clone(),
            card_busy: finished.busy,
            rewritten: finished.rewritten,
            sentinels: finished.sentinels,
            capacity: finished.capacity.clone(),
            bmap: self.written_bmap(),
            streamed: self.findings.clone(),
        }
    }

    /// Notes that range `index` holds `len` bytes at `offset`.
    fn record(&mut self, index: usize, offset: u64, len: usize) {
        let end = offset + len as u64;
        if index == self.written.len() {
            self.written.push((offset, end, None));
        } else if let Some(range) = self.written.get_mut(index) {
            range.1 = end;
        }
    }

    /// The bmap of what was written, when every range was hashed and no bmap was given.
    fn written_bmap(&self) -> Option<Arc<Bmap>> {
        if self.plan.origin == Origin::Bmap {
            return None;
        }
        let size = self.plan.image_size.or(self.image_end)?;
        let ranges = self
            .written
            .iter()
            .map(|(start, end, digest)| {
                Some(BlockRange {
                    first: start / BLOCK,
                    last: end.checked_sub(1)? / BLOCK,
                    checksum: Some(digest.clone()?),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Bmap::new(size, BLOCK, ChecksumType::Sha256, ranges)
            .ok()
            .map(Arc::new)
    }

    /// Gives up every lane whose device has hung; the others go on, with the pool topped up
    /// for the buffers the hung one keeps.
    fn give_up_hung_lanes(&mut self) {
        let Some(limit) = self.stall_limit else {
            return;
        };
        for index in 0..self.slots.len() {
            let stalled = self
                .slots
                .get_mut(index)
                .and_then(|s| s.give_up_if_stalled(limit));
            let Some(error) = stalled else {
                continue;
            };
            self.end(index, Err(Arc::new(error)));
            for _ in 0..PINNED {
                // The reader may be gone; then nobody needs the buffer.
                let _ = self.home.send(AlignedBuf::new(CHUNK));
            }
        }
    }

    /// After a failure of the whole copy: waits (watching) for the lanes, which were told to
    /// stop, to end, so nothing is written to a target once the copy has returned. A lane whose
    /// device hangs is left behind.
    fn await_lanes(&mut self, rx: &Receiver<Input>) {
        loop {
            self.give_up_hung_lanes();
            if !self.slots.iter().any(Slot::live) {
                return;
            }
            match rx.recv_timeout(TICK) {
                Ok(Input::Lane(index, Report::Ended(result))) => self.lane_ended(index, result),
                Err(RecvTimeoutError::Disconnected) => return,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Every target's name, for an error that concerns them all.
    fn targets(&self) -> String {
        let names: Vec<&str> = self.slots.iter().map(|s| s.path.as_str()).collect();
        names.join("', '")
    }

    /// What became of each target, in the order given.
    fn results(self) -> Vec<Result<CopyReport, Arc<CopyError>>> {
        self.slots
            .into_iter()
            .map(|slot| {
                slot.result.unwrap_or_else(|| {
                    Err(Arc::new(CopyError::ThreadFailed {
                        thread: "a target's thread",
                    }))
                })
            })
            .collect()
    }

    /// Feeds range `index`'s bytes to its hasher, starting one at the range's first chunk if
    /// the range is checked (bmap checksum, verification on) or digested (for read-back).
    fn hash(&mut self, index: usize, data: &[u8]) {
        if self.hasher.is_none() {
            let expected = self
                .plan
                .ranges
                .get(index)
                .and_then(|r| r.expected.as_ref());
            // A scan's ranges are always hashed: the bmap of what was written needs them.
            let scanned = matches!(self.plan.origin, Origin::Scanned | Origin::Stream);
            self.hasher = match (expected, self.verify, self.readback || scanned) {
                (Some(_), true, _) => Some(self.plan.kind.hasher()),
                (None, _, true) => Some(ChecksumType::Sha256.hasher()),
                _ => None,
            };
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(data);
        }
    }

    /// Range `index` is complete: compare it with the bmap, or give its digest to the lanes
    /// for read-back.
    fn range_end(&mut self, index: usize) -> Result<(), CopyError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let digest = hasher.finish();
        let expected = self.plan.ranges.get(index).map(|r| (&r.expected, r.label));
        match expected {
            Some((Some(expected), label)) if &digest != expected => Err(CopyError::Checksum {
                range: label,
                calculated: digest,
                expected: expected.clone(),
                image: self.image.clone(),
                target: self.targets(),
            }),
            Some((Some(_), label)) => {
                self.verified += 1;
                if let RangeLabel::Blocks { first, last } = label {
                    self.reporter
                        .emit(Event::RangeVerified { index, first, last });
                }
                Ok(())
            }
            // No bmap checksum (or a range found as the data arrived): read-back and the
            // bmap of what was written want it.
            _ => {
                if let Some(range) = self.written.get_mut(index) {
                    range.2 = Some(digest.clone());
                }
                self.push(|| Order::Digest {
                    index,
                    digest: digest.clone(),
                });
                Ok(())
            }
        }
    }
}
