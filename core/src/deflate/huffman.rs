//! Length-limited canonical Huffman codes (RFC 1951 §3.2.2) built without an allocator.
//!
//! Code lengths come from the in-place minimum-redundancy algorithm of Moffat and Katajainen
//! over the symbols sorted by frequency, then are capped at the DEFLATE limit (15 bits, 7 for
//! the code-length code) by moving leaves down the tree until the Kraft sum is exact again. The
//! only scratch memory is one `u32` per symbol on the stack (1,152 bytes for the 288
//! literal/length symbols).

/// Most symbols of any DEFLATE alphabet (literal/length: 288, of which 286 are used).
const MAX_SYMBOLS: usize = 288;
/// Deepest code the algorithm can produce before capping. Frequencies sum to at most 2^17 in
/// a block, and a code of depth d needs a total frequency of at least Fibonacci(d + 2), so real
/// depths stay below 26; deeper ones (impossible) would be counted at this depth.
const MAX_DEPTH: usize = 31;
/// Bits of a scratch entry that hold the symbol; the weight sits above them.
const SYMBOL_BITS: u32 = 9;
const SYMBOL_MASK: u32 = (1 << SYMBOL_BITS) - 1;

fn weight(entry: u32) -> u32 {
    entry >> SYMBOL_BITS
}

fn with_weight(entry: u32, weight: u32) -> u32 {
    (weight << SYMBOL_BITS) | (entry & SYMBOL_MASK)
}

/// Fills `lengths` (one per symbol, same length as `freqs`) with the code lengths of an optimal
/// prefix code for `freqs` whose codes are at most `max_len` bits; unused symbols get 0.
///
/// At least two symbols always get a code (symbols 0 and 1 stand in when fewer are used), so the
/// code is complete, as strict inflaters require.
pub(super) fn build_lengths(freqs: &[u16], max_len: u8, lengths: &mut [u8]) {
    lengths.fill(0);
    let mut scratch = [0u32; MAX_SYMBOLS];
    let mut used = 0;
    for (symbol, &freq) in freqs.iter().enumerate().take(MAX_SYMBOLS) {
        if freq > 0
            && let Some(slot) = scratch.get_mut(used)
        {
            *slot = (u32::from(freq) << SYMBOL_BITS) | symbol as u32;
            used += 1;
        }
    }
    // Stand-ins with weight 0: they sort first and so take the longest codes.
    let mut stand_in = 0;
    while used < 2 && stand_in < freqs.len().min(2) {
        if freqs.get(stand_in) == Some(&0)
            && let Some(slot) = scratch.get_mut(used)
        {
            *slot = stand_in as u32;
            used += 1;
        }
        stand_in += 1;
    }
    let Some(sorted) = scratch.get_mut(..used) else {
        return;
    };
    heap_sort(sorted);
    minimum_redundancy_depths(sorted);

    let mut count_per_len = [0u32; MAX_DEPTH + 1];
    for entry in sorted.iter() {
        let depth = (weight(*entry) as usize).min(MAX_DEPTH);
        if let Some(count) = count_per_len.get_mut(depth) {
            *count += 1;
        }
    }
    limit_lengths(&mut count_per_len, usize::from(max_len));

    // The most frequent symbols (at the end) take the shortest codes.
    let mut entries = sorted.iter().rev();
    for (len, &count) in count_per_len.iter().enumerate().skip(1) {
        for entry in entries.by_ref().take(count as usize) {
            if let Some(slot) = lengths.get_mut((entry & SYMBOL_MASK) as usize) {
                *slot = len as u8;
            }
        }
    }
}

/// Sorts ascending. A heap sort rather than `sort_unstable`, whose generic code would be 5 KiB of
/// flash for sorting at most 288 entries per block.
fn heap_sort(entries: &mut [u32]) {
    for start in (0..entries.len() / 2).rev() {
        sift_down(entries, start);
    }
    for end in (1..entries.len()).rev() {
        entries.swap(0, end);
        if let Some(heap) = entries.get_mut(..end) {
            sift_down(heap, 0);
        }
    }
}

/// Moves `heap[root]` down until neither child is larger (a max-heap).
fn sift_down(heap: &mut [u32], mut root: usize) {
    loop {
        let mut child = 2 * root + 1;
        let (Some(&left), Some(&parent)) = (heap.get(child), heap.get(root)) else {
            return;
        };
        let mut largest = left;
        if let Some(&right) = heap.get(child + 1)
            && right > left
        {
            child += 1;
            largest = right;
        }
        if largest <= parent {
            return;
        }
        heap.swap(root, child);
        root = child;
    }
}

/// Replaces the weights of `sorted` (ascending) by the depths of an optimal code (Moffat and
/// Katajainen, "In-place calculation of minimum-redundancy codes", 1995), largest weights last.
fn minimum_redundancy_depths(sorted: &mut [u32]) {
    let n = sorted.len();
    let key = |sorted: &[u32], i: usize| sorted.get(i).map_or(0, |&e| weight(e));
    let set = |sorted: &mut [u32], i: usize, w: u32| {
        if let Some(entry) = sorted.get_mut(i) {
            *entry = with_weight(*entry, w);
        }
    };
    if n < 2 {
        set(sorted, 0, 1);
        return;
    }
    // Phase 1: combine the two lightest nodes repeatedly; internal nodes reuse the slots of
    // leaves already consumed and record the index of their parent.
    let first = key(sorted, 0) + key(sorted, 1);
    set(sorted, 0, first);
    let (mut root, mut leaf) = (0, 2);
    for next in 1..n - 1 {
        let take_root = |sorted: &[u32], root: usize, leaf: usize| {
            leaf >= n || key(sorted, root) < key(sorted, leaf)
        };
        let mut sum;
        if take_root(sorted, root, leaf) {
            sum = key(sorted, root);
            set(sorted, root, next as u32);
            root += 1;
        } else {
            sum = key(sorted, leaf);
            leaf += 1;
        }
        if root < next && take_root(sorted, root, leaf) {
            sum += key(sorted, root);
            set(sorted, root, next as u32);
            root += 1;
        } else {
            sum += key(sorted, leaf);
            leaf += 1;
        }
        set(sorted, next, sum);
    }
    // Phase 2: parent indices become internal-node depths.
    set(sorted, n - 2, 0);
    for next in (0..n.saturating_sub(2)).rev() {
        let parent = key(sorted, next) as usize;
        let depth = key(sorted, parent) + 1;
        set(sorted, next, depth);
    }
    // Phase 3: internal-node depths become leaf depths.
    let (mut available, mut used, mut depth) = (1usize, 0usize, 0u32);
    let mut root = n as isize - 2;
    let mut next = n as isize - 1;
    while available > 0 {
        while root >= 0 && key(sorted, root as usize) == depth {
            used += 1;
            root -= 1;
        }
        while available > used {
            set(sorted, next as usize, depth);
            next -= 1;
            available -= 1;
        }
        available = 2 * used;
        depth += 1;
        used = 0;
    }
}

/// Caps code lengths at `max_len` given the number of codes of each length, keeping the code
/// complete: codes deeper than the cap move up to it, then the Kraft excess is paid back by
/// lengthening the deepest codes still shorter than the cap.
fn limit_lengths(count_per_len: &mut [u32; MAX_DEPTH + 1], max_len: usize) {
    let max_len = max_len.clamp(1, MAX_DEPTH);
    let deeper: u32 = count_per_len.iter().skip(max_len + 1).sum();
    if deeper == 0 {
        return;
    }
    for count in count_per_len.iter_mut().skip(max_len + 1) {
        *count = 0;
    }
    count_per_len[max_len] += deeper;
    // Kraft sum in units of 2^-max_len.
    let mut total: u64 = (1..=max_len)
        .map(|len| u64::from(count_per_len[len]) << (max_len - len))
        .sum();
    let full = 1u64 << max_len;
    while total > full {
        count_per_len[max_len] = count_per_len[max_len].saturating_sub(1);
        if let Some(len) = (1..max_len).rev().find(|&len| count_per_len[len] > 0) {
            count_per_len[len] -= 1;
            count_per_len[len + 1] += 2;
        }
        total -= 1;
    }
}

/// Fills `codes` with the canonical codes for `lengths` (RFC 1951 §3.2.2), bit-reversed for
/// LSB-first packing. Unused symbols get code 0.
pub(super) fn canonical_codes(lengths: &[u8], codes: &mut [u16]) {
    let mut count_per_len = [0u16; 16];
    for &len in lengths {
        if let Some(count) = count_per_len.get_mut(usize::from(len)) {
            *count += 1;
        }
    }
    count_per_len[0] = 0;
    let mut next_code = [0u16; 16];
    let mut code = 0u16;
    for len in 1..16 {
        code = (code + count_per_len[len - 1]) << 1;
        next_code[len] = code;
    }
    for (slot, &len) in codes.iter_mut().zip(lengths) {
        *slot = 0;
        if let Some(next) = next_code.get_mut(usize::from(len))
            && len > 0
        {
            *slot = next.reverse_bits() >> (16 - u32::from(len));
            *next = next.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{build_lengths, canonical_codes, heap_sort};

    #[test]
    fn heap_sort_sorts() {
        let mut entries: Vec<u32> = (0..300u32)
            .map(|i| i.wrapping_mul(2_654_435_761) % 97)
            .collect();
        let mut expected = entries.clone();
        expected.sort_unstable();
        heap_sort(&mut entries);
        assert_eq!(entries, expected);
        let mut few = [3, 1];
        heap_sort(&mut few);
        assert_eq!(few, [1, 3]);
    }

    /// Kraft sum of the used lengths, in units of 2^-15.
    fn kraft(lengths: &[u8]) -> u32 {
        lengths
            .iter()
            .filter(|&&len| len > 0)
            .map(|&len| 1 << (15 - len))
            .sum()
    }

    #[test]
    fn lengths_are_optimal_for_a_textbook_example() {
        let freqs = [5, 9, 12, 13, 16, 45];
        let mut lengths = [0u8; 6];
        build_lengths(&freqs, 15, &mut lengths);
        assert_eq!(lengths, [4, 4, 3, 3, 3, 1]);
    }

    #[test]
    fn skewed_frequencies_are_capped_and_the_code_stays_complete() {
        // Fibonacci weights make a maximally deep tree (depth n - 1 without a cap).
        let mut freqs = [0u16; 24];
        let (mut a, mut b) = (1u16, 1u16);
        for freq in &mut freqs {
            *freq = a;
            (a, b) = (b, a.saturating_add(b));
        }
        for max_len in [7, 15] {
            let mut lengths = [0u8; 24];
            build_lengths(&freqs, max_len, &mut lengths);
            assert!(lengths.iter().all(|&len| (1..=max_len).contains(&len)));
            assert_eq!(kraft(&lengths), 1 << 15, "complete code, cap {max_len}");
        }
    }

    #[test]
    fn one_or_no_used_symbol_still_gets_a_complete_code() {
        let mut lengths = [9u8; 5];
        build_lengths(&[0, 0, 7, 0, 0], 15, &mut lengths);
        assert_eq!(lengths, [1, 0, 1, 0, 0]);
        build_lengths(&[0; 5], 15, &mut lengths);
        assert_eq!(lengths, [1, 1, 0, 0, 0]);
    }

    #[test]
    fn canonical_codes_follow_rfc1951_example() {
        // RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give codes 010..111, 00, 1110, 1111.
        let lengths = [3, 3, 3, 3, 3, 2, 4, 4];
        let mut codes = [0u16; 8];
        canonical_codes(&lengths, &mut codes);
        let msb_first: [u16; 8] =
            core::array::from_fn(|i| codes[i].reverse_bits() >> (16 - lengths[i]));
        assert_eq!(
            msb_first,
            [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]
        );
    }
}
