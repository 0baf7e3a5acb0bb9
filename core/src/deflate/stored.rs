//! Stored blocks (BTYPE=00, RFC 1951 §3.2.4): the fallback for data that does not compress.
//!
//! A stored block is its bytes plus at most five bytes of header (3 header bits, padding to a
//! byte boundary, LEN and NLEN), which is what bounds the output size of the compressor.

use super::bits::BitWriter;

/// Most bytes one stored block can hold (LEN is 16 bits).
pub(super) const MAX_LEN: usize = 0xffff;
/// Worst-case output bytes a stored block adds besides its data.
pub(super) const OVERHEAD: usize = 5;
/// BFINAL + BTYPE, up to 7 padding bits, LEN and NLEN.
pub(super) const HEADER_MAX_BITS: u32 = 3 + 7 + 32;

/// Bit position, counted from the first pending bit of the writer, where a stored block of `len`
/// bytes would end if it started with `pending` bits still unwritten.
pub(super) fn end_bit(pending: u32, len: usize) -> u64 {
    let header_end = u64::from((pending + 3).next_multiple_of(8));
    let data_bits = u64::try_from(len).unwrap_or(u64::MAX).saturating_mul(8);
    (header_end + 32).saturating_add(data_bits)
}

/// Writes the block header and aligns to a byte; the caller then copies the bytes verbatim.
/// Needs [`HEADER_MAX_BITS`] of room.
pub(super) fn write_header(bits: &mut BitWriter, last: bool, len: u16) {
    bits.put(u32::from(last), 3);
    bits.align_to_byte();
    bits.put(u32::from(len) | (u32::from(!len) << 16), 32);
}

#[cfg(test)]
mod tests {
    use super::{BitWriter, end_bit, write_header};

    #[test]
    fn header_is_padded_then_len_and_its_complement() {
        let mut bits = BitWriter::new();
        bits.put(0b10101, 5);
        write_header(&mut bits, true, 0x0102);
        let mut out = [0u8; 6];
        let mut written = 0;
        bits.flush(&mut out, &mut written);
        // 5 bits + 3 header bits fill the first byte exactly; then LEN, NLEN little-endian.
        assert_eq!(out[..written], [0b0011_0101, 0x02, 0x01, 0xfd, 0xfe]);
        assert_eq!(end_bit(5, 0), 40);
        assert_eq!(
            end_bit(6, 10),
            16 + 32 + 80,
            "6 pending + 3 header bits spill into a 2nd byte"
        );
    }
}
