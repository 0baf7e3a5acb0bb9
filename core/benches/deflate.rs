//! `ddlink_core::deflate` against flate2 (miniz_oxide, levels 1 and 6) on the same realistic
//! `/api/v2/series` payloads, in the same run: throughput from criterion, compressed sizes and
//! ratios printed before the timings.
//!
//! The target payload is the 10 series x 100 points batch of `json_encode` (built by the same
//! code, `support/series_fixture.rs`); the 12 KB payload of 60 single-point series from
//! `core/tests/data/` shows the short-batch case.

#[path = "support/series_fixture.rs"]
mod series_fixture;

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ddlink_core::deflate::{Compressor, Format, compress_into, max_compressed_len};
use flate2::Compression;
use flate2::write::ZlibEncoder;

/// 60 series from 5 devices, 12 KB of compact JSON (see `core/tests/data/`).
const SERIES_PAYLOAD: &[u8] = include_bytes!("../tests/data/series_v2_payload.json");

fn ours(data: &[u8], out: &mut [u8]) -> usize {
    compress_into(Format::Zlib, data, out).expect("the buffer holds the worst case")
}

fn ours_in_pieces(data: &[u8], piece: &mut [u8]) -> usize {
    let mut compressor = Compressor::new(Format::Zlib);
    let mut total = 0;
    loop {
        let progress = compressor
            .finish(data, piece)
            .expect("same payload every call");
        total += black_box(&piece[..progress.written]).len();
        if progress.complete {
            return total;
        }
    }
}

fn flate2_zlib(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len()), Compression::new(level));
    encoder.write_all(data).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

fn print_ratios(name: &str, data: &[u8]) {
    let mut out = vec![0u8; max_compressed_len(Format::Zlib, data.len())];
    let ours = ours(data, &mut out);
    let level1 = flate2_zlib(data, 1).len();
    let level6 = flate2_zlib(data, 6).len();
    let pct = |n: usize| 100.0 * n as f64 / data.len() as f64;
    println!("deflate ratio on {name}, {} B (zlib stream):", data.len());
    println!("  ddlink-core deflate : {ours:>6} B  {:5.2} %", pct(ours));
    println!(
        "  flate2 level 1      : {level1:>6} B  {:5.2} %",
        pct(level1)
    );
    println!(
        "  flate2 level 6      : {level6:>6} B  {:5.2} %",
        pct(level6)
    );
    println!("  ours / level 6      : {:.3}", ours as f64 / level6 as f64);
}

/// The 10 x 100 batch, as `json_encode` encodes it.
fn batch_payload() -> Vec<u8> {
    let fixture = series_fixture::fixture();
    let series = series_fixture::series_list(&fixture);
    let mut buf = vec![0u8; 256 * 1024];
    let len = series_fixture::encode_series(&series, &mut buf);
    buf.truncate(len);
    buf
}

fn bench_payload(c: &mut Criterion, name: &str, payload: &[u8]) {
    print_ratios(name, payload);
    let mut group = c.benchmark_group(format!("deflate_{name}"));
    group.throughput(Throughput::Bytes(payload.len() as u64));
    let mut out = vec![0u8; max_compressed_len(Format::Zlib, payload.len())];
    group.bench_function("ddlink_core_one_shot", |b| {
        b.iter(|| ours(black_box(payload), &mut out));
    });
    let mut piece = [0u8; 256];
    group.bench_function("ddlink_core_256_byte_pieces", |b| {
        b.iter(|| ours_in_pieces(black_box(payload), &mut piece));
    });
    for level in [1, 6] {
        group.bench_function(format!("flate2_level_{level}"), |b| {
            b.iter(|| flate2_zlib(black_box(payload), level));
        });
    }
    group.finish();
}

fn bench_series_payloads(c: &mut Criterion) {
    let batch = batch_payload();
    let name = format!(
        "series_{}x{}",
        series_fixture::SERIES_COUNT,
        series_fixture::POINTS_PER_SERIES
    );
    bench_payload(c, &name, &batch);
    bench_payload(c, "series_60x1", SERIES_PAYLOAD);
}

criterion_group!(benches, bench_series_payloads);
criterion_main!(benches);
