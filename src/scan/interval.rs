//! Sets of byte ranges: the free space proven by parsers, and its complement, the mapped
//! blocks.

/// Half-open byte ranges, kept sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `start..end` (ignored when empty).
    pub fn add(&mut self, start: u64, end: u64) {
        if start < end {
            self.0.push((start, end));
        }
    }

    /// Sorts and merges overlapping or touching ranges.
    pub fn normalize(&mut self) {
        self.0.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(start, end) in &self.0 {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        self.0 = merged;
    }

    /// The ranges, sorted and merged if [`Ranges::normalize`] was called.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// The set shrunk to whole `block`-aligned blocks: a block touching any byte outside the
    /// set is dropped, so everything left is free from its first byte to its last.
    pub fn round_inward(&self, block: u64) -> Ranges {
        let mut out = Ranges::new();
        for &(start, end) in &self.0 {
            let start = start.div_ceil(block).saturating_mul(block);
            let end = end / block * block;
            out.add(start, end);
        }
        out.normalize();
        out
    }

    /// Only the parts inside `start..end`.
    pub fn clamp(&self, start: u64, end: u64) -> Ranges {
        let mut out = Ranges::new();
        for &(s, e) in &self.0 {
            out.add(s.max(start), e.min(end));
        }
        out
    }

    /// The same ranges moved by `offset`.
    pub fn shifted(&self, offset: u64) -> Ranges {
        Ranges(
            self.0
                .iter()
                .map(|&(s, e)| (s.saturating_add(offset), e.saturating_add(offset)))
                .collect(),
        )
    }

    /// Removes every byte of `other` from this set (both normalized).
    pub fn subtract(&self, other: &Ranges) -> Ranges {
        let mut out = Ranges::new();
        for &(start, end) in &self.0 {
            let mut at = start;
            for &(os, oe) in &other.0 {
                if oe <= at || os >= end {
                    continue;
                }
                out.add(at, os.min(end));
                at = at.max(oe);
            }
            out.add(at, end);
        }
        out.normalize();
        out
    }

    /// The complement within `0..size`.
    pub fn complement(&self, size: u64) -> Ranges {
        let mut out = Ranges::new();
        let mut at = 0;
        for &(start, end) in &self.0 {
            out.add(at, start.min(size));
            at = at.max(end);
        }
        out.add(at, size);
        out
    }
}

impl FromIterator<(u64, u64)> for Ranges {
    fn from_iter<I: IntoIterator<Item = (u64, u64)>>(iter: I) -> Self {
        let mut set = Ranges::new();
        for (s, e) in iter {
            set.add(s, e);
        }
        set.normalize();
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_round_subtract_complement() {
        let set: Ranges = [(10, 20), (0, 5), (5, 8), (30, 40)].into_iter().collect();
        assert_eq!(set.as_slice(), [(0, 8), (10, 20), (30, 40)]);
        assert_eq!(set.total(), 28);
        let blocks: Ranges = [(1000, 9200), (12_288, 16_384)].into_iter().collect();
        assert_eq!(
            blocks.round_inward(4096).as_slice(),
            [(4096, 8192), (12_288, 16_384)]
        );
        let minus: Ranges = [(15, 35)].into_iter().collect();
        assert_eq!(
            set.subtract(&minus).as_slice(),
            [(0, 8), (10, 15), (35, 40)]
        );
        assert_eq!(set.complement(50).as_slice(), [(8, 10), (20, 30), (40, 50)]);
        assert_eq!(set.clamp(4, 12).as_slice(), [(4, 8), (10, 12)]);
    }
}
