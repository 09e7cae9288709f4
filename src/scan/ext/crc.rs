//! The two checksums of ext4 metadata, as libext2fs and the kernel compute them: CRC32C
//! (Castagnoli) for `metadata_csum`, and the ANSI CRC16 of the older `uninit_bg` (`gdt_csum`)
//! descriptors. Both are the raw, reflected update functions with no final inversion: ext4
//! seeds them itself (`~0`, or the filesystem's checksum seed) and stores the result as is.

/// `ext2fs_crc32c_le`: continues `crc` over `data` (no inversion on either side).
pub(crate) use crate::scan::crc32c::update as crc32c;

/// Reflected CRC16 (ANSI, x^16 + x^15 + x^2 + 1) polynomial.
const CRC16_POLY: u16 = 0xA001;

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC16_POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// `ext2fs_crc16`: continues `crc` over `data` (no inversion on either side).
pub(crate) fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &byte in data {
        crc = (crc >> 8) ^ CRC16_TABLE[usize::from((crc as u8) ^ byte)];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The catalogued CRC-32C check: init and final xor 0xFFFFFFFF.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
        assert_eq!(
            crc32c(crc32c(!0, b"1234"), b"56789"),
            crc32c(!0, b"123456789")
        );
    }

    #[test]
    fn crc16_matches_the_standard_check_value() {
        // CRC-16/ARC (init 0) and CRC-16/MODBUS (init 0xFFFF) share ext4's polynomial.
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
        assert_eq!(crc16(0xFFFF, b"123456789"), 0x4B37);
    }
}
