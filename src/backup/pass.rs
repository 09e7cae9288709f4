//! The data pass of a backup: the reader thread's chunks into the encoder, zeros between
//! them, progress and cancellation on the calling thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

use super::encode::{Encoder, ZERO_CHUNK};
use super::read::{BUFFERS, CHUNK, Chunk, Reader};
use super::{BackupError, Meter};
use crate::bmap::Digest;
use crate::progress::{Phase, Reporter};
use crate::target::AlignedBuf;

/// The data pass: chunks from the reader thread into the encoder, zeros between them.
pub(super) struct Pass<'a, 'r> {
    pub(super) encoder: Encoder,
    pub(super) meter: &'a Meter,
    pub(super) reporter: &'a mut Reporter<'r>,
    pub(super) out: &'a Path,
    /// The image offset the encoder has been given everything before.
    pub(super) position: u64,
    /// The SHA-256 of each range read so far.
    pub(super) digests: Vec<Digest>,
}

/// Zero bytes written between two looks at the cancel token (and progress reports).
const ZEROS_BETWEEN_LOOKS: u64 = 64 << 20;

impl Pass<'_, '_> {
    /// Reads `spans` on a thread of its own and encodes them as they come.
    pub(super) fn run(
        &mut self,
        reader: &Reader<'_>,
        spans: &[(u64, u64)],
        checksums: bool,
    ) -> Result<(), BackupError> {
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (full_tx, full_rx) = sync_channel::<Result<Chunk, BackupError>>(BUFFERS - 1);
            let (empty_tx, empty_rx) = channel::<AlignedBuf>();
            for _ in 0..BUFFERS {
                // The receiver is alive: it is moved into the reader below.
                let _ = empty_tx.send(AlignedBuf::new(CHUNK));
            }
            let stop = &stop;
            let handle = std::thread::Builder::new()
                .name("backup reader".into())
                .spawn_scoped(scope, move || {
                    reader.run(spans, checksums, &empty_rx, &full_tx, stop);
                })
                .map_err(|_| BackupError::Thread)?;
            let result = self.consume(&full_rx, &empty_tx);
            // Ends the reader wherever it waits: on the flag, or on a channel hung up.
            stop.store(true, Ordering::Relaxed);
            drop(full_rx);
            drop(empty_tx);
            let joined = handle.join();
            result.and(joined.map_err(|_| BackupError::Thread))
        })
    }

    fn consume(
        &mut self,
        full: &Receiver<Result<Chunk, BackupError>>,
        empty: &Sender<AlignedBuf>,
    ) -> Result<(), BackupError> {
        for chunk in full.iter() {
            let chunk = chunk?;
            if self.reporter.cancelled() {
                return Err(BackupError::Cancelled);
            }
            self.zeros_to(chunk.offset)?;
            let data = &chunk.buf[..chunk.len];
            self.encoder
                .data(chunk.offset, data)
                .map_err(|e| self.write_error(e, chunk.offset))?;
            self.position = chunk.offset + chunk.len as u64;
            self.meter
                .0
                .read
                .fetch_add(chunk.len as u64, Ordering::Relaxed);
            if let Some(digest) = chunk.digest {
                self.digests.push(digest);
            }
            self.reporter
                .progress(Phase::Hashing, self.meter.read_bytes());
            // The reader is gone only once it sent everything (or an error).
            let _ = empty.send(chunk.buf);
        }
        Ok(())
    }

    /// Zeros (holes, in a raw file) from the position up to `offset`.
    pub(super) fn zeros_to(&mut self, offset: u64) -> Result<(), BackupError> {
        if matches!(self.encoder, Encoder::Raw { .. }) {
            self.position = self.position.max(offset);
            return Ok(());
        }
        let mut since_look = 0;
        while self.position < offset {
            let n =
                usize::try_from(offset - self.position).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
            let at = self.position;
            self.encoder.zeros(n).map_err(|e| self.write_error(e, at))?;
            self.position += n as u64;
            since_look += n as u64;
            if since_look >= ZEROS_BETWEEN_LOOKS {
                since_look = 0;
                self.reporter
                    .progress(Phase::Hashing, self.meter.read_bytes());
                if self.reporter.cancelled() {
                    return Err(BackupError::Cancelled);
                }
            }
        }
        Ok(())
    }

    /// A failed write: at the image offset in a raw file, else at the output's length.
    fn write_error(&self, source: std::io::Error, image_offset: u64) -> BackupError {
        let offset = match self.encoder {
            Encoder::Raw { .. } => image_offset,
            _ => self.meter.output_bytes(),
        };
        BackupError::Write {
            path: self.out.to_path_buf(),
            offset,
            source,
        }
    }
}
