//! The fixed Huffman code (BTYPE=01, RFC 1951 §3.2.6): code lengths and bit costs.
//!
//! A fixed block sends no code tables, which wins on short blocks; longer ones usually go
//! cheaper with a dynamic block (see `dynamic`). The matcher also prices short matches with
//! these costs (see `lz77`).

use super::lz77::Match;
use super::symbols::{distance_symbol, length_symbol};

/// Every fixed distance code is 5 bits.
pub(super) const DISTANCE_LEN: u8 = 5;

/// The fixed code length of a literal/length symbol (0..=287).
pub(super) const fn literal_length_len(symbol: usize) -> u8 {
    match symbol {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

/// Bits a literal byte costs in a fixed block.
pub(super) const fn literal_cost(byte: u8) -> u32 {
    literal_length_len(byte as usize) as u32
}

/// Bits a match costs in a fixed block.
pub(super) const fn match_cost(m: Match) -> u32 {
    let (symbol, len_extra, _) = length_symbol(m.len);
    literal_length_len(symbol as usize) as u32
        + len_extra
        + DISTANCE_LEN as u32
        + distance_symbol(m.dist).1
}

#[cfg(test)]
mod tests {
    use super::{literal_length_len, match_cost};
    use crate::deflate::lz77::Match;

    #[test]
    fn lengths_follow_rfc1951_table() {
        let lens = [0, 143, 144, 255, 256, 279, 280, 287].map(literal_length_len);
        assert_eq!(lens, [8, 8, 9, 9, 7, 7, 8, 8]);
        // Length 3 is symbol 257 (7 bits); distance 4000 is code 23 with 10 extra bits.
        assert_eq!(match_cost(Match { len: 3, dist: 4000 }), 7 + 5 + 10);
    }
}
