//! `POST /api/v1/series` (legacy; prefer v2): `{"series":[{"metric","points":[[ts,value]],
//! "type"?,"interval"?,"host"?,"tags"?}, ...]}`, sent with `Content-Type: text/json`.

use super::{
    MetricError, MetricType, Point, V1_SERIES_MAX_DECOMPRESSED_BYTES, V1_SERIES_MAX_PAYLOAD_BYTES,
    check_host_and_tags, check_name_and_points,
};
use crate::json::{Format, JsonWriter, RecordBatch, WriteError};

/// One v1 series: points as `[timestamp, value]` pairs, the host as a field.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeriesV1<'a> {
    /// Metric name (`[A-Za-z][A-Za-z0-9_.]*`, ≤ 200).
    pub metric: &'a str,
    /// Sent as `"count"`, `"rate"` or `"gauge"`; omitted for [`MetricType::Unspecified`].
    pub metric_type: MetricType,
    /// At least one point.
    pub points: &'a [Point],
    /// Seconds covered by each count or rate point; omitted when `None`.
    pub interval: Option<i64>,
    /// Reporting host; omitted when `None`.
    pub host: Option<&'a str>,
    /// Tags; omitted when empty.
    pub tags: &'a [&'a str],
}

impl<'a> SeriesV1<'a> {
    /// A series without interval, host or tags.
    pub const fn new(metric: &'a str, metric_type: MetricType, points: &'a [Point]) -> Self {
        Self {
            metric,
            metric_type,
            points,
            interval: None,
            host: None,
            tags: &[],
        }
    }

    /// Sets the interval in seconds (for counts and rates).
    pub const fn with_interval(mut self, seconds: i64) -> Self {
        self.interval = Some(seconds);
        self
    }

    /// Sets the host.
    pub const fn with_host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }

    /// Sets the tags.
    pub const fn with_tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Checks the series against Datadog's rules; timestamps against `now` (POSIX seconds) when
    /// the device knows the time.
    pub fn validate(&self, now: Option<i64>) -> Result<(), MetricError> {
        check_name_and_points(self.metric, self.points, now, |point| {
            (point.timestamp, core::slice::from_ref(&point.value))
        })?;
        if self.interval.is_some_and(|seconds| seconds <= 0) {
            return Err(MetricError::InvalidInterval);
        }
        check_host_and_tags(self.host, self.tags)
    }
}

/// A `/api/v1/series` payload being filled in a caller's buffer; complete and valid after every
/// [`push`](RecordBatch::push).
///
/// Limits: [`V1_SERIES_MAX_PAYLOAD_BYTES`] by default, at most [`V1_SERIES_MAX_DECOMPRESSED_BYTES`].
pub type SeriesV1Batch<'a> = RecordBatch<'a, SeriesV1Payload>;

/// The payload format of [`SeriesV1Batch`].
#[derive(Debug)]
pub enum SeriesV1Payload {}

impl Format for SeriesV1Payload {
    type Record<'r> = SeriesV1<'r>;
    type Error = MetricError;
    const OPEN: &'static [u8] = b"{\"series\":[";
    const CLOSE: &'static [u8] = b"]}";
    const DEFAULT_MAX_LEN: usize = V1_SERIES_MAX_PAYLOAD_BYTES;
    const MAX_LEN: usize = V1_SERIES_MAX_DECOMPRESSED_BYTES;

    fn validate(record: &SeriesV1<'_>, now: Option<i64>) -> Result<(), MetricError> {
        record.validate(now)
    }

    fn write(out: &mut JsonWriter<'_>, record: &SeriesV1<'_>) -> Result<(), WriteError> {
        write_series_v1(out, record)
    }
}

/// The v1 name of a metric type, `None` for unspecified (the field is then omitted).
fn v1_type_name(metric_type: MetricType) -> Option<&'static str> {
    match metric_type {
        MetricType::Unspecified => None,
        MetricType::Count => Some("count"),
        MetricType::Rate => Some("rate"),
        MetricType::Gauge => Some("gauge"),
    }
}

/// Writes one v1 series object.
fn write_series_v1(out: &mut JsonWriter<'_>, series: &SeriesV1<'_>) -> Result<(), WriteError> {
    out.raw(b"{\"metric\":")?;
    out.string(series.metric)?;
    out.raw(b",\"points\":[")?;
    for (index, point) in series.points.iter().enumerate() {
        out.raw(if index == 0 { b"[" } else { b",[" })?;
        out.integer(point.timestamp)?;
        out.raw(b",")?;
        out.float(point.value)?;
        out.raw(b"]")?;
    }
    out.raw(b"]")?;
    if let Some(name) = v1_type_name(series.metric_type) {
        out.raw(b",\"type\":")?;
        out.string(name)?;
    }
    if let Some(interval) = series.interval {
        out.raw(b",\"interval\":")?;
        out.integer(interval)?;
    }
    if let Some(host) = series.host {
        out.raw(b",\"host\":")?;
        out.string(host)?;
    }
    if !series.tags.is_empty() {
        out.raw(b",\"tags\":")?;
        out.string_array(series.tags)?;
    }
    out.raw(b"}")
}
