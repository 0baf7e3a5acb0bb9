//! `POST /api/v1/events`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::rules::Fields;
use super::{ErrorStyle, IntakeSpec, accept, error, respond};
use crate::clock::lock;
use crate::decoding::ContentEncoding;
use crate::ids;
use crate::received::{EventRecord, EventsEndpoint};
use crate::state::AppState;

const SPEC: IntakeSpec = IntakeSpec {
    style: ErrorStyle::PlainJson,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Deflate,
        ContentEncoding::Gzip,
    ],
    max_body: 3_200_000,
    max_decoded: 62_914_560,
    missing_key_status: StatusCode::FORBIDDEN,
};

const MAX_TEXT_LEN: usize = 4000;
const MAX_AGGREGATION_KEY_LEN: usize = 100;
/// "Limited to events no older than 18 hours".
const MAX_AGE_SECS: i64 = 18 * 3600;
/// The `Event` schema: "up to 18 hours in the past and two hours in the future".
const MAX_AHEAD_SECS: i64 = 2 * 3600;
const PRIORITIES: [&str; 2] = ["normal", "low"];
const ALERT_TYPES: [&str; 7] = [
    "error",
    "warning",
    "info",
    "success",
    "user_update",
    "recommendation",
    "snapshot",
];

/// The recorded response, field for field and in Datadog's order.
#[derive(Serialize)]
struct Created<'a> {
    status: &'static str,
    event: EventBody<'a>,
}

#[derive(Serialize)]
struct EventBody<'a> {
    /// A JSON number rounded like Datadog's (the exact id is in `id_str`).
    id: serde_json::Number,
    id_str: String,
    title: &'a str,
    text: &'a str,
    date_happened: i64,
    handle: Option<&'a str>,
    priority: Option<&'a str>,
    related_event_id: Option<i64>,
    tags: &'a [String],
    url: String,
}

struct ParsedEvent<'a> {
    title: &'a str,
    text: &'a str,
    date_happened: i64,
    priority: Option<&'a str>,
    related_event_id: Option<i64>,
    tags: Vec<String>,
}

pub(super) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let accepted = match accept(&state, &headers, query.as_deref(), body, &SPEC).await {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let payload: Value = match serde_json::from_slice(&accepted.body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                SPEC.style,
                StatusCode::BAD_REQUEST,
                &format!("Payload is not in the expected format: {e}"),
            );
        }
    };
    let event = match parse(&payload, accepted.now) {
        Ok(event) => event,
        Err(message) => return error(SPEC.style, StatusCode::BAD_REQUEST, &message),
    };
    let id = ids::event_id();
    let body = Created {
        status: "ok",
        event: EventBody {
            id: rounded_like_a_double(id),
            id_str: id.to_string(),
            title: event.title,
            text: event.text,
            date_happened: event.date_happened,
            handle: None,
            priority: event.priority,
            related_event_id: event.related_event_id,
            tags: &event.tags,
            url: format!("{}/event/event?id={id}", state.url_for(crate::hosts::APP)),
        },
    };
    let json = serde_json::to_string(&body).unwrap_or_default();
    lock(&state.received).events.push(EventRecord {
        api_key_id: accepted.sender.api_key_id,
        org_id: accepted.sender.org_id,
        endpoint: EventsEndpoint::V1,
        id: id.to_string(),
        title: event.title.to_owned(),
        text: event.text.to_owned(),
        tags: event.tags.clone(),
        timestamp: event.date_happened,
        payload: payload.clone(),
        received_at: accepted.now,
    });
    respond(StatusCode::ACCEPTED, "application/json", json)
}

fn parse(payload: &Value, now: i64) -> Result<ParsedEvent<'_>, String> {
    let f = Fields::of(payload, "$")?;
    let title = f.string("title")?;
    let text = f.string("text")?;
    if text.chars().count() > MAX_TEXT_LEN {
        return Err(format!(
            "Event text is longer than {MAX_TEXT_LEN} characters"
        ));
    }
    if f.opt_string("aggregation_key")?
        .is_some_and(|key| key.chars().count() > MAX_AGGREGATION_KEY_LEN)
    {
        return Err(format!(
            "Aggregation key is longer than {MAX_AGGREGATION_KEY_LEN} characters"
        ));
    }
    let priority = f.opt_string("priority")?;
    if let Some(p) = priority.filter(|p| !PRIORITIES.contains(p)) {
        return Err(format!("Invalid priority {p:?}: must be normal or low"));
    }
    if let Some(a) = f
        .opt_string("alert_type")?
        .filter(|a| !ALERT_TYPES.contains(a))
    {
        return Err(format!("Invalid alert_type {a:?}"));
    }
    for field in ["host", "source_type_name", "device_name"] {
        f.opt_string(field)?;
    }
    let date_happened = f.opt_int("date_happened")?.unwrap_or(now);
    if date_happened < now.saturating_sub(MAX_AGE_SECS) {
        return Err("Event too far in the past".into());
    }
    if date_happened > now.saturating_add(MAX_AHEAD_SECS) {
        return Err("Event too far in the future".into());
    }
    Ok(ParsedEvent {
        title,
        text,
        date_happened,
        priority,
        related_event_id: f.opt_int("related_event_id")?,
        tags: f.tags("tags")?,
    })
}

/// Datadog prints event ids through a double: `6327818702635911562` becomes
/// `6327818702635911000` (shortest round-trip digits, then zeros).
fn rounded_like_a_double(id: u64) -> serde_json::Number {
    let scientific = format!("{:e}", id as f64); // e.g. "6.327818702635911e18"
    let rounded = scientific.split_once('e').and_then(|(mantissa, exponent)| {
        let exponent: usize = exponent.parse().ok()?;
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let zeros = (exponent + 1).checked_sub(digits.len())?;
        format!("{digits}{}", "0".repeat(zeros)).parse::<u64>().ok()
    });
    serde_json::Number::from(rounded.unwrap_or(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_like_the_recording() {
        assert_eq!(
            rounded_like_a_double(6_327_818_702_635_911_562).to_string(),
            "6327818702635911000"
        );
        assert_eq!(
            rounded_like_a_double(6_327_818_704_671_039_975).to_string(),
            "6327818704671040000"
        );
    }

    #[test]
    fn validates_like_datadog() {
        let now = 1_641_430_251;
        let ok = serde_json::json!({"title":"t","text":"x","tags":["a:b"]});
        assert_eq!(parse(&ok, now).unwrap().date_happened, now);
        let past = serde_json::json!({"title":"t","text":"x","date_happened":1});
        assert_eq!(
            parse(&past, now).err().unwrap(),
            "Event too far in the past"
        );
        let long = serde_json::json!({"title":"t","text":"x".repeat(4001)});
        assert!(parse(&long, now).is_err());
        let key = serde_json::json!({"title":"t","text":"x","aggregation_key":"k".repeat(101)});
        assert!(parse(&key, now).is_err());
        assert!(
            parse(&serde_json::json!({"text":"x"}), now)
                .err()
                .unwrap()
                .contains("$.title")
        );
        assert!(
            parse(
                &serde_json::json!({"title":"t","text":"x","priority":"high"}),
                now
            )
            .is_err()
        );
    }
}
