//! `POST event-management-intake.<domain>/api/v2/events`: JSON-schema-validated events with
//! Datadog's `JSON validation failed at $.path: …` errors.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{ErrorStyle, IntakeSpec, accept, error, respond};
use crate::clock::{lock, parse_rfc3339};
use crate::decoding::ContentEncoding;
use crate::ids;
use crate::received::{EventRecord, EventsEndpoint};
use crate::state::AppState;

// The application key the spec also lists is not checked: the emulator has no app keys.
const SPEC: IntakeSpec = IntakeSpec {
    style: ErrorStyle::JsonApi,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Deflate,
        ContentEncoding::Gzip,
    ],
    max_body: 3_200_000,
    max_decoded: 5_242_880,
    missing_key_status: StatusCode::FORBIDDEN,
};

const MAX_AGE_SECS: i64 = 18 * 3600;
const PAYLOAD_FIELDS: [&str; 9] = [
    "aggregation_key",
    "attributes",
    "category",
    "host",
    "integration_id",
    "message",
    "tags",
    "timestamp",
    "title",
];

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
                &format!("JSON parsing failed: {e}"),
            );
        }
    };
    let attributes = match validate(&payload, accepted.now) {
        Ok(attributes) => attributes,
        Err((path, why)) => {
            return error(
                SPEC.style,
                StatusCode::BAD_REQUEST,
                &format!("JSON validation failed at {path}: {why}."),
            );
        }
    };
    let id = ids::event_id().to_string();
    let uid = ids::event_uid();
    let text = |name: &str| {
        attributes
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let tags = attributes
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let timestamp = attributes
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    lock(&state.received).events.push(EventRecord {
        api_key_id: accepted.sender.api_key_id,
        org_id: accepted.sender.org_id,
        endpoint: EventsEndpoint::V2,
        id: id.clone(),
        title: text("title"),
        text: text("message"),
        tags,
        timestamp: timestamp.unwrap_or(accepted.now),
        payload: Value::Object(attributes.clone()),
        received_at: accepted.now,
    });
    let body = json!({
        "data": { "attributes": { "attributes": { "evt": { "id": id, "uid": uid } } }, "id": "_", "type": "event" },
        "links": { "self": format!("{}/event/event?uid={uid}", state.url_for(crate::hosts::APP)) },
    });
    respond(StatusCode::ACCEPTED, "application/json", body.to_string())
}

type Invalid = (String, String);

fn invalid(path: &str, why: impl Into<String>) -> Invalid {
    (path.to_owned(), why.into())
}

fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
    format!("value must be one of: [{}]", quoted.join(", "))
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Invalid> {
    value
        .as_object()
        .ok_or_else(|| invalid(path, "expected object"))
}

fn member<'a>(map: &'a Map<String, Value>, path: &str, name: &str) -> Result<&'a Value, Invalid> {
    map.get(name)
        .ok_or_else(|| invalid(path, format!("missing required property '{name}'")))
}

fn string_len(map: &Map<String, Value>, path: &str, name: &str, max: usize) -> Result<(), Invalid> {
    let Some(value) = map.get(name) else {
        return Ok(());
    };
    let at = format!("{path}.{name}");
    let s = value
        .as_str()
        .ok_or_else(|| invalid(&at, "expected string"))?;
    let n = s.chars().count();
    if n == 0 {
        return Err(invalid(&at, "length must be >= 1"));
    }
    if n > max {
        return Err(invalid(&at, format!("length must be <= {max}")));
    }
    Ok(())
}

fn enum_member(
    map: &Map<String, Value>,
    path: &str,
    name: &str,
    choices: &[&str],
) -> Result<(), Invalid> {
    let at = format!("{path}.{name}");
    match member(map, path, name)?.as_str() {
        Some(v) if choices.contains(&v) => Ok(()),
        _ => Err(invalid(&at, one_of(choices))),
    }
}

/// Validates `{"data":{"type":"event","attributes":EventPayload}}`; returns the attributes.
fn validate(payload: &Value, now: i64) -> Result<&Map<String, Value>, Invalid> {
    let root = object(payload, "$")?;
    let data = object(member(root, "$", "data")?, "$.data")?;
    let kind = member(data, "$.data", "type")?;
    if kind.as_str() != Some("event") {
        return Err(invalid("$.data.type", one_of(&["event"])));
    }
    let path = "$.data.attributes";
    let attrs = object(member(data, "$.data", "attributes")?, path)?;
    if let Some(extra) = attrs.keys().find(|k| !PAYLOAD_FIELDS.contains(&k.as_str())) {
        return Err(invalid(
            path,
            format!("additional property '{extra}' is not allowed"),
        ));
    }
    member(attrs, path, "title")?;
    string_len(attrs, path, "title", 500)?;
    enum_member(attrs, path, "category", &["alert", "change"])?;
    string_len(attrs, path, "message", 4000)?;
    string_len(attrs, path, "aggregation_key", 100)?;
    string_len(attrs, path, "host", 255)?;
    if attrs.contains_key("integration_id") {
        enum_member(attrs, path, "integration_id", &["custom-events"])?;
    }
    if let Some(tags) = attrs.get("tags") {
        let at = format!("{path}.tags");
        let items = tags
            .as_array()
            .ok_or_else(|| invalid(&at, "expected array"))?;
        if items.is_empty() || items.len() > 100 {
            return Err(invalid(&at, "array length must be between 1 and 100"));
        }
        for (i, tag) in items.iter().enumerate() {
            let n = tag
                .as_str()
                .map(|t| t.chars().count())
                .ok_or_else(|| invalid(&format!("{at}[{i}]"), "expected string"))?;
            if !(1..=200).contains(&n) {
                return Err(invalid(
                    &format!("{at}[{i}]"),
                    "length must be between 1 and 200",
                ));
            }
        }
    }
    if let Some(ts) = attrs.get("timestamp") {
        let at = format!("{path}.timestamp");
        let seconds = ts
            .as_str()
            .and_then(parse_rfc3339)
            .ok_or_else(|| invalid(&at, "expected an ISO 8601 date-time"))?;
        if seconds < now.saturating_sub(MAX_AGE_SECS) {
            return Err(invalid(&at, "timestamp must be no older than 18 hours"));
        }
    }
    let custom = object(
        member(attrs, path, "attributes")?,
        &format!("{path}.attributes"),
    )?;
    let custom_path = format!("{path}.attributes");
    match attrs.get("category").and_then(Value::as_str) {
        Some("change") => {
            let at = format!("{custom_path}.changed_resource");
            let resource = object(member(custom, &custom_path, "changed_resource")?, &at)?;
            member(resource, &at, "name")?;
            enum_member(resource, &at, "type", &["feature_flag", "configuration"])?;
        }
        _ => enum_member(custom, &custom_path, "status", &["warn", "error", "ok"])?,
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_event(category: &str) -> Value {
        json!({"data":{"type":"event","attributes":{"title":"t","category":category,
            "attributes":{"changed_resource":{"name":"f","type":"feature_flag"}}}}})
    }

    #[test]
    fn reproduces_the_recorded_category_error() {
        let (path, why) = validate(&change_event("invalid"), 0).unwrap_err();
        assert_eq!(
            format!("JSON validation failed at {path}: {why}."),
            r#"JSON validation failed at $.data.attributes.category: value must be one of: ["alert", "change"]."#
        );
        assert!(validate(&change_event("change"), 0).is_ok());
    }

    #[test]
    fn checks_alert_status_and_unknown_fields() {
        let alert = json!({"data":{"type":"event","attributes":{"title":"t","category":"alert","attributes":{"status":"bad"}}}});
        assert_eq!(
            validate(&alert, 0).unwrap_err().0,
            "$.data.attributes.attributes.status"
        );
        let extra = json!({"data":{"type":"event","attributes":{"title":"t","category":"alert","x":1,"attributes":{"status":"ok"}}}});
        assert!(validate(&extra, 0).unwrap_err().1.contains("'x'"));
        let old = json!({"data":{"type":"event","attributes":{"title":"t","category":"alert","timestamp":"1970-01-01T00:00:00Z","attributes":{"status":"ok"}}}});
        assert_eq!(
            validate(&old, 100_000).unwrap_err().0,
            "$.data.attributes.timestamp"
        );
    }
}
