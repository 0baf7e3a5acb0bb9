//! gzip framing (RFC 1952): a ten-byte header before the DEFLATE data, CRC-32 and ISIZE after it.
//!
//! The CRC-32 table (256 × `u32`, 1 KiB of flash) is computed at compile time.

/// ID1 ID2, CM = 8 (deflate), FLG = 0 (no name, comment or extra field), MTIME = 0 (none),
/// XFL = 4 (fastest algorithm), OS = 255 (unknown).
pub(super) const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
/// CRC-32 then ISIZE (input length modulo 2^32), both little-endian.
pub(super) const TRAILER_LEN: usize = 8;

/// CRC-32 of the empty input.
pub(super) const CRC32_INIT: u32 = 0;
/// Reflected IEEE 802.3 polynomial.
const POLYNOMIAL: u32 = 0xedb8_8320;

static CRC32_TABLE: [u32; 256] = crc32_table();

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < table.len() {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                POLYNOMIAL ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

/// CRC-32 (RFC 1952 §8) continued over `data`.
pub(super) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in data {
        crc = CRC32_TABLE[usize::from(crc.to_le_bytes()[0] ^ byte)] ^ (crc >> 8);
    }
    !crc
}

/// The trailer for a stream whose input had CRC-32 `crc` and `input_len` bytes.
pub(super) fn trailer(crc: u32, input_len: usize) -> [u8; TRAILER_LEN] {
    // ISIZE is defined modulo 2^32; the truncation is intended.
    let [a, b, c, d] = crc.to_le_bytes();
    let [e, f, g, h] = (input_len as u32).to_le_bytes();
    [a, b, c, d, e, f, g, h]
}

#[cfg(test)]
mod tests {
    use super::{CRC32_INIT, crc32_update, trailer};

    #[test]
    fn crc32_matches_the_check_value_and_is_incremental() {
        assert_eq!(crc32_update(CRC32_INIT, b""), 0);
        assert_eq!(crc32_update(CRC32_INIT, b"123456789"), 0xcbf4_3926);
        let split = crc32_update(crc32_update(CRC32_INIT, b"1234"), b"56789");
        assert_eq!(split, 0xcbf4_3926);
    }

    #[test]
    fn trailer_is_little_endian_crc_then_size() {
        assert_eq!(trailer(0x0403_0201, 5), [1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(
            trailer(0, usize::MAX)[4..],
            [0xff; 4],
            "ISIZE keeps the low 32 bits"
        );
    }
}
