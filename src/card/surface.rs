//! The surface test: every sector of the drive written with a pattern naming its offset and
//! the run, flushed, read back and compared, the sectors that differ merged into byte ranges.
//! Memory stays at two chunk buffers whatever the drive's size.

use std::time::Instant;

use super::pattern::{SECTOR, surface_fill, surface_sector};
use super::report::{ProbeError, SurfaceReport};
use super::{Drive, MAX_BAD_RANGES, is_media_error};
use crate::progress::{Phase, Reporter};
use crate::target::AlignedBuf;

/// Bytes written or read at once.
const CHUNK: u64 = 4 << 20;
/// A chunk that fails to read is read again in pieces this large, then block by block, so
/// that an unreadable spot costs only its own bytes.
const PIECES: [u64; 2] = [64 << 10, 4 << 10];

/// The bad byte ranges, merged as they are found.
#[derive(Debug, Default)]
struct BadRanges {
    listed: Vec<(u64, u64)>,
    unlisted: usize,
    bytes: u64,
    open: Option<(u64, u64)>,
}

impl BadRanges {
    fn bad(&mut self, start: u64, end: u64) {
        self.bytes += end - start;
        match &mut self.open {
            Some((_, open_end)) if *open_end == start => *open_end = end,
            _ => {
                self.close();
                self.open = Some((start, end));
            }
        }
    }

    fn good(&mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(range) = self.open.take() {
            if self.listed.len() < MAX_BAD_RANGES {
                self.listed.push(range);
            } else {
                self.unlisted += 1;
            }
        }
    }
}

/// Runs the surface test on `drive`.
pub(super) fn run(
    drive: &mut Drive,
    reporter: &mut Reporter<'_>,
) -> Result<SurfaceReport, ProbeError> {
    let started = Instant::now();
    let capacity = drive.capacity;
    let tag = crate::nonce::fresh_u64();
    let mut buf = AlignedBuf::new(CHUNK as usize);

    reporter.phase(Phase::SurfaceWrite, Some(capacity));
    let mut write_errors = 0;
    let mut pos = 0;
    while pos < capacity {
        cancelled(drive, reporter, pos)?;
        let n = CHUNK.min(capacity - pos);
        let chunk = &mut buf[..n as usize];
        surface_fill(chunk, tag, pos);
        match drive.write_at(pos, chunk) {
            Ok(()) => {}
            Err(e) if is_media_error(&e) => write_errors += 1,
            Err(e) => return Err(drive.failed(e, Some(pos))),
        }
        pos += n;
        reporter.progress(Phase::SurfaceWrite, pos);
    }
    drive.flush()?;
    let write_secs = started.elapsed().as_secs_f64();

    let reading = Instant::now();
    reporter.phase(Phase::SurfaceRead, Some(capacity));
    let mut bad = BadRanges::default();
    let mut pos = 0;
    while pos < capacity {
        cancelled(drive, reporter, pos)?;
        let n = CHUNK.min(capacity - pos);
        check(drive, &mut buf, tag, pos, n, 0, &mut bad)?;
        pos += n;
        reporter.progress(Phase::SurfaceRead, pos);
    }
    bad.close();
    let read_secs = reading.elapsed().as_secs_f64();
    drive.zero_ends()?;

    Ok(SurfaceReport {
        device: drive.device.clone(),
        capacity,
        bad: bad.listed,
        unlisted: bad.unlisted,
        bad_bytes: bad.bytes,
        written: capacity,
        write_errors,
        write_speed: capacity as f64 / write_secs.max(1e-6),
        read_speed: capacity as f64 / read_secs.max(1e-6),
        elapsed: started.elapsed(),
    })
}

/// Stops, zeroing both ends first (best effort), once the test is cancelled.
fn cancelled(drive: &mut Drive, reporter: &Reporter<'_>, offset: u64) -> Result<(), ProbeError> {
    if !reporter.cancelled() {
        return Ok(());
    }
    let _ = drive.zero_ends();
    Err(ProbeError::Cancelled {
        device: drive.device.clone(),
        offset,
    })
}

/// Reads `pos..pos + n` and compares it sector by sector; a read that fails with an I/O
/// error is tried again in smaller pieces ([`PIECES`], from `level` on), and what still
/// fails is bad.
fn check(
    drive: &mut Drive,
    buf: &mut [u8],
    tag: u64,
    pos: u64,
    n: u64,
    level: usize,
    bad: &mut BadRanges,
) -> Result<(), ProbeError> {
    let out = &mut buf[..n as usize];
    match drive.read_into(pos, out) {
        Ok(()) => {
            let mut expected = [0u8; SECTOR];
            for (i, sector) in out.chunks(SECTOR).enumerate() {
                let at = pos + (i * SECTOR) as u64;
                surface_sector(&mut expected, tag, at);
                if sector == &expected[..sector.len()] {
                    bad.good();
                } else {
                    bad.bad(at, at + sector.len() as u64);
                }
            }
            Ok(())
        }
        Err(e) if is_media_error(&e) => match PIECES.get(level).filter(|&&piece| piece < n) {
            Some(&piece) => {
                let mut at = pos;
                while at < pos + n {
                    let len = piece.min(pos + n - at);
                    check(drive, buf, tag, at, len, level + 1, bad)?;
                    at += len;
                }
                Ok(())
            }
            None => {
                bad.bad(pos, pos + n);
                Ok(())
            }
        },
        Err(e) => Err(drive.failed(e, Some(pos))),
    }
}

#[cfg(test)]
mod tests {
    use super::BadRanges;

    #[test]
    fn bad_sectors_merge_into_ranges() {
        let mut bad = BadRanges::default();
        bad.bad(0, 512);
        bad.bad(512, 1024);
        bad.good();
        bad.good();
        bad.bad(4096, 4608);
        bad.bad(8192, 8704);
        bad.close();
        assert_eq!(bad.listed, [(0, 1024), (4096, 4608), (8192, 8704)]);
        assert_eq!(bad.bytes, 2048);
        assert_eq!(bad.unlisted, 0);
    }

    #[test]
    fn ranges_past_the_listed_ones_are_counted() {
        let mut bad = BadRanges::default();
        for i in 0..super::MAX_BAD_RANGES as u64 + 5 {
            bad.bad(i * 1024, i * 1024 + 512);
        }
        bad.close();
        assert_eq!(bad.listed.len(), super::MAX_BAD_RANGES);
        assert_eq!(bad.unlisted, 5);
    }
}
