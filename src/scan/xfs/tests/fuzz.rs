//! Never panics: thousands of deterministic mutations of small valid images (v5 and v4)
//! through `scan`. Any verdict is fine; a panic, a hang or a free range outside the region
//! is not. Half of the mutations of checksummed blocks fix the checksum afterwards, so that
//! they reach the checks behind it.

use std::io;
use std::time::Instant;

use super::super::{crc32c, scan};
use super::{make_image, tree};
use crate::scan::Verdict;
use crate::source::RandomAccess;

/// An image in memory whose visible length can be cut.
pub(in crate::scan) struct Mem {
    pub data: Vec<u8>,
    pub len: u64,
}

impl RandomAccess for Mem {
    fn name(&self) -> &str {
        "mutated image"
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len);
        let range = end.map(|end| offset as usize..end as usize);
        match range.and_then(|r| self.data.get(r)) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end")),
        }
    }

    fn stream(&self, _: u64, _: u64) -> io::Result<Box<dyn io::Read + Send>> {
        Err(io::Error::other("not streamed"))
    }
}

fn be32(data: &[u8], at: u64) -> u64 {
    let at = at as usize;
    u64::from(u32::from_be_bytes(
        data[at..at + 4].try_into().expect("4 bytes"),
    ))
}

/// Metadata worth mutating: `(start, length, checksum field)` for every AG's headers and
/// free-space btree roots, and the log's first blocks.
fn targets(data: &[u8], v5: bool) -> Vec<(u64, u64, Option<u64>)> {
    let block = be32(data, 4);
    let sector = u64::from(u16::from_be_bytes([data[102], data[103]]));
    let (ag_blocks, ag_count) = (be32(data, 84), be32(data, 88));
    let crc = |at: u64| v5.then_some(at);
    let mut out = Vec::new();
    for ag in 0..ag_count {
        let start = ag * ag_blocks * block;
        out.push((start, sector, crc(224)));
        out.push((start + sector, sector, crc(216)));
        out.push((start + 3 * sector, sector, crc(32)));
        for root in [
            be32(data, start + sector + 16),
            be32(data, start + sector + 20),
        ] {
            out.push((start + root * block, block, crc(52)));
        }
    }
    let log_fsb = u64::from_be_bytes(data[48..56].try_into().expect("8 bytes"));
    let ag_log = u32::from(data[124]);
    let log = ((log_fsb >> ag_log) * ag_blocks + (log_fsb & ((1 << ag_log) - 1))) * block;
    out.push((log, 8192, None));
    out
}

fn mutate(image: Vec<u8>, v5: bool, rounds: usize, seed: u64) {
    let targets = targets(&image, v5);
    let len = image.len() as u64;
    let mut mem = Mem { data: image, len };
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut free_verdicts = 0;
    for round in 0..rounds {
        let (start, size, crc) = targets[(next() % targets.len() as u64) as usize];
        let saved = mem.data[start as usize..(start + size) as usize].to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (start + next() % size) as usize;
            mem.data[at] ^= 1 + (next() % 255) as u8;
        }
        if let Some(field) = crc.filter(|_| next() % 2 == 0) {
            let block = &mem.data[start as usize..(start + size) as usize];
            let sum = crc32c::with_field_zeroed(block, field as usize).expect("crc");
            let at = (start + field) as usize;
            mem.data[at..at + 4].copy_from_slice(&sum.to_le_bytes());
        }
        mem.len = if round % 10 == 0 { next() % len } else { len };
        if let Verdict::Free { free, .. } = scan(&mem) {
            assert!(
                free.iter().all(|&(s, e)| s <= e && e <= mem.len),
                "round {round}: range outside"
            );
            free_verdicts += 1;
        }
        mem.data[start as usize..(start + size) as usize].copy_from_slice(&saved);
    }
    eprintln!("{rounds} mutations (v5: {v5}): {free_verdicts} still gave free space");
}

#[test]
fn mutations_never_panic() {
    let started = Instant::now();
    for (v5, args) in [(true, &[][..]), (false, &["-m", "crc=0"][..])] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = vec!["-l", "size=1368b"];
        all.extend_from_slice(args);
        let envs = [("TEST_DIR", "1"), ("TEST_DEV", "1"), ("QA_CHECK_FS", "1")];
        let image = make_image(dir.path(), &tree(dir.path()), 64 << 20, &all, &envs);
        let bytes = std::fs::read(&image).expect("image");
        assert!(matches!(
            scan(&Mem {
                len: bytes.len() as u64,
                data: bytes.clone()
            }),
            Verdict::Free { .. }
        ));
        mutate(bytes, v5, 1500, if v5 { 0x5EED } else { 0xF00D });
    }
    eprintln!("mutations took {:?}", started.elapsed());
}
