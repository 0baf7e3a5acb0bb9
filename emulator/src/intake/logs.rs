//! Logs: `POST http-intake.logs.<domain>/api/v2/logs` and the legacy `POST /v1/input`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::{Accepted, ErrorStyle, IntakeSpec, accept, error, respond};
use crate::clock::lock;
use crate::decoding::ContentEncoding;
use crate::received::LogRecord;
use crate::state::AppState;

/// "5MB" uncompressed per payload; compressed bodies can only be smaller.
const MAX_PAYLOAD: usize = 5_000_000;
/// Larger entries are accepted and truncated to this size.
const MAX_ENTRY: usize = 1_000_000;
const MAX_ENTRIES: usize = 1000;

/// Both the v2 endpoint and the legacy v1 input.
const SPEC: IntakeSpec = IntakeSpec {
    style: ErrorStyle::JsonApi,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
    ],
    max_body: MAX_PAYLOAD,
    max_decoded: MAX_PAYLOAD + 1,
    missing_key_status: StatusCode::UNAUTHORIZED,
};

pub(super) async fn submit_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    submit(
        &state,
        &headers,
        query.as_deref(),
        body,
        &SPEC,
        StatusCode::ACCEPTED,
    )
    .await
}

/// The deprecated v1 input answers 200 (recorded) instead of 202.
pub(super) async fn submit_v1(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    submit(
        &state,
        &headers,
        query.as_deref(),
        body,
        &SPEC,
        StatusCode::OK,
    )
    .await
}

async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    spec: &IntakeSpec,
    success: StatusCode,
) -> Response {
    let accepted = match accept(state, headers, query, body, spec).await {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let is_text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    let entries = if is_text {
        text_entries(&accepted)
    } else {
        json_entries(&accepted.body)
    };
    let entries = match entries {
        Ok(entries) => entries,
        Err(message) => return error(spec.style, StatusCode::BAD_REQUEST, &message),
    };
    if entries.len() > MAX_ENTRIES {
        return error(
            spec.style,
            StatusCode::BAD_REQUEST,
            &format!(
                "Too many log entries: {} (at most {MAX_ENTRIES} per payload)",
                entries.len()
            ),
        );
    }
    let records: Vec<LogRecord> = entries
        .into_iter()
        .map(|entry| record(entry, &accepted, query))
        .collect();
    lock(&state.received).logs.extend(records);
    respond(success, "application/json", "{}")
}

/// An array of objects, or a single object.
fn json_entries(body: &[u8]) -> Result<Vec<Value>, String> {
    let malformed = || "Malformed payload".to_owned();
    match serde_json::from_slice::<Value>(body).map_err(|_| malformed())? {
        Value::Array(items) if items.iter().all(Value::is_object) => Ok(items),
        object @ Value::Object(_) => Ok(vec![object]),
        _ => Err(malformed()),
    }
}

/// `text/plain`: one log per line.
fn text_entries(accepted: &Accepted) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(&accepted.body)
        .map_err(|_| "Malformed payload: not UTF-8".to_owned())?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::json!({ "message": l }))
        .collect())
}

/// Builds the stored record; query attributes (`ddtags`, `ddsource`, `service`, `host`)
/// fill in what the entry lacks.
fn record(mut entry: Value, accepted: &Accepted, query: Option<&str>) -> LogRecord {
    let query: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let from_query = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let truncated = entry.to_string().len() > MAX_ENTRY;
    if let (true, Some(Value::String(message))) = (truncated, entry.get_mut("message")) {
        let mut end = MAX_ENTRY.min(message.len());
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    LogRecord {
        api_key_id: accepted.sender.api_key_id.clone(),
        org_id: accepted.sender.org_id.clone(),
        message: entry.get("message").map_or_else(String::new, |m| {
            m.as_str().map_or_else(|| m.to_string(), str::to_owned)
        }),
        ddtags: field("ddtags").or_else(|| from_query("ddtags")),
        ddsource: field("ddsource").or_else(|| from_query("ddsource")),
        hostname: field("hostname").or_else(|| from_query("host")),
        service: field("service").or_else(|| from_query("service")),
        truncated,
        received_at: accepted.now,
        entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_arrays_and_single_objects_only() {
        assert_eq!(
            json_entries(br#"[{"message":"a"},{"message":"b"}]"#)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(json_entries(br#"{"message":"a"}"#).unwrap().len(), 1);
        for bad in [&b"[1]"[..], b"\"x\"", b"{", b""] {
            assert_eq!(json_entries(bad).unwrap_err(), "Malformed payload");
        }
    }

    #[test]
    fn truncates_oversized_entries() {
        let accepted = Accepted {
            sender: crate::keys::Sender::for_tests(),
            body: Vec::new(),
            now: 0,
        };
        let entry = serde_json::json!({ "message": "é".repeat(MAX_ENTRY) });
        let record = record(entry, &accepted, Some("ddtags=env:a&host=h"));
        assert!(record.truncated);
        assert!(record.message.len() <= MAX_ENTRY);
        assert_eq!(record.ddtags.as_deref(), Some("env:a"));
        assert_eq!(record.hostname.as_deref(), Some("h"));
    }
}
