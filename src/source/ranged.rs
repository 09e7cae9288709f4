//! A raw image behind random access (a Range-capable HTTP server, mostly) that fetches only
//! the bytes the copy will read.
//!
//! The copy announces its spans through [`ImageSource::plan`]; they are merged into windows
//! and each window is one sequential request, read to its end:
//!
//! ```text
//!  spans    ██████    ██  ███                         ████████     ██
//!  windows  [████████████████]                        [███████████████]
//!                 small gap: merged,                   large gap: a new request
//!                 read and thrown away
//! ```
//!
//! A gap is merged when it is at most [`MERGE_GAP`] *and* at most an eighth of the data it
//! joins, so the bytes thrown away never exceed 12.5 % of those kept, whatever the layout.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::{ImageSource, RandomAccess};

/// Spans this close are fetched as one window.
///
/// Each request costs a round trip (tens of milliseconds over the internet, with a few hundred
/// bytes of headers), and a server answers many small requests slower than one large one.
/// Each merged gap costs its bytes instead. 64 KiB is what a 100 Mbit/s link moves in about
/// 5 ms, well under one round trip, so merging smaller gaps saves time; and since a
/// filesystem's data usually sits in runs much longer than 64 KiB, the bytes thrown away stay
/// a small fraction of those kept. The second rule (a gap at most [`WASTE_DIVISOR`]th of the
/// data around it) keeps that true for small pieces far apart too.
const MERGE_GAP: u64 = 64 << 10;

/// A merged gap is at most this fraction (1/8) of the window it joins.
const WASTE_DIVISOR: u64 = 8;

/// Bytes thrown away per read while skipping inside a window.
const DISCARD: usize = 64 << 10;

/// An [`ImageSource`] over a [`RandomAccess`] store that streams only the planned windows.
pub struct RangedSource {
    store: Arc<dyn RandomAccess>,
    name: String,
    len: u64,
    /// Coalesced, ascending, disjoint `(start, end)` byte windows.
    windows: Vec<(u64, u64)>,
    position: u64,
    /// The open request and the offset where it ends.
    reader: Option<(Box<dyn Read + Send>, u64)>,
    scratch: Vec<u8>,
}

impl RangedSource {
    /// A source reading `store`, named as the store is.
    pub fn new(store: Arc<dyn RandomAccess>) -> Self {
        Self {
            name: store.name().to_owned(),
            len: store.len(),
            store,
            windows: Vec::new(),
            position: 0,
            reader: None,
            scratch: Vec::new(),
        }
    }

    /// The windows requested after [`ImageSource::plan`]: for tests and progress displays.
    pub fn windows(&self) -> &[(u64, u64)] {
        &self.windows
    }

    /// Where a request starting at the position should end: the end of its window, or,
    /// outside every window, the start of the next one (or the end of the image).
    fn request_end(&self) -> u64 {
        let at = self.position;
        let i = self.windows.partition_point(|&(_, end)| end <= at);
        match self.windows.get(i) {
            Some(&(start, end)) if start <= at => end,
            Some(&(start, _)) => start,
            None => self.len,
        }
    }

    fn early_end(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "'{}' ended at offset {}, before its announced length of {} bytes",
                self.name, self.position, self.len
            ),
        )
    }
}

impl Read for RangedSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.len {
            return Ok(0);
        }
        let (reader, end) = match &mut self.reader {
            Some((reader, end)) => (reader, *end),
            None => {
                let end = self.request_end();
                let reader = self.store.stream(self.position, end - self.position)?;
                let (reader, _) = self.reader.insert((reader, end));
                (reader, end)
            }
        };
        let want = usize::try_from(end - self.position)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.early_end());
        }
        self.position += n as u64;
        if self.position >= end {
            // Finished: dropping it now hands an HTTP connection back for the next request.
            self.reader = None;
        }
        Ok(n)
    }
}

impl ImageSource for RangedSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        Some(self.len)
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if offset < self.position {
            return Err(super::backwards(&self.name, self.position, offset));
        }
        if offset > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "offset {offset} is past the end of '{}' ({} bytes)",
                    self.name, self.len
                ),
            ));
        }
        match &self.reader {
            // Inside the open request: read through the gap rather than ask again.
            Some((_, end)) if offset < *end => {
                if self.scratch.is_empty() && offset > self.position {
                    self.scratch = vec![0; DISCARD];
                }
                while self.position < offset {
                    let want = usize::try_from(offset - self.position)
                        .unwrap_or(DISCARD)
                        .min(DISCARD);
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let read = self.read(&mut scratch[..want]);
                    self.scratch = scratch;
                    match read {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            // Elsewhere: the next read opens a request there.
            _ => {
                self.reader = None;
                self.position = offset;
            }
        }
        Ok(())
    }

    fn plan(&mut self, spans: &[(u64, u64)]) {
        let mut spans: Vec<(u64, u64)> = spans
            .iter()
            .map(|&(start, end)| (start, end.min(self.len)))
            .filter(|&(start, end)| start < end)
            .collect();
        // The contract says ascending and disjoint; sorting costs nothing and makes a
        // careless caller slower rather than wrong.
        spans.sort_unstable();
        let mut windows: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match windows.last_mut() {
                Some(last) if worth_merging(*last, (start, end)) => last.1 = last.1.max(end),
                _ => windows.push((start, end)),
            }
        }
        self.windows = windows;
        self.reader = None;
    }

    fn local_path(&self) -> Option<&Path> {
        self.store.local_path()
    }
}

/// Whether the gap between a window and the next span is worth reading rather than skipping
/// with a new request (see [`MERGE_GAP`]).
fn worth_merging(window: (u64, u64), next: (u64, u64)) -> bool {
    let gap = next.0.saturating_sub(window.1);
    let data = (window.1 - window.0) + (next.1 - next.0);
    gap <= MERGE_GAP && gap.saturating_mul(WASTE_DIVISOR) <= data
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Mutex;

    use super::*;

    /// An in-memory store that records each `stream` call as `(offset, len)`.
    struct Recording {
        data: Vec<u8>,
        streams: Mutex<Vec<(u64, u64)>>,
    }

    impl Recording {
        fn new(len: usize) -> Arc<Self> {
            Arc::new(Self {
                data: (0..len).map(|i| (i % 251) as u8).collect(),
                streams: Mutex::new(Vec::new()),
            })
        }

        fn streams(&self) -> Vec<(u64, u64)> {
            self.streams.lock().map(|s| s.clone()).unwrap_or_default()
        }

        fn requested(&self) -> u64 {
            self.streams().iter().map(|&(_, len)| len).sum()
        }
    }

    impl RandomAccess for Recording {
        fn name(&self) -> &str {
            "mem"
        }
        fn len(&self) -> u64 {
            self.data.len() as u64
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let start = offset as usize;
            buf.copy_from_slice(&self.data[start..start + buf.len()]);
            Ok(())
        }
        fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
            if let Ok(mut streams) = self.streams.lock() {
                streams.push((offset, len));
            }
            let (start, end) = (offset as usize, (offset + len) as usize);
            Ok(Box::new(Cursor::new(self.data[start..end].to_vec())))
        }
    }

    /// Reads `spans` as the copy engine does: plan, then skip to each start and read it.
    fn copy_spans(src: &mut RangedSource, spans: &[(u64, u64)]) -> Vec<u8> {
        src.plan(spans);
        let mut out = Vec::new();
        for &(start, end) in spans {
            src.skip_to(start).expect("skip");
            let mut buf = vec![0; (end - start) as usize];
            src.read_exact(&mut buf).expect("read");
            out.extend_from_slice(&buf);
        }
        out
    }

    #[test]
    fn near_spans_share_a_request_and_far_ones_do_not() {
        let store = Recording::new(4 << 20);
        let mut src = RangedSource::new(store.clone());
        let spans = [
            (0, 16384),
            (17408, 20480),
            (20480 + 2048, 20480 + 2048 + 100),
            (2 << 20, (2 << 20) + 5000),
        ];
        let got = copy_spans(&mut src, &spans);
        let want: Vec<u8> = spans
            .iter()
            .flat_map(|&(s, e)| store.data[s as usize..e as usize].to_vec())
            .collect();
        assert_eq!(got, want);
        assert_eq!(store.streams(), [(0, 20480 + 2048 + 100), (2 << 20, 5000)]);
        // A small gap between small pieces costs more than it saves: two requests.
        assert!(!worth_merging(
            (0, 8192),
            (8192 + 57 * 1024, 8192 + 65 * 1024)
        ));
        assert!(worth_merging((0, 1 << 20), (1 << 20 | 4096, 2 << 20)));
    }

    #[test]
    fn a_sparse_image_costs_little_more_than_its_mapped_bytes() {
        let store = Recording::new(64 << 20);
        // Runs of 16 to 128 KiB of data; every other hole is small (4 to 12 KiB, merged), the
        // rest are 1 MiB (skipped).
        let mut spans = Vec::new();
        let mut at = 0u64;
        for i in 0..200u64 {
            let run = (16 << 10) * (1 + i % 8);
            let hole = if i % 2 == 0 {
                4096 * (1 + i % 3)
            } else {
                1 << 20
            };
            if at + run > store.len() {
                break;
            }
            spans.push((at, at + run));
            at += run + hole;
        }
        let mapped: u64 = spans.iter().map(|&(s, e)| e - s).sum();
        let mut src = RangedSource::new(store.clone());
        copy_spans(&mut src, &spans);
        let fetched = store.requested();
        assert!(fetched >= mapped);
        assert!(
            fetched * 100 <= mapped * 115,
            "{fetched} bytes for {mapped}"
        );
        assert!(store.streams().len() < spans.len());
    }

    #[test]
    fn without_a_plan_it_streams_from_the_position_to_the_end() {
        let store = Recording::new(10_000);
        let mut src = RangedSource::new(store.clone());
        src.skip_to(9000).expect("skip");
        let mut rest = Vec::new();
        src.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, store.data[9000..]);
        assert_eq!(store.streams(), [(9000, 1000)]);
        assert_eq!(src.read(&mut [0; 8]).expect("eof"), 0);
    }

    #[test]
    fn outside_the_windows_it_stops_at_the_next_one() {
        let store = Recording::new(10_000);
        let mut src = RangedSource::new(store.clone());
        src.plan(&[(8000, 9000)]);
        let mut buf = vec![0; 8500];
        src.read_exact(&mut buf).expect("read");
        assert_eq!(buf, store.data[..8500]);
        assert_eq!(store.streams(), [(0, 8000), (8000, 1000)]);
    }

    #[test]
    fn it_only_goes_forward_and_stops_at_the_end() {
        let store = Recording::new(1000);
        let mut src = RangedSource::new(store);
        src.plan(&[(0, 2000)]);
        assert_eq!(src.windows(), [(0, 1000)]);
        src.skip_to(500).expect("skip");
        let err = src.skip_to(10).expect_err("backwards");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            src.skip_to(1001).expect_err("past the end").kind(),
            io::ErrorKind::UnexpectedEof
        );
        src.skip_to(1000).expect("the end itself");
        assert_eq!(src.read(&mut [0; 8]).expect("eof"), 0);
    }

    #[test]
    fn a_store_that_ends_early_is_an_error() {
        struct Short;
        impl RandomAccess for Short {
            fn name(&self) -> &str {
                "short"
            }
            fn len(&self) -> u64 {
                100
            }
            fn read_exact_at(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
                Ok(())
            }
            fn stream(&self, _: u64, _: u64) -> io::Result<Box<dyn Read + Send>> {
                Ok(Box::new(Cursor::new(vec![1; 10])))
            }
        }
        let mut src = RangedSource::new(Arc::new(Short));
        let mut buf = vec![0; 100];
        let err = src.read_exact(&mut buf).expect_err("short");
        assert!(err.to_string().contains("offset 10"), "{err}");
    }
}
