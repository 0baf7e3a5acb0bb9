//! Round trips of `ddlink_core::deflate` through flate2 (miniz_oxide), for zlib and gzip, with
//! arbitrary data, arbitrary output piece sizes and arbitrary growth of the input buffer.
#![cfg(feature = "deflate")]

use std::io::{Read, Write};

use ddlink_core::deflate::{
    Compressor, Error, Format, Progress, compress_into, max_compressed_len,
};
use proptest::prelude::*;

/// 60 series from 5 devices, 12 KB of compact JSON, as a device would send to `/api/v2/series`.
const SERIES_PAYLOAD: &[u8] = include_bytes!("data/series_v2_payload.json");
const BLOCK: usize = 65_535;
const FORMATS: [Format; 2] = [Format::Zlib, Format::Gzip];

/// Inflates one whole stream and checks nothing follows it.
fn inflate(format: Format, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let rest = match format {
        Format::Zlib => {
            let mut decoder = flate2::bufread::ZlibDecoder::new(stream);
            decoder.read_to_end(&mut out).expect("valid zlib stream");
            decoder.into_inner()
        }
        Format::Gzip => {
            let mut decoder = flate2::bufread::GzDecoder::new(stream);
            decoder.read_to_end(&mut out).expect("valid gzip stream");
            decoder.into_inner()
        }
    };
    assert!(
        rest.is_empty(),
        "{} bytes after the end of the stream",
        rest.len()
    );
    out
}

fn one_shot(format: Format, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; max_compressed_len(format, data.len())];
    let len = compress_into(format, data, &mut out).expect("the bound always suffices");
    out.truncate(len);
    out
}

/// Checks the contract of one call: an incomplete call has filled its output slice.
fn check_progress(progress: Progress, out_len: usize) -> Progress {
    assert!(progress.written <= out_len);
    if !progress.complete {
        assert_eq!(progress.written, out_len, "stopped early with room left");
    }
    progress
}

/// Compresses `data` as if it were written in steps ending at `cuts` (`compress` after each),
/// then `finish`, handing out pieces of the sizes in `pieces` (cycled).
fn streamed(format: Format, data: &[u8], cuts: &[usize], pieces: &[usize]) -> Vec<u8> {
    let mut compressor = Compressor::new(format);
    let mut stream = Vec::new();
    let mut piece = vec![0u8; pieces.iter().copied().max().unwrap_or(1)];
    let mut sizes = pieces.iter().copied().cycle();
    let mut calls = 0usize;
    let call_limit = 2 * max_compressed_len(format, data.len()) + 4 * cuts.len() + 8;
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut.min(data.len())).collect();
    cuts.sort_unstable();
    for cut in cuts {
        loop {
            let out = &mut piece[..sizes.next().expect("cycled")];
            let progress =
                check_progress(compressor.compress(&data[..cut], out).unwrap(), out.len());
            stream.extend_from_slice(&out[..progress.written]);
            calls += 1;
            assert!(calls < call_limit, "no progress");
            if progress.complete {
                break;
            }
        }
        assert!(compressor.consumed() <= cut);
    }
    loop {
        let out = &mut piece[..sizes.next().expect("cycled")];
        let progress = check_progress(compressor.finish(data, out).unwrap(), out.len());
        stream.extend_from_slice(&out[..progress.written]);
        calls += 1;
        assert!(calls < call_limit, "no progress");
        if progress.complete {
            break;
        }
    }
    assert!(compressor.is_finished());
    stream
}

/// Checks everything the module promises for `data` compressed through the given splits.
fn check_round_trip(data: &[u8], cuts: &[usize], pieces: &[usize]) {
    for format in FORMATS {
        let whole = one_shot(format, data);
        assert!(
            whole.len() <= max_compressed_len(format, data.len()),
            "{format:?} over the bound"
        );
        assert_eq!(inflate(format, &whole), data, "{format:?} round trip");
        let pieces = streamed(format, data, cuts, pieces);
        assert!(
            pieces == whole,
            "{format:?}: output depends on how the calls were split"
        );
    }
}

/// Deterministic noise (xorshift64*), for large inputs that proptest would shrink slowly.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn repetitive() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 1..24),
        1usize..600,
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    )
        .prop_map(|(unit, repeats, edits)| {
            let mut data: Vec<u8> = unit
                .iter()
                .copied()
                .cycle()
                .take(unit.len() * repeats)
                .collect();
            for (at, byte) in edits {
                let len = data.len();
                data[at % len] = byte;
            }
            data
        })
}

fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let point = (
        "[a-z]{1,8}(\\.[a-z_]{1,10}){0,3}",
        any::<u32>(),
        any::<f32>(),
        prop::collection::vec("[a-z_]{1,8}:[a-z0-9.-]{1,12}", 0..4),
    );
    prop::collection::vec(point, 0..40).prop_map(|points| {
        let series: Vec<String> = points
            .into_iter()
            .map(|(metric, ts, value, tags)| {
                let value = if value.is_finite() { value } else { 0.0 };
                format!(
                    r#"{{"metric":"{metric}","type":3,"points":[{{"timestamp":{ts},"value":{value}}}],"tags":{tags:?}}}"#
                )
            })
            .collect();
        format!(r#"{{"series":[{}]}}"#, series.join(",")).into_bytes()
    })
}

/// Bytes with a geometric distribution (byte k with probability about 2^-(k+1)), from `seed`:
/// a dynamic block's literal code then has codes of every length, the longest limited to 15
/// bits once the input is long enough.
fn geometric(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d).trailing_zeros() as u8
        })
        .collect()
}

/// Few distinct bytes in random order: literals only, which a dynamic block codes in few bits.
fn small_alphabet() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 1..6),
        prop::collection::vec(any::<u8>(), 0..4000),
    )
        .prop_map(|(alphabet, picks)| {
            picks
                .iter()
                .map(|&pick| alphabet[usize::from(pick) % alphabet.len()])
                .collect()
        })
}

fn any_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        repetitive(),
        json_like(),
        small_alphabet(),
        (0usize..20_000, any::<u64>()).prop_map(|(len, seed)| geometric(len, seed)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trips_through_flate2_however_the_calls_are_split(
        data in any_payload(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        pieces in prop::collection::vec(1usize..300, 1..6),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|cut| cut % (data.len() + 1)).collect();
        check_round_trip(&data, &cuts, &pieces);
    }
}

proptest! {
    // Few cases: each spans several 64 KiB blocks and the 2^16 wrap of the hash positions.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn multi_block_inputs_round_trip(
        unit in prop::collection::vec(any::<u8>(), 1..400),
        noise_len in 0usize..70_000,
        total in 66_000usize..200_000,
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        piece in 1usize..5000,
    ) {
        // Compressible text, a stretch of noise (forcing stored blocks), then text again.
        let mut data: Vec<u8> = unit.iter().copied().cycle().take(total / 2).collect();
        data.extend(noise(noise_len, total as u64 | 1));
        data.extend(SERIES_PAYLOAD.iter().copied().cycle().take(total / 2));
        let cuts: Vec<usize> = cuts.iter().map(|cut| cut % (data.len() + 1)).collect();
        check_round_trip(&data, &cuts, &[piece]);
    }
}

#[test]
fn empty_input_is_a_valid_stream() {
    let zlib = one_shot(Format::Zlib, b"");
    // Header, an empty final fixed block (10 bits), Adler-32 of nothing.
    assert_eq!(zlib, [0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let gzip = one_shot(Format::Gzip, b"");
    assert_eq!(gzip.len(), 10 + 2 + 8);
    assert_eq!(
        gzip[..10],
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255],
        "no name, mtime 0, OS 255"
    );
    for format in FORMATS {
        assert!(inflate(format, &one_shot(format, b"")).is_empty());
    }
}

#[test]
fn incompressible_data_stays_within_the_bound() {
    for len in [1, 100, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 200_000] {
        let data = noise(len, len as u64);
        for format in FORMATS {
            let stream = one_shot(format, &data);
            let bound = max_compressed_len(format, len);
            assert!(
                stream.len() <= bound,
                "{format:?} {len}: {} > {bound}",
                stream.len()
            );
            assert_eq!(inflate(format, &stream), data);
        }
    }
    assert_eq!(max_compressed_len(Format::Zlib, 0), 6 + 5);
    assert_eq!(max_compressed_len(Format::Zlib, BLOCK), BLOCK + 6 + 5);
    assert_eq!(
        max_compressed_len(Format::Gzip, BLOCK + 1),
        BLOCK + 1 + 18 + 10
    );
    assert_eq!(
        max_compressed_len(Format::Gzip, usize::MAX),
        usize::MAX,
        "saturates"
    );
}

#[test]
fn block_boundaries_round_trip() {
    let text: Vec<u8> = SERIES_PAYLOAD
        .iter()
        .copied()
        .cycle()
        .take(3 * BLOCK + 2)
        .collect();
    for len in [
        BLOCK - 1,
        BLOCK,
        BLOCK + 1,
        2 * BLOCK,
        2 * BLOCK + 1,
        3 * BLOCK + 2,
    ] {
        let data = &text[..len];
        check_round_trip(data, &[BLOCK, BLOCK + 1, 2 * BLOCK + 1], &[4096]);
    }
}

#[test]
fn series_payload_compresses_well() {
    let level6 = {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(SERIES_PAYLOAD).unwrap();
        encoder.finish().unwrap().len()
    };
    for format in FORMATS {
        let stream = one_shot(format, SERIES_PAYLOAD);
        let ratio = stream.len() as f64 / SERIES_PAYLOAD.len() as f64;
        assert!(
            ratio < 0.12,
            "{format:?}: {} of {} bytes ({ratio:.3})",
            stream.len(),
            SERIES_PAYLOAD.len()
        );
        // Within 15 % of zlib level 6 (about 12 % on 2026-12-02).
        let framing = format.framing_len() - Format::Zlib.framing_len();
        assert!(
            100 * (stream.len() - framing) < 115 * level6,
            "{} vs level 6 {level6}",
            stream.len()
        );
        assert_eq!(inflate(format, &stream), SERIES_PAYLOAD);
    }
}

/// BTYPE of the first block of a zlib stream (the 2 bits after BFINAL).
fn first_block_type(zlib_stream: &[u8]) -> u8 {
    (zlib_stream[2] >> 1) & 0b11
}

#[test]
fn each_block_takes_the_cheapest_type() {
    const STORED: u8 = 0b00;
    const FIXED: u8 = 0b01;
    const DYNAMIC: u8 = 0b10;
    // Short text: a code table would cost more than it saves.
    let short = one_shot(Format::Zlib, b"{\"metric\":\"a.b\"}");
    assert_eq!(first_block_type(&short), FIXED);
    let series = one_shot(Format::Zlib, SERIES_PAYLOAD);
    assert_eq!(first_block_type(&series), DYNAMIC);
    let noise = one_shot(Format::Zlib, &noise(5000, 3));
    assert_eq!(first_block_type(&noise), STORED);
    // One long block whose rarest literals occur once in 2^16 bytes: an optimal code would
    // give them more than 15 bits, so the length limit applies. About 2 bits of entropy a byte.
    let skewed = geometric(BLOCK, 11);
    let stream = one_shot(Format::Zlib, &skewed);
    assert_eq!(first_block_type(&stream), DYNAMIC);
    assert!(stream.len() < skewed.len() / 2, "{} bytes", stream.len());
    check_round_trip(&skewed, &[BLOCK / 2], &[7, 1000]);
}

#[test]
fn non_ascii_text_still_compresses() {
    // Bytes ≥ 144 cost 9 bits as fixed literals: the dynamic code must still win.
    let text = "température élevée dans la serre n°3 — 温度が高い — ";
    let data: Vec<u8> = text.bytes().cycle().take(40_000).collect();
    for format in FORMATS {
        let stream = one_shot(format, &data);
        assert!(
            stream.len() < data.len() / 20,
            "{format:?}: {} bytes",
            stream.len()
        );
        assert_eq!(inflate(format, &stream), data);
    }
}

#[test]
fn too_small_output_is_an_error_not_a_short_stream() {
    for format in FORMATS {
        let exact = one_shot(format, SERIES_PAYLOAD).len();
        let mut out = vec![0u8; exact];
        assert_eq!(compress_into(format, SERIES_PAYLOAD, &mut out), Ok(exact));
        for short in [0, 1, exact / 2, exact - 1] {
            assert_eq!(
                compress_into(format, SERIES_PAYLOAD, &mut out[..short]),
                Err(Error::OutputFull),
                "{format:?} into {short} bytes"
            );
        }
    }
}

#[test]
fn misuse_is_reported() {
    let data = noise(2 * BLOCK, 7);
    let mut out = vec![0u8; max_compressed_len(Format::Zlib, data.len())];

    let mut compressor = Compressor::new(Format::Zlib);
    let progress = compressor.compress(&data, &mut out).unwrap();
    assert!(progress.complete);
    assert_eq!(
        compressor.consumed(),
        BLOCK,
        "one whole block emitted, the rest kept for finish"
    );
    assert_eq!(
        compressor.compress(&data[..BLOCK - 1], &mut out),
        Err(Error::InputMismatch)
    );
    assert_eq!(
        compressor.finish(&data[..10], &mut out),
        Err(Error::InputMismatch)
    );

    let mut small = [0u8; 100];
    let progress = compressor.finish(&data, &mut small).unwrap();
    assert!(!progress.complete);
    assert_eq!(
        compressor.finish(&data[..data.len() - 1], &mut out),
        Err(Error::InputMismatch)
    );
    assert_eq!(
        compressor.compress(&data, &mut out),
        Err(Error::AfterFinish)
    );
    assert!(compressor.finish(&data, &mut out).unwrap().complete);
    assert_eq!(
        compressor.finish(&data, &mut out),
        Ok(Progress {
            written: 0,
            complete: true
        })
    );
}

#[test]
fn format_names_its_content_encoding() {
    assert_eq!(Format::Zlib.content_encoding(), "deflate");
    assert_eq!(Format::Gzip.content_encoding(), "gzip");
    assert_eq!(
        (Format::Zlib.framing_len(), Format::Gzip.framing_len()),
        (6, 18)
    );
    for format in FORMATS {
        let encoding = ddlink_core::http::ContentEncoding::from(format);
        assert_eq!(encoding.header_value(), Some(format.content_encoding()));
    }
}
