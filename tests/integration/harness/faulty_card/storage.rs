//! Where the faulty disk keeps the bytes of a request, and what it gives back: the faults of
//! counterfeit and failing cards ([`Faults::wrap_from`] and those after it), applied to each
//! request once the other faults have let it through.
//!
//! A request's device offsets are first mapped to *physical* ones (`wrap_from`); every other
//! fault here is about physical offsets, as a card's flash is: a card that wraps at N and loses
//! writes from F < N stores nothing at F..N, nor at any offset that wraps into F..N.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::Faults;

/// The sector size of [`Faults::corrupt_writes`]: one byte of each sector touched is changed.
pub const CORRUPT_SECTOR: u64 = 512;

/// One piece of a request: `len` bytes at `at` within it, kept at `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    at: usize,
    physical: u64,
    len: usize,
}

/// The physical pieces of `len` bytes at device offset `offset`: one piece, or several where
/// the request crosses multiples of the wrap.
fn pieces(offset: u64, len: usize, wrap: Option<u64>) -> Vec<Piece> {
    let Some(n) = wrap.filter(|&n| n > 0) else {
        return vec![Piece {
            at: 0,
            physical: offset,
            len,
        }];
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < len {
        let device = offset + at as u64;
        let physical = device % n;
        // Up to the next multiple of n, where the mapping starts over.
        let room = usize::try_from(n - physical).unwrap_or(usize::MAX);
        let take = room.min(len - at);
        out.push(Piece {
            at,
            physical,
            len: take,
        });
        at += take;
    }
    out
}

/// Whether a write to physical offset `p` is thrown away.
fn dropped(faults: &Faults, p: u64) -> bool {
    faults.lose_writes_from.is_some_and(|f| p >= f)
        || faults.stale_from.is_some_and(|f| p >= f)
        || faults.bad_region.as_ref().is_some_and(|r| r.contains(&p))
}

/// Splits `start..end` (physical) where [`dropped`] changes, keeping the stored parts.
fn kept(faults: &Faults, start: u64, end: u64) -> Vec<Range<u64>> {
    let mut cuts = vec![start, end];
    let points = [faults.lose_writes_from, faults.stale_from]
        .into_iter()
        .flatten()
        .chain(faults.bad_region.iter().flat_map(|r| [r.start, r.end]));
    cuts.extend(points.filter(|&p| p > start && p < end));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| w[0]..w[1])
        .filter(|r| !dropped(faults, r.start))
        .collect()
}

/// Which sectors of the corrupt range were corrupted once already (for "first write only").
#[derive(Debug, Default)]
pub struct Corrupted(Vec<u64>);

impl Corrupted {
    /// Marks sector `index` of the range; whether it was marked before.
    fn mark(&mut self, index: u64) -> bool {
        let (word, bit) = (
            usize::try_from(index / 64).unwrap_or(usize::MAX),
            index % 64,
        );
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        let before = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        before
    }
}

/// Changes `data`, bound for physical `start..`, as [`Faults::corrupt_writes`] says.
fn corrupt(faults: &Faults, start: u64, data: &mut [u8], corrupted: &mut Corrupted) {
    let Some((range, first_only)) = &faults.corrupt_writes else {
        return;
    };
    let end = start + data.len() as u64;
    let from = start.max(range.start);
    let to = end.min(range.end);
    let mut pos = from;
    while pos < to {
        let sector = (pos - range.start) / CORRUPT_SECTOR;
        let again = corrupted.mark(sector);
        if !(*first_only && again) {
            data[usize::try_from(pos - start).expect("fits")] ^= 0xFF;
        }
        // The next sector of the range.
        pos = range.start + (sector + 1) * CORRUPT_SECTOR;
    }
}

/// Stores a write of `data` at device offset `offset`, with the faults of this module.
pub fn write(
    backing: &File,
    faults: &Faults,
    corrupted: &mut Corrupted,
    offset: u64,
    data: &[u8],
) -> io::Result<()> {
    for piece in pieces(offset, data.len(), faults.wrap_from) {
        let end = piece.physical + piece.len as u64;
        for part in kept(faults, piece.physical, end) {
            let from = piece.at + usize::try_from(part.start - piece.physical).expect("fits");
            let len = usize::try_from(part.end - part.start).expect("fits");
            let mut bytes = data[from..from + len].to_vec();
            corrupt(faults, part.start, &mut bytes, corrupted);
            backing.write_all_at(&bytes, part.start)?;
        }
    }
    Ok(())
}

/// Reads `buf.len()` bytes at device offset `offset`, with the faults of this module: what
/// is at the physical offsets, and zeros past [`Faults::lose_writes_from`].
pub fn read(backing: &File, faults: &Faults, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    for piece in pieces(offset, buf.len(), faults.wrap_from) {
        let out = &mut buf[piece.at..piece.at + piece.len];
        backing.read_exact_at(out, piece.physical)?;
        if let Some(from) = faults.lose_writes_from {
            let zero_from = usize::try_from(from.saturating_sub(piece.physical))
                .unwrap_or(usize::MAX)
                .min(out.len());
            out[zero_from..].fill(0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_crossing_the_wrap_are_split() {
        assert_eq!(
            pieces(90, 30, Some(100)),
            [
                Piece {
                    at: 0,
                    physical: 90,
                    len: 10
                },
                Piece {
                    at: 10,
                    physical: 0,
                    len: 20
                }
            ]
        );
        assert_eq!(pieces(250, 10, Some(100))[0].physical, 50);
        assert_eq!(pieces(250, 10, None)[0].physical, 250);
    }

    #[test]
    fn dropped_parts_are_cut_out() {
        let faults = Faults {
            lose_writes_from: Some(1000),
            bad_region: Some(200..300),
            ..Faults::default()
        };
        assert_eq!(kept(&faults, 100, 1200), [100..200, 300..1000]);
    }

    #[test]
    fn first_only_corrupts_each_sector_once() {
        let faults = Faults {
            corrupt_writes: Some((1024..2048, true)),
            ..Faults::default()
        };
        let mut corrupted = Corrupted::default();
        let mut data = vec![0u8; 2048];
        corrupt(&faults, 0, &mut data, &mut corrupted);
        let flipped: Vec<usize> = (0..2048).filter(|&i| data[i] != 0).collect();
        assert_eq!(flipped, [1024, 1536]);
        let mut again = vec![0u8; 1024];
        corrupt(&faults, 1024, &mut again, &mut corrupted);
        assert!(again.iter().all(|&b| b == 0));
        // A write starting inside a sector changes its own first byte there.
        let faults = Faults {
            corrupt_writes: Some((0..1024, false)),
            ..Faults::default()
        };
        let mut part = vec![0u8; 100];
        corrupt(&faults, 600, &mut part, &mut Corrupted::default());
        assert_eq!(part[0], 0xFF);
        assert!(part[1..].iter().all(|&b| b == 0));
    }
}
