//! Little-endian fields of on-disk structures (zip headers, FAT, exFAT and ext superblocks),
//! read from a slice the caller has already checked is long enough: an offset past its end
//! is a bug in that check, not bad input.

/// The `u16` at byte `at` of `b`.
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// The `u32` at byte `at` of `b`.
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The `u64` at byte `at` of `b`.
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}
