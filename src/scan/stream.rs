//! Scanning an image that can only be read forward (gzip, bzip2, zstd, lz4, xz, a zip member,
//! standard input) while it is being written: a block is left out only when metadata that
//! already passed proves it free.
//!
//! [`StreamScan`] wraps the image's source. It runs the ordinary [`scan`] over
//! what has passed so far ([`horizon::Horizon`]): every read of bytes still to come fails
//! and is remembered, and the stream is read up to exactly the end of each remembered span
//! and kept there, so the next scan, run at once, gets a step further: the partition table,
//! then each filesystem's superblock, its tables, its bitmaps, as they arrive. What a scan
//! proves free and has not passed yet is left out as the writer reaches it; everything else,
//! and everything before the proof arrived, is written.
//!
//! The rules are the scanner's, with one difference that streaming forces: a proof is kept
//! once made. ext's groups are proven one by one as their bitmaps arrive (with `flex_bg`, a
//! flex group's bitmaps come before its data), the groups still to come counting as used, and
//! its journal's superblock, which often lies in the middle of the filesystem, is checked
//! when it arrives: until then the superblock's needs-recovery flag, which the kernel and
//! e2fsck go by, stands for it. A filesystem whose later metadata fails a check is written
//! whole from there on, but what was left out before stays left out. Other filesystems are
//! left out only once all their metadata passed and checked out.

pub(crate) mod horizon;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::Path;

use super::{Finding, Ranges, ScanReport, scan};
use crate::source::ImageSource;
use horizon::{Capture, Horizon};

/// The size a stream of unknown size is scanned as: partitions may lie anywhere below it.
const UNBOUNDED: u64 = 1 << 60;

/// What a stream scan found and left out, once the stream has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFindings {
    /// The last scan's layout ("MBR, 2 partitions").
    pub layout: String,
    /// The last scan's findings, per region, and what was left out of each.
    pub regions: Vec<StreamRegion>,
    /// Scans run while the stream passed.
    pub scans: u32,
    /// Bytes kept for the scans (metadata).
    pub kept: u64,
    /// A scan asked for more metadata than fits in the bytes kept for them (a large XFS
    /// log), so what that would have proven free was written.
    pub over_budget: bool,
}

impl StreamFindings {
    /// The same account for a [`scan`] made before the copy, through the image's random
    /// access: everything it found free was known in time and left out; one scan, and no
    /// bytes kept for it.
    pub fn of_scan(report: &ScanReport) -> Self {
        StreamFindings {
            layout: report.layout.clone(),
            regions: report
                .findings
                .iter()
                .map(|finding| StreamRegion {
                    skipped: finding.free,
                    finding: finding.clone(),
                })
                .collect(),
            scans: 1,
            kept: 0,
            over_budget: false,
        }
    }
}

/// One region of a streamed image: what the scanner made of it in the end, and how much of
/// what it found free was known in time to be left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRegion {
    /// The last scan's finding (with all the metadata that passed).
    pub finding: Finding,
    /// Bytes of the region left out: proven free before the writer reached them.
    pub skipped: u64,
}

/// An image source whose filesystems are read as it passes; see the module documentation.
pub struct StreamScan<'a> {
    inner: &'a mut dyn ImageSource,
    name: String,
    len: u64,
    capture: Capture,
    /// Proven free and not yet passed (normalized, whole 4 KiB blocks).
    free: Ranges,
    /// What was left out so far.
    skipped: Ranges,
    last: Option<ScanReport>,
    scans: u32,
}

impl<'a> StreamScan<'a> {
    /// Starts reading `inner` (at its first byte) this way.
    pub fn new(inner: &'a mut dyn ImageSource) -> Self {
        let name = inner.name().to_owned();
        let len = inner.size().unwrap_or(UNBOUNDED);
        let mut this = Self {
            inner,
            name,
            len,
            capture: Capture::default(),
            free: Ranges::new(),
            skipped: Ranges::new(),
            last: None,
            scans: 0,
        };
        this.rescan();
        this
    }

    /// Where `offset` lies in a span proven free: the end of that span.
    pub fn free_until(&self, offset: u64) -> Option<u64> {
        self.free
            .as_slice()
            .iter()
            .find(|&&(s, e)| s <= offset && offset < e)
            .map(|&(_, e)| e)
    }

    /// The start of the first span proven free after `offset`.
    pub fn next_free(&self, offset: u64) -> Option<u64> {
        self.free
            .as_slice()
            .iter()
            .find(|&&(s, _)| s > offset)
            .map(|&(s, _)| s)
    }

    /// Where, after `offset`, a span the scans asked for starts or ends: while they learn, a
    /// reader that stops there decides what to write next with what they learnt.
    pub fn next_lesson(&self, offset: u64) -> Option<u64> {
        self.capture.next_boundary(offset)
    }

    /// Leaves the free span at the current position out: reads past it (keeping what scans
    /// asked for in it) up to `to`. At the end of a stream of unknown size, stops there.
    pub fn skip_free(&mut self, to: u64) -> io::Result<()> {
        let from = self.position();
        let result = self.skip_to(to);
        self.skipped.add(from, self.position());
        result
    }

    /// What was found and left out; scans once more with everything that passed.
    pub fn findings(mut self) -> StreamFindings {
        // A stream of unknown size is now known to end here.
        let end = self.capture.passed;
        if self.inner.size().is_none() && self.len != end {
            self.len = end;
            self.rescan();
        } else if self.capture.wanting() {
            self.rescan();
        }
        self.skipped.normalize();
        let (layout, regions) = match self.last.take() {
            Some(report) => (
                report.layout,
                report
                    .findings
                    .into_iter()
                    .map(|finding| StreamRegion {
                        skipped: self
                            .skipped
                            .clamp(finding.start, finding.start.saturating_add(finding.len))
                            .total(),
                        finding,
                    })
                    .collect(),
            ),
            None => (String::new(), Vec::new()),
        };
        StreamFindings {
            layout,
            regions,
            scans: self.scans,
            kept: self.capture.kept_bytes() as u64,
            over_budget: self.capture.full,
        }
    }

    /// Scans what has passed; takes what it proves free ahead, and asks for what it lacked.
    fn rescan(&mut self) {
        let horizon = Horizon::new(&self.capture, &self.name, self.len);
        let report = scan(&horizon);
        let asked = horizon.asked();
        let passed = self.capture.passed;
        for &(s, e) in report.free.as_slice() {
            self.free.add(s.max(passed), e);
        }
        self.free.normalize();
        self.capture.want(asked);
        self.last = Some(report);
        self.scans += 1;
    }
}

impl StreamScan<'_> {
    /// Skips the inner source to `offset`, past nothing that was asked for.
    fn skip_inner(&mut self, offset: u64) -> io::Result<()> {
        let result = self.inner.skip_to(offset);
        self.capture.skipped_to(self.inner.position());
        result
    }
}

impl Read for StreamScan<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.capture.passed;
        let limit = self
            .capture
            .next_boundary(at)
            .map_or(buf.len() as u64, |b| (b - at).min(buf.len() as u64));
        let limit = usize::try_from(limit).unwrap_or(buf.len());
        let got = self.inner.read(&mut buf[..limit])?;
        if self.capture.pass(&buf[..got]) {
            self.rescan();
        }
        // What passed is no longer ahead.
        let passed = self.capture.passed;
        self.free = self.free.clamp(passed, u64::MAX);
        Ok(got)
    }
}

impl ImageSource for StreamScan<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        self.inner.size()
    }

    fn position(&self) -> u64 {
        self.capture.passed
    }

    /// Reads through what scans asked for (keeping it), skips the rest.
    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        let mut scratch = Vec::new();
        while self.capture.passed < offset {
            let at = self.capture.passed;
            match self.capture.next_wanted(at).filter(|&w| w < offset) {
                Some(wanted) if wanted > at => self.skip_inner(wanted)?,
                Some(_) => {
                    scratch.resize(1 << 20, 0);
                    let want =
                        usize::try_from(offset - at).map_or(scratch.len(), |n| n.min(1 << 20));
                    if self.read(&mut scratch[..want])? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                None => self.skip_inner(offset)?,
            }
        }
        Ok(())
    }

    fn plan(&mut self, spans: &[(u64, u64)]) {
        self.inner.plan(spans);
    }

    fn local_path(&self) -> Option<&Path> {
        self.inner.local_path()
    }
}
