//! Events: `POST /api/v1/events`, one event per request (`{"title","text","date_happened"?,
//! "priority"?,"host"?,"tags"?,"alert_type"?,"aggregation_key"?,"source_type_name"?,
//! "related_event_id"?,"device_name"?}`). The v1 endpoint takes no arrays, so there is no batch:
//! [`Event::encode`] writes one complete body into a caller's buffer.

use core::fmt;

use crate::intake::{
    TAG_MAX_CHARS, TagError, TimeError, chars_at_most, check_time, is_label, is_valid_host,
    validate_tags,
};
use crate::json::{JsonWriter, WriteError, write_document};

/// Longest event text, in characters (Datadog `maxLength: 4000`).
pub const EVENT_TEXT_MAX_CHARS: usize = 4_000;
/// Longest aggregation key, in characters (Datadog `maxLength: 100`).
pub const EVENT_AGGREGATION_KEY_MAX_CHARS: usize = 100;
/// Oldest accepted `date_happened`, in seconds before `now` ("no older than 18 hours").
pub const EVENT_MAX_AGE_SECS: i64 = 18 * 3_600;
/// Furthest accepted `date_happened`, in seconds after `now` ("two hours in the future").
pub const EVENT_MAX_AHEAD_SECS: i64 = 2 * 3_600;

/// Event priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Priority {
    /// `normal`
    Normal,
    /// `low`
    Low,
}

impl Priority {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

/// Event alert type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlertType {
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `info`
    Info,
    /// `success`
    Success,
    /// `user_update`
    UserUpdate,
    /// `recommendation`
    Recommendation,
    /// `snapshot`
    Snapshot,
}

impl AlertType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Success => "success",
            Self::UserUpdate => "user_update",
            Self::Recommendation => "recommendation",
            Self::Snapshot => "snapshot",
        }
    }
}

/// One event. Everything is borrowed; build it with [`Event::new`] and the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event<'a> {
    /// Title (required, non-empty; Datadog documents no maximum).
    pub title: &'a str,
    /// Body, ≤ [`EVENT_TEXT_MAX_CHARS`]; markdown when wrapped in `%%% \n … \n %%%`.
    pub text: &'a str,
    /// POSIX seconds; Datadog uses the arrival time when `None`.
    pub date_happened: Option<i64>,
    /// Priority; omitted when `None`.
    pub priority: Option<Priority>,
    /// Host name; omitted when `None`.
    pub host: Option<&'a str>,
    /// Tags; omitted when empty.
    pub tags: &'a [&'a str],
    /// Alert type; omitted when `None` (Datadog then shows `info`).
    pub alert_type: Option<AlertType>,
    /// Groups events in the event stream, ≤ [`EVENT_AGGREGATION_KEY_MAX_CHARS`].
    pub aggregation_key: Option<&'a str>,
    /// Integration source (e.g. `my_apps`).
    pub source_type_name: Option<&'a str>,
    /// Parent event id.
    pub related_event_id: Option<i64>,
    /// Device name.
    pub device_name: Option<&'a str>,
}

/// Why an event was not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EventError {
    /// The title is empty.
    EmptyTitle,
    /// The text is longer than [`EVENT_TEXT_MAX_CHARS`].
    TextTooLong,
    /// `date_happened` is outside Datadog's window around `now`.
    DateHappened(TimeError),
    /// The host is not a valid host name.
    InvalidHost,
    /// A tag breaks Datadog's tag rules.
    InvalidTag(TagError),
    /// The aggregation key is empty or longer than [`EVENT_AGGREGATION_KEY_MAX_CHARS`].
    InvalidAggregationKey,
    /// `source_type_name` is empty, over-long (> 200) or has a control character.
    InvalidSourceTypeName,
    /// `device_name` is empty, over-long (> 200) or has a control character.
    InvalidDeviceName,
    /// The encoded event does not fit into the buffer (nothing usable was written).
    BufferTooSmall,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyTitle => f.write_str("event title is empty"),
            Self::TextTooLong => f.write_str("event text is longer than 4000 characters"),
            Self::DateHappened(reason) => write!(f, "event date_happened: {reason}"),
            Self::InvalidHost => f.write_str("event host is not a valid host name"),
            Self::InvalidTag(reason) => reason.fmt(f),
            Self::InvalidAggregationKey => f.write_str("aggregation key is empty or too long"),
            Self::InvalidSourceTypeName => f.write_str("source_type_name is invalid"),
            Self::InvalidDeviceName => f.write_str("device_name is invalid"),
            Self::BufferTooSmall => f.write_str("buffer too small for the event"),
        }
    }
}

impl<'a> Event<'a> {
    /// An event with only a title and a text.
    pub const fn new(title: &'a str, text: &'a str) -> Self {
        Self {
            title,
            text,
            date_happened: None,
            priority: None,
            host: None,
            tags: &[],
            alert_type: None,
            aggregation_key: None,
            source_type_name: None,
            related_event_id: None,
            device_name: None,
        }
    }

    /// Sets `date_happened` (POSIX seconds).
    pub const fn with_date_happened(mut self, timestamp: i64) -> Self {
        self.date_happened = Some(timestamp);
        self
    }

    /// Sets the priority.
    pub const fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
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

    /// Sets the alert type.
    pub const fn with_alert_type(mut self, alert_type: AlertType) -> Self {
        self.alert_type = Some(alert_type);
        self
    }

    /// Sets the aggregation key.
    pub const fn with_aggregation_key(mut self, key: &'a str) -> Self {
        self.aggregation_key = Some(key);
        self
    }

    /// Sets the source type name.
    pub const fn with_source_type_name(mut self, name: &'a str) -> Self {
        self.source_type_name = Some(name);
        self
    }

    /// Sets the related (parent) event id.
    pub const fn with_related_event_id(mut self, id: i64) -> Self {
        self.related_event_id = Some(id);
        self
    }

    /// Sets the device name.
    pub const fn with_device_name(mut self, name: &'a str) -> Self {
        self.device_name = Some(name);
        self
    }

    /// Checks the event against Datadog's rules; `date_happened` against `now` (POSIX seconds)
    /// when the device knows the time.
    pub fn validate(&self, now: Option<i64>) -> Result<(), EventError> {
        if self.title.is_empty() {
            return Err(EventError::EmptyTitle);
        }
        if !chars_at_most(self.text, EVENT_TEXT_MAX_CHARS) {
            return Err(EventError::TextTooLong);
        }
        if let Some(date) = self.date_happened {
            check_time(date, now, EVENT_MAX_AGE_SECS, EVENT_MAX_AHEAD_SECS)
                .map_err(EventError::DateHappened)?;
        }
        if self.host.is_some_and(|host| !is_valid_host(host)) {
            return Err(EventError::InvalidHost);
        }
        validate_tags(self.tags).map_err(EventError::InvalidTag)?;
        if self.aggregation_key.is_some_and(|key| {
            key.is_empty() || !chars_at_most(key, EVENT_AGGREGATION_KEY_MAX_CHARS)
        }) {
            return Err(EventError::InvalidAggregationKey);
        }
        if self
            .source_type_name
            .is_some_and(|name| !is_label(name, TAG_MAX_CHARS))
        {
            return Err(EventError::InvalidSourceTypeName);
        }
        if self
            .device_name
            .is_some_and(|name| !is_label(name, TAG_MAX_CHARS))
        {
            return Err(EventError::InvalidDeviceName);
        }
        Ok(())
    }

    /// Validates the event and writes the request body into `buf`, returning the written JSON.
    pub fn encode<'b>(&self, now: Option<i64>, buf: &'b mut [u8]) -> Result<&'b [u8], EventError> {
        self.validate(now)?;
        write_document(buf, |out| write_event(out, self)).ok_or(EventError::BufferTooSmall)
    }
}

/// Writes the event object.
fn write_event(out: &mut JsonWriter<'_>, event: &Event<'_>) -> Result<(), WriteError> {
    out.raw(b"{\"title\":")?;
    out.string(event.title)?;
    out.raw(b",\"text\":")?;
    out.string(event.text)?;
    if let Some(date) = event.date_happened {
        out.raw(b",\"date_happened\":")?;
        out.integer(date)?;
    }
    if let Some(priority) = event.priority {
        out.raw(b",\"priority\":")?;
        out.string(priority.as_str())?;
    }
    if let Some(host) = event.host {
        out.raw(b",\"host\":")?;
        out.string(host)?;
    }
    if !event.tags.is_empty() {
        out.raw(b",\"tags\":")?;
        out.string_array(event.tags)?;
    }
    if let Some(alert_type) = event.alert_type {
        out.raw(b",\"alert_type\":")?;
        out.string(alert_type.as_str())?;
    }
    if let Some(key) = event.aggregation_key {
        out.raw(b",\"aggregation_key\":")?;
        out.string(key)?;
    }
    if let Some(name) = event.source_type_name {
        out.raw(b",\"source_type_name\":")?;
        out.string(name)?;
    }
    if let Some(id) = event.related_event_id {
        out.raw(b",\"related_event_id\":")?;
        out.integer(id)?;
    }
    if let Some(name) = event.device_name {
        out.raw(b",\"device_name\":")?;
        out.string(name)?;
    }
    out.raw(b"}")
}
