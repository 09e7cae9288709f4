//! What a scan of a passing stream may read: the bytes it asked for before they passed.
//!
//! [`Capture`] keeps, as the stream passes, the bytes that earlier scans asked for (in windows
//! around each request, so a parser that reads a little before or after what it read last
//! finds it too), within a fixed budget. [`Horizon`] shows them to the scanner as the image:
//! a read of kept bytes succeeds, a read of bytes still to come fails with [`NotYet`] and is
//! asked for, and a read of bytes that passed unkept fails for good.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use crate::source::RandomAccess;

/// Most bytes kept for the scanner: metadata only (bitmaps, tables, tree nodes, the 64 MiB
/// log of an XFS of 300 MiB or more). A request that does not fit any more is dropped, and
/// what it would have proven free is written. With the copy's buffers and a multi-threaded xz
/// decoder (about 175 MiB at most), this keeps a copy under 256 MiB.
pub(super) const BUDGET: usize = 72 << 20;
/// Requests are widened to whole windows of this size, and one more after them.
const WINDOW: u64 = 64 << 10;

/// The reason a read of bytes still to come fails.
#[derive(Debug)]
pub(crate) struct NotYet;

impl std::fmt::Display for NotYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not read from the stream yet")
    }
}

impl std::error::Error for NotYet {}

/// Whether `error` says the bytes are still to come in the stream: a parser that can do
/// without them for now (ext's block bitmap of a later group) counts what they describe as
/// used.
pub(crate) fn not_yet(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<NotYet>())
}

/// The kept bytes of a stream and the requests for bytes still to come.
#[derive(Debug, Default)]
pub(super) struct Capture {
    /// Bytes of the stream that have passed.
    pub passed: u64,
    /// Kept runs of bytes, by start; disjoint, ascending, each ending at or before `passed`.
    pieces: BTreeMap<u64, Vec<u8>>,
    kept: usize,
    /// Requested spans still (partly) to come: sorted, merged, all ending after `passed`.
    wants: Vec<(u64, u64)>,
    /// A request was dropped for the budget.
    pub full: bool,
}

impl Capture {
    /// Adds requests (clipped to what is still to come), within the budget.
    pub fn want(&mut self, spans: impl IntoIterator<Item = (u64, u64)>) {
        let mut all = std::mem::take(&mut self.wants);
        let pending: u64 = all.iter().map(|(s, e)| e - s).sum();
        let mut room = (BUDGET - self.kept.min(BUDGET)) as u64;
        room = room.saturating_sub(pending);
        for (start, end) in spans {
            let start = start.max(self.passed);
            if start >= end {
                continue;
            }
            if end - start > room {
                self.full = true;
                continue;
            }
            room -= end - start;
            all.push((start, end));
        }
        all.sort_unstable();
        for (start, end) in all {
            match self.wants.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => self.wants.push((start, end)),
            }
        }
    }

    /// Whether bytes are still asked for.
    pub fn wanting(&self) -> bool {
        !self.wants.is_empty()
    }

    /// The first offset after `at` where keeping starts or stops: reads stop there, so that
    /// a scan can run as soon as a request is complete, before the bytes after it pass.
    pub fn next_boundary(&self, at: u64) -> Option<u64> {
        self.wants
            .iter()
            .flat_map(|&(s, e)| [s, e])
            .find(|&b| b > at)
    }

    /// The first requested byte at or after `at`.
    pub fn next_wanted(&self, at: u64) -> Option<u64> {
        self.wants
            .iter()
            .find(|&&(_, e)| e > at)
            .map(|&(s, _)| s.max(at))
    }

    /// The stream moved on to `offset` without its bytes being looked at: requests for them
    /// are dropped (reads of them then fail for good).
    pub fn skipped_to(&mut self, offset: u64) {
        self.passed = offset;
        self.wants.retain(|&(_, e)| e > offset);
        if let Some(first) = self.wants.first_mut() {
            first.0 = first.0.max(offset);
        }
    }

    /// Bytes kept.
    pub fn kept_bytes(&self) -> usize {
        self.kept
    }

    /// `data` has just passed at `self.passed`: keeps what was asked for. Returns whether a
    /// request is now complete (time to scan again).
    pub fn pass(&mut self, data: &[u8]) -> bool {
        let (from, to) = (self.passed, self.passed + data.len() as u64);
        for &(s, e) in &self.wants {
            let (a, b) = (s.max(from), e.min(to));
            if a >= b {
                continue;
            }
            let bytes = &data[(a - from) as usize..(b - from) as usize];
            self.kept += bytes.len();
            match self.pieces.last_key_value() {
                Some((&start, piece)) if start + piece.len() as u64 == a => {
                    if let Some(piece) = self.pieces.get_mut(&start) {
                        piece.extend_from_slice(bytes);
                    }
                }
                _ => {
                    self.pieces.insert(a, bytes.to_vec());
                }
            }
        }
        self.passed = to;
        let before = self.wants.len();
        self.wants.retain(|&(_, e)| e > to);
        self.wants.len() < before
    }

    /// The kept bytes `start..end`, if one kept run holds all of them.
    fn kept(&self, start: u64, end: u64) -> Option<&[u8]> {
        if start == end {
            return Some(&[]);
        }
        let (&at, piece) = self.pieces.range(..=start).next_back()?;
        let from = usize::try_from(start - at).ok()?;
        let to = usize::try_from(end - at).ok()?;
        piece.get(from..to)
    }
}

/// The stream as far as it is known, for one scan.
pub(super) struct Horizon<'a> {
    capture: &'a Capture,
    name: &'a str,
    len: u64,
    /// Spans asked for during this scan (widened to windows).
    asked: Mutex<Vec<(u64, u64)>>,
}

impl<'a> Horizon<'a> {
    pub fn new(capture: &'a Capture, name: &'a str, len: u64) -> Self {
        Self {
            capture,
            name,
            len,
            asked: Mutex::new(Vec::new()),
        }
    }

    /// The spans this scan asked for.
    pub fn asked(self) -> Vec<(u64, u64)> {
        self.asked.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl RandomAccess for Horizon<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if let Some(kept) = self.capture.kept(offset, end) {
            buf.copy_from_slice(kept);
            return Ok(());
        }
        let passed = self.capture.passed;
        // Bytes before `passed` that were kept: asking for the rest completes them.
        let kept_to_passed = offset >= passed || self.capture.kept(offset, passed).is_some();
        if end > passed && kept_to_passed {
            let start = (offset / WINDOW * WINDOW).max(passed);
            let stop = end
                .div_ceil(WINDOW)
                .saturating_add(1)
                .saturating_mul(WINDOW);
            let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            asked.push((start, stop.min(self.len)));
            return Err(io::Error::new(io::ErrorKind::WouldBlock, NotYet));
        }
        Err(io::Error::other(format!(
            "bytes {offset}-{} of the stream passed before the scan knew it needed them",
            end.saturating_sub(1)
        )))
    }

    fn will_need(&self, offset: u64, len: u64) {
        let end = offset.saturating_add(len).min(self.len);
        if end > self.capture.passed {
            let start = (offset / WINDOW * WINDOW).max(self.capture.passed);
            let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            asked.push((
                start,
                end.div_ceil(WINDOW).saturating_mul(WINDOW).min(self.len),
            ));
        }
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn io::Read + Send>> {
        let size = usize::try_from(len)
            .ok()
            .filter(|&size| size <= BUDGET)
            .ok_or_else(|| io::Error::other("a stream scan reads at most its budget at once"))?;
        let mut buf = vec![0u8; size];
        self.read_exact_at(offset, &mut buf)?;
        Ok(Box::new(io::Cursor::new(buf)))
    }
}
