//! `POST /api/v1/distribution_points`: `{"series":[{"metric","points":[[ts,[v,...]]],"host"?,
//! "tags"?,"type":"distribution"}, ...]}`. Datadog computes the percentiles server-side from
//! every raw value, so a device sends all samples of a period without aggregating them.

use super::{
    DISTRIBUTION_MAX_DECOMPRESSED_BYTES, DISTRIBUTION_MAX_PAYLOAD_BYTES, MetricError,
    check_host_and_tags, check_name_and_points,
};
use crate::json::{Format, JsonWriter, RecordBatch, WriteError};

/// The samples of one distribution taken at (or aggregated up to) one timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DistributionPoint<'a> {
    /// POSIX time in seconds.
    pub timestamp: i64,
    /// At least one finite value.
    pub values: &'a [f64],
}

impl<'a> DistributionPoint<'a> {
    /// The samples `values` at `timestamp` (POSIX seconds).
    pub const fn new(timestamp: i64, values: &'a [f64]) -> Self {
        Self { timestamp, values }
    }
}

/// One distribution series (`type` is always `distribution`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DistributionSeries<'a> {
    /// Metric name (`[A-Za-z][A-Za-z0-9_.]*`, ≤ 200).
    pub metric: &'a str,
    /// At least one point.
    pub points: &'a [DistributionPoint<'a>],
    /// Reporting host; omitted when `None`.
    pub host: Option<&'a str>,
    /// Tags; omitted when empty.
    pub tags: &'a [&'a str],
}

impl<'a> DistributionSeries<'a> {
    /// A distribution without host or tags.
    pub const fn new(metric: &'a str, points: &'a [DistributionPoint<'a>]) -> Self {
        Self {
            metric,
            points,
            host: None,
            tags: &[],
        }
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

    /// Checks the distribution against Datadog's rules; timestamps against `now` when known.
    pub fn validate(&self, now: Option<i64>) -> Result<(), MetricError> {
        check_name_and_points(self.metric, self.points, now, |point| {
            (point.timestamp, point.values)
        })?;
        check_host_and_tags(self.host, self.tags)
    }
}

/// A `/api/v1/distribution_points` payload being filled in a caller's buffer; complete and
/// valid after every [`push`](RecordBatch::push). Send it with `Content-Type: text/json`; the only
/// compression this endpoint accepts is `deflate` (zlib).
///
/// Limits: [`DISTRIBUTION_MAX_PAYLOAD_BYTES`] by default, at most [`DISTRIBUTION_MAX_DECOMPRESSED_BYTES`].
pub type DistributionBatch<'a> = RecordBatch<'a, DistributionPayload>;

/// The payload format of [`DistributionBatch`].
#[derive(Debug)]
pub enum DistributionPayload {}

impl Format for DistributionPayload {
    type Record<'r> = DistributionSeries<'r>;
    type Error = MetricError;
    const OPEN: &'static [u8] = b"{\"series\":[";
    const CLOSE: &'static [u8] = b"]}";
    const DEFAULT_MAX_LEN: usize = DISTRIBUTION_MAX_PAYLOAD_BYTES;
    const MAX_LEN: usize = DISTRIBUTION_MAX_DECOMPRESSED_BYTES;

    fn validate(record: &DistributionSeries<'_>, now: Option<i64>) -> Result<(), MetricError> {
        record.validate(now)
    }

    fn write(out: &mut JsonWriter<'_>, record: &DistributionSeries<'_>) -> Result<(), WriteError> {
        write_distribution(out, record)
    }
}

/// Writes one distribution object; a point is the pair `[timestamp, [values...]]`.
fn write_distribution(
    out: &mut JsonWriter<'_>,
    series: &DistributionSeries<'_>,
) -> Result<(), WriteError> {
    out.raw(b"{\"metric\":")?;
    out.string(series.metric)?;
    out.raw(b",\"points\":[")?;
    for (index, point) in series.points.iter().enumerate() {
        out.raw(if index == 0 { b"[" } else { b",[" })?;
        out.integer(point.timestamp)?;
        out.raw(b",[")?;
        for (value_index, value) in point.values.iter().enumerate() {
            if value_index > 0 {
                out.raw(b",")?;
            }
            out.float(*value)?;
        }
        out.raw(b"]]")?;
    }
    out.raw(b"]")?;
    if let Some(host) = series.host {
        out.raw(b",\"host\":")?;
        out.string(host)?;
    }
    if !series.tags.is_empty() {
        out.raw(b",\"tags\":")?;
        out.string_array(series.tags)?;
    }
    out.raw(b",\"type\":\"distribution\"}")
}
