//! `POST /api/v1/series` (legacy; prefer v2): `{"series":[{"metric","points":[[ts,value]],
//! "type"?,"interval"?,"host"?,"tags"?}, ...]}`, sent with `Content-Type: text/json`.

use super::{
    MetricError, MetricType, Point, V1_SERIES_MAX_DECOMPRESSED_BYTES, V1_SERIES_MAX_PAYLOAD_BYTES,
    check_point_time, check_value,
};
use crate::intake::{is_valid_host, validate_metric_name, validate_tags};
use crate::json::{Batch, BufferTooSmall, JsonWriter, PushError, WriteError, batch_accessors};

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
        validate_metric_name(self.metric).map_err(MetricError::InvalidName)?;
        if self.points.is_empty() {
            return Err(MetricError::NoPoints);
        }
        for point in self.points {
            check_value(point.value)?;
            check_point_time(point.timestamp, now)?;
        }
        if self.interval.is_some_and(|seconds| seconds <= 0) {
            return Err(MetricError::InvalidInterval);
        }
        if self.host.is_some_and(|host| !is_valid_host(host)) {
            return Err(MetricError::InvalidHost);
        }
        validate_tags(self.tags).map_err(MetricError::InvalidTag)
    }
}

/// A `/api/v1/series` payload being filled in a caller's buffer; complete and valid after every
/// [`push`](Self::push).
#[derive(Debug)]
pub struct SeriesV1Batch<'a>(Batch<'a>);

impl<'a> SeriesV1Batch<'a> {
    /// An empty batch in `buf`, limited to [`V1_SERIES_MAX_PAYLOAD_BYTES`].
    pub fn new(buf: &'a mut [u8]) -> Result<Self, BufferTooSmall> {
        Self::with_max_len(buf, V1_SERIES_MAX_PAYLOAD_BYTES)
    }

    /// An empty batch in `buf`, limited to `max_len` bytes (capped at
    /// [`V1_SERIES_MAX_DECOMPRESSED_BYTES`]).
    pub fn with_max_len(buf: &'a mut [u8], max_len: usize) -> Result<Self, BufferTooSmall> {
        let max_len = max_len.min(V1_SERIES_MAX_DECOMPRESSED_BYTES);
        Batch::new(buf, max_len, usize::MAX, b"{\"series\":[", b"]}").map(Self)
    }

    /// Validates `series` (timestamps against `now`, POSIX seconds, when known) and appends it.
    /// On any error the batch is unchanged.
    pub fn push(
        &mut self,
        series: &SeriesV1<'_>,
        now: Option<i64>,
    ) -> Result<(), PushError<MetricError>> {
        series.validate(now).map_err(PushError::Invalid)?;
        self.0.push_unlimited(|out| write_series_v1(out, series))
    }
}

batch_accessors!(SeriesV1Batch);

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
