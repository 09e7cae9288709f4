//! Reading spans of a target back, a helper thread reading ahead while the caller hashes.
//!
//! Read-back verification is as long as the write itself when reading and hashing take turns.
//! Here a reader thread fills [`BUFFERS`] page-aligned buffers of [`READ_AHEAD`] bytes with
//! large reads (`O_DIRECT` where the target was opened so, aligned to its sector), while the
//! calling thread consumes the one before: the pass takes as long as the slower of the two.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread;

use super::{AlignedBuf, Op, Target, TargetError, io_error, read_window};

/// Bytes per read: large enough that a device's queue stays full through one `O_DIRECT` read.
pub(crate) const READ_AHEAD: usize = 8 << 20;
/// Buffers in rotation: one being consumed, the others being read or waiting.
const BUFFERS: usize = 3;

/// A filled buffer: `buf[skip..skip + take]` is the next part of span `span`, its last if
/// `last`.
struct Piece {
    span: usize,
    buf: AlignedBuf,
    skip: usize,
    take: usize,
    last: bool,
}

impl Target {
    /// Reads each byte span `(start, end)` in order, handing the caller `(span index, bytes,
    /// whether they end the span)` piece by piece while the next piece is read (an empty span
    /// gives no piece). `consume` returns `false` to stop early; then this returns `Ok(false)`
    /// as soon as the reader has noticed.
    pub fn read_spans(
        &mut self,
        spans: &[(u64, u64)],
        mut consume: impl FnMut(usize, &[u8], bool) -> bool,
    ) -> Result<bool, TargetError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| io_error(Op::Open, &self.path, None, e))?;
        let align = if self.direct { self.sector } else { 1 };
        let path = self.path.as_path();
        thread::scope(|scope| {
            // Made inside the scope: returning drops `full_rx` and `empty_tx`, which ends the
            // reader wherever it waits, before the scope joins it.
            let (full_tx, full_rx) = sync_channel(BUFFERS - 1);
            let (empty_tx, empty_rx) = channel();
            for _ in 0..BUFFERS {
                // The receiver is alive: it moves into the reader below.
                let _ = empty_tx.send(AlignedBuf::new(READ_AHEAD));
            }
            let reader = Reader {
                file: &file,
                path,
                align,
            };
            scope.spawn(move || reader.run(spans, &empty_rx, &full_tx));
            for piece in full_rx {
                let piece = piece?;
                let bytes = &piece.buf[piece.skip..piece.skip + piece.take];
                if !consume(piece.span, bytes, piece.last) {
                    return Ok(false);
                }
                // The reader is gone only once it sent everything (or an error, seen above).
                let _ = empty_tx.send(piece.buf);
            }
            Ok(true)
        })
    }
}

/// The reading side: an independent handle on the target's file.
struct Reader<'a> {
    file: &'a File,
    path: &'a Path,
    align: u64,
}

impl Reader<'_> {
    /// Fills free buffers with the spans in order until done, an error, or nobody listens.
    fn run(
        &self,
        spans: &[(u64, u64)],
        empty: &Receiver<AlignedBuf>,
        full: &SyncSender<Result<Piece, TargetError>>,
    ) {
        for (span, &(start, end)) in spans.iter().enumerate() {
            let mut pos = start;
            while pos < end {
                let Ok(mut buf) = empty.recv() else { return };
                // An aligned window around the next bytes, as `O_DIRECT` needs.
                let window_start = pos / self.align * self.align;
                let window_end =
                    (end.div_ceil(self.align) * self.align).min(window_start + READ_AHEAD as u64);
                let n = usize::try_from(window_end - window_start).unwrap_or(READ_AHEAD);
                let skip = usize::try_from(pos - window_start).unwrap_or(0);
                let take = usize::try_from(end.min(window_end) - pos).unwrap_or(0);
                if let Err(e) = read_window(self.file, &mut buf[..n], window_start, skip + take) {
                    let _ = full.send(Err(io_error(Op::Read, self.path, Some(window_start), e)));
                    return;
                }
                pos += take as u64;
                let piece = Piece {
                    span,
                    buf,
                    skip,
                    take,
                    last: pos >= end,
                };
                if full.send(Ok(piece)).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target_with(data: &[u8]) -> (tempfile::TempDir, Target) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t");
        std::fs::write(&path, data).expect("write");
        let target = Target::open_readonly(&path).expect("open");
        (dir, target)
    }

    #[test]
    fn spans_arrive_in_order_and_whole() {
        let data: Vec<u8> = (0..3 * READ_AHEAD + 777).map(|i| (i % 253) as u8).collect();
        let (_dir, mut target) = target_with(&data);
        let len = data.len() as u64;
        let spans = [(5, 6), (100, 2 * READ_AHEAD as u64 + 9), (len - 10, len)];
        let mut got = vec![Vec::new(); spans.len()];
        let mut ends = Vec::new();
        let finished = target
            .read_spans(&spans, |span, bytes, last| {
                got[span].extend_from_slice(bytes);
                if last {
                    ends.push(span);
                }
                true
            })
            .expect("read");
        assert!(finished);
        assert_eq!(ends, [0, 1, 2]);
        for (bytes, &(s, e)) in got.iter().zip(&spans) {
            assert_eq!(bytes.as_slice(), &data[s as usize..e as usize]);
        }
    }

    #[test]
    fn stopping_early_and_reading_past_the_end() {
        let data = vec![7u8; 2 * READ_AHEAD];
        let (_dir, mut target) = target_with(&data);
        let mut calls = 0;
        let finished = target
            .read_spans(&[(0, data.len() as u64)], |_, _, _| {
                calls += 1;
                false
            })
            .expect("read");
        assert!(!finished);
        assert_eq!(calls, 1);
        let end = data.len() as u64;
        match target.read_spans(&[(end - 10, end + 10)], |_, _, _| true) {
            // The offset of the (aligned) read that came up short.
            Err(TargetError::Io { op, offset, .. }) => {
                assert_eq!(op, Op::Read);
                assert!(offset.is_some_and(|o| o <= end - 10 && end - o <= 4096));
            }
            other => panic!("expected a read error: {other:?}"),
        }
    }
}
