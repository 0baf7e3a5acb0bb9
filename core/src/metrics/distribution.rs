//! `POST /api/v1/distribution_points`: `{"series":[{"metric","points":[[ts,[v,...]]],"host"?,
//! "tags"?,"type":"distribution"}, ...]}`. Datadog computes the percentiles server-side from
//! every raw value, so a device sends all samples of a period without aggregating them.

use super::{
    DISTRIBUTION_MAX_DECOMPRESSED_BYTES, DISTRIBUTION_MAX_PAYLOAD_BYTES, MetricError,
    check_point_time, check_value,
};
use crate::intake::{is_valid_host, validate_metric_name, validate_tags};
use crate::json::{Batch, BufferTooSmall, JsonWriter, PushError, WriteError, batch_accessors};

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
        validate_metric_name(self.metric).map_err(MetricError::InvalidName)?;
        if self.points.is_empty() {
            return Err(MetricError::NoPoints);
        }
        for point in self.points {
            if point.values.is_empty() {
                return Err(MetricError::NoPoints);
            }
            point
                .values
                .iter()
                .try_for_each(|value| check_value(*value))?;
            check_point_time(point.timestamp, now)?;
        }
        if self.host.is_some_and(|host| !is_valid_host(host)) {
            return Err(MetricError::InvalidHost);
        }
        validate_tags(self.tags).map_err(MetricError::InvalidTag)
    }
}

/// A `/api/v1/distribution_points` payload being filled in a caller's buffer; complete and
/// valid after every [`push`](Self::push). Send it with `Content-Type: text/json`; the only
/// compression this endpoint accepts is `deflate` (zlib).
#[derive(Debug)]
pub struct DistributionBatch<'a>(Batch<'a>);

impl<'a> DistributionBatch<'a> {
    /// An empty batch in `buf`, limited to [`DISTRIBUTION_MAX_PAYLOAD_BYTES`].
    pub fn new(buf: &'a mut [u8]) -> Result<Self, BufferTooSmall> {
        Self::with_max_len(buf, DISTRIBUTION_MAX_PAYLOAD_BYTES)
    }

    /// An empty batch in `buf`, limited to `max_len` bytes (capped at
    /// [`DISTRIBUTION_MAX_DECOMPRESSED_BYTES`]).
    pub fn with_max_len(buf: &'a mut [u8], max_len: usize) -> Result<Self, BufferTooSmall> {
        let max_len = max_len.min(DISTRIBUTION_MAX_DECOMPRESSED_BYTES);
        Batch::new(buf, max_len, usize::MAX, b"{\"series\":[", b"]}").map(Self)
    }

    /// Validates `series` (timestamps against `now`, POSIX seconds, when known) and appends it.
    /// On any error the batch is unchanged.
    pub fn push(
        &mut self,
        series: &DistributionSeries<'_>,
        now: Option<i64>,
    ) -> Result<(), PushError<MetricError>> {
        series.validate(now).map_err(PushError::Invalid)?;
        self.0.push_unlimited(|out| write_distribution(out, series))
    }
}

batch_accessors!(DistributionBatch);

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
