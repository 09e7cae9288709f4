//! The SHA-256 of each mapped range, in large reads that run ahead of the hashing.
//!
//! A range's digest is one sequential computation, but different ranges are independent: with
//! several cores, up to [`MAX_WORKERS`] workers each take the next range not yet taken and hash it,
//! so an image of many ranges is hashed about as many times faster. A worker is a reader thread
//! that fills [`BUFFERS`] page-aligned buffers of [`READ_SIZE`] and a thread hashing them, so
//! reading and hashing overlap within a worker too. Memory is bounded by the workers' buffers,
//! whatever the image size; the calling thread only reports progress and passes on
//! cancellation.
//!
//! The bytes come from an [`Image`]: a local file is read with positional reads, direct where
//! the filesystem allows (see [`crate::source::direct`]); any other random-access store (the
//! image in an xz file of several blocks, a member of a tar, a file on a server honouring
//! Range requests) through its stream of each range, so that only what the ranges hold is
//! read or decoded (an xz store decodes one block at a time, whichever worker asks). The one
//! difference between the two is how a reader fills its buffer.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, channel, sync_channel};
use std::thread;
use std::time::Duration;

use super::{CreateError, READ_SIZE};
use crate::bmap::{ChecksumType, Digest, Hasher};
use crate::progress::{Phase, Reporter};
use crate::source::RandomAccess;
use crate::source::direct::{self, Direct};
use crate::target::AlignedBuf;

/// Buffers per worker: one being hashed, the others being read or waiting.
const BUFFERS: usize = 3;
/// Workers at most (never more than the cores, nor the ranges).
const MAX_WORKERS: usize = 4;
/// How often the calling thread reports progress and looks for cancellation.
const POLL: Duration = Duration::from_millis(50);

/// A filled buffer: `len` bytes of span `span`, and whether they end it.
struct Chunk {
    span: usize,
    buf: AlignedBuf,
    len: usize,
    last: bool,
}

/// Where the bytes hashed come from.
#[derive(Clone, Copy)]
pub(crate) enum Image<'a> {
    /// A local file at `path`: positional reads, direct where its filesystem allows.
    File {
        /// The file, open for reading.
        file: &'a File,
        /// Its path, for the direct descriptor and for errors.
        path: &'a Path,
    },
    /// Any other store with random access: each range read through its stream.
    Store(&'a dyn RandomAccess),
}

impl Image<'_> {
    /// The image's name as a path, for errors that name the image by its path.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Self::File { path, .. } => path.to_path_buf(),
            Self::Store(store) => PathBuf::from(store.name()),
        }
    }
}

/// The digest of every byte span `(start, end)` of `image`, in order; progress as
/// [`Phase::Hashing`] bytes, cancellation between reads.
pub(super) fn digests(
    image: Image<'_>,
    spans: &[(u64, u64)],
    reporter: &mut Reporter<'_>,
) -> Result<Vec<Digest>, CreateError> {
    let direct = match image {
        Image::File { file, path } => Direct::open(path, file),
        Image::Store(_) => None,
    };
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.min(MAX_WORKERS).min(spans.len()).max(1);
    let shared = Shared {
        image,
        direct,
        spans,
        next: AtomicUsize::new(0),
        hashed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        sums: Mutex::new(vec![None; spans.len()]),
        failure: Mutex::new(None),
    };
    if reporter.cancelled() {
        return Err(CreateError::Cancelled);
    }
    thread::scope(|scope| {
        let (ended_tx, ended_rx) = channel::<()>();
        for _ in 0..workers {
            let (shared, ended) = (&shared, ended_tx.clone());
            scope.spawn(move || {
                shared.worker();
                let _ = ended.send(());
            });
        }
        let mut ended = 0;
        while ended < workers {
            match ended_rx.recv_timeout(POLL) {
                Ok(()) => ended += 1,
                Err(RecvTimeoutError::Timeout) => {}
                // Every worker holds a sender until it ends: this cannot happen first.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            reporter.progress(Phase::Hashing, shared.hashed.load(Ordering::Relaxed));
            if reporter.cancelled() {
                shared.stop.store(true, Ordering::Relaxed);
            }
        }
    });
    if let Some(failure) = shared.failure.into_inner().ok().flatten() {
        return Err(failure);
    }
    if reporter.cancelled() {
        return Err(CreateError::Cancelled);
    }
    // Without a failure, a span is left without a digest only when cancelled.
    shared
        .sums
        .into_inner()
        .ok()
        .and_then(|sums| sums.into_iter().collect())
        .ok_or(CreateError::Cancelled)
}

/// How a worker's reader reads the span it took.
enum SpanReader<'a> {
    /// Positional reads of the file, direct where it can.
    File {
        file: &'a File,
        direct: Option<&'a Direct>,
    },
    /// The store's stream of the span.
    Stream(Box<dyn Read + Send>),
}

/// What the workers share: the image, the spans, the next span to take, and the results.
struct Shared<'a> {
    image: Image<'a>,
    /// The direct descriptor of a local file, where its filesystem allows one.
    direct: Option<Direct>,
    spans: &'a [(u64, u64)],
    next: AtomicUsize,
    /// Bytes hashed, for progress.
    hashed: AtomicU64,
    /// Set on cancellation or the first failure: every worker stops.
    stop: AtomicBool,
    sums: Mutex<Vec<Option<Digest>>>,
    failure: Mutex<Option<CreateError>>,
}

impl Shared<'_> {
    /// One worker: a reader thread taking spans, and this thread hashing what it reads.
    fn worker(&self) {
        thread::scope(|scope| {
            // Made inside the scope: returning drops `full_rx` and `empty_tx` before the scope
            // joins the reader, which ends it wherever it waits.
            let (full_tx, full_rx) = sync_channel::<Result<Chunk, CreateError>>(BUFFERS - 1);
            let (empty_tx, empty_rx) = channel::<AlignedBuf>();
            for _ in 0..BUFFERS {
                // The receiver is alive: it is moved into the reader below.
                let _ = empty_tx.send(AlignedBuf::new(READ_SIZE));
            }
            scope.spawn(move || self.read(&empty_rx, &full_tx));
            let mut hasher: Option<Hasher> = None;
            for chunk in full_rx.iter() {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => return self.fail(e),
                };
                let h = hasher.get_or_insert_with(|| ChecksumType::Sha256.hasher());
                h.update(&chunk.buf[..chunk.len]);
                self.hashed.fetch_add(chunk.len as u64, Ordering::Relaxed);
                if chunk.last
                    && let Some(h) = hasher.take()
                    && let Ok(mut sums) = self.sums.lock()
                    && let Some(slot) = sums.get_mut(chunk.span)
                {
                    *slot = Some(h.finish());
                }
                // The reader is gone only once it sent everything (or an error).
                let _ = empty_tx.send(chunk.buf);
            }
        });
    }

    fn fail(&self, error: CreateError) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(error);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A worker's reader: takes the next span not yet taken and fills free buffers with it,
    /// until none is left, an error, or the worker stops listening.
    fn read(&self, empty: &Receiver<AlignedBuf>, full: &SyncSender<Result<Chunk, CreateError>>) {
        loop {
            let span = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&(start, end)) = self.spans.get(span) else {
                return;
            };
            let mut reader = match self.reader(start, end) {
                Ok(reader) => reader,
                Err(e) => {
                    let _ = full.send(Err(e));
                    return;
                }
            };
            let mut offset = start;
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut buf) = empty.recv() else {
                    return;
                };
                let want = usize::try_from(end - offset)
                    .unwrap_or(READ_SIZE)
                    .min(READ_SIZE);
                let len = match self.fill(&mut reader, &mut buf[..want], offset) {
                    Ok(len) => len,
                    Err(e) => {
                        let _ = full.send(Err(e));
                        return;
                    }
                };
                offset += len as u64;
                let last = offset >= end;
                if full
                    .send(Ok(Chunk {
                        span,
                        buf,
                        len,
                        last,
                    }))
                    .is_err()
                {
                    return;
                }
                if last {
                    break;
                }
            }
        }
    }

    /// The reader of span `start..end`.
    fn reader(&self, start: u64, end: u64) -> Result<SpanReader<'_>, CreateError> {
        match self.image {
            Image::File { file, .. } => Ok(SpanReader::File {
                file,
                direct: self.direct.as_ref(),
            }),
            Image::Store(store) => store
                .stream(start, end - start)
                .map(SpanReader::Stream)
                .map_err(|e| self.read_error(start, e)),
        }
    }

    /// Fills `buf` from `offset` with `reader`; the image ending first is an error.
    fn fill(
        &self,
        reader: &mut SpanReader<'_>,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<usize, CreateError> {
        let mut len = 0;
        while len < buf.len() {
            let at = offset + len as u64;
            let got = match reader {
                SpanReader::File { file, direct } => {
                    direct::read_at(*direct, file, &mut buf[len..], at)
                }
                SpanReader::Stream(stream) => stream.read(&mut buf[len..]),
            };
            match got {
                Ok(0) => return Err(self.ended(at)),
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(self.read_error(at, source)),
            }
        }
        Ok(len)
    }

    /// A failed read at `offset`, naming the image.
    fn read_error(&self, offset: u64, source: io::Error) -> CreateError {
        match self.image {
            Image::File { path, .. } => CreateError::Read {
                path: path.to_path_buf(),
                offset,
                source,
            },
            Image::Store(store) => CreateError::ReadStore {
                name: store.name().to_owned(),
                offset,
                source,
            },
        }
    }

    /// The image ending at `offset`, before the end of the span being read.
    fn ended(&self, offset: u64) -> CreateError {
        match self.image {
            Image::File { path, .. } => CreateError::Shrunk {
                path: path.to_path_buf(),
                offset,
            },
            Image::Store(_) => self.read_error(
                offset,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the image ends there, inside a range being hashed",
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{CancelToken, NoProgress};
    use crate::source::testing::{in_memory, xz};
    use crate::source::{Memory, open_store};

    fn run(data: &[u8], spans: &[(u64, u64)]) -> Result<Vec<Digest>, CreateError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("image");
        std::fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        let (mut sink, cancel) = (NoProgress, CancelToken::new());
        let mut reporter = Reporter::new(&mut sink, &cancel);
        digests(
            Image::File {
                file: &file,
                path: &path,
            },
            spans,
            &mut reporter,
        )
    }

    fn run_store(
        store: &dyn RandomAccess,
        spans: &[(u64, u64)],
    ) -> Result<Vec<Digest>, CreateError> {
        let (mut sink, cancel) = (NoProgress, CancelToken::new());
        let mut reporter = Reporter::new(&mut sink, &cancel);
        digests(Image::Store(store), spans, &mut reporter)
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
    fn many_spans_taken_by_several_workers_keep_their_order() {
        let data: Vec<u8> = (0..READ_SIZE + 50_000)
            .map(|i| (i * 13 % 241) as u8)
            .collect();
        // Forty spans of very different sizes, so the workers finish them out of order.
        let mut spans = Vec::new();
        let mut at = 0u64;
        for i in 0..40u64 {
            let len = if i == 3 {
                READ_SIZE as u64 / 2
            } else {
                97 * (i + 1)
            };
            spans.push((at, at + len));
            at += len + 4096;
        }
        let sums = run(&data, &spans).expect("digests");
        assert_eq!(sums.len(), spans.len());
        for (sum, &(s, e)) in sums.iter().zip(&spans) {
            assert_eq!(
                *sum,
                ChecksumType::Sha256.digest(&data[s as usize..e as usize])
            );
        }
    }

    #[test]
    fn a_file_shorter_than_its_spans_names_the_offset() {
        match run(&[1u8; 10_000], &[(0, 4096), (8192, 20_000)]) {
            Err(CreateError::Shrunk { offset, .. }) => assert_eq!(offset, 10_000),
            other => panic!("expected Shrunk: {other:?}"),
        }
    }

    /// Spans of every size, many per buffer and many buffers per span, in an image of several
    /// xz blocks.
    fn spans_of(len: u64) -> Vec<(u64, u64)> {
        let mut spans = vec![(0, 10), (4096, 3 * READ_SIZE as u64 + 5)];
        let mut at = spans[1].1 + 4096;
        for i in 0..30u64 {
            let end = (at + 997 * (i + 1) + if i == 7 { READ_SIZE as u64 } else { 0 }).min(len);
            spans.push((at, end));
            at = end + 8192;
        }
        spans.push((len - 5, len));
        spans
    }

    #[test]
    fn a_store_hashes_as_the_file_of_its_bytes() {
        let data: Vec<u8> = (0..5 * READ_SIZE + 4321)
            .map(|i| {
                if i % 5000 < 3000 {
                    (i * 31 % 253) as u8
                } else {
                    0
                }
            })
            .collect();
        let spans = spans_of(data.len() as u64);
        let from_file = run(&data, &spans).expect("the file");
        assert_eq!(from_file.len(), spans.len());
        let memory = Memory::new(&data, "image.img");
        assert_eq!(
            run_store(&memory, &spans).expect("bytes in memory"),
            from_file
        );
        // The image in an xz file of 1 MiB blocks: what the workers read comes from the
        // blocks, decoded as they are asked for.
        let packed = xz(&["-T2", "-0", "--block-size=1MiB"], &data);
        let opened = open_store(in_memory("image.img.xz", &packed)).expect("opens");
        let store = opened.store.expect("random access to its blocks");
        assert_eq!(run_store(&*store, &spans).expect("xz blocks"), from_file);
    }

    #[test]
    fn a_store_shorter_than_its_spans_names_itself_and_the_offset() {
        let memory = Memory::new(&[7u8; 10_000], "short.img");
        match run_store(&memory, &[(0, 4096), (8192, 20_000)]) {
            Err(err @ CreateError::ReadStore { offset: 10_000, .. }) => {
                assert_eq!(
                    err.to_string(),
                    "cannot read image 'short.img' at offset 10000"
                );
            }
            other => panic!("expected ReadStore at 10000: {other:?}"),
        }
    }
}
