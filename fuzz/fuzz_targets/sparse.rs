//! The scanner targets' input: a sparse image, so that a seed can be a whole filesystem of
//! hundreds of MiB (XFS logs and btrfs trees sit far from the start) in a few KiB:
//!
//! ```text
//!  image length (u64 LE), then extents: offset (u64 LE), length (u32 LE), bytes
//! ```
//!
//! Everything outside the extents reads as zeros; a truncated extent keeps what is there.
//! Seeds are the data extents of real images (see fuzz/seeds.sh).
//!
//! Shared by the scan targets through `#[path]`; each uses a part of it.
#![allow(dead_code)]

use std::io::{self, Read};

use blockprint::source::RandomAccess;

/// Images are at most 1 TiB (reads past the extents are zeros and cost nothing).
const MAX_LEN: u64 = 1 << 40;

/// A sparse image held in memory.
pub struct Sparse {
    /// The image length.
    pub len: u64,
    /// (offset, bytes), sorted by offset, non-overlapping.
    extents: Vec<(u64, Vec<u8>)>,
}

impl Sparse {
    /// Reads the input format; `None` if it is too short for a length.
    pub fn parse(mut data: &[u8]) -> Option<Sparse> {
        let len = u64::from_le_bytes(take::<8>(&mut data)?) % (MAX_LEN + 1);
        let mut extents: Vec<(u64, Vec<u8>)> = Vec::new();
        while let (Some(offset), Some(n)) = (take::<8>(&mut data), take::<4>(&mut data)) {
            let offset = u64::from_le_bytes(offset);
            let n = (u32::from_le_bytes(n) as usize).min(data.len());
            let (bytes, rest) = data.split_at(n);
            data = rest;
            let end = extents.last().map_or(0, |(at, b)| at + b.len() as u64);
            // Out of order, overlapping or past the end: dropped.
            if offset >= end && offset.saturating_add(n as u64) <= len {
                extents.push((offset, bytes.to_vec()));
            }
        }
        Some(Sparse { len, extents })
    }
}

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    *data = rest;
    Some(*head)
}

impl RandomAccess for Sparse {
    fn name(&self) -> &str {
        "fuzz.img"
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.fill(0);
        for (at, bytes) in &self.extents {
            let (from, to) = (offset.max(*at), end.min(at + bytes.len() as u64));
            if from < to {
                let src = &bytes[(from - at) as usize..(to - at) as usize];
                buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
            }
        }
        Ok(())
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        // The scanner reads with read_exact_at only; bound what a stream may hold anyway.
        let len = usize::try_from(len.min(1 << 20)).unwrap_or(0);
        let mut buf = vec![0; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(Box::new(io::Cursor::new(buf)))
    }
}

/// The invariants of any verdict: free ranges inside the region, non-empty.
pub fn check_free(free: &[(u64, u64)], len: u64) {
    assert!(free.iter().all(|&(start, end)| start < end && end <= len));
}

/// Runs one filesystem parser on the input, as if it had claimed it.
pub fn fuzz_parser(name: &str, data: &[u8]) {
    let Some(image) = Sparse::parse(data) else {
        return;
    };
    match blockprint::scan::scan_as(name, &image) {
        Some(blockprint::scan::Verdict::Free { free, .. }) => check_free(&free, image.len),
        Some(blockprint::scan::Verdict::MapWhole { .. }) => {}
        None => panic!("no parser called {name}"),
    }
}
