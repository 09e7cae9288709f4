//! CRC-32C (Castagnoli), the checksum of XFS v5 metadata: reflected polynomial 0x82F63B78,
//! initial value and final xor all ones. The arithmetic is the shared
//! [`crate::scan::crc32c`]; this adds XFS's rule for the stored field.

/// A running CRC-32C: feed it pieces, then [`Crc32c::finish`].
pub(super) struct Crc32c(u32);

impl Crc32c {
    pub(super) fn new() -> Self {
        Crc32c(!0)
    }

    /// Continues from a finished checksum, as if its data were fed again first.
    pub(super) fn resume(finished: u32) -> Self {
        Crc32c(!finished)
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.0 = crate::scan::crc32c::update(self.0, data);
    }

    pub(super) fn finish(&self) -> u32 {
        !self.0
    }
}

/// The checksum of `block` as XFS computes it: with the four bytes at `field` (where the
/// checksum itself is stored, little-endian) taken as zero.
pub(super) fn with_field_zeroed(block: &[u8], field: usize) -> Option<u32> {
    let head = block.get(..field)?;
    let tail = block.get(field.checked_add(4)?..)?;
    let mut crc = Crc32c::new();
    crc.update(head);
    crc.update(&[0; 4]);
    crc.update(tail);
    Some(crc.finish())
}

/// Whether the little-endian checksum stored at `field` of `block` is right.
pub(super) fn verify(block: &[u8], field: usize) -> bool {
    let stored = block
        .get(field..field.saturating_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    match (stored, with_field_zeroed(block, field)) {
        (Some(stored), Some(computed)) => stored == computed,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_answer() {
        // The check value of CRC-32C (RFC 3720, B.4).
        let mut crc = super::Crc32c::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xE306_9283);
    }
}
