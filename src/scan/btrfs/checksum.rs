//! The four checksums btrfs puts on its superblocks and tree blocks.
//!
//! A block is trusted only when its checksum matches, so every kind mkfs.btrfs offers is
//! implemented rather than refused: CRC32C (the default), xxHash64, SHA-256 (from `sha2`) and
//! BLAKE2b-256. Each covers the block from byte 32 (just past the checksum field) to its end
//! and is stored little-endian at the start of the field.

use sha2::{Digest as _, Sha256};

pub(super) use crate::scan::crc32c::checksum as crc32c;

/// Bytes of a block before the checksummed part: the checksum field itself.
pub(super) const CSUM_FIELD: usize = 32;

/// The checksum algorithm of a filesystem (superblock `csum_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsumType {
    Crc32c,
    XxHash64,
    Sha256,
    Blake2b,
}

impl CsumType {
    /// The algorithm numbered `raw` on disk, if it is one btrfs defines.
    pub(super) fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            0 => Some(Self::Crc32c),
            1 => Some(Self::XxHash64),
            2 => Some(Self::Sha256),
            3 => Some(Self::Blake2b),
            _ => None,
        }
    }

    /// The name btrfs-progs uses, for notes.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Crc32c => "crc32c",
            Self::XxHash64 => "xxhash64",
            Self::Sha256 => "sha256",
            Self::Blake2b => "blake2b",
        }
    }

    /// The digest of `data`, and how many of its bytes are stored.
    pub(super) fn digest(self, data: &[u8]) -> ([u8; 32], usize) {
        let mut out = [0u8; 32];
        match self {
            Self::Crc32c => {
                out[..4].copy_from_slice(&crc32c(data).to_le_bytes());
                (out, 4)
            }
            Self::XxHash64 => {
                out[..8].copy_from_slice(&xxh64(data).to_le_bytes());
                (out, 8)
            }
            Self::Sha256 => {
                out.copy_from_slice(&Sha256::digest(data));
                (out, 32)
            }
            Self::Blake2b => (blake2b_256(data), 32),
        }
    }

    /// Whether `block` (a superblock or tree block) carries the right checksum. Bytes of the
    /// field past the digest length are not compared: btrfs ignores them too.
    pub(super) fn verify(self, block: &[u8]) -> bool {
        let Some((stored, covered)) = block.split_at_checked(CSUM_FIELD) else {
            return false;
        };
        let (digest, len) = self.digest(covered);
        stored.get(..len) == digest.get(..len)
    }
}

const XXH_P1: u64 = 0x9E37_79B1_85EB_CA87;
const XXH_P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const XXH_P3: u64 = 0x1656_67B1_9E37_79F9;
const XXH_P4: u64 = 0x85EB_CA77_C2B2_AE63;
const XXH_P5: u64 = 0x27D4_EB2F_1656_67C5;

fn xxh_round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(XXH_P2))
        .rotate_left(31)
        .wrapping_mul(XXH_P1)
}

fn xxh_merge(acc: u64, lane: u64) -> u64 {
    (acc ^ xxh_round(0, lane))
        .wrapping_mul(XXH_P1)
        .wrapping_add(XXH_P4)
}

fn word64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// xxHash64 with seed 0, as btrfs uses it.
pub(super) fn xxh64(data: &[u8]) -> u64 {
    let mut stripes = data.chunks_exact(32);
    let mut h = if data.len() >= 32 {
        let mut v = [
            XXH_P1.wrapping_add(XXH_P2),
            XXH_P2,
            0,
            0u64.wrapping_sub(XXH_P1),
        ];
        for s in &mut stripes {
            for (lane, acc) in v.iter_mut().enumerate() {
                *acc = xxh_round(*acc, word64(&s[lane * 8..]));
            }
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = xxh_merge(h, lane);
        }
        h
    } else {
        XXH_P5
    };
    h = h.wrapping_add(data.len() as u64);
    let mut rest = stripes.remainder();
    while rest.len() >= 8 {
        h = (h ^ xxh_round(0, word64(rest)))
            .rotate_left(27)
            .wrapping_mul(XXH_P1)
            .wrapping_add(XXH_P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let w = u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]));
        h = (h ^ w.wrapping_mul(XXH_P1))
            .rotate_left(23)
            .wrapping_mul(XXH_P2)
            .wrapping_add(XXH_P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h = (h ^ u64::from(b).wrapping_mul(XXH_P5))
            .rotate_left(11)
            .wrapping_mul(XXH_P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(XXH_P2);
    h ^= h >> 29;
    h = h.wrapping_mul(XXH_P3);
    h ^ (h >> 32)
}

/// BLAKE2b's initial chaining value (the SHA-512 one).
const B2_IV: [u64; 8] = [
    0x6A09_E667_F3BC_C908,
    0xBB67_AE85_84CA_A73B,
    0x3C6E_F372_FE94_F82B,
    0xA54F_F53A_5F1D_36F1,
    0x510E_527F_ADE6_82D1,
    0x9B05_688C_2B3E_6C1F,
    0x1F83_D9AB_FB41_BD6B,
    0x5BE0_CD19_137E_2179,
];

/// The message word schedule of the ten distinct rounds (rounds 10 and 11 reuse 0 and 1).
const B2_SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// The mixing function G on four state words and two message words.
fn b2_mix(v: &mut [u64; 16], [a, b, c, d]: [usize; 4], x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

/// Compresses one 128-byte block into `h`; `counted` is the message length so far.
fn b2_compress(h: &mut [u64; 8], block: &[u8; 128], counted: u128, last: bool) {
    let mut m = [0u64; 16];
    for (i, w) in m.iter_mut().enumerate() {
        *w = word64(&block[i * 8..]);
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&B2_IV);
    v[12] ^= counted as u64;
    v[13] ^= (counted >> 64) as u64;
    if last {
        v[14] = !v[14];
    }
    for round in 0..12 {
        let s = &B2_SIGMA[round % 10];
        b2_mix(&mut v, [0, 4, 8, 12], m[s[0]], m[s[1]]);
        b2_mix(&mut v, [1, 5, 9, 13], m[s[2]], m[s[3]]);
        b2_mix(&mut v, [2, 6, 10, 14], m[s[4]], m[s[5]]);
        b2_mix(&mut v, [3, 7, 11, 15], m[s[6]], m[s[7]]);
        b2_mix(&mut v, [0, 5, 10, 15], m[s[8]], m[s[9]]);
        b2_mix(&mut v, [1, 6, 11, 12], m[s[10]], m[s[11]]);
        b2_mix(&mut v, [2, 7, 8, 13], m[s[12]], m[s[13]]);
        b2_mix(&mut v, [3, 4, 9, 14], m[s[14]], m[s[15]]);
    }
    for (i, word) in h.iter_mut().enumerate() {
        *word ^= v[i] ^ v[i + 8];
    }
}

/// Unkeyed BLAKE2b with a 32-byte digest (btrfs' "blake2").
pub(super) fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut h = B2_IV;
    h[0] ^= 0x0101_0000 ^ 32;
    // Every block but the last is compressed as it comes; the last one (possibly short, or
    // empty for an empty message) is zero-padded and flagged.
    let full = if data.is_empty() {
        0
    } else {
        (data.len() - 1) / 128
    };
    for (i, chunk) in data.chunks_exact(128).take(full).enumerate() {
        let mut block = [0u8; 128];
        block.copy_from_slice(chunk);
        b2_compress(&mut h, &block, (i as u128 + 1) * 128, false);
    }
    let tail = &data[full * 128..];
    let mut block = [0u8; 128];
    block[..tail.len()].copy_from_slice(tail);
    b2_compress(&mut h, &block, data.len() as u128, true);
    let mut out = [0u8; 32];
    for (i, word) in h.iter().take(4).enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(
            hex(&blake2b_256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    /// Lengths around every block and lane boundary, against Python's hashlib (BLAKE2b) and a
    /// byte-at-a-time CRC32C; xxHash64 is checked against real images in the btrfs tests.
    #[test]
    fn boundaries_agree_with_references() {
        let data = crate::scan::testing::noise(5, 300);
        for len in [
            1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 127, 128, 129, 255, 256, 257, 300,
        ] {
            let slow = data[..len].iter().fold(!0u32, |mut crc, &b| {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0x82F6_3B78
                    } else {
                        crc >> 1
                    };
                }
                crc
            });
            assert_eq!(crc32c(&data[..len]), !slow, "crc32c of {len} bytes");
        }
        let script = "import hashlib,sys\nd=sys.stdin.buffer.read()\nfor n in [1,127,128,129,255,256,257,300]:\n print(hashlib.blake2b(d[:n],digest_size=32).hexdigest())";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().expect("stdin").write_all(&data)?;
                child.wait_with_output()
            })
            .expect("python3");
        let expected = String::from_utf8(out.stdout).expect("utf-8");
        let ours: Vec<String> = [1, 127, 128, 129, 255, 256, 257, 300]
            .iter()
            .map(|&n| hex(&blake2b_256(&data[..n])))
            .collect();
        assert_eq!(expected.lines().collect::<Vec<_>>(), ours);
    }
}
