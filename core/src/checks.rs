//! Service checks: `POST /api/v1/check_run`, a JSON array of
//! `{"check","host_name","status","tags","timestamp"?,"message"?}`.

use core::fmt;

use crate::intake::{
    NameError, TagError, TimeError, chars_at_most, check_time, is_valid_host, validate_metric_name,
    validate_tags,
};
use crate::json::{Format, JsonWriter, RecordBatch, WriteError};

/// Longest message, in characters (Datadog displays only the first 500; we refuse longer ones
/// rather than lose the end).
pub const CHECK_MESSAGE_MAX_CHARS: usize = 500;
/// Oldest accepted timestamp, in seconds before `now` ("up to 10 minutes in the past").
pub const CHECK_MAX_AGE_SECS: i64 = 600;
/// Furthest accepted timestamp, in seconds after `now` (undocumented; the metrics bound).
pub const CHECK_MAX_AHEAD_SECS: i64 = 600;
/// Largest request body, in bytes: undocumented for `check_run`; the v1 intake limit (3.2 MB).
pub const CHECKS_MAX_PAYLOAD_BYTES: usize = 3_200_000;

/// Service check status, an integer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CheckStatus {
    /// `0`
    Ok,
    /// `1`
    Warning,
    /// `2`
    Critical,
    /// `3`
    Unknown,
}

impl CheckStatus {
    /// The integer Datadog expects.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
            Self::Unknown => 3,
        }
    }
}

/// One service check result. Everything is borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServiceCheck<'a> {
    /// Check name (metric naming rules, e.g. `app.ok`).
    pub check: &'a str,
    /// Host the check ran on.
    pub host_name: &'a str,
    /// Result.
    pub status: CheckStatus,
    /// POSIX seconds; Datadog uses the arrival time when `None`.
    pub timestamp: Option<i64>,
    /// Free text, ≤ [`CHECK_MESSAGE_MAX_CHARS`] (Datadog drops it for `Ok`).
    pub message: Option<&'a str>,
    /// Tags (always sent, `[]` when empty: the field is required).
    pub tags: &'a [&'a str],
}

impl<'a> ServiceCheck<'a> {
    /// A check result without timestamp, message or tags.
    pub const fn new(check: &'a str, host_name: &'a str, status: CheckStatus) -> Self {
        Self {
            check,
            host_name,
            status,
            timestamp: None,
            message: None,
            tags: &[],
        }
    }

    /// Sets the timestamp (POSIX seconds).
    pub const fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the message.
    pub const fn with_message(mut self, message: &'a str) -> Self {
        self.message = Some(message);
        self
    }

    /// Sets the tags.
    pub const fn with_tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Checks the result against Datadog's rules; the timestamp against `now` (POSIX seconds)
    /// when the device knows the time.
    pub fn validate(&self, now: Option<i64>) -> Result<(), CheckError> {
        validate_metric_name(self.check).map_err(CheckError::InvalidName)?;
        if !is_valid_host(self.host_name) {
            return Err(CheckError::InvalidHostName);
        }
        if let Some(timestamp) = self.timestamp {
            check_time(timestamp, now, CHECK_MAX_AGE_SECS, CHECK_MAX_AHEAD_SECS)
                .map_err(CheckError::Timestamp)?;
        }
        if self
            .message
            .is_some_and(|message| !chars_at_most(message, CHECK_MESSAGE_MAX_CHARS))
        {
            return Err(CheckError::MessageTooLong);
        }
        validate_tags(self.tags).map_err(CheckError::InvalidTag)
    }
}

/// Why a service check was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CheckError {
    /// The check name breaks Datadog's naming rules.
    InvalidName(NameError),
    /// `host_name` is not a valid host name.
    InvalidHostName,
    /// The timestamp is outside Datadog's window around `now`.
    Timestamp(TimeError),
    /// The message is longer than [`CHECK_MESSAGE_MAX_CHARS`].
    MessageTooLong,
    /// A tag breaks Datadog's tag rules.
    InvalidTag(TagError),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(reason) => write!(f, "check {reason}"),
            Self::InvalidHostName => f.write_str("check host_name is not a valid host name"),
            Self::Timestamp(reason) => write!(f, "check {reason}"),
            Self::MessageTooLong => f.write_str("check message is longer than 500 characters"),
            Self::InvalidTag(reason) => reason.fmt(f),
        }
    }
}

/// A `/api/v1/check_run` payload (a JSON array) being filled in a caller's buffer; complete and
/// valid after every [`push`](RecordBatch::push).
///
/// Limit: [`CHECKS_MAX_PAYLOAD_BYTES`].
pub type CheckBatch<'a> = RecordBatch<'a, CheckPayload>;

/// The payload format of [`CheckBatch`].
#[derive(Debug)]
pub enum CheckPayload {}

impl Format for CheckPayload {
    type Record<'r> = ServiceCheck<'r>;
    type Error = CheckError;
    const OPEN: &'static [u8] = b"[";
    const CLOSE: &'static [u8] = b"]";
    const DEFAULT_MAX_LEN: usize = CHECKS_MAX_PAYLOAD_BYTES;
    const MAX_LEN: usize = CHECKS_MAX_PAYLOAD_BYTES;

    fn validate(record: &ServiceCheck<'_>, now: Option<i64>) -> Result<(), CheckError> {
        record.validate(now)
    }

    fn write(out: &mut JsonWriter<'_>, record: &ServiceCheck<'_>) -> Result<(), WriteError> {
        write_check(out, record)
    }
}

/// Writes one service check object (`tags` always present: the API requires it).
fn write_check(out: &mut JsonWriter<'_>, check: &ServiceCheck<'_>) -> Result<(), WriteError> {
    out.raw(b"{\"check\":")?;
    out.string(check.check)?;
    out.raw(b",\"host_name\":")?;
    out.string(check.host_name)?;
    out.raw(b",\"status\":")?;
    out.integer(i64::from(check.status.code()))?;
    out.raw(b",\"tags\":")?;
    out.string_array(check.tags)?;
    if let Some(timestamp) = check.timestamp {
        out.raw(b",\"timestamp\":")?;
        out.integer(timestamp)?;
    }
    if let Some(message) = check.message {
        out.raw(b",\"message\":")?;
        out.string(message)?;
    }
    out.raw(b"}")
}
