//! Metrics: typed series and batch writers for `POST /api/v2/series` ([`SeriesBatch`]),
//! `POST /api/v1/distribution_points` ([`DistributionBatch`]) and the legacy `POST /api/v1/series`
//! ([`SeriesV1Batch`]).
//!
//! Records borrow everything (`&str`, slices), so a device builds them on the stack; a batch
//! writes them as JSON into a buffer the caller owns and keeps it a complete payload at all times.
//! Every record is validated before a byte is written ([`MetricError`]).
//!
//! ```
//! use ddlink_core::json::PushError;
//! use ddlink_core::metrics::{MetricType, Point, Resource, Series, SeriesBatch};
//!
//! let now = 1_700_000_000; // from the clock; `None` while it is not synchronised
//! let mut buf = [0u8; 1024];
//! let mut batch = SeriesBatch::new(&mut buf)?;
//! let points = [Point::new(now, 21.5)];
//! let host = [Resource::host("sensor-7")];
//! let series = Series::new("env.temperature", MetricType::Gauge, &points)
//!     .with_unit("degree celsius")
//!     .with_tags(&["room:lab"])
//!     .with_resources(&host);
//! match batch.push(&series, Some(now)) {
//!     Ok(()) => {}
//!     // Send `batch.as_payload()`, then `batch.clear()` and push again.
//!     Err(PushError::Full) => {}
//!     // Can never be sent with this buffer: count it as dropped, with the reason.
//!     Err(PushError::TooLarge | PushError::Invalid(_)) => {}
//! }
//! assert_eq!(
//!     batch.as_payload(),
//!     br#"{"series":[{"metric":"env.temperature","type":3,"points":[{"timestamp":1700000000,"value":21.5}],"unit":"degree celsius","tags":["room:lab"],"resources":[{"name":"sensor-7","type":"host"}]}]}"#
//! );
//! # Ok::<(), ddlink_core::json::BufferTooSmall>(())
//! ```

mod distribution;
mod series;
mod series_v1;

use core::fmt;

pub use distribution::{DistributionBatch, DistributionPoint, DistributionSeries};
pub use series::{MetricType, Point, Resource, Series, SeriesBatch};
pub use series_v1::{SeriesV1, SeriesV1Batch};

use crate::intake::{
    NameError, TagError, TimeError, is_valid_host, validate_metric_name, validate_tags,
};

/// Largest `/api/v2/series` request body Datadog accepts, in bytes (compressed, or raw when sent
/// uncompressed). The default limit of [`SeriesBatch::new`].
pub const SERIES_MAX_PAYLOAD_BYTES: usize = 512_000;
/// Largest decompressed `/api/v2/series` body (Datadog: "less than 5 megabytes (5242880 bytes)").
/// Only reachable with [`SeriesBatch::with_max_len`] when the payload is compressed afterwards.
pub const SERIES_MAX_DECOMPRESSED_BYTES: usize = 5_242_879;
/// Largest `/api/v1/series` request body, in bytes ("3.2 megabytes (3200000 bytes)").
pub const V1_SERIES_MAX_PAYLOAD_BYTES: usize = 3_200_000;
/// Largest decompressed `/api/v1/series` body ("less than 62 megabytes (62914560 bytes)").
pub const V1_SERIES_MAX_DECOMPRESSED_BYTES: usize = 62_914_559;
/// Largest `/api/v1/distribution_points` body, in bytes: no limit is documented, Datadog's own
/// agents apply the v1 series limit of 3.2 MB.
pub const DISTRIBUTION_MAX_PAYLOAD_BYTES: usize = 3_200_000;
/// Largest decompressed distribution-points body (v1: "less than 62 megabytes (62914560 bytes)").
pub const DISTRIBUTION_MAX_DECOMPRESSED_BYTES: usize = 62_914_559;
/// Oldest accepted point, in seconds before `now` (Datadog: "not more than 1 hour in the past").
pub const POINT_MAX_AGE_SECS: i64 = 3_600;
/// Furthest accepted point, in seconds after `now` ("not more than 10 minutes in the future").
pub const POINT_MAX_AHEAD_SECS: i64 = 600;
/// Longest unit name, in bytes (Datadog's unit names are short lowercase words).
pub const UNIT_MAX_BYTES: usize = 64;
/// Longest resource name or type, and longest `source_type_name`, in characters.
pub const LABEL_MAX_CHARS: usize = 255;

/// Why a series or distribution was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetricError {
    /// The metric name breaks Datadog's naming rules.
    InvalidName(NameError),
    /// A series must carry at least one point (and a distribution point at least one value).
    NoPoints,
    /// A value is NaN or infinite (Datadog has no representation for it; never sent as `null`).
    NonFiniteValue,
    /// A point's timestamp is outside Datadog's window around `now`.
    Timestamp(TimeError),
    /// `interval` must be a positive number of seconds.
    InvalidInterval,
    /// `unit` must be 1 to [`UNIT_MAX_BYTES`] bytes of `[a-z0-9_ ]`.
    InvalidUnit,
    /// A resource has an empty or over-long name or type, or a control character.
    InvalidResource,
    /// A tag breaks Datadog's tag rules.
    InvalidTag(TagError),
    /// `source_type_name` is empty, over-long, or has a control character.
    InvalidSourceTypeName,
    /// The host is not a valid host name.
    InvalidHost,
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(reason) => write!(f, "metric {reason}"),
            Self::NoPoints => f.write_str("no points or values"),
            Self::NonFiniteValue => f.write_str("value is NaN or infinite"),
            Self::Timestamp(reason) => write!(f, "point {reason}"),
            Self::InvalidInterval => f.write_str("interval is not positive"),
            Self::InvalidUnit => f.write_str("unit is not 1-64 bytes of [a-z0-9_ ]"),
            Self::InvalidResource => f.write_str("resource name or type is invalid"),
            Self::InvalidTag(reason) => reason.fmt(f),
            Self::InvalidSourceTypeName => f.write_str("source_type_name is invalid"),
            Self::InvalidHost => f.write_str("host is not a valid host name"),
        }
    }
}

/// The checks every metric record shares: its name, at least one point, and each point's values
/// (finite, at least one) and timestamp (against `now` when known).
fn check_name_and_points<'v, P>(
    metric: &str,
    points: &'v [P],
    now: Option<i64>,
    point: impl Fn(&'v P) -> (i64, &'v [f64]),
) -> Result<(), MetricError> {
    validate_metric_name(metric).map_err(MetricError::InvalidName)?;
    if points.is_empty() {
        return Err(MetricError::NoPoints);
    }
    for (timestamp, values) in points.iter().map(point) {
        if values.is_empty() {
            return Err(MetricError::NoPoints);
        }
        values.iter().try_for_each(|value| check_value(*value))?;
        check_point_time(timestamp, now)?;
    }
    Ok(())
}

/// The v1 endpoints' `host` field and the tags every metric record carries.
fn check_host_and_tags(host: Option<&str>, tags: &[&str]) -> Result<(), MetricError> {
    if host.is_some_and(|host| !is_valid_host(host)) {
        return Err(MetricError::InvalidHost);
    }
    validate_tags(tags).map_err(MetricError::InvalidTag)
}

/// Checks a point timestamp against the window Datadog accepts around `now`.
fn check_point_time(timestamp: i64, now: Option<i64>) -> Result<(), MetricError> {
    crate::intake::check_time(timestamp, now, POINT_MAX_AGE_SECS, POINT_MAX_AHEAD_SECS)
        .map_err(MetricError::Timestamp)
}

/// Checks a metric value: finite, since JSON has no NaN or infinity.
fn check_value(value: f64) -> Result<(), MetricError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(MetricError::NonFiniteValue)
    }
}
