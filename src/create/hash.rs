//! The SHA-256 of each mapped range, read ahead on a helper thread while the calling thread
//! hashes, so reading and hashing overlap. Two buffers of [`READ_SIZE`] bound the memory
//! whatever the image size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use super::{CreateError, READ_SIZE};
use crate::bmap::{ChecksumType, Digest};
use crate::progress::{Phase, Reporter};

/// A filled buffer: `len` bytes of the current span, and whether they end it.
struct Chunk {
    buf: Vec<u8>,
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
    std::thread::scope(|scope| {
        // Made inside the scope: returning drops `full_rx` and `empty_tx` before the scope
        // joins the reader, which ends it wherever it waits.
        let (full_tx, full_rx) = sync_channel::<Result<Chunk, CreateError>>(1);
        let (empty_tx, empty_rx) = channel::<Vec<u8>>();
        for _ in 0..2 {
            // The receiver is alive: it is moved into the reader below.
            let _ = empty_tx.send(vec![0u8; READ_SIZE]);
        }
        scope.spawn(move || read_ahead(file, path, spans, &empty_rx, &full_tx));
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

/// The reader: fills free buffers with the spans in order until done, an error, or nobody
/// listens any more.
fn read_ahead(
    file: &File,
    path: &Path,
    spans: &[(u64, u64)],
    empty: &Receiver<Vec<u8>>,
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
            let mut len = 0;
            while len < want {
                let at = offset + len as u64;
                match file.read_at(&mut buf[len..want], at) {
                    Ok(0) => {
                        let _ = full.send(Err(CreateError::Shrunk {
                            path: path.to_path_buf(),
                            offset: at,
                        }));
                        return;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        let _ = full.send(Err(CreateError::Read {
                            path: path.to_path_buf(),
                            offset: at,
                            source,
                        }));
                        return;
                    }
                }
            }
            offset += len as u64;
            let last = offset >= end;
            if full.send(Ok(Chunk { buf, len, last })).is_err() {
                return;
            }
            if last {
                break;
            }
        }
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
