//! Compression: arbitrary bytes, compressed as zlib or gzip in output pieces of a size chosen by
//! the input, stay within the size bound, inflate (flate2 / miniz_oxide) to exactly the input,
//! and match the one-shot stream byte for byte.
#![no_main]

use std::io::Read;

use ddlink_core::deflate::{Compressor, Format, compress_into, max_compressed_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::Zlib
    } else {
        Format::Gzip
    };
    let piece_len = usize::from(selector >> 1) + 1;

    let mut whole = vec![0u8; max_compressed_len(format, data.len())];
    let len = compress_into(format, data, &mut whole).expect("the bound always suffices");
    whole.truncate(len);

    let mut compressor = Compressor::new(format);
    let mut pieces = Vec::with_capacity(len);
    let mut piece = vec![0u8; piece_len];
    loop {
        let progress = compressor
            .finish(data, &mut piece)
            .expect("same input every call");
        assert!(
            progress.complete || progress.written == piece_len,
            "stopped with room left"
        );
        pieces.extend_from_slice(&piece[..progress.written]);
        if progress.complete {
            break;
        }
    }
    assert_eq!(pieces, whole, "output depends on the piece size");

    let mut inflated = Vec::with_capacity(data.len());
    match format {
        Format::Zlib => flate2::read::ZlibDecoder::new(whole.as_slice()).read_to_end(&mut inflated),
        Format::Gzip => flate2::read::GzDecoder::new(whole.as_slice()).read_to_end(&mut inflated),
    }
    .expect("a valid stream");
    assert_eq!(inflated, data);
});
