//! Fixed-Huffman blocks (BTYPE=01, RFC 1951 §3.2.6): symbol codes, bit costs and token writing.
//!
//! Fixed codes need no code-length tables, neither in RAM nor in the stream, which is what keeps
//! the compressor small; the price is a few percent of ratio against dynamic-Huffman encoders.

use super::bits::BitWriter;
use super::lz77::{Match, Token};

/// BFINAL + BTYPE.
pub(super) const HEADER_BITS: u32 = 3;
/// Symbol 256 has a 7-bit code.
pub(super) const END_OF_BLOCK_BITS: u32 = 7;
/// Longest token: 8-bit length code, 5 extra bits, 5-bit distance code, 13 extra bits.
pub(super) const MAX_TOKEN_BITS: u32 = 8 + 5 + 5 + 13;

/// The code of a literal/length symbol (0..=287), bit-reversed for LSB-first packing, and its length.
const fn literal_length_code(symbol: u32) -> (u32, u32) {
    let (code, len) = match symbol {
        0..=143 => (0x30 + symbol, 8),
        144..=255 => (0x190 + symbol - 144, 9),
        256..=279 => (symbol - 256, 7),
        _ => (0xc0 + symbol - 280, 8),
    };
    (code.reverse_bits() >> (32 - len), len)
}

/// Bits a literal byte costs in a fixed block.
pub(super) const fn literal_cost(byte: u8) -> u32 {
    if byte < 144 { 8 } else { 9 }
}

/// Symbol, extra-bit count and extra-bit value of a match length (3..=258, RFC 1951 §3.2.5).
const fn length_symbol(len: u16) -> (u32, u32, u32) {
    let offset = len.saturating_sub(3) as u32;
    if offset < 8 {
        (257 + offset, 0, 0)
    } else if offset >= 255 {
        (285, 0, 0)
    } else {
        let log2 = u32::BITS - 1 - offset.leading_zeros();
        let extra = log2 - 2;
        (
            257 + 4 * (log2 - 1) + ((offset >> extra) & 3),
            extra,
            offset & ((1 << extra) - 1),
        )
    }
}

/// Symbol, extra-bit count and extra-bit value of a match distance (1..=32768).
const fn distance_symbol(dist: u16) -> (u32, u32, u32) {
    let offset = dist.saturating_sub(1) as u32;
    if offset < 4 {
        (offset, 0, 0)
    } else {
        let log2 = u32::BITS - 1 - offset.leading_zeros();
        let extra = log2 - 1;
        (
            2 * log2 + ((offset >> extra) & 1),
            extra,
            offset & ((1 << extra) - 1),
        )
    }
}

/// Extra bits a distance needs; the fixed distance code itself is always 5 bits.
pub(super) const fn distance_extra_bits(dist: u16) -> u32 {
    distance_symbol(dist).1
}

/// Bits a match costs in a fixed block.
pub(super) const fn match_cost(m: Match) -> u32 {
    let (symbol, len_extra, _) = length_symbol(m.len);
    literal_length_code(symbol).1 + len_extra + 5 + distance_extra_bits(m.dist)
}

/// Bits a token costs in a fixed block.
pub(super) const fn token_cost(token: Token) -> u32 {
    match token {
        Token::Literal(byte) => literal_cost(byte),
        Token::Match(m) => match_cost(m),
    }
}

/// Bits of a fixed block that codes every byte of `block` as a literal.
///
/// The matcher only takes matches that cost no more than the literals they replace, so this is
/// an upper bound for the real block and lets ASCII payloads skip the measuring pass.
pub(super) fn all_literal_block_cost(block: &[u8]) -> u64 {
    // Counting the 9-bit literals vectorises far better than summing per-byte costs.
    let nine_bit = block
        .iter()
        .filter(|&&byte| literal_cost(byte) == 9)
        .count();
    let literal_bits = (block.len() as u64)
        .saturating_mul(8)
        .saturating_add(nine_bit as u64);
    u64::from(HEADER_BITS + END_OF_BLOCK_BITS).saturating_add(literal_bits)
}

/// Writes BFINAL and BTYPE=01. Needs [`HEADER_BITS`] of room.
pub(super) fn write_header(bits: &mut BitWriter, last: bool) {
    bits.put(u32::from(last) | (1 << 1), HEADER_BITS);
}

/// Writes one token. Needs [`MAX_TOKEN_BITS`] of room.
pub(super) fn write_token(bits: &mut BitWriter, token: Token) {
    match token {
        Token::Literal(byte) => {
            let (code, len) = literal_length_code(byte as u32);
            bits.put(code, len);
        }
        Token::Match(m) => {
            let (symbol, len_extra, len_extra_value) = length_symbol(m.len);
            let (len_code, len_code_bits) = literal_length_code(symbol);
            let (dist_symbol, dist_extra, dist_extra_value) = distance_symbol(m.dist);
            let dist_code = dist_symbol.reverse_bits() >> (32 - 5);
            // Up to 31 bits: one write.
            let mut value = len_code;
            let mut count = len_code_bits;
            value |= len_extra_value << count;
            count += len_extra;
            value |= dist_code << count;
            count += 5;
            value |= dist_extra_value << count;
            count += dist_extra;
            bits.put(value, count);
        }
    }
}

/// Writes the end-of-block symbol. Needs [`END_OF_BLOCK_BITS`] of room.
pub(super) fn write_end_of_block(bits: &mut BitWriter) {
    let (code, len) = literal_length_code(256);
    bits.put(code, len);
}

#[cfg(test)]
mod tests {
    use super::{distance_symbol, length_symbol, literal_length_code};

    #[test]
    fn length_symbols_follow_rfc1951_table() {
        // (length, symbol, extra bits, extra value) from RFC 1951 §3.2.5.
        for (len, expected) in [
            (3, (257, 0, 0)),
            (10, (264, 0, 0)),
            (11, (265, 1, 0)),
            (12, (265, 1, 1)),
            (13, (266, 1, 0)),
            (19, (269, 2, 0)),
            (22, (269, 2, 3)),
            (35, (273, 3, 0)),
            (67, (277, 4, 0)),
            (131, (281, 5, 0)),
            (227, (284, 5, 0)),
            (257, (284, 5, 30)),
            (258, (285, 0, 0)),
        ] {
            assert_eq!(length_symbol(len), expected, "length {len}");
        }
    }

    #[test]
    fn distance_symbols_follow_rfc1951_table() {
        for (dist, expected) in [
            (1, (0, 0, 0)),
            (4, (3, 0, 0)),
            (5, (4, 1, 0)),
            (6, (4, 1, 1)),
            (7, (5, 1, 0)),
            (9, (6, 2, 0)),
            (24577, (29, 13, 0)),
            (32768, (29, 13, 8191)),
        ] {
            assert_eq!(distance_symbol(dist), expected, "distance {dist}");
        }
    }

    #[test]
    fn fixed_codes_are_bit_reversed_for_lsb_first_packing() {
        // 'A' = 65 → code 0x30 + 65 = 0b0111_0001 (8 bits), reversed 0b1000_1110.
        assert_eq!(literal_length_code(65), (0b1000_1110, 8));
        // 255 → 0x190 + 111 = 0b1_1111_1111 (9 bits).
        assert_eq!(literal_length_code(255), (0x1ff, 9));
        // End of block: seven zero bits.
        assert_eq!(literal_length_code(256), (0, 7));
        // 285 → 0xc0 + 5 = 0b1100_0101, reversed 0b1010_0011.
        assert_eq!(literal_length_code(285), (0b1010_0011, 8));
    }
}
