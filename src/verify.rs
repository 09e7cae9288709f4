//! Checking a written device or file against a bmap's checksums, without writing anything.
//!
//! Block devices are read with `O_DIRECT`, so what is checked is what the device returns, not
//! what the page cache remembers. Every mismatching range is reported, not only the first.

use crate::bmap::{Bmap, Digest, Hasher};
use crate::progress::{CancelToken, Event, Phase, ProgressSink, Reporter};
use crate::target::{Target, TargetError};

/// Mismatches kept in a report; the rest are only counted.
pub const MAX_LISTED: usize = 100;

/// A range whose data on the target differs from the bmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the range in the bmap.
    pub index: usize,
    /// First block.
    pub first: u64,
    /// Last block (inclusive).
    pub last: u64,
    /// The bmap's digest.
    pub expected: Digest,
    /// The digest of what the target holds.
    pub actual: Digest,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Ranges checked.
    pub ranges: usize,
    /// Bytes read from the target.
    pub bytes: u64,
    /// Up to [`MAX_LISTED`] mismatching ranges, in order.
    pub mismatches: Vec<Mismatch>,
    /// How many ranges mismatched in all.
    pub mismatch_count: usize,
}

impl VerifyReport {
    /// Whether everything matched.
    pub fn is_ok(&self) -> bool {
        self.mismatch_count == 0
    }
}

/// Why verification could not run (a mismatch is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bmap has no range checksums.
    #[error("the bmap has no range checksums, so there is nothing to verify against")]
    NoChecksums,
    /// The target is smaller than the image.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Stopped by the cancel token or the progress sink.
    #[error("cancelled")]
    Cancelled,
}

/// Reads every range of `bmap` with a checksum from `target` and compares.
pub fn verify(
    bmap: &Bmap,
    target: &mut Target,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<VerifyReport, VerifyError> {
    let mut reporter = Reporter::new(sink, cancel);
    let ranges = bmap.ranges();
    // The indices of the ranges with a checksum; everything else is read from the bmap as
    // each range is compared, so that this costs 8 bytes a range, not a copy of the bmap.
    let checked: Vec<usize> = (0..ranges.len())
        .filter(|&i| ranges.checksum(i).is_some())
        .collect();
    if checked.is_empty() {
        return Err(VerifyError::NoChecksums);
    }
    let capacity = target.capacity().unwrap_or(0);
    if capacity < bmap.image_size() {
        return Err(TargetError::TooSmall {
            path: target.path().to_path_buf(),
            capacity,
            needed: bmap.image_size(),
        }
        .into());
    }
    let spans: Vec<(u64, u64)> = checked
        .iter()
        .filter_map(|&i| ranges.blocks(i))
        .map(|(first, last)| bmap.span_of(first, last))
        .collect();
    let total: u64 = spans.iter().map(|(start, end)| end - start).sum();
    reporter.phase(Phase::Verifying, Some(total));
    let mut report = VerifyReport {
        ranges: checked.len(),
        bytes: 0,
        mismatches: Vec::new(),
        mismatch_count: 0,
    };
    let mut current: Option<Hasher> = None;
    let mut done = 0;
    // Compares the range at `at` in `checked`, whose bytes are all hashed.
    let mut finish = |at: usize, hasher: Hasher, reporter: &mut Reporter<'_>| {
        let index = checked[at];
        let (Some((first, last)), Some(expected)) = (ranges.blocks(index), ranges.checksum(index))
        else {
            return;
        };
        let actual = hasher.finish();
        if actual.as_bytes() == expected {
            reporter.emit(Event::RangeVerified { index, first, last });
            return;
        }
        report.mismatch_count += 1;
        if report.mismatches.len() < MAX_LISTED {
            report.mismatches.push(Mismatch {
                index,
                first,
                last,
                expected: Digest::from_bytes(expected),
                actual,
            });
        }
    };
    let finished = target.read_spans(&spans, |at, piece, last| {
        if reporter.token().is_cancelled() {
            return false;
        }
        let hasher = current.get_or_insert_with(|| bmap.checksum_type().hasher());
        hasher.update(piece);
        done += piece.len() as u64;
        reporter.progress(Phase::Verifying, done);
        if last && let Some(hasher) = current.take() {
            finish(at, hasher, &mut reporter);
        }
        true
    })?;
    if !finished || reporter.token().is_cancelled() {
        return Err(VerifyError::Cancelled);
    }
    report.bytes = done;
    Ok(report)
}
