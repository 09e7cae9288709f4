//! The ranges of a bmap, stored compactly: 16 bytes per range for its blocks, and the digests
//! (when the bmap has range checksums) back to back in one buffer, so a bmap with millions of
//! ranges takes about as much memory as the numbers it holds, not a heap object per range.

use std::fmt;

use super::{BlockRange, Digest};

/// The mapped ranges of a bmap, in file order. Items are [`BlockRange`] values made on
/// demand; [`Ranges::blocks`] and [`Ranges::checksum`] read one without allocating.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ranges {
    /// `[first, last]` of each range.
    blocks: Vec<[u64; 2]>,
    /// Bytes per digest: 0 while no range has one.
    digest_len: usize,
    /// `digest_len` bytes per range (zeros for a range without one).
    digests: Vec<u8>,
    /// One bit per range that has no digest, once some range has one and some do not.
    missing: Vec<u64>,
}

/// Why a digest cannot join the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OtherLength;

impl Ranges {
    /// Gives back what growing left unused.
    pub(super) fn shrink_to_fit(&mut self) {
        self.blocks.shrink_to_fit();
        self.digests.shrink_to_fit();
        self.missing.shrink_to_fit();
    }

    /// Room for `ranges` ranges.
    pub(super) fn with_capacity(ranges: usize) -> Self {
        Self {
            blocks: Vec::with_capacity(ranges),
            ..Self::default()
        }
    }

    /// Appends a range. A digest whose length differs from the earlier ones' is refused (the
    /// range is not added).
    pub(super) fn push(
        &mut self,
        first: u64,
        last: u64,
        digest: Option<&[u8]>,
    ) -> Result<(), OtherLength> {
        let index = self.blocks.len();
        match digest {
            Some(bytes) if self.digest_len == 0 => {
                // The first digest: the ranges before it have none.
                self.digest_len = bytes.len();
                let room = self.blocks.capacity().max(index + 1) * bytes.len();
                self.digests.reserve_exact(room);
                self.digests.resize(index * bytes.len(), 0);
                for earlier in 0..index {
                    self.mark_missing(earlier);
                }
                self.digests.extend_from_slice(bytes);
            }
            Some(bytes) if bytes.len() != self.digest_len => return Err(OtherLength),
            Some(bytes) => self.digests.extend_from_slice(bytes),
            None if self.digest_len > 0 => {
                self.digests.resize(self.digests.len() + self.digest_len, 0);
                self.mark_missing(index);
            }
            None => {}
        }
        self.blocks.push([first, last]);
        Ok(())
    }

    fn mark_missing(&mut self, index: usize) {
        let word = index / 64;
        if self.missing.len() <= word {
            self.missing.resize(word + 1, 0);
        }
        self.missing[word] |= 1 << (index % 64);
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The first and last block of range `index`.
    pub fn blocks(&self, index: usize) -> Option<(u64, u64)> {
        self.blocks.get(index).map(|&[first, last]| (first, last))
    }

    /// The digest bytes of range `index`, if it has one.
    pub fn checksum(&self, index: usize) -> Option<&[u8]> {
        if self.digest_len == 0 || index >= self.blocks.len() {
            return None;
        }
        let missing = self
            .missing
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0);
        let start = index * self.digest_len;
        (!missing).then(|| self.digests.get(start..start + self.digest_len))?
    }

    /// Range `index` as a value.
    pub fn get(&self, index: usize) -> Option<BlockRange> {
        let (first, last) = self.blocks(index)?;
        Some(BlockRange {
            first,
            last,
            checksum: self.checksum(index).map(Digest::from_bytes),
        })
    }

    /// The last range.
    pub fn last(&self) -> Option<BlockRange> {
        self.get(self.len().checked_sub(1)?)
    }

    /// Every range, in order.
    pub fn iter(&self) -> RangesIter<'_> {
        RangesIter {
            ranges: self,
            next: 0,
        }
    }

    /// The bytes this takes on the heap (what is allocated, not only what is used).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<[u64; 2]>()
            + self.digests.capacity()
            + self.missing.capacity() * 8
    }
}

impl From<Vec<BlockRange>> for Ranges {
    /// Ranges from values. Digests of differing lengths (which [`super::Bmap::new`] refuses
    /// anyway) keep only those of the first length.
    fn from(values: Vec<BlockRange>) -> Self {
        let mut ranges = Ranges::with_capacity(values.len());
        for range in &values {
            let digest = range.checksum.as_ref().map(Digest::as_bytes);
            if ranges.push(range.first, range.last, digest).is_err() {
                let _ = ranges.push(range.first, range.last, None);
            }
        }
        ranges
    }
}

/// The ranges of a [`Ranges`], as values.
pub struct RangesIter<'a> {
    ranges: &'a Ranges,
    next: usize,
}

impl Iterator for RangesIter<'_> {
    type Item = BlockRange;

    fn next(&mut self) -> Option<BlockRange> {
        let range = self.ranges.get(self.next)?;
        self.next += 1;
        Some(range)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.ranges.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for RangesIter<'_> {}

impl<'a> IntoIterator for &'a Ranges {
    type Item = BlockRange;
    type IntoIter = RangesIter<'a>;

    fn into_iter(self) -> RangesIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u64, last: u64, digest: Option<&[u8]>) -> BlockRange {
        BlockRange {
            first,
            last,
            checksum: digest.map(Digest::from_bytes),
        }
    }

    #[test]
    fn digests_may_be_on_all_some_or_none() {
        let values = vec![
            range(0, 1, None),
            range(3, 3, Some(&[1, 2])),
            range(5, 9, None),
            range(70, 80, Some(&[3, 4])),
        ];
        let ranges = Ranges::from(values.clone());
        assert_eq!(ranges.iter().collect::<Vec<_>>(), values);
        assert_eq!(ranges.checksum(3), Some(&[3, 4][..]));
        assert_eq!(ranges.checksum(2), None);
        assert_eq!(ranges.blocks(2), Some((5, 9)));
        assert_eq!(ranges.last(), Some(range(70, 80, Some(&[3, 4]))));
        assert_eq!(ranges.get(4), None);

        let bare = Ranges::from(vec![range(0, 0, None), range(2, 2, None)]);
        assert_eq!(bare.checksum(0), None);
        assert_eq!(bare.heap_bytes(), 32);
    }

    #[test]
    fn a_digest_of_another_length_is_refused() {
        let mut ranges = Ranges::default();
        assert_eq!(ranges.push(0, 0, Some(&[1, 2, 3])), Ok(()));
        assert_eq!(ranges.push(1, 1, Some(&[1, 2])), Err(OtherLength));
        assert_eq!(ranges.len(), 1);
    }

    #[test]
    fn a_range_takes_16_bytes_plus_its_digest() {
        let mut ranges = Ranges::with_capacity(1000);
        for i in 0..1000 {
            ranges.push(2 * i, 2 * i, Some(&[7; 32])).expect("push");
        }
        assert_eq!(ranges.heap_bytes(), 1000 * (16 + 32));
    }
}
