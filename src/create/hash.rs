//! The SHA-256 of each mapped range, read ahead on a helper thread while the calling thread
//! hashes, so reading and hashing overlap. Reads are large and, where the filesystem allows,
//! direct (see [`crate::source::direct`]): the disk's data goes straight into one of
//! [`BUFFERS`] page-aligned buffers of [`READ_SIZE`], which bound the memory whatever the
//! image size, and the pass costs one core for hashing and next to nothing for reading.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use super::{CreateError, READ_SIZE};
use crate::bmap::{ChecksumType, Digest};
use crate::progress::{Phase, Reporter};
use crate::source::direct::{self, Direct};
use crate::target::AlignedBuf;

/// Buffers in rotation: one being hashed, the others being read or waiting.
const BUFFERS: usize = 3;

/// A filled buffer: `len` bytes of the current span, and whether they end it.
struct Chunk {
    buf: AlignedBuf,
    len: usize,
    last: bool,
}

/// The digest of every byte span `(start, end)` of `file`, in order; progress as
/// [`Phase::Hashing`] bytes, cancellation between reads.
pub(super) fn digests(
    file: &File,
    path: &Path,
    spans: &[(u64, u64)],
    reporter: &mut Reporter<'_>,
) -> Result<Vec<Digest>, CreateError> {
    let direct = Direct::open(path, file);
    std::thread::scope(|scope| {
        // Made inside the scope: returning drops `full_rx` and `empty_tx` before the scope
        // joins the reader, which ends it wherever it waits.
        let (full_tx, full_rx) = sync_channel::<Result<Chunk, CreateError>>(BUFFERS - 1);
        let (empty_tx, empty_rx) = channel::<AlignedBuf>();
        for _ in 0..BUFFERS {
            // The receiver is alive: it is moved into the reader below.
            let _ = empty_tx.send(AlignedBuf::new(READ_SIZE));
        }
        let reader = Reader {
            file,
            direct: direct.as_ref(),
            path,
        };
        scope.spawn(move || reader.run(spans, &empty_rx, &full_tx));
        let mut sums = Vec::with_capacity(spans.len());
        let mut done = 0u64;
        for _ in spans {
            let mut hasher = ChecksumType::Sha256.hasher();
            loop {
                if reporter.cancelled() {
                    return Err(CreateError::Cancelled);
                }
                let chunk = match full_rx.recv() {
                    Ok(chunk) => chunk?,
                    // The reader stops early only after sending its error.
                    Err(_) => return Err(CreateError::Cancelled),
                };
                hasher.update(&chunk.buf[..chunk.len]);
                done += chunk.len as u64;
                reporter.progress(Phase::Hashing, done);
                let last = chunk.last;
                let _ = empty_tx.send(chunk.buf);
                if last {
                    break;
                }
            }
            sums.push(hasher.finish());
        }
        Ok(sums)
    })
}

/// The reading side.
struct Reader<'a> {
    file: &'a File,
    direct: Option<&'a Direct>,
    path: &'a Path,
}

impl Reader<'_> {
    /// Fills free buffers with the spans in order until done, an error, or nobody listens.
    fn run(
        &self,
        spans: &[(u64, u64)],
        empty: &Receiver<AlignedBuf>,
        full: &SyncSender<Result<Chunk, CreateError>>,
    ) {
        for &(start, end) in spans {
            let mut offset = start;
            loop {
                let Ok(mut buf) = empty.recv() else {
                    return;
                };
                let want = usize::try_from(end - offset)
                    .unwrap_or(READ_SIZE)
                    .min(READ_SIZE);
                let len = match self.fill(&mut buf[..want], offset) {
                    Ok(len) => len,
                    Err(e) => {
                        let _ = full.send(Err(e));
                        return;
                    }
                };
                offset += len as u64;
                let last = offset >= end;
                if full.send(Ok(Chunk { buf, len, last })).is_err() || last {
                    break;
                }
            }
            if offset < end {
                return;
            }
        }
    }

    /// Fills `buf` from `offset`; the file ending first is an error.
    fn fill(&self, buf: &mut [u8], offset: u64) -> Result<usize, CreateError> {
        let mut len = 0;
        while len < buf.len() {
            let at = offset + len as u64;
            match direct::read_at(self.direct, self.file, &mut buf[len..], at) {
                Ok(0) => {
                    return Err(CreateError::Shrunk {
                        path: self.path.to_path_buf(),
                        offset: at,
                    });
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CreateError::Read {
                        path: self.path.to_path_buf(),
                        offset: at,
                        source,
                    });
                }
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{CancelToken, NoProgress};

    fn run(data: &[u8], spans: &[(u64, u64)]) -> Result<Vec<Digest>, CreateError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("image");
        std::fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        let (mut sink, cancel) = (NoProgress, CancelToken::new());
        let mut reporter = Reporter::new(&mut sink, &cancel);
        digests(&file, &path, spans, &mut reporter)
    }

    #[test]
    fn spans_across_many_buffers_hash_as_one_pass_would() {
        let data: Vec<u8> = (0..3 * READ_SIZE + 123)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let len = data.len() as u64;
        let spans = [(0, 10), (4096, len - 1000), (len - 5, len)];
        let sums = run(&data, &spans).expect("digests");
        for (sum, &(s, e)) in sums.iter().zip(&spans) {
            let mut one = ChecksumType::Sha256.hasher();
            one.update(&data[s as usize..e as usize]);
            assert_eq!(*sum, one.finish());
        }
    }

    #[test]
    fn a_file_shorter_than_its_spans_names_the_offset() {
        match run(&[1u8; 10_000], &[(0, 4096), (8192, 20_000)]) {
            Err(CreateError::Shrunk { offset, .. }) => assert_eq!(offset, 10_000),
            other => panic!("expected Shrunk: {other:?}"),
        }
    }
}
