//! Logs: `POST https://http-intake.logs.<site>/api/v2/logs`, a JSON array of
//! `{"message","ddsource"?,"ddtags"?,"hostname"?,"service"?,"status"?,"timestamp"?}`.
//! `ddtags` is one comma-separated string on the wire; [`LogEntry::ddtags`] takes the tags as a
//! list and joins them.

use core::fmt;

use crate::intake::{TAG_MAX_CHARS, TagError, TimeError, is_label, is_valid_host, validate_tags};
use crate::json::{Format, JsonWriter, RecordBatch, WriteError};

/// Most entries in one request (Datadog: "array ≤ 1000 entries").
pub const LOGS_MAX_ENTRIES: usize = 1_000;
/// Largest uncompressed request body, in bytes (Datadog: 5 MB; we read it as 5,000,000).
pub const LOGS_MAX_PAYLOAD_BYTES: usize = 5_000_000;
/// Largest single entry, in bytes of its JSON (Datadog: 1 MB, larger logs are truncated; we
/// refuse them instead of letting them lose their end).
pub const LOG_MAX_ENTRY_BYTES: usize = 1_000_000;
/// Oldest accepted log timestamp, in seconds before `now` ("up to 18 hours in the past").
pub const LOG_MAX_AGE_SECS: i64 = 18 * 3_600;

/// Log severity, sent as `status` (names Datadog's status remapper recognises).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogStatus {
    /// `emergency`
    Emergency,
    /// `alert`
    Alert,
    /// `critical`
    Critical,
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `notice`
    Notice,
    /// `info`
    Info,
    /// `debug`
    Debug,
    /// `ok`
    Ok,
}

impl LogStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Alert => "alert",
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Ok => "ok",
        }
    }
}

/// One log entry. Everything is borrowed; build it with [`LogEntry::new`] and the `with_*`
/// methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogEntry<'a> {
    /// The log line (any text; escaped as needed).
    pub message: &'a str,
    /// Integration / technology name (`source:` facet), e.g. `nginx`.
    pub ddsource: Option<&'a str>,
    /// Tags, sent joined by `,` as `ddtags`; omitted when empty.
    pub ddtags: &'a [&'a str],
    /// Originating host.
    pub hostname: Option<&'a str>,
    /// Service name.
    pub service: Option<&'a str>,
    /// Severity.
    pub status: Option<LogStatus>,
    /// When it happened, in POSIX **milliseconds** (Datadog's `timestamp` attribute); Datadog
    /// uses the arrival time when `None`.
    pub timestamp_ms: Option<i64>,
}

impl<'a> LogEntry<'a> {
    /// An entry with only a message.
    pub const fn new(message: &'a str) -> Self {
        Self {
            message,
            ddsource: None,
            ddtags: &[],
            hostname: None,
            service: None,
            status: None,
            timestamp_ms: None,
        }
    }

    /// Sets the source.
    pub const fn with_source(mut self, source: &'a str) -> Self {
        self.ddsource = Some(source);
        self
    }

    /// Sets the tags.
    pub const fn with_tags(mut self, tags: &'a [&'a str]) -> Self {
        self.ddtags = tags;
        self
    }

    /// Sets the host name.
    pub const fn with_hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = Some(hostname);
        self
    }

    /// Sets the service.
    pub const fn with_service(mut self, service: &'a str) -> Self {
        self.service = Some(service);
        self
    }

    /// Sets the status.
    pub const fn with_status(mut self, status: LogStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the timestamp, in POSIX milliseconds.
    pub const fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Checks the entry against Datadog's rules; the timestamp against `now` (POSIX seconds)
    /// when the device knows the time. Datadog documents no future bound for logs, so only the
    /// age is checked.
    pub fn validate(&self, now: Option<i64>) -> Result<(), LogError> {
        if self
            .ddsource
            .is_some_and(|source| !is_label(source, TAG_MAX_CHARS))
        {
            return Err(LogError::InvalidSource);
        }
        validate_tags(self.ddtags).map_err(LogError::InvalidTag)?;
        if self.hostname.is_some_and(|host| !is_valid_host(host)) {
            return Err(LogError::InvalidHostname);
        }
        if self
            .service
            .is_some_and(|service| !is_label(service, TAG_MAX_CHARS))
        {
            return Err(LogError::InvalidService);
        }
        if let Some(timestamp_ms) = self.timestamp_ms {
            crate::intake::check_time(
                timestamp_ms.div_euclid(1_000),
                now,
                LOG_MAX_AGE_SECS,
                i64::MAX,
            )
            .map_err(LogError::Timestamp)?;
        }
        Ok(())
    }
}

/// Why a log entry was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogError {
    /// `ddsource` is empty, over-long (> 200) or has a control character.
    InvalidSource,
    /// A tag breaks Datadog's tag rules (a `,` would split it in `ddtags`).
    InvalidTag(TagError),
    /// `hostname` is not a valid host name.
    InvalidHostname,
    /// `service` is empty, over-long (> 200) or has a control character.
    InvalidService,
    /// `timestamp_ms` is before 1970 or older than 18 hours.
    Timestamp(TimeError),
    /// The entry's JSON is longer than [`LOG_MAX_ENTRY_BYTES`].
    EntryTooLarge,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSource => f.write_str("log ddsource is invalid"),
            Self::InvalidTag(reason) => reason.fmt(f),
            Self::InvalidHostname => f.write_str("log hostname is not a valid host name"),
            Self::InvalidService => f.write_str("log service is invalid"),
            Self::Timestamp(reason) => write!(f, "log {reason}"),
            Self::EntryTooLarge => f.write_str("log entry is larger than 1 MB"),
        }
    }
}

/// A `/api/v2/logs` payload (a JSON array) being filled in a caller's buffer; complete and
/// valid after every [`push`](RecordBatch::push). At most [`LOGS_MAX_ENTRIES`] entries.
///
/// Limits: [`LOGS_MAX_PAYLOAD_BYTES`], [`LOGS_MAX_ENTRIES`] entries of at most [`LOG_MAX_ENTRY_BYTES`].
pub type LogBatch<'a> = RecordBatch<'a, LogPayload>;

/// The payload format of [`LogBatch`].
#[derive(Debug)]
pub enum LogPayload {}

impl Format for LogPayload {
    type Record<'r> = LogEntry<'r>;
    type Error = LogError;
    const OPEN: &'static [u8] = b"[";
    const CLOSE: &'static [u8] = b"]";
    const DEFAULT_MAX_LEN: usize = LOGS_MAX_PAYLOAD_BYTES;
    const MAX_LEN: usize = LOGS_MAX_PAYLOAD_BYTES;
    const MAX_RECORDS: usize = LOGS_MAX_ENTRIES;
    const MAX_RECORD: Option<(usize, LogError)> =
        Some((LOG_MAX_ENTRY_BYTES, LogError::EntryTooLarge));

    fn validate(record: &LogEntry<'_>, now: Option<i64>) -> Result<(), LogError> {
        record.validate(now)
    }

    fn write(out: &mut JsonWriter<'_>, record: &LogEntry<'_>) -> Result<(), WriteError> {
        write_log(out, record)
    }
}

/// Writes one log object; the tags become one comma-separated `ddtags` string.
fn write_log(out: &mut JsonWriter<'_>, entry: &LogEntry<'_>) -> Result<(), WriteError> {
    out.raw(b"{\"message\":")?;
    out.string(entry.message)?;
    if let Some(source) = entry.ddsource {
        out.raw(b",\"ddsource\":")?;
        out.string(source)?;
    }
    if !entry.ddtags.is_empty() {
        out.raw(b",\"ddtags\":")?;
        out.joined_string(entry.ddtags, ",")?;
    }
    if let Some(hostname) = entry.hostname {
        out.raw(b",\"hostname\":")?;
        out.string(hostname)?;
    }
    if let Some(service) = entry.service {
        out.raw(b",\"service\":")?;
        out.string(service)?;
    }
    if let Some(status) = entry.status {
        out.raw(b",\"status\":")?;
        out.string(status.as_str())?;
    }
    if let Some(timestamp_ms) = entry.timestamp_ms {
        out.raw(b",\"timestamp\":")?;
        out.integer(timestamp_ms)?;
    }
    out.raw(b"}")
}
