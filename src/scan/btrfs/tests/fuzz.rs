//! Deterministic mutations of a valid image, scanned through an overlay (the image file is
//! never written): any verdict is acceptable, a panic or a free range outside the region is
//! not.

use std::io;
use std::path::Path;
use std::time::Instant;

use super::oracle::Dump;
use super::{mkfs_image, path_str};

use crate::scan::Verdict;
use crate::scan::btrfs::checksum::crc32c;
use crate::scan::testing::noise;
use crate::source::{LocalFile, RandomAccess};

/// A view of an image with some bytes replaced and possibly cut short.
pub(super) struct Mutant<'a> {
    pub base: &'a LocalFile,
    pub patches: Vec<(u64, Vec<u8>)>,
    pub len: u64,
}

impl RandomAccess for Mutant<'_> {
    fn name(&self) -> &str {
        "mutant"
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end"));
        }
        self.base.read_exact_at(offset, buf)?;
        let end = offset + buf.len() as u64;
        for (at, bytes) in &self.patches {
            let from = (*at).max(offset);
            let to = (at + bytes.len() as u64).min(end);
            if from < to {
                buf[(from - offset) as usize..(to - offset) as usize]
                    .copy_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
            }
        }
        Ok(())
    }

    fn stream(&self, _: u64, _: u64) -> io::Result<Box<dyn io::Read + Send>> {
        Err(io::Error::other("not streamed"))
    }
}

/// A small xorshift generator: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Applies a patch to a block copy and recomputes its CRC32C in the overlay.
fn patched_block(
    base: &LocalFile,
    at: u64,
    len: usize,
    pos: usize,
    bytes: &[u8],
) -> (u64, Vec<u8>) {
    let mut block = vec![0u8; len];
    base.read_exact_at(at, &mut block).expect("read block");
    let end = (pos + bytes.len()).min(len);
    block[pos..end].copy_from_slice(&bytes[..end - pos]);
    let crc = crc32c(&block[32..]);
    block[..4].copy_from_slice(&crc.to_le_bytes());
    (at, block)
}

/// Runs `count` mutations of `image`, whose tree blocks (every copy) are at `blocks`.
pub(super) fn mutate(image: &Path, blocks: &[u64], nodesize: usize, count: u64) -> (u64, u64) {
    let base = LocalFile::open(image).expect("open");
    let mut rng = Rng(0x005E_ED0F_B7F5);
    let (mut free, mut whole) = (0, 0);
    for case in 0..count {
        let mut patches = Vec::new();
        let mut len = base.len();
        for _ in 0..1 + rng.below(3) {
            let value = if rng.below(2) == 0 {
                vec![rng.next() as u8]
            } else {
                rng.next().to_le_bytes().to_vec()
            };
            match rng.below(10) {
                // Superblock fields, checksum fixed so the parser goes on.
                0..=2 => {
                    let pos = 32 + rng.below(0xDCB - 32) as usize;
                    patches.push(patched_block(&base, 0x10000, 4096, pos, &value));
                }
                // The bootstrap chunk array.
                3 => {
                    let pos = 0x32B + rng.below(200) as usize;
                    patches.push(patched_block(&base, 0x10000, 4096, pos, &value));
                }
                // Tree blocks: mostly the header and item area, checksum fixed.
                4..=7 => {
                    let at = blocks[rng.below(blocks.len() as u64) as usize];
                    let span = if rng.below(3) == 0 {
                        nodesize as u64 - 40
                    } else {
                        400
                    };
                    let pos = 32 + rng.below(span) as usize;
                    patches.push(patched_block(&base, at, nodesize, pos, &value));
                }
                // Raw damage anywhere in the metadata, checksum left wrong.
                8 => {
                    let at = blocks[rng.below(blocks.len() as u64) as usize]
                        + rng.below(nodesize as u64);
                    patches.push((at, value));
                }
                _ => len = rng.below(len),
            }
        }
        let mutant = Mutant {
            base: &base,
            patches,
            len,
        };
        let verdict = std::panic::catch_unwind(|| super::super::scan(&mutant))
            .unwrap_or_else(|_| panic!("mutation {case} made the scan panic"));
        match verdict {
            Verdict::Free { free: ranges, .. } => {
                assert!(
                    ranges.iter().all(|&(s, e)| s <= e && e <= len),
                    "mutation {case}: free range outside the region"
                );
                free += 1;
            }
            Verdict::MapWhole { .. } => whole += 1,
        }
    }
    (free, whole)
}

/// A few thousand mutations of a small image (4 KiB nodes, a few files, so that each scan is
/// quick): superblock fields, the bootstrap chunks, tree block headers and items (checksums
/// fixed so the parser goes deep), raw damage and truncation.
#[test]
fn mutations_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    for i in 0..24u64 {
        let sub = src.join(format!("d{}", i % 4));
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::write(
            sub.join(format!("f{i}")),
            noise(i, (i as usize * 1733) % 20_000),
        )
        .expect("file");
    }
    std::os::unix::fs::symlink("d0/f0", src.join("link")).expect("symlink");
    let img = mkfs_image(dir.path(), &src, 256 << 20, &["-n", "4096"]);
    let dump = Dump::read(&img);
    let blocks: Vec<u64> = dump
        .extents
        .iter()
        .filter(|&&(_, len)| len == dump.nodesize)
        .flat_map(|&(at, _)| dump.physical(at))
        .collect();
    let started = Instant::now();
    let (free, whole) = mutate(&img, &blocks, 4096, 3000);
    eprintln!(
        "3000 mutations of {} ({} tree block copies): {free} free verdicts, {whole} mapped whole, {:.1} s",
        path_str(&img),
        blocks.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        free > 0 && whole > 0,
        "the mutations should reach both outcomes"
    );
}
