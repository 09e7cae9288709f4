//! The reader thread: walks the plan forward through the source and sends the bytes on.
//! It only reads; hashing happens on the calling thread, so reading, hashing and writing
//! overlap.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use super::{CHUNK, CopyError, Plan, RangeLabel, SEGMENT, segment_of};
use crate::progress::CancelToken;
use crate::source::ImageSource;
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
    /// The reader failed; nothing follows.
    Failed(CopyError),
    /// Every range was read.
    Done,
}

/// Reads every range of `plan` and sends it down `tx`, taking empty buffers from `pool`.
/// Returns when done, on error (sent as [`Msg::Failed`]), or when the writer hangs up.
pub(super) fn run(
    plan: &Plan,
    source: &mut dyn ImageSource,
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
) {
    let msg = read_all(plan, source, tx, pool, cancel).map_or_else(Msg::Failed, |()| Msg::Done);
    // The writer may already be gone (it failed or was cancelled): nothing left to tell.
    let _ = tx.send(msg);
}

/// Early exits (writer gone, cancelled) return `Ok(())`: the writer notices cancellation
/// itself, and a hung-up channel means it stopped for its own reason.
fn read_all(
    plan: &Plan,
    source: &mut dyn ImageSource,
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
) -> Result<(), CopyError> {
    if plan.from_bmap {
        read_ranges(plan, source, tx, pool, cancel)
    } else {
        read_whole(plan, source, tx, pool, cancel)
    }
}

/// The whole image, to its end (or to its known size), in chunks that never cross a segment
/// boundary; each segment is a range for read-back.
fn read_whole(
    plan: &Plan,
    source: &mut dyn ImageSource,
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
) -> Result<(), CopyError> {
    let name = source.name().to_owned();
    let mut offset = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        if let Some(size) = plan.image_size.filter(|&size| offset >= size) {
            return confirm_end(source, size);
        }
        let Ok(mut buf) = pool.recv() else {
            return Ok(());
        };
        let segment_end = (offset / SEGMENT + 1) * SEGMENT;
        let limit = plan
            .image_size
            .map_or(segment_end, |size| size.min(segment_end));
        let want = usize::try_from(limit - offset).unwrap_or(CHUNK).min(CHUNK);
        let got = fill(source, &mut buf[..want]).map_err(|e| CopyError::Read {
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
            if tx.send(data).is_err() || (segment_done && tx.send(Msg::RangeEnd { index }).is_err())
            {
                return Ok(());
            }
        }
        if last {
            return Ok(());
        }
    }
}

/// A stream that said it holds `size` bytes must end there: a zip member whose header
/// understates its data (a zip bomb, or a damaged directory) would otherwise be written cut
/// short, and its CRC never checked. One more read finds either the end (which makes the
/// decoder check its trailer) or data that should not be there.
fn confirm_end(source: &mut dyn ImageSource, size: u64) -> Result<(), CopyError> {
    let mut probe = [0u8; 512];
    let cause = match fill(source, &mut probe) {
        Ok(0) => return Ok(()),
        Ok(_) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the image holds more data than the {size} bytes it declares"),
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
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
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
            if cancel.is_cancelled() {
                return Ok(());
            }
            let Ok(mut buf) = pool.recv() else {
                return Ok(());
            };
            let len = usize::try_from(range.end - offset)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            let got = fill(source, &mut buf[..len]).map_err(|e| read_error(offset, e))?;
            if got < len {
                return Err(eof(offset + got as u64));
            }
            let data = Msg::Data {
                index,
                offset,
                len,
                buf,
            };
            if tx.send(data).is_err() {
                return Ok(());
            }
            offset += len as u64;
        }
        if tx.send(Msg::RangeEnd { index }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn fill(source: &mut dyn ImageSource, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
