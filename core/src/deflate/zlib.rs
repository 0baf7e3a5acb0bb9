//! zlib framing (RFC 1950): a two-byte header before the DEFLATE data, Adler-32 after it.
//!
//! This is what HTTP `Content-Encoding: deflate` means (Datadog's own clients send zlib streams).

/// CMF = 0x78 (deflate, 32 KiB window), FLG = 0x01 (FLEVEL 0 "fastest", no dictionary, FCHECK
/// making `0x7801` a multiple of 31).
pub(super) const HEADER: [u8; 2] = [0x78, 0x01];
/// Adler-32, big-endian.
pub(super) const TRAILER_LEN: usize = 4;

/// Adler-32 of the empty input.
pub(super) const ADLER32_INIT: u32 = 1;
const MODULUS: u32 = 65_521;
/// Most bytes that can be summed before `b` could overflow a `u32` (zlib's NMAX).
const CHUNK: usize = 5552;

/// Adler-32 (RFC 1950 §9) continued over `data`.
pub(super) fn adler32_update(adler: u32, data: &[u8]) -> u32 {
    let mut a = adler & 0xffff;
    let mut b = adler >> 16;
    for chunk in data.chunks(CHUNK) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MODULUS;
        b %= MODULUS;
    }
    (b << 16) | a
}

/// The trailer for a stream whose input had Adler-32 `adler`.
pub(super) const fn trailer(adler: u32) -> [u8; TRAILER_LEN] {
    adler.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::{ADLER32_INIT, HEADER, adler32_update};

    #[test]
    fn header_check_bits_make_a_multiple_of_31() {
        assert_eq!(u16::from_be_bytes(HEADER) % 31, 0);
    }

    #[test]
    fn adler32_matches_known_values_and_is_incremental() {
        assert_eq!(adler32_update(ADLER32_INIT, b""), 1);
        // RFC 1950 example value for "Wikipedia".
        assert_eq!(adler32_update(ADLER32_INIT, b"Wikipedia"), 0x11e6_0398);
        let data = [0xffu8; 20_000];
        let whole = adler32_update(ADLER32_INIT, &data);
        let split = adler32_update(adler32_update(ADLER32_INIT, &data[..7777]), &data[7777..]);
        assert_eq!(whole, split);
        assert_eq!(
            whole, 0x9f51_d664,
            "a long run of 0xff exercises the deferred modulo"
        );
    }
}
