//! Reading the used blocks of the source: large aligned reads, `O_DIRECT` where the source
//! is a local file or device, on a thread of their own, each range hashed as it is read.
//!
//! Memory is a fixed pool of [`BUFFERS`] buffers of [`CHUNK`] bytes, passed to the writer and
//! back. A read that fails is tried again block by block, so the error names the first block
//! that cannot be read, not the start of a chunk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use super::BackupError;
use crate::bmap::{ChecksumType, Digest};
use crate::source::RandomAccess;
use crate::source::direct::{self, ALIGN, Direct};
use crate::target::AlignedBuf;

/// Bytes per read.
pub(super) const CHUNK: usize = 8 << 20;
/// Buffers in the pool: one being read, the others written or waiting.
pub(super) const BUFFERS: usize = 4;

/// Bytes of the source read into a buffer: `buf[..len]` is the source at `offset`.
pub(super) struct Chunk {
    pub(super) offset: u64,
    pub(super) buf: AlignedBuf,
    pub(super) len: usize,
    /// On the last chunk of a range: its SHA-256, when checksums are made.
    pub(super) digest: Option<Digest>,
}

/// The source as the reader sees it.
pub(super) struct Reader<'a> {
    store: &'a dyn RandomAccess,
    /// The local file or device behind `store`, opened again, with its direct descriptor.
    local: Option<(File, Option<Direct>)>,
    size: u64,
}

impl<'a> Reader<'a> {
    /// Reads `store` through its own descriptor (and `O_DIRECT`) when it is a whole local
    /// file or device (its path leads to as many bytes as it has), else through `store`.
    pub(super) fn new(store: &'a dyn RandomAccess) -> Self {
        let size = store.len();
        let local = store.local_path().and_then(|path| {
            let file = File::open(path).ok()?;
            let meta = file.metadata().ok()?;
            let kind = meta.file_type();
            let len = if kind.is_block_device() {
                use std::io::Seek;
                (&file).seek(io::SeekFrom::End(0)).ok()?
            } else if kind.is_file() {
                meta.len()
            } else {
                return None;
            };
            (len == size).then(|| {
                let direct = Direct::open(path, &file);
                (file, direct)
            })
        });
        Self { store, local, size }
    }

    /// Whether the reads bypass the page cache.
    pub(super) fn direct(&self) -> bool {
        match &self.local {
            Some((_, direct)) => direct.is_some(),
            None => self.store.reads_direct(),
        }
    }

    /// Reads every span `(start, end)` in order into buffers from `empty`, sending them on
    /// `full`, until all are read, an error (sent on), `stop`, or the writer hangs up.
    pub(super) fn run(
        &self,
        spans: &[(u64, u64)],
        checksums: bool,
        empty: &Receiver<AlignedBuf>,
        full: &SyncSender<Result<Chunk, BackupError>>,
        stop: &AtomicBool,
    ) {
        for &(start, end) in spans {
            let mut hasher = checksums.then(|| ChecksumType::Sha256.hasher());
            let mut offset = start;
            while offset < end {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut buf) = empty.recv() else {
                    return;
                };
                let len = usize::try_from(end - offset).unwrap_or(CHUNK).min(CHUNK);
                if let Err(e) = self.fill(&mut buf[..len], offset) {
                    let _ = full.send(Err(e));
                    return;
                }
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..len]);
                }
                let last = offset + len as u64 >= end;
                let digest = if last {
                    hasher.take().map(|h| h.finish())
                } else {
                    None
                };
                let chunk = Chunk {
                    offset,
                    buf,
                    len,
                    digest,
                };
                if full.send(Ok(chunk)).is_err() {
                    return;
                }
                offset += len as u64;
            }
        }
    }

    /// Fills `buf` from `offset`.
    fn fill(&self, buf: &mut [u8], offset: u64) -> Result<(), BackupError> {
        let result = match &self.local {
            Some((file, direct)) => fill_file(file, direct.as_ref(), buf, offset),
            None => self.store.read_exact_at(offset, buf),
        };
        result.map_err(|e| self.locate(offset, buf.len(), e))
    }

    /// The error of a failed read of `len` bytes at `offset`: each block of it is read again
    /// on its own, and the first that fails is named.
    fn locate(&self, offset: u64, len: usize, first: io::Error) -> BackupError {
        let mut block = AlignedBuf::new(ALIGN);
        let mut at = offset;
        let end = offset + len as u64;
        while at < end {
            let n = usize::try_from(end - at).unwrap_or(ALIGN).min(ALIGN);
            let result = match &self.local {
                Some((file, direct)) => fill_file(file, direct.as_ref(), &mut block[..n], at),
                None => self.store.read_exact_at(at, &mut block[..n]),
            };
            if let Err(e) = result {
                return self.error(at, e);
            }
            at += n as u64;
        }
        // Every block reads on its own: the error was passing, report it where it came.
        self.error(offset, first)
    }

    fn error(&self, offset: u64, source: io::Error) -> BackupError {
        let source_name = self.store.name().to_owned();
        if source.kind() == io::ErrorKind::UnexpectedEof {
            BackupError::Shrunk {
                source_name,
                offset,
                size: self.size,
            }
        } else {
            BackupError::Read {
                source_name,
                offset,
                source,
            }
        }
    }
}

/// Fills `buf` from `offset` of `file`, directly where aligned; the file ending first is
/// [`io::ErrorKind::UnexpectedEof`].
fn fill_file(file: &File, direct: Option<&Direct>, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match direct::read_at(direct, file, &mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{LocalFile, Memory};
    use std::sync::mpsc::{channel, sync_channel};

    type Read = Result<(u64, Vec<u8>, Option<Digest>), BackupError>;

    /// What the reader sends for `spans` of `store`, the data copied out.
    fn read_all(store: &dyn RandomAccess, spans: &[(u64, u64)]) -> Vec<Read> {
        let reader = Reader::new(store);
        let (empty_tx, empty_rx) = channel();
        let (full_tx, full_rx) = sync_channel(BUFFERS);
        for _ in 0..BUFFERS {
            empty_tx.send(AlignedBuf::new(CHUNK)).expect("send");
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(move || reader.run(spans, true, &empty_rx, &full_tx, &stop));
            let mut got = Vec::new();
            for chunk in full_rx.iter() {
                match chunk {
                    Ok(chunk) => {
                        got.push(Ok((
                            chunk.offset,
                            chunk.buf[..chunk.len].to_vec(),
                            chunk.digest,
                        )));
                        let _ = empty_tx.send(chunk.buf);
                    }
                    Err(e) => got.push(Err(e)),
                }
            }
            got
        })
    }

    #[test]
    fn spans_are_read_in_chunks_and_hashed_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("img");
        let data: Vec<u8> = (0..CHUNK * 2 + 3 * 4096 + 100)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        std::fs::write(&path, &data).expect("write");
        let len = data.len() as u64;
        let spans = [(4096, 8192), (16384, len)];
        for store in [
            Box::new(LocalFile::open(&path).expect("open")) as Box<dyn RandomAccess>,
            Box::new(Memory::new(&data, "memory")),
        ] {
            let chunks = read_all(&*store, &spans);
            let chunks: Vec<_> = chunks.into_iter().map(|c| c.expect("read")).collect();
            assert_eq!(chunks.len(), 1 + 2, "{}", store.name());
            for (offset, bytes, _) in &chunks {
                let at = *offset as usize;
                assert_eq!(bytes[..], data[at..at + bytes.len()]);
            }
            let digests: Vec<&Digest> = chunks.iter().filter_map(|c| c.2.as_ref()).collect();
            assert_eq!(digests.len(), 2);
            assert_eq!(*digests[0], ChecksumType::Sha256.digest(&data[4096..8192]));
            assert_eq!(*digests[1], ChecksumType::Sha256.digest(&data[16384..]));
        }
    }

    #[test]
    fn a_source_shorter_than_it_said_names_the_block_where_it_ends() {
        let data = vec![7u8; 40_000];
        let store = Memory::new(&data, "card");
        let chunks = read_all(&store, &[(0, 4096), (8192, 60_000)]);
        match chunks.last() {
            Some(Err(BackupError::Shrunk {
                offset,
                source_name,
                ..
            })) => {
                assert_eq!(*offset, 36_864, "the block holding byte 40000");
                assert_eq!(source_name, "card");
            }
            _ => panic!("expected Shrunk"),
        }
    }
}
