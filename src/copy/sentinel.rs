//! Sentinels: a second line of defence against counterfeit cards, during the copy itself.
//!
//! A fake card maps the addresses beyond its real flash onto lower ones (or drops those
//! writes, or keeps old data there). Writes of the image that land on the real flash read back
//! fine, so read-back alone catches a fake only where the image's own data is overwritten.
//! Before the first range is written, the lane plants self-identifying 4 KiB blocks where the
//! image puts nothing: in the gaps between its mapped ranges and past its end, spread over the
//! whole device. After the image is written and read back, each must still be there: one that
//! reads back as zeros, as another sentinel or as anything else shows that the device does not
//! keep what is written to it, and the copy fails before the first MiB (the partition table)
//! is written. Then what the device held there before is put back, so the copy leaves every
//! byte outside the image as it was, as bmaptool does. A copy that fails or is cancelled once
//! they are planted puts those bytes back too as its lane ends (see `Lane::run`), once and
//! errors ignored (the device itself may be what failed), but never on a device given up as
//! hung, whose thread must not touch it again. Nothing in them looks like a partition table
//! or a filesystem: they start with their own magic and never sit in the first or last MiB.

use crate::target::{Target, TargetError};

/// Bytes per sentinel: one page, what an `O_DIRECT` write of any sector size can carry.
pub(super) const SIZE: u64 = 4096;
/// Sentinels per device: enough to cover a fake's lost region wherever it starts, few enough
/// to cost nothing (64 KiB read, written, read and written back).
const COUNT: u64 = 16;
/// The magic that starts every sentinel.
const MAGIC: &[u8; 16] = b"BLOCKPRINT-SNTL\0";

/// What a sentinel that did not survive held instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Zeros: the write was dropped.
    Zeros,
    /// The sentinel of another offset: the device maps both offsets to the same flash.
    Alias {
        /// The offset the block that came back was written to.
        written_at: u64,
    },
    /// Something else: old data, or data of the image written elsewhere.
    Other,
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Zeros => f.write_str("it reads back as zeros"),
            Found::Alias { written_at } => write!(
                f,
                "it reads back as the block written at offset {written_at}: both offsets are \
                 the same flash"
            ),
            Found::Other => f.write_str("it reads back as other data"),
        }
    }
}

/// The sentinels of one copy to one device.
#[derive(Debug)]
pub(super) struct Sentinels {
    tag: u64,
    offsets: Vec<u64>,
    /// What the device held at each offset before, put back at the end.
    before: Vec<Vec<u8>>,
}

impl Sentinels {
    /// Places sentinels in the `gaps` (ascending, disjoint byte spans that the image leaves
    /// alone), spread evenly over `[low, high)`: for each of [`COUNT`] evenly spaced points,
    /// the first whole aligned block of a gap at or after it.
    pub(super) fn place(gaps: &[(u64, u64)], low: u64, high: u64, tag: u64) -> Self {
        let mut offsets: Vec<u64> = Vec::new();
        if high > low {
            let step = ((high - low) / COUNT).max(SIZE);
            let mut point = low;
            let mut gap = 0;
            while point < high && gap < gaps.len() {
                let (start, end) = gaps[gap];
                let first = point.max(start).max(low).next_multiple_of(SIZE);
                if first.saturating_add(SIZE) > end.min(high) {
                    gap += 1;
                    continue;
                }
                if offsets.last() != Some(&first) {
                    offsets.push(first);
                }
                point = first.saturating_add(step).max(point + step);
            }
        }
        Self {
            tag,
            offsets,
            before: Vec::new(),
        }
    }

    /// How many there are.
    pub(super) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The bytes of the sentinel at `offset`.
    fn block(&self, offset: u64) -> Vec<u8> {
        let mut block = vec![0u8; SIZE as usize];
        block[..16].copy_from_slice(MAGIC);
        block[16..24].copy_from_slice(&self.tag.to_le_bytes());
        block[24..32].copy_from_slice(&offset.to_le_bytes());
        // The rest: a stream that differs per offset and per run (xorshift), so a block
        // cannot pass for another by its filler.
        let mut state = self.tag ^ offset.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
        for word in block[32..].chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        block
    }

    /// Writes every sentinel, keeping what the device held there.
    pub(super) fn plant(&mut self, target: &mut Target) -> Result<(), TargetError> {
        for &offset in &self.offsets {
            let mut before = Vec::with_capacity(SIZE as usize);
            target.read_range(offset, SIZE, |piece| before.extend_from_slice(piece))?;
            self.before.push(before);
        }
        for &offset in &self.offsets {
            target.write_at(offset, &self.block(offset))?;
        }
        Ok(())
    }

    /// Reads every sentinel back: the first that did not survive, with what it held.
    pub(super) fn check(&self, target: &mut Target) -> Result<Option<(u64, Found)>, TargetError> {
        for &offset in &self.offsets {
            let mut read = Vec::with_capacity(SIZE as usize);
            target.read_range(offset, SIZE, |piece| read.extend_from_slice(piece))?;
            if read != self.block(offset) {
                return Ok(Some((offset, self.what(&read))));
            }
        }
        Ok(None)
    }

    /// What a block read instead of a sentinel is.
    fn what(&self, read: &[u8]) -> Found {
        if read.iter().all(|&b| b == 0) {
            return Found::Zeros;
        }
        let field = |at: usize| {
            read.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if read.starts_with(MAGIC)
            && field(16) == Some(self.tag)
            && let Some(written_at) = field(24)
            && self.offsets.contains(&written_at)
            && read == self.block(written_at)
        {
            return Found::Alias { written_at };
        }
        Found::Other
    }

    /// Puts back what the device held where the sentinels are.
    pub(super) fn restore(&self, target: &mut Target) -> Result<(), TargetError> {
        for (&offset, before) in self.offsets.iter().zip(&self.before) {
            target.write_at(offset, before)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_only_in_gaps_and_spread() {
        let mib = 1 << 20;
        // Two gaps: [2 MiB, 3 MiB) and [60 MiB, 64 MiB), over a span of 1..63 MiB.
        let gaps = [(2 * mib, 3 * mib), (60 * mib, 64 * mib)];
        let sentinels = Sentinels::place(&gaps, mib, 63 * mib, 7);
        assert!(sentinels.len() >= 2, "{:?}", sentinels.offsets);
        for &o in &sentinels.offsets {
            assert_eq!(o % SIZE, 0);
            let inside = gaps.iter().any(|&(s, e)| o >= s && o + SIZE <= e);
            assert!(inside && o >= mib && o + SIZE <= 63 * mib, "{o}");
        }
        assert!(sentinels.offsets.windows(2).all(|w| w[0] < w[1]));
        // Both gaps are used.
        assert!(sentinels.offsets.iter().any(|&o| o < 3 * mib));
        assert!(sentinels.offsets.iter().any(|&o| o >= 60 * mib));
        // A gap too small for a whole aligned block gets none.
        let none = Sentinels::place(&[(mib + 1, mib + SIZE + 1)], 0, 2 * mib, 7);
        assert_eq!(none.len(), 0);
        assert!(Sentinels::place(&[(0, 4 * mib)], 0, 4 * mib, 1).len() as u64 <= COUNT);
    }

    #[test]
    fn blocks_differ_and_are_recognised() {
        let sentinels = Sentinels::place(&[(0, 1 << 30)], 1 << 20, 1 << 30, 42);
        let (a, b) = (sentinels.offsets[0], sentinels.offsets[1]);
        let block = sentinels.block(a);
        assert_ne!(block, sentinels.block(b));
        assert_ne!(&block[510..512], &[0x55, 0xAA]);
        assert_eq!(
            sentinels.what(&sentinels.block(b)),
            Found::Alias { written_at: b }
        );
        assert_eq!(sentinels.what(&vec![0; SIZE as usize]), Found::Zeros);
        let other_run = Sentinels::place(&[(0, 1 << 30)], 1 << 20, 1 << 30, 43);
        assert_eq!(sentinels.what(&other_run.block(b)), Found::Other);
    }
}
