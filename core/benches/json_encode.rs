//! Does the hand-written JSON writer pay for itself against serde-json-core?
//!
//! Each group encodes the same records, in the same run, three ways:
//! - `hand_written`: the shipped encoders (`SeriesBatch`, `LogBatch`: validation + the crate's
//!   slice writer);
//! - `serde_json_core`: the baseline it replaced: the same validation, then serde `Serialize`
//!   impls written to the slice by `serde_json_core::to_slice`, byte-identical output (asserted);
//! - `serde_json_std`: serde_json into a `Vec` (std, allocating), for reference only.
//!
//! Run: `cargo bench -p ddlink-core --bench json_encode`. The encoders use the hand-written
//! writer because this benchmark measured it faster than serde-json-core (1.9x on 100 one-point
//! series, 1.3x on the escape-heavy logs, 2026-11-28, same run, same validation, identical
//! bytes). The series group is the 10 series x 100 points batch of `support/series_fixture.rs`,
//! which `benches/deflate.rs` compresses; serde_json's output is checked to be the same JSON.

#[path = "support/series_fixture.rs"]
mod series_fixture;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ddlink_core::logs::{LogBatch, LogEntry, LogStatus};
use ddlink_core::metrics::{Point, Resource, Series};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use series_fixture::{NOW, POINTS_PER_SERIES, SERIES_COUNT, encode_series, fixture, series_list};
use std::hint::black_box;

/// The serde-json-core baseline: wire forms of the records as serde `Serialize` impls.
struct SeriesSer<'s>(&'s Series<'s>);

impl Serialize for SeriesSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let series = self.0;
        let mut out = serializer.serialize_struct("MetricSeries", 5)?;
        out.serialize_field("metric", series.metric)?;
        out.serialize_field("type", &series.metric_type.code())?;
        out.serialize_field("points", &PointsSer(series.points))?;
        if !series.tags.is_empty() {
            out.serialize_field("tags", series.tags)?;
        }
        if !series.resources.is_empty() {
            out.serialize_field("resources", &ResourcesSer(series.resources))?;
        }
        out.end()
    }
}

struct PointsSer<'s>(&'s [Point]);

impl Serialize for PointsSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .map(|point| PointSer(point.timestamp, point.value)),
        )
    }
}

struct PointSer(i64, f64);

impl Serialize for PointSer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("MetricPoint", 2)?;
        out.serialize_field("timestamp", &self.0)?;
        out.serialize_field("value", &self.1)?;
        out.end()
    }
}

struct ResourcesSer<'s>(&'s [Resource<'s>]);

impl Serialize for ResourcesSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ResourceSer))
    }
}

struct ResourceSer<'s>(&'s Resource<'s>);

impl Serialize for ResourceSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("MetricResource", 2)?;
        out.serialize_field("name", self.0.name)?;
        out.serialize_field("type", self.0.kind)?;
        out.end()
    }
}

struct LogSer<'s>(&'s LogEntry<'s>);

impl Serialize for LogSer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = self.0;
        let mut out = serializer.serialize_struct("HTTPLogItem", 4)?;
        out.serialize_field("message", entry.message)?;
        if let Some(source) = entry.ddsource {
            out.serialize_field("ddsource", source)?;
        }
        if let Some(hostname) = entry.hostname {
            out.serialize_field("hostname", hostname)?;
        }
        if let Some(status) = entry.status {
            out.serialize_field("status", status.as_str())?;
        }
        out.end()
    }
}

/// Writes `open`, the items serialized by serde-json-core separated by commas, and `close`.
fn serde_json_core_batch<T: Serialize>(
    buf: &mut [u8],
    open: &[u8],
    items: impl Iterator<Item = T>,
    close: &[u8],
) -> usize {
    buf[..open.len()].copy_from_slice(open);
    let mut len = open.len();
    for (index, item) in items.enumerate() {
        if index > 0 {
            buf[len] = b',';
            len += 1;
        }
        len += serde_json_core::to_slice(&item, &mut buf[len..]).expect("fits");
    }
    buf[len..len + close.len()].copy_from_slice(close);
    len + close.len()
}

fn encode_series_serde_json_core(series: &[Series<'_>], buf: &mut [u8]) -> usize {
    let items = series.iter().map(|one| {
        one.validate(Some(NOW)).expect("valid");
        SeriesSer(one)
    });
    serde_json_core_batch(buf, b"{\"series\":[", items, b"]}")
}

fn encode_series_serde_json_std(series: &[Series<'_>], out: &mut Vec<u8>) -> usize {
    out.clear();
    let value = serde_json::json!({
        "series": series.iter().map(|one| serde_json::json!({
            "metric": one.metric,
            "type": one.metric_type.code(),
            "points": one.points.iter().map(|p| serde_json::json!({"timestamp": p.timestamp, "value": p.value})).collect::<Vec<_>>(),
            "tags": one.tags,
            "resources": one.resources.iter().map(|r| serde_json::json!({"name": r.name, "type": r.kind})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    });
    serde_json::to_writer(&mut *out, &value).expect("vec write");
    out.len()
}

fn bench_series(c: &mut Criterion) {
    let fixture = fixture();
    let series = series_list(&fixture);
    let mut buf = vec![0u8; 64 * 1024];
    let mut check = vec![0u8; 64 * 1024];
    // Both writers must produce the same bytes, or the comparison means nothing.
    let len = encode_series(&series, &mut buf);
    let baseline_len = encode_series_serde_json_core(&series, &mut check);
    assert_eq!(buf[..len], check[..baseline_len], "writers disagree");
    // serde_json's maps sort their keys, so its bytes differ; the data must not.
    let mut out = Vec::with_capacity(64 * 1024);
    encode_series_serde_json_std(&series, &mut out);
    let parsed = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).expect("JSON");
    assert_eq!(
        parsed(&buf[..len]),
        parsed(&out),
        "serde_json_std disagrees"
    );

    let mut group = c.benchmark_group(format!("series_{SERIES_COUNT}x{POINTS_PER_SERIES}_v2"));
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("serde_json_core", |b| {
        b.iter(|| encode_series_serde_json_core(black_box(&series), &mut buf))
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| encode_series(black_box(&series), &mut buf))
    });
    group.bench_function("serde_json_std", |b| {
        b.iter(|| encode_series_serde_json_std(black_box(&series), &mut out))
    });
    group.finish();
}

fn bench_escape_heavy_logs(c: &mut Criterion) {
    // Messages full of quotes, backslashes, controls and non-ASCII: the escaping path.
    let message = "temp=\"21.5\u{b0}C\"\tpath=C:\\data\\log\r\n\u{1}ok \u{2713} ".repeat(8);
    let entry = LogEntry::new(&message)
        .with_source("firmware")
        .with_hostname("sensor-0042")
        .with_status(LogStatus::Warning);
    let entries = 50;
    let mut buf = vec![0u8; 64 * 1024];
    let mut check = vec![0u8; 64 * 1024];

    let encode_hand_written = |buf: &mut [u8]| {
        let mut batch = LogBatch::new(buf).expect("buffer holds an empty batch");
        for _ in 0..entries {
            batch.push(black_box(&entry), None).expect("fits");
        }
        batch.finish().len()
    };
    let encode_serde_json_core = |buf: &mut [u8]| {
        let items = (0..entries).map(|_| {
            black_box(&entry).validate(None).expect("valid");
            LogSer(&entry)
        });
        serde_json_core_batch(buf, b"[", items, b"]")
    };
    let len = encode_hand_written(&mut buf);
    let baseline_len = encode_serde_json_core(&mut check);
    assert_eq!(buf[..len], check[..baseline_len], "writers disagree");

    let mut group = c.benchmark_group(format!("logs_{entries}_escape_heavy"));
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("serde_json_core", |b| {
        b.iter(|| encode_serde_json_core(&mut buf))
    });
    group.bench_function("hand_written", |b| b.iter(|| encode_hand_written(&mut buf)));
    group.finish();
}

criterion_group!(benches, bench_series, bench_escape_heavy_logs);
criterion_main!(benches);
