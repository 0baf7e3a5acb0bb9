//! LSB-first bit packing for DEFLATE (RFC 1951 §3.1.1) into caller-provided output slices.
//!
//! The writer holds at most 64 pending bits. Callers reserve room before writing (see
//! [`BitWriter::has_room`]) so a write never has to be split or undone when the output slice is
//! full: the bits simply wait here until the next call brings more output space.

/// Pending output bits, least significant bit first.
#[derive(Debug, Clone, Copy)]
pub(super) struct BitWriter {
    acc: u64,
    len: u32,
}

impl BitWriter {
    pub(super) const CAPACITY: u32 = u64::BITS;

    pub(super) const fn new() -> Self {
        Self { acc: 0, len: 0 }
    }

    /// Whether `bits` more bits fit without flushing.
    pub(super) const fn has_room(&self, bits: u32) -> bool {
        self.len + bits <= Self::CAPACITY
    }

    /// Number of bits waiting to be written out.
    pub(super) const fn pending(&self) -> u32 {
        self.len
    }

    /// Appends the `count` low bits of `value`. The caller has checked [`Self::has_room`].
    pub(super) fn put(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 32 && self.has_room(count), "bit writer overflow");
        debug_assert!(
            count == 32 || value >> count == 0,
            "value wider than its bit count"
        );
        // `checked_shl` only fails when the room check above was skipped; dropping the bits then
        // corrupts the stream, which the round-trip tests would catch, but never panics.
        self.acc |= u64::from(value).checked_shl(self.len).unwrap_or(0);
        self.len = (self.len + count).min(Self::CAPACITY);
    }

    /// Pads with zero bits up to the next byte boundary (stored blocks and trailers start there).
    pub(super) fn align_to_byte(&mut self) {
        self.len = self.len.next_multiple_of(8).min(Self::CAPACITY);
    }

    /// Moves whole pending bytes into `out[*written..]` while there is space.
    pub(super) fn flush(&mut self, out: &mut [u8], written: &mut usize) {
        while self.len >= 8 {
            let Some(slot) = out.get_mut(*written) else {
                return;
            };
            *slot = self.acc.to_le_bytes()[0];
            self.acc >>= 8;
            self.len -= 8;
            *written += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BitWriter;

    #[test]
    fn packs_least_significant_bit_first_and_keeps_bits_while_output_is_full() {
        let mut bits = BitWriter::new();
        bits.put(0b1, 1);
        bits.put(0b01, 2);
        bits.put(0x1ff, 9);
        let mut out = [0u8; 1];
        let mut written = 0;
        bits.flush(&mut out, &mut written);
        assert_eq!((written, out[0]), (1, 0b1111_1011));
        assert_eq!(bits.pending(), 4);
        bits.align_to_byte();
        bits.flush(&mut out, &mut written);
        assert_eq!(bits.pending(), 8, "no room: the byte must stay pending");
        let mut more = [0u8; 2];
        let mut written = 0;
        bits.flush(&mut more, &mut written);
        assert_eq!((written, more[0]), (1, 0b0000_1111));
    }
}
