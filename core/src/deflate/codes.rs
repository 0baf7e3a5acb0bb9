//! The Huffman codes of one compressed block, fixed or dynamic, the symbol counts they are
//! built from and priced with, and the writing of tokens with them.

use super::bits::BitWriter;
use super::lz77::Token;
use super::symbols::{distance_symbol, length_symbol};
use super::{fixed, huffman};

/// Literal/length symbols. 286 and 287 never occur in a stream, but the fixed code assigns
/// them codes, which shifts the canonical codes of the 9-bit literals.
pub(super) const LITERAL_LENGTH_SYMBOLS: usize = 288;
/// Distance symbols a block can use (30 and 31 are reserved).
pub(super) const DISTANCE_SYMBOLS: usize = 30;
/// The literal/length symbol that ends a block.
const END_OF_BLOCK: usize = 256;
/// Longest code of the literal/length and distance codes.
const MAX_CODE_LEN: u8 = 15;
/// Longest token: 15-bit length code, 5 extra bits, 15-bit distance code, 13 extra bits.
pub(super) const MAX_TOKEN_BITS: u32 = 15 + 5 + 15 + 13;

/// How often each symbol occurs in a block, and the extra bits its matches carry.
///
/// Counts fit `u16`: a block holds at most 65,535 input bytes, so at most that many tokens of
/// one symbol, and one end-of-block.
#[derive(Debug, Clone)]
pub(super) struct SymbolCounts {
    pub(super) literal_length: [u16; LITERAL_LENGTH_SYMBOLS],
    pub(super) distance: [u16; DISTANCE_SYMBOLS],
    extra_bits: u64,
}

impl SymbolCounts {
    /// Counts of a block holding only its end-of-block symbol.
    pub(super) fn new() -> Self {
        let mut literal_length = [0; LITERAL_LENGTH_SYMBOLS];
        literal_length[END_OF_BLOCK] = 1;
        Self {
            literal_length,
            distance: [0; DISTANCE_SYMBOLS],
            extra_bits: 0,
        }
    }

    pub(super) fn add(&mut self, token: Token) {
        let bump = |count: Option<&mut u16>| {
            if let Some(count) = count {
                *count = count.saturating_add(1);
            }
        };
        match token {
            Token::Literal(byte) => bump(self.literal_length.get_mut(usize::from(byte))),
            Token::Match(m) => {
                let (symbol, len_extra, _) = length_symbol(m.len);
                let (dist_symbol, dist_extra, _) = distance_symbol(m.dist);
                bump(self.literal_length.get_mut(symbol as usize));
                bump(self.distance.get_mut(dist_symbol as usize));
                self.extra_bits += u64::from(len_extra + dist_extra);
            }
        }
    }

    /// Bits of the block's tokens and end-of-block symbol (not its header) with `codes`.
    pub(super) fn cost(&self, codes: &BlockCodes) -> u64 {
        let literal_length_len = |symbol| codes.literal_length_lens.get(symbol).copied();
        let distance_len = |symbol| codes.distance_lens.get(symbol).copied();
        self.cost_with(literal_length_len, distance_len)
    }

    /// [`Self::cost`] with the fixed code.
    pub(super) fn fixed_cost(&self) -> u64 {
        self.cost_with(
            |symbol| Some(fixed::literal_length_len(symbol)),
            |_| Some(fixed::DISTANCE_LEN),
        )
    }

    fn cost_with(
        &self,
        literal_length_len: impl Fn(usize) -> Option<u8>,
        distance_len: impl Fn(usize) -> Option<u8>,
    ) -> u64 {
        let weighted = |counts: &[u16], len_of: &dyn Fn(usize) -> Option<u8>| -> u64 {
            counts
                .iter()
                .enumerate()
                .map(|(symbol, &count)| u64::from(count) * u64::from(len_of(symbol).unwrap_or(0)))
                .sum()
        };
        weighted(&self.literal_length, &literal_length_len)
            + weighted(&self.distance, &distance_len)
            + self.extra_bits
    }
}

/// Code lengths and (bit-reversed) codes of both alphabets of a block.
#[derive(Debug, Clone)]
pub(super) struct BlockCodes {
    pub(super) literal_length_lens: [u8; LITERAL_LENGTH_SYMBOLS],
    pub(super) distance_lens: [u8; DISTANCE_SYMBOLS],
    literal_length_codes: [u16; LITERAL_LENGTH_SYMBOLS],
    distance_codes: [u16; DISTANCE_SYMBOLS],
}

impl BlockCodes {
    pub(super) const fn new() -> Self {
        Self {
            literal_length_lens: [0; LITERAL_LENGTH_SYMBOLS],
            distance_lens: [0; DISTANCE_SYMBOLS],
            literal_length_codes: [0; LITERAL_LENGTH_SYMBOLS],
            distance_codes: [0; DISTANCE_SYMBOLS],
        }
    }

    /// The fixed code of RFC 1951 §3.2.6.
    pub(super) fn set_fixed(&mut self) {
        for (symbol, len) in self.literal_length_lens.iter_mut().enumerate() {
            *len = fixed::literal_length_len(symbol);
        }
        self.distance_lens = [fixed::DISTANCE_LEN; DISTANCE_SYMBOLS];
        self.assign_codes();
    }

    /// Optimal codes (at most 15 bits) for `counts`.
    pub(super) fn set_optimal(&mut self, counts: &SymbolCounts) {
        huffman::build_lengths(
            &counts.literal_length,
            MAX_CODE_LEN,
            &mut self.literal_length_lens,
        );
        huffman::build_lengths(&counts.distance, MAX_CODE_LEN, &mut self.distance_lens);
        self.assign_codes();
    }

    fn assign_codes(&mut self) {
        huffman::canonical_codes(&self.literal_length_lens, &mut self.literal_length_codes);
        huffman::canonical_codes(&self.distance_lens, &mut self.distance_codes);
    }

    fn literal_length_code(&self, symbol: usize) -> (u32, u32) {
        let code = self.literal_length_codes.get(symbol).copied().unwrap_or(0);
        let len = self.literal_length_lens.get(symbol).copied().unwrap_or(0);
        (u32::from(code), u32::from(len))
    }

    /// Writes one token. Needs [`MAX_TOKEN_BITS`] of room.
    pub(super) fn write_token(&self, bits: &mut BitWriter, token: Token) {
        match token {
            Token::Literal(byte) => {
                let (code, len) = self.literal_length_code(usize::from(byte));
                bits.put(code, len);
            }
            Token::Match(m) => {
                let (symbol, len_extra, len_extra_value) = length_symbol(m.len);
                let (code, len) = self.literal_length_code(symbol as usize);
                // At most 15 + 5 bits, then 15 + 13: two writes of up to 32 bits.
                bits.put(code | (len_extra_value << len), len + len_extra);
                let (symbol, dist_extra, dist_extra_value) = distance_symbol(m.dist);
                let symbol = symbol as usize;
                let code = u32::from(self.distance_codes.get(symbol).copied().unwrap_or(0));
                let len = u32::from(self.distance_lens.get(symbol).copied().unwrap_or(0));
                bits.put(code | (dist_extra_value << len), len + dist_extra);
            }
        }
    }

    /// Writes the end-of-block symbol. Needs [`MAX_TOKEN_BITS`] of room.
    pub(super) fn write_end_of_block(&self, bits: &mut BitWriter) {
        let (code, len) = self.literal_length_code(END_OF_BLOCK);
        bits.put(code, len);
    }
}

#[cfg(test)]
mod tests {
    use super::{BlockCodes, SymbolCounts};
    use crate::deflate::bits::BitWriter;
    use crate::deflate::lz77::{Match, Token};

    #[test]
    fn fixed_codes_are_bit_reversed_for_lsb_first_packing() {
        let mut codes = BlockCodes::new();
        codes.set_fixed();
        let written = |token: Option<Token>| {
            let mut bits = BitWriter::new();
            match token {
                Some(token) => codes.write_token(&mut bits, token),
                None => codes.write_end_of_block(&mut bits),
            }
            bits.align_to_byte();
            let mut out = [0u8; 8];
            let mut len = 0;
            bits.flush(&mut out, &mut len);
            out[..len].to_vec()
        };
        // 'A' = 65 → code 0x30 + 65 = 0b0111_0001 (8 bits), reversed 0b1000_1110.
        assert_eq!(written(Some(Token::Literal(65))), [0b1000_1110]);
        // 255 → 0x190 + 111 = 0b1_1111_1111 (9 bits).
        assert_eq!(written(Some(Token::Literal(255))), [0xff, 0x01]);
        // End of block: seven zero bits.
        assert_eq!(written(None), [0]);
        // Length 258 → 285 → 0xc0 + 5 = 0b1100_0101, reversed 0b1010_0011; distance 1 → five
        // zero bits.
        let m = Token::Match(Match { len: 258, dist: 1 });
        assert_eq!(written(Some(m)), [0b1010_0011, 0]);
    }

    #[test]
    fn cost_counts_codes_and_extra_bits() {
        let mut counts = SymbolCounts::new();
        counts.add(Token::Literal(b'a'));
        counts.add(Token::Literal(200));
        // Length 13: symbol 266, 1 extra bit; distance 9: code 6, 2 extra bits.
        counts.add(Token::Match(Match { len: 13, dist: 9 }));
        let expected = 7 + 8 + 9 + (7 + 1) + (5 + 2);
        assert_eq!(counts.fixed_cost(), expected);
        let mut codes = BlockCodes::new();
        codes.set_fixed();
        assert_eq!(counts.cost(&codes), expected);
    }
}
