//! What the probe and the surface test write: blocks and sectors that say where they belong
//! and to which run, so that one read back in the wrong place, from an earlier run or from an
//! earlier pass is told apart from one that is intact.
//!
//! Nothing written here may be taken for a partition table or a GPT header by whoever reads
//! the drive next: no 512-byte sector ends in `55 AA`, and none starts with `EFI PART`
//! ([`defuse`]).

/// The probe's unit of writing: one self-identifying block.
pub(crate) const BLOCK: usize = 4096;
/// [`BLOCK`] as a byte count of the device.
pub(crate) const BLOCK_BYTES: u64 = BLOCK as u64;
/// The granularity of [`defuse`]: every sector size in use is a multiple of it.
pub(crate) const SECTOR: usize = 512;

/// How a probe block begins.
const MAGIC: [u8; 8] = *b"BPPROBE1";
/// Where the checksum of a probe block is kept (computed with these bytes zero).
const CHECKSUM_AT: usize = 32;
/// Where a probe block's pseudo-random filling starts.
const PAYLOAD_AT: usize = 40;

/// What a probe block is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A sample, whose read-back tells something.
    Sample,
    /// Filling written between a pass's samples and their read-back, to push them out of a
    /// device's RAM cache.
    Filler,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Sample => 1,
            Kind::Filler => 2,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Kind::Sample),
            2 => Some(Kind::Filler),
            _ => None,
        }
    }
}

/// What a block read back from the drive turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole block of this run.
    Ours {
        /// The offset it was written for.
        offset: u64,
        /// The pass that wrote it.
        pass: u32,
        /// Sample or filler.
        kind: Kind,
    },
    /// A block of this run whose checksum fails: damaged on the way or in the flash.
    Damaged,
    /// All zeros.
    Zeros,
    /// Anything else: old data, another run's blocks, garbage.
    Foreign,
}

/// A stream of pseudo-random words (SplitMix64), the same for the same seed.
pub(crate) struct Stream(u64);

impl Stream {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Fills `out` (any length) with the stream's bytes.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_word().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let word = self.next_word().to_le_bytes();
        rest.copy_from_slice(&word[..rest.len()]);
    }
}

/// A 64-bit finaliser (from SplitMix64): every input bit changes about half the output bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A checksum of `data` (a multiple of 8 bytes long; a tail is folded in byte by byte).
fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    for &byte in words.remainder() {
        h = (h.rotate_left(23) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    mix(h)
}

/// Makes sure no 512-byte sector of `data` (which starts on a sector boundary) ends in the
/// MBR signature `55 AA` or starts with a GPT header's `EFI PART`: changes one byte where one
/// would, deterministically, so that the same content is made again for comparison.
pub(crate) fn defuse(data: &mut [u8]) {
    for sector in data.chunks_mut(SECTOR) {
        if sector.len() == SECTOR && sector[SECTOR - 2..] == [0x55, 0xAA] {
            sector[SECTOR - 1] = 0xAB;
        }
        if sector.len() >= 8 && sector[..8] == *b"EFI PART" {
            sector[0] = b'e';
        }
    }
}

/// Whether `data` has a sector that looks like a boot sector or a GPT header (what
/// [`defuse`] prevents).
#[cfg(test)]
pub(crate) fn looks_like_a_table(data: &[u8]) -> bool {
    data.chunks(SECTOR).any(|sector| {
        (sector.len() == SECTOR && sector[SECTOR - 2..] == [0x55, 0xAA])
            || (sector.len() >= 8 && sector[..8] == *b"EFI PART")
    })
}

/// Writes the probe block for `offset` into `out` ([`BLOCK`] bytes): magic, run tag, offset,
/// pass, kind, checksum, then a filling drawn from all of them.
pub(crate) fn probe_block(out: &mut [u8], tag: u64, offset: u64, pass: u32, kind: Kind) {
    let out = &mut out[..BLOCK];
    out[..8].copy_from_slice(&MAGIC);
    out[8..16].copy_from_slice(&tag.to_le_bytes());
    out[16..24].copy_from_slice(&offset.to_le_bytes());
    out[24..28].copy_from_slice(&pass.to_le_bytes());
    out[28..32].copy_from_slice(&kind.code().to_le_bytes());
    out[CHECKSUM_AT..PAYLOAD_AT].fill(0);
    let seed = mix(tag ^ mix(offset ^ mix(u64::from(pass) << 8 | u64::from(kind.code()))));
    Stream::new(seed).fill(&mut out[PAYLOAD_AT..]);
    defuse(out);
    let sum = checksum(out);
    out[CHECKSUM_AT..PAYLOAD_AT].copy_from_slice(&sum.to_le_bytes());
}

/// What the [`BLOCK`] bytes of `data` are, for a run tagged `tag`.
pub(crate) fn parse_block(data: &[u8], tag: u64) -> Parsed {
    let Some(data) = data.get(..BLOCK) else {
        return Parsed::Foreign;
    };
    if data[..8] != MAGIC || word(data, 8) != tag {
        return if data.iter().all(|&b| b == 0) {
            Parsed::Zeros
        } else {
            Parsed::Foreign
        };
    }
    let mut copy = [0u8; BLOCK];
    copy.copy_from_slice(data);
    copy[CHECKSUM_AT..PAYLOAD_AT].fill(0);
    let kind = u32::try_from(word(data, 24) & 0xFFFF_FFFF).ok().zip(
        u32::try_from(word(data, 24) >> 32)
            .ok()
            .and_then(Kind::from_code),
    );
    match kind {
        Some((pass, kind)) if checksum(&copy) == word(data, CHECKSUM_AT) => Parsed::Ours {
            offset: word(data, 16),
            pass,
            kind,
        },
        _ => Parsed::Damaged,
    }
}

/// The little-endian word at `at` of `data` (0 past its end).
fn word(data: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    if let Some(bytes) = data.get(at..at + 8) {
        w.copy_from_slice(bytes);
    }
    u64::from_le_bytes(w)
}

/// The surface test's content of the sector at byte `offset`: the offset, the run tag, then
/// a filling drawn from both ([`SECTOR`] bytes into `out`).
pub(crate) fn surface_sector(out: &mut [u8], tag: u64, offset: u64) {
    let out = &mut out[..SECTOR];
    out[..8].copy_from_slice(&offset.to_le_bytes());
    out[8..16].copy_from_slice(&tag.to_le_bytes());
    Stream::new(mix(tag ^ mix(offset))).fill(&mut out[16..]);
    defuse(out);
}

/// Fills `out` (a multiple of [`SECTOR`] long) with the surface sectors from byte `offset` on.
pub(crate) fn surface_fill(out: &mut [u8], tag: u64, offset: u64) {
    for (i, sector) in out.chunks_exact_mut(SECTOR).enumerate() {
        surface_sector(sector, tag, offset + (i * SECTOR) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_as_what_it_was_written_for() {
        let mut block = [0u8; BLOCK];
        probe_block(&mut block, 77, 5 << 20, 2, Kind::Sample);
        assert_eq!(
            parse_block(&block, 77),
            Parsed::Ours {
                offset: 5 << 20,
                pass: 2,
                kind: Kind::Sample
            }
        );
        // Another run's block is old data; a flipped bit is damage; zeros are zeros.
        assert_eq!(parse_block(&block, 78), Parsed::Foreign);
        block[1000] ^= 4;
        assert_eq!(parse_block(&block, 77), Parsed::Damaged);
        assert_eq!(parse_block(&[0; BLOCK], 77), Parsed::Zeros);
        assert_eq!(parse_block(&[0xFF; BLOCK], 77), Parsed::Foreign);
        assert_eq!(parse_block(&[0; 100], 77), Parsed::Foreign);
    }

    #[test]
    fn blocks_differ_by_offset_pass_and_kind() {
        let make = |offset, pass, kind| {
            let mut block = [0u8; BLOCK];
            probe_block(&mut block, 1, offset, pass, kind);
            block
        };
        let a = make(0, 1, Kind::Sample);
        assert_ne!(a[PAYLOAD_AT..], make(4096, 1, Kind::Sample)[PAYLOAD_AT..]);
        assert_ne!(a[PAYLOAD_AT..], make(0, 2, Kind::Sample)[PAYLOAD_AT..]);
        assert_ne!(a[PAYLOAD_AT..], make(0, 1, Kind::Filler)[PAYLOAD_AT..]);
        assert_eq!(a, make(0, 1, Kind::Sample));
    }

    #[test]
    fn nothing_written_looks_like_a_partition_table() {
        // Over many blocks and sectors, some random filling must have hit the signatures
        // (one sector in 65536 ends in 55 AA): none is left.
        let mut block = [0u8; BLOCK];
        for offset in 0..8_000u64 {
            probe_block(&mut block, 9, offset * 4096, 1, Kind::Sample);
            assert!(!looks_like_a_table(&block), "block {offset}");
        }
        let mut sectors = vec![0u8; 1 << 20];
        for chunk in 0..8u64 {
            surface_fill(&mut sectors, 3, chunk << 20);
            assert!(!looks_like_a_table(&sectors), "chunk {chunk}");
        }
        let mut forged = [0u8; 1024];
        forged[510] = 0x55;
        forged[511] = 0xAA;
        forged[512..520].copy_from_slice(b"EFI PART");
        defuse(&mut forged);
        assert!(!looks_like_a_table(&forged));
    }

    #[test]
    fn surface_sectors_name_their_offset_and_run() {
        let mut a = [0u8; SECTOR];
        let mut b = [0u8; SECTOR];
        surface_sector(&mut a, 5, 512);
        surface_sector(&mut b, 5, 1024);
        assert_ne!(a[16..], b[16..]);
        assert_eq!(a[..8], 512u64.to_le_bytes());
        surface_sector(&mut b, 6, 512);
        assert_ne!(a, b);
        let mut two = [0u8; 2 * SECTOR];
        surface_fill(&mut two, 5, 0);
        surface_sector(&mut b, 5, 512);
        assert_eq!(two[SECTOR..], a);
    }
}
