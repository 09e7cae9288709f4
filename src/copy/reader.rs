//! The reader thread: walks the plan forward through the source, hashing as it reads.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use super::{CHUNK, CopyError, Plan};
use crate::bmap::{ChecksumType, Digest};
use crate::progress::CancelToken;
use crate::source::ImageSource;
use crate::target::AlignedBuf;

/// What the reader sends to the writer, in order.
pub(super) enum Msg {
    /// `len` bytes of the image at `offset`, in `buf`.
    Data {
        offset: u64,
        len: usize,
        buf: AlignedBuf,
    },
    /// Range `index` matched its bmap checksum.
    Verified { index: usize },
    /// The SHA-256 of range `index`, for read-back of a range the bmap has no checksum for.
    Digest { index: usize, digest: Digest },
    /// The reader failed; nothing follows.
    Failed(CopyError),
    /// Every range was read.
    Done,
}

/// What the reader is asked to compute.
pub(super) struct Checks {
    /// Compare ranges with their bmap checksums.
    pub verify: bool,
    /// Produce a digest for ranges without a bmap checksum (for read-back).
    pub digest_unchecked: bool,
}

/// Reads every range of `plan` and sends it down `tx`, taking empty buffers from `pool`.
/// Returns when done, on error (sent as [`Msg::Failed`]), or when the writer hangs up.
pub(super) fn run(
    plan: &Plan,
    source: &mut dyn ImageSource,
    checks: &Checks,
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
    target_name: &str,
) {
    let msg = read_all(plan, source, checks, tx, pool, cancel, target_name)
        .map_or_else(Msg::Failed, |()| Msg::Done);
    // The writer may already be gone (it failed or was cancelled): nothing left to tell.
    let _ = tx.send(msg);
}

/// Early exits (writer gone, cancelled) return `Ok(())`: the writer notices cancellation
/// itself, and a hung-up channel means it stopped for its own reason.
fn read_all(
    plan: &Plan,
    source: &mut dyn ImageSource,
    checks: &Checks,
    tx: &SyncSender<Msg>,
    pool: &Receiver<AlignedBuf>,
    cancel: &CancelToken,
    target_name: &str,
) -> Result<(), CopyError> {
    let name = source.name().to_owned();
    let image = || name.clone();
    for (index, range) in plan.ranges.iter().enumerate() {
        let eof = |offset| CopyError::Truncated {
            image: image(),
            offset,
            range: range.label,
        };
        source.skip_to(range.start).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => eof(source.size().unwrap_or(range.start)),
            _ => CopyError::Read {
                image: image(),
                offset: range.start,
                source: e,
            },
        })?;
        let mut hasher = match (&range.expected, checks) {
            (Some(_), Checks { verify: true, .. }) => Some(plan.kind.hasher()),
            (
                None,
                Checks {
                    digest_unchecked: true,
                    ..
                },
            ) => Some(ChecksumType::Sha256.hasher()),
            _ => None,
        };
        let mut offset = range.start;
        while offset < range.end {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let Ok(mut buf) = pool.recv() else {
                return Ok(());
            };
            let len = usize::try_from(range.end - offset)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            let got = fill(source, &mut buf[..len]).map_err(|e| CopyError::Read {
                image: image(),
                offset,
                source: e,
            })?;
            if got < len {
                return Err(eof(offset + got as u64));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..len]);
            }
            if tx.send(Msg::Data { offset, len, buf }).is_err() {
                return Ok(());
            }
            offset += len as u64;
        }
        let msg = match (hasher, &range.expected) {
            (None, _) => continue,
            (Some(h), Some(expected)) => {
                let calculated = h.finish();
                if &calculated != expected {
                    return Err(CopyError::Checksum {
                        range: range.label,
                        calculated,
                        expected: expected.clone(),
                        image: image(),
                        target: target_name.to_owned(),
                    });
                }
                Msg::Verified { index }
            }
            (Some(h), None) => Msg::Digest {
                index,
                digest: h.finish(),
            },
        };
        if tx.send(msg).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn fill(source: &mut dyn ImageSource, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
