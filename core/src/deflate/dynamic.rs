//! The header of a dynamic-Huffman block (BTYPE=10, RFC 1951 §3.2.7): the block's code lengths,
//! run-length coded and Huffman coded with the code-length code, written a few bits at a time.
//!
//! The run-length items are not stored: item boundaries are a pure function of the position in
//! the code-length sequence (see [`DynamicHeader::item_at`]), so the header is measured,
//! counted and written from the block's [`BlockCodes`] alone, resuming from a position.

use super::bits::BitWriter;
use super::codes::BlockCodes;
use super::huffman;

/// Symbols of the code-length alphabet: lengths 0..=15 and the repeat codes 16, 17, 18.
const CODE_LENGTH_SYMBOLS: usize = 19;
/// Order in which the code-length code's own lengths are sent.
const CODE_LENGTH_ORDER: [u8; CODE_LENGTH_SYMBOLS] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Longest code of the code-length code.
const MAX_CODE_LENGTH_LEN: u8 = 7;
/// HLIT, HDIST and HCLEN.
const COUNTS_BITS: u32 = 5 + 5 + 4;
/// Each code-length code length is 3 bits.
const CODE_LENGTH_LEN_BITS: u32 = 3;
/// Most bits one [`DynamicHeader::write_step`] writes: the counts, or a 7-bit code plus 7 extra.
pub(super) const MAX_STEP_BITS: u32 = COUNTS_BITS;

/// One run-length item of the code-length sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    /// 0..=15 a length, 16 repeat the previous 3-6 times, 17 zeros 3-10, 18 zeros 11-138.
    symbol: u8,
    extra_bits: u8,
    extra: u8,
    /// Code lengths the item stands for.
    run: u16,
}

/// What a dynamic block sends before its tokens, besides BFINAL and BTYPE.
#[derive(Debug, Clone)]
pub(super) struct DynamicHeader {
    /// Literal/length code lengths sent (257..=286).
    literal_lengths: u16,
    /// Distance code lengths sent (1..=30).
    distance_lengths: u16,
    /// Code-length code lengths sent, in [`CODE_LENGTH_ORDER`] (4..=19).
    code_length_lengths: u8,
    code_length_lens: [u8; CODE_LENGTH_SYMBOLS],
    /// Bit-reversed; at most 7 bits.
    code_length_codes: [u8; CODE_LENGTH_SYMBOLS],
}

impl DynamicHeader {
    pub(super) const fn new() -> Self {
        Self {
            literal_lengths: 257,
            distance_lengths: 1,
            code_length_lengths: 4,
            code_length_lens: [0; CODE_LENGTH_SYMBOLS],
            code_length_codes: [0; CODE_LENGTH_SYMBOLS],
        }
    }

    /// Prepares the header that sends `codes`.
    pub(super) fn build(&mut self, codes: &BlockCodes) {
        let used = |lens: &[u8]| lens.iter().rposition(|&len| len > 0).map_or(0, |i| i + 1);
        self.literal_lengths = used(&codes.literal_length_lens).max(257) as u16;
        self.distance_lengths = used(&codes.distance_lens).max(1) as u16;

        let mut freqs = [0u16; CODE_LENGTH_SYMBOLS];
        let mut pos = 0;
        while let Some(item) = self.item_at(codes, pos) {
            if let Some(freq) = freqs.get_mut(usize::from(item.symbol)) {
                *freq += 1;
            }
            pos += usize::from(item.run);
        }
        huffman::build_lengths(&freqs, MAX_CODE_LENGTH_LEN, &mut self.code_length_lens);
        let mut codes16 = [0u16; CODE_LENGTH_SYMBOLS];
        huffman::canonical_codes(&self.code_length_lens, &mut codes16);
        for (code, wide) in self.code_length_codes.iter_mut().zip(codes16) {
            // Codes are at most 7 bits.
            *code = wide as u8;
        }
        let sent = CODE_LENGTH_ORDER
            .iter()
            .rposition(|&symbol| self.code_length_len(symbol) > 0)
            .map_or(0, |i| i + 1);
        self.code_length_lengths = sent.max(4) as u8;
    }

    /// Bits of the header after BFINAL and BTYPE.
    pub(super) fn cost(&self, codes: &BlockCodes) -> u64 {
        let mut bits =
            u64::from(COUNTS_BITS + CODE_LENGTH_LEN_BITS * u32::from(self.code_length_lengths));
        let mut pos = 0;
        while let Some(item) = self.item_at(codes, pos) {
            bits += u64::from(self.code_length_len(item.symbol) + item.extra_bits);
            pos += usize::from(item.run);
        }
        bits
    }

    /// Writes the header part `*cursor` stands for and advances it; true once the header is
    /// complete (nothing is written then). Cursor 0 is the counts, 1..=HCLEN the code-length
    /// code lengths, then the run-length items, by position in the code-length sequence.
    /// Needs [`MAX_STEP_BITS`] of room.
    pub(super) fn write_step(
        &self,
        codes: &BlockCodes,
        bits: &mut BitWriter,
        cursor: &mut u16,
    ) -> bool {
        let sent = u16::from(self.code_length_lengths);
        if *cursor == 0 {
            // `build` keeps each count at or above its minimum.
            let counts = u32::from(self.literal_lengths.saturating_sub(257))
                | (u32::from(self.distance_lengths.saturating_sub(1)) << 5)
                | (u32::from(sent.saturating_sub(4)) << 10);
            bits.put(counts, COUNTS_BITS);
            *cursor = 1;
            return false;
        }
        if *cursor <= sent {
            let symbol = CODE_LENGTH_ORDER
                .get(usize::from(cursor.saturating_sub(1)))
                .copied()
                .unwrap_or(0);
            bits.put(
                u32::from(self.code_length_len(symbol)),
                CODE_LENGTH_LEN_BITS,
            );
            *cursor += 1;
            return false;
        }
        let pos = usize::from(cursor.saturating_sub(1 + sent));
        let Some(item) = self.item_at(codes, pos) else {
            return true;
        };
        let symbol = usize::from(item.symbol);
        let code = u32::from(self.code_length_codes.get(symbol).copied().unwrap_or(0));
        let len = u32::from(self.code_length_len(item.symbol));
        bits.put(
            code | (u32::from(item.extra) << len),
            len + u32::from(item.extra_bits),
        );
        *cursor = cursor.saturating_add(item.run);
        false
    }

    fn code_length_len(&self, symbol: u8) -> u8 {
        self.code_length_lens
            .get(usize::from(symbol))
            .copied()
            .unwrap_or(0)
    }

    /// The code length at `pos` of the sequence sent: the literal/length lengths, then the
    /// distance lengths.
    fn length_at(&self, codes: &BlockCodes, pos: usize) -> Option<u8> {
        let literal_lengths = usize::from(self.literal_lengths);
        if pos < literal_lengths {
            codes.literal_length_lens.get(pos).copied()
        } else if pos < literal_lengths + usize::from(self.distance_lengths) {
            codes.distance_lens.get(pos - literal_lengths).copied()
        } else {
            None
        }
    }

    /// The run-length item starting at `pos` of the code-length sequence; `None` at its end.
    /// Runs may cross from the literal/length into the distance lengths, as RFC 1951 allows.
    fn item_at(&self, codes: &BlockCodes, pos: usize) -> Option<Item> {
        let value = self.length_at(codes, pos)?;
        let run = (pos..pos + 138)
            .take_while(|&at| self.length_at(codes, at) == Some(value))
            .count() as u16;
        let single = Item {
            symbol: value,
            extra_bits: 0,
            extra: 0,
            run: 1,
        };
        let repeat = |symbol, extra_bits, min: u16, max: u16| {
            let run = run.min(max);
            Item {
                symbol,
                extra_bits,
                extra: (run - min) as u8,
                run,
            }
        };
        Some(if value == 0 {
            match run {
                11.. => repeat(18, 7, 11, 138),
                3.. => repeat(17, 3, 3, 10),
                _ => single,
            }
        } else if run >= 3 && pos > 0 && self.length_at(codes, pos - 1) == Some(value) {
            repeat(16, 2, 3, 6)
        } else {
            single
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{DynamicHeader, Item};
    use crate::deflate::codes::BlockCodes;

    fn codes_with(
        literal_length_lens: &[(usize, u8)],
        distance_lens: &[(usize, u8)],
    ) -> BlockCodes {
        let mut codes = BlockCodes::new();
        for &(symbol, len) in literal_length_lens {
            codes.literal_length_lens[symbol] = len;
        }
        for &(symbol, len) in distance_lens {
            codes.distance_lens[symbol] = len;
        }
        codes
    }

    #[test]
    fn runs_become_repeat_codes() {
        // Lengths: 8 eights, then zeros up to 256, then 256 = 4, 257 = 4, 258 = 4.
        let mut lens: Vec<(usize, u8)> = (0..8).map(|s| (s, 8)).collect();
        lens.extend([(256, 4), (257, 4), (258, 4)]);
        let codes = codes_with(&lens, &[(0, 1), (1, 1)]);
        let mut header = DynamicHeader::new();
        header.build(&codes);
        assert_eq!(header.literal_lengths, 259);
        assert_eq!(header.distance_lengths, 2);
        let items: Vec<Item> = {
            let mut items = Vec::new();
            let mut pos = 0;
            while let Some(item) = header.item_at(&codes, pos) {
                items.push(item);
                pos += usize::from(item.run);
            }
            items
        };
        let symbols: Vec<(u8, u8, u16)> =
            items.iter().map(|i| (i.symbol, i.extra, i.run)).collect();
        assert_eq!(
            symbols,
            [
                (8, 0, 1),
                (16, 3, 6),
                (8, 0, 1),
                (18, 127, 138),
                (18, 99, 110),
                (4, 0, 1),
                (4, 0, 1),
                (4, 0, 1),
                (1, 0, 1),
                (1, 0, 1),
            ]
        );
    }
}
