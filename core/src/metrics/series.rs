//! `POST /api/v2/series`: `{"series":[{"metric","type","points":[{"timestamp","value"}],
//! "interval"?,"unit"?,"tags"?,"resources"?,"source_type_name"?}, ...]}`.

use super::{
    LABEL_MAX_CHARS, MetricError, SERIES_MAX_DECOMPRESSED_BYTES, SERIES_MAX_PAYLOAD_BYTES,
    UNIT_MAX_BYTES, check_name_and_points,
};
use crate::intake::{is_label, validate_tags};
use crate::json::{Format, JsonWriter, RecordBatch, WriteError};

/// The v2 metric intake type (`type`, an integer on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetricType {
    /// `0`: let Datadog keep the metric's existing type.
    #[default]
    Unspecified,
    /// `1`: a count over `interval` seconds.
    Count,
    /// `2`: a per-second rate over `interval` seconds.
    Rate,
    /// `3`: a gauge (last value wins).
    Gauge,
}

impl MetricType {
    /// The integer Datadog expects for this type.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::Count => 1,
            Self::Rate => 2,
            Self::Gauge => 3,
        }
    }
}

/// One point: POSIX seconds and a value (finite; Datadog stores it as a 32-bit float).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Point {
    /// POSIX time in seconds.
    pub timestamp: i64,
    /// The value; NaN and infinities are rejected.
    pub value: f64,
}

impl Point {
    /// A point at `timestamp` (POSIX seconds) with `value`.
    pub const fn new(timestamp: i64, value: f64) -> Self {
        Self { timestamp, value }
    }
}

/// A resource the series belongs to, e.g. `{"name":"sensor-7","type":"host"}` (Datadog: "Host name
/// is one of the resources").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Resource<'a> {
    /// The resource's name, e.g. the host name.
    pub name: &'a str,
    /// The resource's kind, e.g. `host`.
    pub kind: &'a str,
}

impl<'a> Resource<'a> {
    /// A resource of kind `kind` named `name`.
    pub const fn new(kind: &'a str, name: &'a str) -> Self {
        Self { name, kind }
    }

    /// The `host` resource for host name `name`.
    pub const fn host(name: &'a str) -> Self {
        Self::new("host", name)
    }
}

/// One v2 series: a metric, its type and points, with optional metadata. Everything is
/// borrowed; build it with [`Series::new`] and the `with_*` methods or as a struct literal.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Series<'a> {
    /// Metric name (`[A-Za-z][A-Za-z0-9_.]*`, ≤ 200).
    pub metric: &'a str,
    /// Intake type, sent as `type`.
    pub metric_type: MetricType,
    /// At least one point.
    pub points: &'a [Point],
    /// Seconds covered by each count or rate point; omitted when `None`.
    pub interval: Option<i64>,
    /// Unit of the values (e.g. `second`, `byte`); omitted when `None`.
    pub unit: Option<&'a str>,
    /// Tags (`key:value`); omitted when empty.
    pub tags: &'a [&'a str],
    /// Resources, e.g. [`Resource::host`]; omitted when empty.
    pub resources: &'a [Resource<'a>],
    /// Integration source (e.g. `datadog`); omitted when `None`.
    pub source_type_name: Option<&'a str>,
}

impl<'a> Series<'a> {
    /// A series without interval, unit, tags, resources or source type name.
    pub const fn new(metric: &'a str, metric_type: MetricType, points: &'a [Point]) -> Self {
        Self {
            metric,
            metric_type,
            points,
            interval: None,
            unit: None,
            tags: &[],
            resources: &[],
            source_type_name: None,
        }
    }

    /// Sets the interval in seconds (for counts and rates).
    pub const fn with_interval(mut self, seconds: i64) -> Self {
        self.interval = Some(seconds);
        self
    }

    /// Sets the unit.
    pub const fn with_unit(mut self, unit: &'a str) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Sets the tags.
    pub const fn with_tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Sets the resources.
    pub const fn with_resources(mut self, resources: &'a [Resource<'a>]) -> Self {
        self.resources = resources;
        self
    }

    /// Sets the source type name.
    pub const fn with_source_type_name(mut self, name: &'a str) -> Self {
        self.source_type_name = Some(name);
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
        if self.unit.is_some_and(|unit| !is_unit(unit)) {
            return Err(MetricError::InvalidUnit);
        }
        validate_tags(self.tags).map_err(MetricError::InvalidTag)?;
        let resource_ok = |resource: &Resource<'_>| {
            is_label(resource.name, LABEL_MAX_CHARS) && is_label(resource.kind, LABEL_MAX_CHARS)
        };
        if !self.resources.iter().all(resource_ok) {
            return Err(MetricError::InvalidResource);
        }
        if self
            .source_type_name
            .is_some_and(|name| !is_label(name, LABEL_MAX_CHARS))
        {
            return Err(MetricError::InvalidSourceTypeName);
        }
        Ok(())
    }
}

/// Datadog unit names are lowercase words such as `byte`, `percent_nano`, `degree celsius`.
fn is_unit(unit: &str) -> bool {
    !unit.is_empty()
        && unit.len() <= UNIT_MAX_BYTES
        && unit
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b' ')
}

/// A `/api/v2/series` payload being filled in a caller's buffer.
///
/// After every [`push`](RecordBatch::push), successful or not, [`as_payload`](RecordBatch::as_payload) is a
/// complete `{"series":[...]}` document holding exactly the series pushed successfully.
///
/// Limits: [`SERIES_MAX_PAYLOAD_BYTES`] by default (safe to send uncompressed or compressed), at most [`SERIES_MAX_DECOMPRESSED_BYTES`] with
/// [`with_max_len`](RecordBatch::with_max_len) when the payload is compressed afterwards.
pub type SeriesBatch<'a> = RecordBatch<'a, SeriesPayload>;

/// The payload format of [`SeriesBatch`].
#[derive(Debug)]
pub enum SeriesPayload {}

impl Format for SeriesPayload {
    type Record<'r> = Series<'r>;
    type Error = MetricError;
    const OPEN: &'static [u8] = b"{\"series\":[";
    const CLOSE: &'static [u8] = b"]}";
    const DEFAULT_MAX_LEN: usize = SERIES_MAX_PAYLOAD_BYTES;
    const MAX_LEN: usize = SERIES_MAX_DECOMPRESSED_BYTES;

    fn validate(record: &Series<'_>, now: Option<i64>) -> Result<(), MetricError> {
        record.validate(now)
    }

    fn write(out: &mut JsonWriter<'_>, record: &Series<'_>) -> Result<(), WriteError> {
        write_series(out, record)
    }
}

/// Writes one series object.
fn write_series(out: &mut JsonWriter<'_>, series: &Series<'_>) -> Result<(), WriteError> {
    out.raw(b"{\"metric\":")?;
    // Validated to `[A-Za-z0-9_.]` by `push`.
    out.unescaped_string(series.metric)?;
    out.raw(b",\"type\":")?;
    out.integer(i64::from(series.metric_type.code()))?;
    out.raw(b",\"points\":[")?;
    for (index, point) in series.points.iter().enumerate() {
        out.raw(if index == 0 {
            b"{\"timestamp\":"
        } else {
            b",{\"timestamp\":"
        })?;
        out.integer(point.timestamp)?;
        out.raw(b",\"value\":")?;
        out.float(point.value)?;
        out.raw(b"}")?;
    }
    out.raw(b"]")?;
    if let Some(interval) = series.interval {
        out.raw(b",\"interval\":")?;
        out.integer(interval)?;
    }
    if let Some(unit) = series.unit {
        out.raw(b",\"unit\":")?;
        out.string(unit)?;
    }
    if !series.tags.is_empty() {
        out.raw(b",\"tags\":")?;
        out.string_array(series.tags)?;
    }
    if !series.resources.is_empty() {
        out.raw(b",\"resources\":[")?;
        for (index, resource) in series.resources.iter().enumerate() {
            out.raw(if index == 0 {
                b"{\"name\":"
            } else {
                b",{\"name\":"
            })?;
            out.string(resource.name)?;
            out.raw(b",\"type\":")?;
            out.string(resource.kind)?;
            out.raw(b"}")?;
        }
        out.raw(b"]")?;
    }
    if let Some(name) = series.source_type_name {
        out.raw(b",\"source_type_name\":")?;
        out.string(name)?;
    }
    out.raw(b"}")
}
