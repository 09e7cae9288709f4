//! The calling thread's side of a copy: prepare, wipe, write, sync, read back, write the
//! held-back header.

use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::thread;
use std::time::Instant;

use super::reader::{self, Checks, Msg};
use super::{CHUNK, CopyError, CopyOptions, CopyReport, HOLD_BACK, POOL, Plan, RangeLabel};
use crate::bmap::{ChecksumType, Digest};
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
        HOLD_BACK.min(plan.image_size)
    } else {
        0
    };
    let mut writer = Writer {
        plan,
        target,
        reporter: &mut reporter,
        hold: usize::try_from(hold).unwrap_or(0),
        held: AlignedBuf::new(usize::try_from(hold).unwrap_or(0)),
        digests: vec![
            None;
            if options.verify_readback {
                plan.ranges.len()
            } else {
                0
            }
        ],
        verified: 0,
    };
    if block {
        writer.wipe()?;
    }
    writer.stream(source, options, cancel)?;
    writer.reporter.phase(Phase::Syncing, None);
    writer.target.sync()?;
    if options.verify_readback {
        writer.read_back()?;
    }
    if hold > 0 {
        writer.write_header(options.verify_readback)?;
    }
    Ok(CopyReport {
        image_size: plan.image_size,
        mapped_bytes: plan.mapped_bytes(),
        ranges: plan.ranges.len(),
        ranges_verified: writer.verified,
        read_back: options.verify_readback,
        direct_io: writer.target.is_direct(),
        elapsed: started.elapsed(),
    })
}

/// The writing side of one copy.
struct Writer<'a, 's> {
    plan: &'a Plan,
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
}

impl Writer<'_, '_> {
    fn cancelled(&self) -> CopyError {
        CopyError::Cancelled {
            target: self.target.path().display().to_string(),
        }
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

    /// Runs the reader thread and writes what it sends until it is done or fails.
    fn stream(
        &mut self,
        source: &mut dyn ImageSource,
        options: &CopyOptions,
        cancel: &CancelToken,
    ) -> Result<(), CopyError> {
        self.reporter
            .phase(Phase::Writing, Some(self.plan.mapped_bytes()));
        let checks = Checks {
            verify: options.verify_checksums,
            digest_unchecked: options.verify_readback,
        };
        let (tx, rx) = sync_channel(POOL - 2);
        let (pool_tx, pool_rx) = channel();
        for _ in 0..POOL {
            // The receiver lives in this function: the send cannot fail.
            let _ = pool_tx.send(AlignedBuf::new(CHUNK));
        }
        let target_name = self.target.path().display().to_string();
        let plan = self.plan;
        thread::scope(|scope| {
            let (checks, target_name) = (&checks, target_name.as_str());
            scope.spawn(move || {
                reader::run(plan, source, checks, &tx, &pool_rx, cancel, target_name);
            });
            // `rx` and `pool_tx` are dropped when this returns, which unblocks the reader.
            self.receive(rx, pool_tx)
        })
    }

    fn receive(&mut self, rx: Receiver<Msg>, pool: Sender<AlignedBuf>) -> Result<(), CopyError> {
        let mut done = 0u64;
        loop {
            let msg = rx.recv().unwrap_or_else(|_| {
                Msg::Failed(CopyError::Read {
                    image: String::new(),
                    offset: done,
                    source: std::io::Error::other("the reader thread stopped unexpectedly"),
                })
            });
            if self.reporter.cancelled() {
                return Err(self.cancelled());
            }
            match msg {
                Msg::Data { offset, len, buf } => {
                    self.write(offset, &buf[..len])?;
                    done += len as u64;
                    self.reporter.progress(Phase::Writing, done);
                    // The reader may have stopped; then the buffer is simply freed.
                    let _ = pool.send(buf);
                }
                Msg::Verified { index } => {
                    self.verified += 1;
                    if let Some(RangeLabel::Blocks { first, last }) =
                        self.plan.ranges.get(index).map(|r| r.label)
                    {
                        let event = Event::RangeVerified { index, first, last };
                        self.reporter.emit(event);
                    }
                }
                Msg::Digest { index, digest } => {
                    if let Some(slot) = self.digests.get_mut(index) {
                        *slot = Some(digest);
                    }
                }
                Msg::Failed(e) => return Err(e),
                Msg::Done => return Ok(()),
            }
        }
    }

    /// Writes image bytes at `offset`, keeping the part below `hold` for the end.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), CopyError> {
        let below = usize::try_from(offset).map_or(0, |o| self.hold.saturating_sub(o));
        let split = below.min(data.len());
        if split > 0 {
            let at = usize::try_from(offset).unwrap_or(0);
            self.held[at..at + split].copy_from_slice(&data[..split]);
        }
        if split < data.len() {
            self.target
                .write_at(offset + split as u64, &data[split..])?;
        }
        Ok(())
    }

    /// Reads every range back and compares its digest with the bmap's (or the one computed
    /// while writing). Bytes below the held-back length are not on the device yet: they come
    /// from `held`, which is exactly what will be written there.
    fn read_back(&mut self) -> Result<(), CopyError> {
        let plan = self.plan;
        self.reporter
            .phase(Phase::ReadBack, Some(plan.mapped_bytes()));
        let hold = self.hold as u64;
        let mut done = 0u64;
        for (index, range) in plan.ranges.iter().enumerate() {
            if self.reporter.cancelled() {
                return Err(self.cancelled());
            }
            let own = self.digests.get(index).cloned().flatten();
            let (kind, expected) = match (&range.expected, own) {
                (Some(expected), _) => (plan.kind, expected.clone()),
                (None, Some(own)) => (ChecksumType::Sha256, own),
                // With read-back on, every range has one or the other.
                (None, None) => continue,
            };
            let mut hasher = kind.hasher();
            let device_start = range.start.max(hold).min(range.end);
            if range.start < device_start {
                hasher.update(&self.held[range.start as usize..device_start as usize]);
                done += device_start - range.start;
            }
            if device_start < range.end {
                let reporter = &mut *self.reporter;
                self.target
                    .read_range(device_start, range.end - device_start, |piece| {
                        hasher.update(piece);
                        done += piece.len() as u64;
                        reporter.progress(Phase::ReadBack, done);
                    })?;
            }
            let read = hasher.finish();
            if read != expected {
                return Err(CopyError::ReadBack {
                    target: self.target.path().display().to_string(),
                    range: range.label,
                    read,
                    written: expected,
                });
            }
        }
        Ok(())
    }

    /// Writes the held-back start of the image, and with read-back checks it; if it does not
    /// read back, it is zeroed again so the device does not look like a valid disk.
    fn write_header(&mut self, readback: bool) -> Result<(), CopyError> {
        if self.reporter.cancelled() {
            return Err(self.cancelled());
        }
        let held = &self.held[..self.hold];
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
