//! The length and distance symbols of RFC 1951 §3.2.5: which code a match length or distance
//! uses and which extra bits follow it.

/// Symbol, extra-bit count and extra-bit value of a match length (3..=258, RFC 1951 §3.2.5).
pub(super) const fn length_symbol(len: u16) -> (u32, u32, u32) {
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
pub(super) const fn distance_symbol(dist: u16) -> (u32, u32, u32) {
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

#[cfg(test)]
mod tests {
    use super::{distance_symbol, length_symbol};

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
}
