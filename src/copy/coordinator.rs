//! The calling thread's side of a copy: it reads (through the reader thread), checks each
//! range's checksum, hands the chunks to the target's lane, forwards the lane's progress to the
//! sink, and watches the lane so a hung device ends the copy with an error instead of a hang.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use super::lane::{Chunk, Lane, Order, Queue, Report};
use super::reader::{self, Msg};
use super::watch::Watch;
use super::{CHUNK, CopyError, CopyOptions, CopyReport, Plan};
use crate::bmap::{ChecksumType, Hasher};
use crate::progress::{CancelToken, Event, ProgressSink, Reporter, Warning};
use crate::source::ImageSource;
use crate::target::{AlignedBuf, Target, TargetError, TargetKind};

/// How often the coordinator looks at the lane and the cancel token when nothing arrives.
const TICK: Duration = Duration::from_millis(100);
/// Chunk buffers in all: those being read, hashed, queued and written.
const POOL: usize = 14;

/// What reaches the calling thread: the reader's messages and the lane's reports.
enum Input {
    Read(Msg),
    Lane(Report),
}

pub(super) fn run(
    plan: Plan,
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
    if target.kind() == TargetKind::BlockDevice && !target.is_direct() {
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
    let plan = Arc::new(plan);
    let (tx, rx) = channel();
    let queue = Arc::new(Queue::default());
    let lane_tx = tx.clone();
    let lane = Lane::new(
        Arc::clone(&plan),
        source.name().to_owned(),
        target.hand_over()?,
        options,
        cancel.clone(),
        Box::new(move |report| {
            // The coordinator may have given up on this lane; nobody listens then.
            let _ = lane_tx.send(Input::Lane(report));
        }),
    );
    let watch = Arc::clone(&lane.watch);
    let lane_queue = Arc::clone(&queue);
    let handle = thread::Builder::new()
        .spawn(move || lane.run(&lane_queue))
        .map_err(|_| CopyError::ThreadFailed {
            thread: "the target's thread",
        })?;
    let mut coordinator = Coordinator {
        plan: &plan,
        image: source.name().to_owned(),
        target: target.path().display().to_string(),
        verify: options.verify_checksums,
        readback: options.verify_readback,
        stall_limit: options.stall_timeout,
        hasher: None,
        verified: 0,
        finishing: false,
        reporter,
        queue: &queue,
        watch: &watch,
    };
    let halt = CancelToken::new();
    let (home, buffers) = channel();
    for _ in 0..POOL {
        // The receiver lives in this function: the send cannot fail.
        let _ = home.send(AlignedBuf::new(CHUNK));
    }
    let ended = thread::scope(|scope| {
        let (plan, halt_reader) = (&*plan, &halt);
        scope.spawn(move || {
            let send = |msg| tx.send(Input::Read(msg)).is_ok();
            reader::run(plan, source, &send, &buffers, cancel, halt_reader);
        });
        let ended = coordinator.receive(&rx, &home);
        // The reader stops at its next chunk; a lane that is still running stops at its next
        // order (it only still runs if something failed).
        halt.cancel();
        queue.close();
        ended
    });
    let join = |handle: thread::JoinHandle<()>| {
        // The lane has reported its end: its thread is returning.
        handle.join().map_err(|_| CopyError::ThreadFailed {
            thread: "the target's thread",
        })
    };
    let finished = match ended {
        Ended::Finished(finished) => {
            join(handle)?;
            finished?
        }
        Ended::Failed(error) => {
            if coordinator.await_lane(&rx) {
                join(handle)?;
            }
            return Err(error);
        }
        // The lane's thread is left to the kernel: dropping its handle detaches it.
        Ended::Stalled(error) => return Err(error),
    };
    let image_size = plan.image_size.unwrap_or(finished.written);
    Ok(CopyReport {
        image_size,
        mapped_bytes: finished.written,
        ranges: finished.ranges,
        ranges_verified: coordinator.verified,
        read_back: finished.read_back,
        direct_io: finished.direct_io,
        elapsed: started.elapsed(),
    })
}

/// How the coordinator's loop ended.
enum Ended {
    /// The lane ended (well or not) by itself.
    Finished(Result<super::lane::Finished, CopyError>),
    /// The copy failed here (reading, a checksum, cancelled); the lane must be stopped.
    Failed(CopyError),
    /// The lane's device stopped responding; it is given up.
    Stalled(CopyError),
}

struct Coordinator<'a, 's> {
    plan: &'a Plan,
    /// The image's name, for messages.
    image: String,
    /// The target's name, for messages.
    target: String,
    /// Check ranges against their bmap checksums.
    verify: bool,
    /// Read everything back at the end (so ranges without a bmap checksum get a digest).
    readback: bool,
    stall_limit: Option<Duration>,
    /// The hash of the range being received, when it is checked or digested.
    hasher: Option<Hasher>,
    /// Ranges whose checksum matched while streaming.
    verified: usize,
    /// The lane was told to finish (it waits for `Commit` before the header).
    finishing: bool,
    reporter: Reporter<'s>,
    queue: &'a Queue,
    watch: &'a Watch,
}

impl Coordinator<'_, '_> {
    fn receive(&mut self, rx: &Receiver<Input>, home: &Sender<AlignedBuf>) -> Ended {
        loop {
            if let Some(stall) = self.stalled() {
                return Ended::Stalled(stall);
            }
            if self.reporter.cancelled() {
                return Ended::Failed(self.cancelled());
            }
            let input = match rx.recv_timeout(TICK) {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => continue,
                // The coordinator holds a sender itself, so this cannot happen.
                Err(RecvTimeoutError::Disconnected) => {
                    return Ended::Failed(CopyError::ThreadFailed {
                        thread: "the reader thread",
                    });
                }
            };
            match input {
                Input::Lane(Report::Event(event)) => self.reporter.emit(event),
                Input::Lane(Report::Ended(result)) => return Ended::Finished(result),
                Input::Read(Msg::Data {
                    index,
                    offset,
                    len,
                    buf,
                }) => {
                    self.hash(index, &buf[..len]);
                    let chunk = Arc::new(Chunk::new(buf, home.clone()));
                    self.queue.push(Order::Data {
                        index,
                        offset,
                        len,
                        chunk,
                    });
                }
                Input::Read(Msg::RangeEnd { index }) => {
                    if let Err(error) = self.range_end(index) {
                        return Ended::Failed(error);
                    }
                }
                Input::Read(Msg::Failed(error)) => return Ended::Failed(error),
                Input::Read(Msg::Sent) => {
                    self.queue.push(Order::Finish);
                    self.finishing = true;
                }
                Input::Read(Msg::Done) => {
                    if !self.finishing {
                        self.queue.push(Order::Finish);
                    }
                    self.queue.push(Order::Commit);
                }
            }
        }
    }

    /// After a failure here: waits (watching) for the lane, which was told to stop, to end,
    /// so nothing is written to the target once the copy has returned. Returns whether it
    /// ended (it has not if its device hangs).
    fn await_lane(&mut self, rx: &Receiver<Input>) -> bool {
        while self.stalled().is_none() {
            match rx.recv_timeout(TICK) {
                Ok(Input::Lane(Report::Ended(_))) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
        false
    }

    /// The lane's device has not finished an operation within the limit.
    fn stalled(&self) -> Option<CopyError> {
        let limit = self.stall_limit?;
        let stall = self.watch.stalled(limit)?;
        Some(CopyError::Target(TargetError::Stalled {
            what: stall.what,
            path: self.target.clone().into(),
            offset: stall.offset,
            secs: stall.since.elapsed().as_secs(),
        }))
    }

    fn cancelled(&self) -> CopyError {
        CopyError::Cancelled {
            target: self.target.clone(),
        }
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
            self.hasher = match (expected, self.verify, self.readback) {
                (Some(_), true, _) => Some(self.plan.kind.hasher()),
                (None, _, true) => Some(ChecksumType::Sha256.hasher()),
                _ => None,
            };
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(data);
        }
    }

    /// Range `index` is complete: compare it with the bmap, or give its digest to the lane for
    /// read-back.
    fn range_end(&mut self, index: usize) -> Result<(), CopyError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let digest = hasher.finish();
        let Some(range) = self.plan.ranges.get(index) else {
            // A segment of a whole-image copy: only read-back wants its digest.
            self.queue.push(Order::Digest { index, digest });
            return Ok(());
        };
        match &range.expected {
            Some(expected) if &digest != expected => Err(CopyError::Checksum {
                range: range.label,
                calculated: digest,
                expected: expected.clone(),
                image: self.image.clone(),
                target: self.target.clone(),
            }),
            Some(_) => {
                self.verified += 1;
                if let super::RangeLabel::Blocks { first, last } = range.label {
                    self.reporter
                        .emit(Event::RangeVerified { index, first, last });
                }
                Ok(())
            }
            None => {
                self.queue.push(Order::Digest { index, digest });
                Ok(())
            }
        }
    }
}
