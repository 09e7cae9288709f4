//! A bounded prefix of a source that cannot seek (a decompressor, a pipe, HTTP without Range),
//! for [`identify`](super::identify) to read, and the source again with that prefix replayed.
//!
//! ```text
//!  source ──► Head (RandomAccess): reads fill it from the source as far as they reach, up to
//!     │        its limit; reads past the limit or the end fail
//!     └─ into_source ─► Replay: the bytes read ahead first, then the rest of the source
//! ```
//!
//! The prefix is filled only as far as reads reach (tens of KiB for most images, a few hundred
//! for an ISO), so a slow pipe is not waited on for more than identifying needs.

use std::io::{self, Read};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::source::{ImageSource, RandomAccess};

/// The prefix [`peek`] may read of a stream to identify it: enough for every partition table,
/// filesystem signature, and an ISO's descriptors and first directories.
pub const HEAD_LIMIT: usize = 8 << 20;

/// Bytes read ahead before the length of a source of unknown size is answered: a stream that
/// ends before them has its exact length, a longer one an unknown length.
const LENGTH_PROBE: usize = 128 << 10;

/// Reads fill the prefix in steps of this many bytes.
const STEP: usize = 16 << 10;

/// The first bytes of a source, read ahead as reads of them reach (see [`peek`]). Reads past
/// its limit or the source's end fail with [`io::ErrorKind::UnexpectedEof`], which
/// [`identify`](super::identify) takes as a doubt; a read error of the source is kept and
/// given back by the source [`Head::into_source`] returns, where it was met.
pub struct Head {
    state: Mutex<State>,
    name: String,
    limit: usize,
    /// The source's size from where it was, when it says.
    size: Option<u64>,
    /// Where the source was.
    start: u64,
}

/// The source and what has been read of it.
struct State {
    source: Box<dyn ImageSource>,
    data: Vec<u8>,
    /// The source ended (or failed) after `data`.
    ended: bool,
    /// The read error met after `data`, kept for the copy to meet.
    error: Option<io::Error>,
}

/// A head over `source` (from where it is), which will read at most `limit` bytes of it.
/// Nothing is read yet.
///
/// Where the source fetches what it is told to (HTTP with Range requests), it is told that
/// only the prefix may be read, so that no request runs on to the end of the image; the copy
/// announces its own plan later, which replaces this one.
pub fn peek(mut source: Box<dyn ImageSource>, limit: usize) -> Head {
    let start = source.position();
    source.plan(&[(start, start.saturating_add(limit as u64))]);
    Head {
        name: source.name().to_owned(),
        size: source.size().map(|size| size.saturating_sub(start)),
        start,
        limit,
        state: Mutex::new(State {
            source,
            data: Vec::new(),
            ended: false,
            error: None,
        }),
    }
}

impl Head {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads ahead until `want` bytes (at most the limit, and never past the size the source
    /// declares: a reader may fail a read that runs past it) are held or the source ends.
    fn fill(&self, state: &mut State, want: usize) {
        let declared = self.size.map_or(usize::MAX, |size| {
            usize::try_from(size).unwrap_or(usize::MAX)
        });
        let limit = self.limit.min(declared);
        let target = want.min(limit);
        while !state.ended && state.data.len() < target {
            let have = state.data.len();
            let step = (target - have).max(STEP).min(limit - have);
            state.data.resize(have + step, 0);
            // Read by hand rather than with `read_full`: bytes read before an error are kept.
            let mut got = 0;
            while got < step {
                match state.source.read(&mut state.data[have + got..have + step]) {
                    Ok(0) => {
                        state.ended = true;
                        break;
                    }
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        state.error = Some(e);
                        state.ended = true;
                        break;
                    }
                }
            }
            state.data.truncate(have + got);
        }
    }

    /// How many bytes have been read ahead.
    pub fn buffered(&self) -> usize {
        self.state().data.len()
    }

    /// The source again, from where it was: the bytes read ahead, then the rest (or the read
    /// error met).
    pub fn into_source(self) -> Box<dyn ImageSource> {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let end = self.start + state.data.len() as u64;
        Box::new(Replay {
            inner: state.source,
            prefix: state.data,
            start: self.start,
            end,
            read: 0,
            error: state.error,
        })
    }
}

impl RandomAccess for Head {
    fn name(&self) -> &str {
        &self.name
    }

    /// The source's size when it says; else the exact length of a stream that ends within
    /// the first `LENGTH_PROBE` bytes, and `u64::MAX` (unknown) for a longer one.
    fn len(&self) -> u64 {
        if let Some(size) = self.size {
            return size;
        }
        let mut state = self.state();
        self.fill(&mut state, LENGTH_PROBE);
        if state.ended && state.error.is_none() {
            state.data.len() as u64
        } else {
            u64::MAX
        }
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset.saturating_add(buf.len() as u64);
        let past = |held: usize, why: &str| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "bytes {offset}..{end} of '{}' lie past {why} ({held} bytes read ahead)",
                    self.name
                ),
            )
        };
        if end > self.limit as u64 {
            return Err(past(self.limit, "the part read ahead"));
        }
        let mut state = self.state();
        // `end` is at most the limit, a usize.
        let (start, end) = (offset as usize, end as usize);
        self.fill(&mut state, end);
        match state.data.get(start..end) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(past(state.data.len(), "the end of what could be read")),
        }
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let end = offset.saturating_add(len).min(self.limit as u64);
        let mut state = self.state();
        self.fill(&mut state, end as usize);
        let held = state.data.len();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(held);
        let end = usize::try_from(end).unwrap_or(usize::MAX).min(held);
        Ok(Box::new(io::Cursor::new(state.data[start..end].to_vec())))
    }
}

/// A source whose first bytes were read ahead: those, then the rest of the source.
struct Replay {
    inner: Box<dyn ImageSource>,
    /// The bytes read ahead; freed once read past.
    prefix: Vec<u8>,
    /// Where the source was when they were read.
    start: u64,
    /// Where they end: where the inner source was left.
    end: u64,
    /// How many of them were given back.
    read: usize,
    /// The read error met right after them.
    error: Option<io::Error>,
}

impl Replay {
    /// Past the prefix: its memory is freed, and a read error met reading ahead is given.
    fn past_prefix(&mut self) -> io::Result<()> {
        if !self.prefix.is_empty() {
            self.prefix = Vec::new();
            self.read = 0;
        }
        self.error.take().map_or(Ok(()), Err)
    }

    fn in_prefix(&self) -> bool {
        self.read < self.prefix.len()
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.in_prefix() {
            let rest = &self.prefix[self.read..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.read += n;
            return Ok(n);
        }
        self.past_prefix()?;
        self.inner.read(buf)
    }
}

impl ImageSource for Replay {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn size(&self) -> Option<u64> {
        self.inner.size()
    }

    fn position(&self) -> u64 {
        if self.in_prefix() {
            self.start + self.read as u64
        } else {
            self.inner.position()
        }
    }

    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        let at = self.position();
        if offset < at {
            return Err(crate::source::backwards(self.inner.name(), at, offset));
        }
        if self.in_prefix() && offset < self.end {
            // Inside the prefix: `offset - start` is less than its length, a usize.
            self.read = (offset - self.start) as usize;
            return Ok(());
        }
        self.past_prefix()?;
        self.inner.skip_to(offset)
    }

    fn plan(&mut self, spans: &[(u64, u64)]) {
        // The prefix is in memory: the source is asked only for what lies after it.
        let end = self.end;
        let rest: Vec<(u64, u64)> = spans
            .iter()
            .filter(|&&(_, e)| e > end)
            .map(|&(s, e)| (s.max(end), e))
            .collect();
        self.inner.plan(&rest);
    }

    fn local_path(&self) -> Option<&Path> {
        self.inner.local_path()
    }
}
