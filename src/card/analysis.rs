//! The probe's reasoning, apart from any device: where to put the sample blocks, what a block
//! read back means, and what the drive really holds given every sample's outcome.
//!
//! Counterfeit cards map a small flash chip into a large address space in one of two ways:
//! addresses past the real end wrap around onto the start (the controller drops high address
//! bits, or takes the address modulo the real size), or writes there are dropped (reads then
//! give zeros, old data or garbage). Often both: a "module" that wraps, with a lost stretch
//! below it. The samples are placed so that both show:
//!
//! * A wrap with period `N` makes two samples collide when their offsets differ by a multiple
//!   of `N`. The offsets are on a 1 MiB grid and form a *difference cover*: a dense run at the
//!   start (`0, 1, …, s−1` MiB) and a sparse one every `s` MiB counted down from the top, so
//!   that every multiple of 1 MiB below the capacity is the difference of two samples (`s` is
//!   about the square root of the capacity in MiB: 250 each for 64 GB). Every power of two
//!   is a sample too, and so is the last block.
//! * Samples are written from the highest offset down, so of two that collide the lower one,
//!   written last, survives: the higher reads back as the lower ("an alias", its offset minus
//!   the lower's being a multiple of the period), while the lower, really stored there,
//!   reads back intact. A wrap is never mistaken for losses below its period.
//! * A lost write shows wherever it is sampled; between the last intact and the first bad
//!   sample the next passes place more samples, until the real end is known to 0.05 %.

use super::pattern::{BLOCK_BYTES, Kind, Parsed};

/// The grid of the first pass: a wrap whose period is a multiple of it is always seen.
pub(crate) const GRID: u64 = 1 << 20;
/// Samples of each pass after the first, spread between the last intact and the first bad
/// sample.
pub(crate) const REFINE_SAMPLES: u64 = 64;
/// The real end is known well enough once the gap left is at most this fraction of it.
const PRECISION: u64 = 2000;
/// The candidate periods tried below the smallest alias distance seen: that distance divided
/// by 2 to this.
const MAX_DIVISOR: u64 = 16;

/// What the read-back of one sample showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The block written there, from this pass.
    Intact,
    /// The block of another sample of this run, written at `source`: both offsets are one
    /// place on the flash.
    Alias {
        /// Where the block read back was written.
        source: u64,
    },
    /// Something else: zeros, old data, filler, a damaged block.
    Lost(Lost),
    /// The read failed (an I/O error).
    Unreadable,
    /// The write failed (an I/O error); the block was not read back.
    Unwritable,
}

/// What a lost sample read back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// All zeros.
    Zeros,
    /// Data of no block of this run: what was there before, or garbage.
    Foreign,
    /// A block of this run that fails its checksum.
    Damaged,
    /// A block of this run that is not the sample: filler written later, or an earlier
    /// pass's block for the same place.
    Overwritten,
}

/// One sample block of the probe and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Its offset on the drive.
    pub offset: u64,
    /// What its read-back showed.
    pub outcome: Outcome,
}

impl Sample {
    fn is_intact(&self) -> bool {
        self.outcome == Outcome::Intact
    }
}

/// What the block read back at `offset` in pass `pass` means.
pub(crate) fn classify(parsed: Parsed, offset: u64, pass: u32) -> Outcome {
    match parsed {
        Parsed::Ours {
            offset: written,
            pass: by,
            kind: Kind::Sample,
        } => {
            if written != offset {
                Outcome::Alias { source: written }
            } else if by == pass {
                Outcome::Intact
            } else {
                Outcome::Lost(Lost::Overwritten)
            }
        }
        Parsed::Ours {
            kind: Kind::Filler, ..
        } => Outcome::Lost(Lost::Overwritten),
        Parsed::Damaged => Outcome::Lost(Lost::Damaged),
        Parsed::Zeros => Outcome::Lost(Lost::Zeros),
        Parsed::Foreign => Outcome::Lost(Lost::Foreign),
    }
}

/// The first pass's sample offsets over a drive of `capacity` bytes, ascending (see the
/// module documentation). Each leaves room for a whole block.
pub(crate) fn first_pass(capacity: u64) -> Vec<u64> {
    let Some(last) = capacity.checked_sub(BLOCK_BYTES) else {
        return Vec::new();
    };
    let top = last / GRID * GRID;
    let positions = top / GRID + 1;
    let step = positions.isqrt() + u64::from(positions.isqrt().pow(2) < positions);
    let mut offsets: Vec<u64> = (0..step.min(positions)).map(|i| i * GRID).collect();
    let mut high = top;
    loop {
        offsets.push(high);
        match high.checked_sub(step * GRID) {
            Some(next) => high = next,
            None => break,
        }
    }
    offsets.extend(
        (20..64)
            .map(|bit| 1u64 << bit)
            .take_while(|&power| power <= top),
    );
    offsets.push(last / 512 * 512);
    offsets.sort_unstable();
    without_overlaps(offsets)
}

/// `offsets` (ascending) less any whose block overlaps the one kept before it: of two
/// overlapping samples, the one written last would damage the other.
fn without_overlaps(offsets: Vec<u64>) -> Vec<u64> {
    let mut kept: Vec<u64> = Vec::with_capacity(offsets.len());
    for x in offsets {
        if kept.last().is_none_or(|&last| last + BLOCK_BYTES <= x) {
            kept.push(x);
        }
    }
    kept
}

/// The smallest distance between a sample and the sample whose block it read back: a
/// multiple of the wrap's period.
pub(crate) fn alias_distance(samples: &[Sample]) -> Option<u64> {
    samples
        .iter()
        .filter_map(|sample| match sample.outcome {
            Outcome::Alias { source } => Some(sample.offset.abs_diff(source)),
            _ => None,
        })
        .filter(|&distance| distance > 0)
        .min()
}

/// Periods smaller than `distance` (an alias distance) that could be the real one, smallest
/// first: `distance / k` for k up to [`MAX_DIVISOR`], whole sectors of at least a block.
pub(crate) fn period_candidates(distance: u64) -> Vec<u64> {
    (2..=MAX_DIVISOR)
        .rev()
        .filter(|k| distance.is_multiple_of(*k))
        .map(|k| distance / k)
        .filter(|m| m.is_multiple_of(512) && *m >= BLOCK_BYTES)
        .collect()
}

/// Anchors for checking a candidate period `period`: intact samples below it that have room
/// for a block at their offset plus `period` (reading there must give back their block).
pub(crate) fn anchors(samples: &[Sample], period: u64, capacity: u64) -> Vec<u64> {
    let mut found: Vec<u64> = samples
        .iter()
        .filter(|s| s.is_intact() && s.offset < period)
        .map(|s| s.offset)
        .filter(|&offset| offset + period + BLOCK_BYTES <= capacity)
        .collect();
    found.sort_unstable();
    // The lowest and one in the middle: two unrelated places.
    let mut picked = Vec::new();
    if let Some(&first) = found.first() {
        picked.push(first);
    }
    if let Some(&middle) = found
        .get(found.len() / 2)
        .filter(|&&m| Some(m) != found.first().copied())
    {
        picked.push(middle);
    }
    picked
}

/// Where the real end of the drive is known to lie, from the samples so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The end of the highest intact sample below `bound`: everything sampled below it is
    /// stored (0 when nothing is).
    pub good_end: u64,
    /// The first offset known not to be distinct storage: the lowest bad sample, or the
    /// wrap's period if that is lower.
    pub bound: u64,
    /// `bound` is the wrap's period (no sample below it was lost).
    pub by_period: bool,
}

impl Bounds {
    /// Whether another pass between `good_end` and `bound` would tell more.
    pub(crate) fn needs_refining(&self) -> bool {
        let gap = self.bound.saturating_sub(self.good_end);
        gap > BLOCK_BYTES && gap > self.good_end / PRECISION
    }
}

/// The bounds from every sample so far and the wrap's `period`, if one was found; `None`
/// when every sample is intact and nothing wraps.
pub(crate) fn bounds(samples: &[Sample], period: Option<u64>) -> Option<Bounds> {
    let first_bad = samples
        .iter()
        .filter(|s| !s.is_intact())
        .map(|s| s.offset)
        .min();
    let bound = match (first_bad, period) {
        (Some(bad), Some(period)) => bad.min(period),
        (Some(bad), None) => bad,
        (None, Some(period)) => period,
        (None, None) => return None,
    };
    let good_end = samples
        .iter()
        .filter(|s| s.is_intact() && s.offset + BLOCK_BYTES <= bound)
        .map(|s| s.offset + BLOCK_BYTES)
        .max()
        .unwrap_or(0);
    Some(Bounds {
        good_end,
        bound,
        by_period: period.is_some_and(|p| p == bound && first_bad.is_none_or(|bad| bad >= p)),
    })
}

/// The next pass's offsets: up to [`REFINE_SAMPLES`] whole blocks spread over
/// `good_end..bound`, none overlapping a sample already taken, ascending.
pub(crate) fn refine(bounds: &Bounds, taken: &[Sample], capacity: u64) -> Vec<u64> {
    let (from, to) = (bounds.good_end, bounds.bound);
    if to <= from {
        return Vec::new();
    }
    let span = to - from;
    let overlaps = |x: u64| {
        taken
            .iter()
            .any(|s| s.offset < x + BLOCK_BYTES && x < s.offset + BLOCK_BYTES)
    };
    let mut offsets: Vec<u64> = (1..=REFINE_SAMPLES)
        .map(|i| from + span / (REFINE_SAMPLES + 1) * i)
        .chain([to.saturating_sub(BLOCK_BYTES), from])
        .map(|x| x / BLOCK_BYTES * BLOCK_BYTES)
        .map(|x| x.max(from.div_ceil(512) * 512))
        .filter(|&x| x >= from && x < to && x + BLOCK_BYTES <= capacity && !overlaps(x))
        .collect();
    offsets.sort_unstable();
    without_overlaps(offsets)
}

/// What the samples say in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The bytes from the start that can be trusted.
    pub usable: u64,
    /// The kind of drive.
    pub finding: super::Finding,
    /// Samples not read back as written.
    pub lost: usize,
}

/// The verdict on a drive of `capacity` bytes from every sample and the wrap's `period`.
pub(crate) fn verdict(capacity: u64, samples: &[Sample], period: Option<u64>) -> Verdict {
    use super::Finding;
    let lost = samples.iter().filter(|s| !s.is_intact()).count();
    let Some(bounds) = bounds(samples, period) else {
        return Verdict {
            usable: capacity,
            finding: Finding::Genuine,
            lost,
        };
    };
    let usable = if bounds.by_period {
        bounds.bound
    } else {
        bounds.good_end
    };
    let finding = if let Some(period) = period.or_else(|| alias_distance(samples)) {
        Finding::WrapsAround { period }
    } else if samples
        .iter()
        .filter(|s| s.offset >= usable)
        .all(|s| !s.is_intact())
    {
        Finding::LosesWrites { from: usable }
    } else {
        Finding::Unreliable {
            lost,
            first: bounds.bound,
        }
    };
    Verdict {
        usable,
        finding,
        lost,
    }
}
