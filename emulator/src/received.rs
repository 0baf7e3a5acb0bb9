//! Everything the intake endpoints accepted, decoded, with the id of the API key that sent it
//! and the org that key belongs to.

use serde::Serialize;

/// Which endpoint a metric series arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesEndpoint {
    /// `POST /api/v1/series`
    V1,
    /// `POST /api/v2/series`
    V2,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub timestamp: i64,
    pub value: f64,
}

/// A metric series as accepted by `/api/v1/series` or `/api/v2/series`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRecord {
    pub api_key_id: String,
    /// The org of the key (where Datadog would show this data).
    pub org_id: String,
    pub endpoint: SeriesEndpoint,
    pub metric: String,
    /// `unspecified`, `count`, `rate` or `gauge` (v1 `""` is `unspecified`).
    pub metric_type: String,
    pub interval: Option<i64>,
    pub tags: Vec<String>,
    /// v1 `host`, or the v2 resource of type `host`.
    pub host: Option<String>,
    pub unit: Option<String>,
    pub points: Vec<Point>,
    /// Emulator clock (Unix seconds) when it arrived.
    pub received_at: i64,
}

/// A distribution series from `/api/v1/distribution_points`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistributionRecord {
    pub api_key_id: String,
    /// The org of the key (where Datadog would show this data).
    pub org_id: String,
    pub metric: String,
    pub tags: Vec<String>,
    pub host: Option<String>,
    /// `(timestamp, values)` pairs.
    pub points: Vec<(i64, Vec<f64>)>,
    pub received_at: i64,
}

/// Which events API an event arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventsEndpoint {
    /// `POST api.<domain>/api/v1/events`
    V1,
    /// `POST event-management-intake.<domain>/api/v2/events`
    V2,
}

/// An accepted event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub api_key_id: String,
    /// The org of the key (where Datadog would show this data).
    pub org_id: String,
    pub endpoint: EventsEndpoint,
    /// The id returned to the client (v1 `id_str`, v2 `evt.id`).
    pub id: String,
    pub title: String,
    /// v1 `text`, v2 `message`.
    pub text: String,
    pub tags: Vec<String>,
    /// Unix seconds: v1 `date_happened` (defaulted to now), v2 `timestamp` (or now).
    pub timestamp: i64,
    /// The request object as sent (v1: the event; v2: `data.attributes`).
    pub payload: serde_json::Value,
    pub received_at: i64,
}

/// One accepted log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    pub api_key_id: String,
    /// The org of the key (where Datadog would show this data).
    pub org_id: String,
    /// The `message` attribute (empty if absent; truncated to 1 MB like Datadog does).
    pub message: String,
    /// `ddtags` as sent (comma-separated).
    pub ddtags: Option<String>,
    pub ddsource: Option<String>,
    pub hostname: Option<String>,
    pub service: Option<String>,
    /// The whole entry as sent (after truncation of `message`).
    pub entry: serde_json::Value,
    /// Whether the entry exceeded 1 MB and was truncated.
    pub truncated: bool,
    pub received_at: i64,
}

/// One accepted service check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRecord {
    pub api_key_id: String,
    /// The org of the key (where Datadog would show this data).
    pub org_id: String,
    pub check: String,
    pub host_name: String,
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub status: u8,
    pub tags: Vec<String>,
    pub message: Option<String>,
    pub timestamp: Option<i64>,
    pub received_at: i64,
}

/// Every request the emulator answered (no headers or bodies: they may carry secrets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    pub method: String,
    /// The `Host` header as sent.
    pub host: String,
    /// Path without query string.
    pub path: String,
    pub status: u16,
    /// The `Content-Encoding` header as sent, if any.
    pub content_encoding: Option<String>,
    /// `Some` when an injected fault produced the answer.
    pub fault: Option<String>,
    pub received_at: i64,
}

/// A record that arrived with an org's key.
pub(crate) trait OfOrg {
    fn org_id(&self) -> &str;
}

macro_rules! of_org {
    ($($record:ty),*) => {
        $(impl OfOrg for $record {
            fn org_id(&self) -> &str {
                &self.org_id
            }
        })*
    };
}

of_org!(
    SeriesRecord,
    DistributionRecord,
    EventRecord,
    LogRecord,
    CheckRecord
);

/// The records of one org (every record with `None`).
pub(crate) fn of_org<T: OfOrg + Clone>(records: &[T], org_id: Option<&str>) -> Vec<T> {
    records
        .iter()
        .filter(|r| org_id.is_none_or(|id| r.org_id() == id))
        .cloned()
        .collect()
}

#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) series: Vec<SeriesRecord>,
    pub(crate) distributions: Vec<DistributionRecord>,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) checks: Vec<CheckRecord>,
    pub(crate) requests: Vec<RequestRecord>,
}
