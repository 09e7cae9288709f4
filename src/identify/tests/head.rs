//! The prefix read ahead of a stream, and the source that gives it back.

use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::super::*;
use crate::source::testing::noise;
use crate::source::{ImageSource, StreamSource};

fn stream(data: &[u8], size: Option<u64>) -> Box<dyn ImageSource> {
    Box::new(StreamSource::new(
        Box::new(Cursor::new(data.to_vec())),
        "s.img".into(),
        size,
    ))
}

/// The spans each `plan` call announced, shared with the test.
type Plans = Arc<Mutex<Vec<Vec<(u64, u64)>>>>;

/// A source that records what it is asked, fails after `fail_at` bytes when given, and names
/// a local path.
struct Probe {
    data: Vec<u8>,
    at: u64,
    fail_at: Option<u64>,
    plans: Plans,
}

impl Read for Probe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|f| self.at >= f) {
            return Err(io::Error::other("the card reader went away"));
        }
        let limit = self.fail_at.unwrap_or(u64::MAX).min(self.data.len() as u64);
        let n = buf.len().min((limit - self.at.min(limit)) as usize);
        let at = self.at as usize;
        buf[..n].copy_from_slice(&self.data[at..at + n]);
        self.at += n as u64;
        Ok(n)
    }
}

impl ImageSource for Probe {
    fn name(&self) -> &str {
        "probe.img"
    }
    fn size(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }
    fn position(&self) -> u64 {
        self.at
    }
    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if offset < self.at {
            return Err(io::Error::other("backwards"));
        }
        self.at = offset;
        Ok(())
    }
    fn plan(&mut self, spans: &[(u64, u64)]) {
        self.plans.lock().unwrap().push(spans.to_vec());
    }
    fn local_path(&self) -> Option<&Path> {
        Some(Path::new("/images/probe.img"))
    }
}

fn read_all(source: &mut dyn ImageSource) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    source.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn the_source_gives_back_the_prefix_then_the_rest() {
    let data = noise(300_000, 1);
    let head = peek(stream(&data, None), 100_000);
    let mut buf = [0u8; 16];
    head.read_exact_at(50_000, &mut buf).unwrap();
    assert_eq!(buf[..], data[50_000..50_016]);
    // Only what was read is held, in steps.
    assert!(head.buffered() < 70_000, "{}", head.buffered());
    // Past the limit: a doubt, not more reading.
    assert_eq!(
        head.read_exact_at(99_990, &mut buf).unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    let mut source = head.into_source();
    assert_eq!(source.position(), 0);
    assert_eq!(source.name(), "s.img");
    assert_eq!(read_all(&mut *source).unwrap(), data);
    assert_eq!(source.position(), 300_000);
}

#[test]
fn skipping_inside_and_past_the_prefix() {
    let data = noise(200_000, 2);
    let head = peek(stream(&data, Some(200_000)), 64 << 10);
    assert_eq!(head.len(), 200_000);
    head.read_exact_at(0, &mut [0u8; 40_000]).unwrap();
    let mut source = head.into_source();
    assert_eq!(source.size(), Some(200_000));
    source.skip_to(1000).unwrap();
    let mut two = [0u8; 2];
    source.read_exact(&mut two).unwrap();
    assert_eq!(two[..], data[1000..1002]);
    assert_eq!(source.position(), 1002);
    assert_eq!(
        source.skip_to(10).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    // Across the end of what was read ahead, into the stream.
    source.skip_to(150_000).unwrap();
    assert_eq!(source.position(), 150_000);
    source.read_exact(&mut two).unwrap();
    assert_eq!(two[..], data[150_000..150_002]);
    assert_eq!(read_all(&mut *source).unwrap(), data[150_002..]);
}

#[test]
fn a_read_into_the_prefix_then_a_skip_to_its_end_and_on() {
    let data = noise(100_000, 3);
    let head = peek(stream(&data, None), 50_000);
    head.read_exact_at(0, &mut [0u8; 20_000]).unwrap();
    let held = head.buffered() as u64;
    let mut source = head.into_source();
    source.skip_to(held).unwrap();
    assert_eq!(source.position(), held);
    assert_eq!(read_all(&mut *source).unwrap(), data[held as usize..]);
}

#[test]
fn short_streams_have_their_length_long_ones_an_unknown_one() {
    let short = peek(stream(b"%PDF-1.7 tiny", None), HEAD_LIMIT);
    assert_eq!(short.len(), 13);
    assert_eq!(
        identify(&short),
        Identity::NotADiskImage {
            looks_like: Looks::Pdf
        }
    );
    let long = peek(stream(&noise(1 << 20, 4), None), HEAD_LIMIT);
    assert_eq!(long.len(), u64::MAX);
    assert_eq!(identify(&long), Identity::Unknown);
    // Identifying read the start only, not the whole limit.
    assert!(long.buffered() <= 256 << 10, "{}", long.buffered());
    let empty = peek(stream(b"", None), HEAD_LIMIT);
    assert_eq!(
        identify(&empty),
        Identity::NotADiskImage {
            looks_like: Looks::Empty
        }
    );
}

#[test]
fn an_iso_stream_is_identified_from_its_prefix() {
    let image = super::build::udf(2048, "STREAMED", &["sources/install.wim"], false);
    let head = peek(stream(&image, None), HEAD_LIMIT);
    assert_eq!(
        identify(&head),
        Identity::WindowsInstaller {
            volume: "STREAMED".into(),
            evidence: vec!["sources/install.wim".into()]
        }
    );
    // With too short a prefix to reach the UDF anchor: a doubt.
    let head = peek(stream(&image, None), 256 << 10);
    assert!(matches!(identify(&head), Identity::Undetermined { .. }));
    assert_eq!(read_all(&mut *head.into_source()).unwrap(), image);
}

#[test]
fn plans_are_passed_on_without_the_prefix_and_the_path_is_kept() {
    let plans = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        data: noise(100_000, 5),
        at: 0,
        fail_at: None,
        plans: Arc::clone(&plans),
    };
    let head = peek(Box::new(probe), 40_000);
    assert_eq!(head.len(), 100_000);
    head.read_exact_at(0, &mut [0u8; 30_000]).unwrap();
    let held = head.buffered() as u64;
    let mut source = head.into_source();
    source.plan(&[(0, 100), (held - 10, held + 50), (90_000, 95_000)]);
    assert_eq!(source.local_path(), Some(Path::new("/images/probe.img")));
    let plans = plans.lock().unwrap().clone();
    // First the prefix alone, then the copy's spans after what is held.
    assert_eq!(
        plans,
        vec![vec![(0, 40_000)], vec![(held, held + 50), (90_000, 95_000)]]
    );
}

/// A zip member's stream: a read that runs past the size its header gives fails, however
/// much of it there was to give.
struct Strict {
    data: Vec<u8>,
    size: u64,
    at: u64,
}

impl Read for Strict {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at + buf.len() as u64 > self.size {
            return Err(io::Error::other("holds more than its header gives"));
        }
        let at = self.at as usize;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        self.at += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn reading_ahead_stops_at_the_size_the_source_declares() {
    let data = noise(10_000, 7);
    let reader = Strict {
        data: data.clone(),
        size: 4096,
        at: 0,
    };
    let source = StreamSource::new(Box::new(reader), "member".into(), Some(4096));
    let head = peek(Box::new(source), HEAD_LIMIT);
    let _ = identify(&head);
    assert_eq!(head.buffered(), 4096);
    let mut source = head.into_source();
    let mut all = vec![0u8; 4096];
    source.read_exact(&mut all).unwrap();
    assert_eq!(all, data[..4096]);
    assert!(source.read(&mut [0u8; 512]).is_err());
}

#[test]
fn a_read_error_ahead_is_met_where_it_happened() {
    let data = noise(100_000, 6);
    let probe = Probe {
        data: data.clone(),
        at: 0,
        fail_at: Some(10_000),
        plans: Arc::default(),
    };
    let head = peek(Box::new(probe), 60_000);
    let mut buf = [0u8; 8];
    head.read_exact_at(9_000, &mut buf).unwrap();
    assert!(head.read_exact_at(20_000, &mut buf).is_err());
    let mut source = head.into_source();
    let mut first = vec![0u8; 10_000];
    source.read_exact(&mut first).unwrap();
    assert_eq!(first, data[..10_000]);
    let error = source.read(&mut buf).unwrap_err();
    assert_eq!(error.to_string(), "the card reader went away");
}
