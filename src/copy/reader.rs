//! The reader thread: walks the plan forward through the source and sends the bytes on.
//! It only reads; hashing happens on the calling thread, so reading, hashing and writing
//! overlap.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::{CHUNK, CopyError, Origin, Plan, RangeLabel, SEGMENT, segment_of};
use crate::progress::CancelToken;
use crate::scan::{StreamFindings, StreamScan};
use crate::source::{ImageSource, read_full};
use crate::target::AlignedBuf;

/// What the reader sends to the writer, in order.
pub(super) enum Msg {
    /// `len` bytes of range `index` at image `offset`, in `buf`.
    Data {
        index: usize,
        offset: u64,
        len: usize,
        buf: AlignedBuf,
    },
    /// Every byte of range `index` was sent.
    RangeEnd { index: usize },
    /// Every range was sent; the rest of a stream is being read to check its end (`Done`
    /// follows, or `Failed`).
    Sent,
    /// The reader failed; nothing follows.
    Failed(CopyError),
    /// Every range was read; the image ends at `end`. A stream scan says what it found.
    Done {
        end: u64,
        findings: Option<Box<StreamFindings>>,
    },
}

/// Sends a message to the coordinator; `false` once it has stopped listening.
pub(super) type Forward<'a> = &'a dyn Fn(Msg) -> bool;

/// How the reader knows to stop: the user's token, or the coordinator's once it is done.
struct Stop<'a> {
    cancel: &'a CancelToken,
    halt: &'a CancelToken,
}

impl Stop<'_> {
    fn now(&self) -> bool {
        self.cancel.is_cancelled() || self.halt.is_cancelled()
    }

    /// An empty buffer from `pool`, waiting for one; `None` once told to stop. The buffers
    /// come back when every target has written them, so a slow target sets the pace here.
    fn buffer(&self, pool: &Receiver<AlignedBuf>) -> Option<AlignedBuf> {
        loop {
            if self.now() {
                return None;
            }
            match pool.recv_timeout(Duration::from_millis(100)) {
                Ok(buf) => return Some(buf),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// Reads every range of `plan` and sends it on, taking empty buffers from `pool`. Returns
/// when done, on error (sent as [`Msg::Failed`]), or when `cancel` or `halt` is cancelled.
pub(super) fn run(
    plan: &Plan,
    source: &mut dyn ImageSource,
    send: Forward<'_>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
    halt: &CancelToken,
) {
    let stop = Stop { cancel, halt };
    let msg = match plan.origin {
        Origin::Stream => {
            let mut scan = StreamScan::new(source);
            match read_stream(plan, &mut scan, send, pool, &stop) {
                Ok(()) => Msg::Done {
                    end: scan.position(),
                    findings: Some(Box::new(scan.findings())),
                },
                Err(error) => Msg::Failed(error),
            }
        }
        _ => match read_all(plan, source, send, pool, &stop) {
            Ok(()) => Msg::Done {
                end: source.position(),
                findings: None,
            },
            Err(error) => Msg::Failed(error),
        },
    };
    // The coordinator may already be gone (it failed or was cancelled): nothing left to tell.
    send(msg);
}

/// Early exits (coordinator gone, cancelled) return `Ok(())`: the coordinator notices
/// cancellation itself, and stops listening only for its own reason.
fn read_all(
    plan: &Plan,
    source: &mut dyn ImageSource,
    send: Forward<'_>,
    pool: &Receiver<AlignedBuf>,
    stop: &Stop<'_>,
) -> Result<(), CopyError> {
    if plan.fixed() {
        read_ranges(plan, source, send, pool, stop)
    } else {
        read_whole(plan, source, send, pool, stop)
    }
}

/// The whole image, to its end (or to its known size), in chunks that never cross a segment
/// boundary; each segment is a range for read-back.
fn read_whole(
    plan: &Plan,
    source: &mut dyn ImageSource,
    send: Forward<'_>,
    pool: &Receiver<AlignedBuf>,
    stop: &Stop<'_>,
) -> Result<(), CopyError> {
    let name = source.name().to_owned();
    let mut offset = 0u64;
    loop {
        if stop.now() {
            return Ok(());
        }
        if let Some(size) = plan.image_size.filter(|&size| offset >= size) {
            return confirm_end(source, size, "it declares");
        }
        let Some(mut buf) = stop.buffer(pool) else {
            return Ok(());
        };
        let segment_end = (offset / SEGMENT + 1) * SEGMENT;
        let limit = plan
            .image_size
            .map_or(segment_end, |size| size.min(segment_end));
        let want = usize::try_from(limit - offset).unwrap_or(CHUNK).min(CHUNK);
        let got = read_full(source, &mut buf[..want]).map_err(|e| CopyError::Read {
            image: name.clone(),
            offset,
            source: e,
        })?;
        if got < want
            && let Some(size) = plan.image_size
        {
            let start = offset / SEGMENT * SEGMENT;
            return Err(CopyError::Truncated {
                image: name,
                offset: offset + got as u64,
                range: RangeLabel::Bytes {
                    start,
                    end: size.min(start + SEGMENT),
                },
            });
        }
        let last = got < want;
        if got > 0 {
            let index = segment_of(offset);
            let data = Msg::Data {
                index,
                offset,
                len: got,
                buf,
            };
            offset += got as u64;
            let segment_done =
                offset.is_multiple_of(SEGMENT) || last || Some(offset) == plan.image_size;
            if !send(data) || (segment_done && !send(Msg::RangeEnd { index })) {
                return Ok(());
            }
        }
        if last {
            return Ok(());
        }
    }
}

/// A stream scanned as it passes: what it has proven free ahead is skipped, the rest read in
/// chunks that stop where a proven-free span starts and never cross a 64 MiB boundary; each
/// run of written bytes is a range (for read-back and the resulting bmap).
fn read_stream(
    plan: &Plan,
    source: &mut StreamScan<'_>,
    send: Forward<'_>,
    pool: &Receiver<AlignedBuf>,
    stop: &Stop<'_>,
) -> Result<(), CopyError> {
    let name = source.name().to_owned();
    let read_error = |offset, source| CopyError::Read {
        image: name.clone(),
        offset,
        source,
    };
    let mut index = 0usize;
    let mut open = false;
    let end_range = |open: &mut bool, index: &mut usize| {
        let sent = !*open || send(Msg::RangeEnd { index: *index });
        if *open {
            *open = false;
            *index += 1;
        }
        sent
    };
    loop {
        if stop.now() {
            return Ok(());
        }
        let offset = source.position();
        if let Some(size) = plan.image_size.filter(|&size| offset >= size) {
            end_range(&mut open, &mut index);
            return confirm_end(source, size, "it declares");
        }
        if let Some(free_end) = source.free_until(offset) {
            if !end_range(&mut open, &mut index) {
                return Ok(());
            }
            let to = plan.image_size.map_or(free_end, |size| free_end.min(size));
            match source.skip_free(to) {
                Ok(()) => continue,
                // An image of unknown size may end inside free space.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && plan.image_size.is_none() => {
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(CopyError::Truncated {
                        image: name.clone(),
                        offset: source.position(),
                        range: RangeLabel::Bytes {
                            start: offset,
                            end: to,
                        },
                    });
                }
                Err(e) => return Err(read_error(source.position(), e)),
            }
        }
        let Some(mut buf) = stop.buffer(pool) else {
            return Ok(());
        };
        let segment_end = (offset / SEGMENT + 1) * SEGMENT;
        let limit = [
            Some(segment_end),
            source.next_free(offset),
            source.next_lesson(offset),
            plan.image_size,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(segment_end);
        let want = usize::try_from(limit - offset).unwrap_or(CHUNK).min(CHUNK);
        let got = read_full(source, &mut buf[..want]).map_err(|e| read_error(offset, e))?;
        if got < want
            && let Some(size) = plan.image_size
        {
            return Err(CopyError::Truncated {
                image: name,
                offset: offset + got as u64,
                range: RangeLabel::Bytes {
                    start: offset,
                    end: size.min(limit),
                },
            });
        }
        if got > 0 {
            open = true;
            let data = Msg::Data {
                index,
                offset,
                len: got,
                buf,
            };
            if !send(data) {
                return Ok(());
            }
        }
        let at = offset + got as u64;
        if (got < want || at == segment_end) && !end_range(&mut open, &mut index) {
            return Ok(());
        }
        if got < want {
            return Ok(());
        }
    }
}

/// A stream that said it holds `size` bytes must end there: a zip member whose header
/// understates its data (a zip bomb, or a damaged directory) would otherwise be written cut
/// short, and its CRC never checked. One more read finds either the end (which makes the
/// decoder check its trailer) or data that should not be there.
fn confirm_end(source: &mut dyn ImageSource, size: u64, whose: &str) -> Result<(), CopyError> {
    let mut probe = [0u8; 512];
    let cause = match read_full(source, &mut probe) {
        Ok(0) => return Ok(()),
        Ok(_) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the image holds more data than the {size} bytes {whose}"),
        ),
        Err(e) => e,
    };
    Err(CopyError::Read {
        image: source.name().to_owned(),
        offset: size,
        source: cause,
    })
}

/// The ranges of a bmap.
fn read_ranges(
    plan: &Plan,
    source: &mut dyn ImageSource,
    send: Forward<'_>,
    pool: &Receiver<AlignedBuf>,
    stop: &Stop<'_>,
) -> Result<(), CopyError> {
    let name = source.name().to_owned();
    for (index, range) in plan.ranges.iter().enumerate() {
        let eof = |offset| CopyError::Truncated {
            image: name.clone(),
            offset,
            range: range.label,
        };
        let read_error = |offset, source| CopyError::Read {
            image: name.clone(),
            offset,
            source,
        };
        source.skip_to(range.start).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => eof(source.size().unwrap_or(range.start)),
            _ => read_error(range.start, e),
        })?;
        let mut offset = range.start;
        while offset < range.end {
            let Some(mut buf) = stop.buffer(pool) else {
                return Ok(());
            };
            let len = usize::try_from(range.end - offset)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            let got = read_full(source, &mut buf[..len]).map_err(|e| read_error(offset, e))?;
            if got < len {
                return Err(eof(offset + got as u64));
            }
            let data = Msg::Data {
                index,
                offset,
                len,
                buf,
            };
            if !send(data) {
                return Ok(());
            }
            offset += len as u64;
        }
        if !send(Msg::RangeEnd { index }) {
            return Ok(());
        }
    }
    match plan.image_size {
        Some(size) if source.size().is_none() => {
            if !send(Msg::Sent) {
                return Ok(());
            }
            read_tail(plan, source, size, stop)
        }
        _ => Ok(()),
    }
}

/// A stream whose size is only known at its end (gzip, bzip2, lz4, lzop, zstd without a
/// size) must end exactly at the bmap's `ImageSize`, or the bmap describes another image: its
/// unmapped tail is decoded and dropped (which also checks the stream's trailer), while the
/// targets flush and read back. Nothing is final before this answers.
fn read_tail(
    plan: &Plan,
    source: &mut dyn ImageSource,
    size: u64,
    stop: &Stop<'_>,
) -> Result<(), CopyError> {
    let from = plan.ranges.last().map_or(0, |r| r.end);
    while source.position() < size {
        if stop.now() {
            return Ok(());
        }
        let to = size.min(source.position().saturating_add(SEGMENT));
        source.skip_to(to).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => CopyError::Truncated {
                image: source.name().to_owned(),
                offset: source.position(),
                range: RangeLabel::Bytes {
                    start: from,
                    end: size,
                },
            },
            _ => CopyError::Read {
                image: source.name().to_owned(),
                offset: source.position(),
                source: e,
            },
        })?;
    }
    confirm_end(
        source,
        size,
        "its bmap gives; the bmap belongs to another image",
    )
}
