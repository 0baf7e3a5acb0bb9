//! Service checks: `POST /api/v1/check_run`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::rules::Fields;
use super::series::not_expected_format;
use super::{ErrorStyle, IntakeSpec, accept, error, respond};
use crate::clock::lock;
use crate::decoding::ContentEncoding;
use crate::keys::Sender;
use crate::received::CheckRecord;
use crate::state::AppState;

const SPEC: IntakeSpec = IntakeSpec {
    style: ErrorStyle::TextJson,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Deflate,
        ContentEncoding::Gzip,
    ],
    max_body: 3_200_000,
    max_decoded: 62_914_560,
    missing_key_status: StatusCode::FORBIDDEN,
};

/// "Service checks can be submitted up to 10 minutes in the past."
const MAX_AGE_SECS: i64 = 600;
/// Points (and checks) at most 10 minutes ahead.
const MAX_AHEAD_SECS: i64 = 600;

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
        Err(e) => return not_expected_format(&e),
    };
    match parse(&payload, &accepted.sender, accepted.now) {
        Ok(records) => {
            lock(&state.received).checks.extend(records);
            respond(StatusCode::ACCEPTED, "text/json", r#"{"status": "ok"}"#)
        }
        Err(message) => error(SPEC.style, StatusCode::BAD_REQUEST, &message),
    }
}

fn parse(payload: &Value, sender: &Sender, now: i64) -> Result<Vec<CheckRecord>, String> {
    let items = payload
        .as_array()
        .ok_or_else(|| "$: expected an array of service checks".to_owned())?;
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let f = Fields::of(item, format!("$[{i}]"))?;
        let check = f.string("check")?;
        let host_name = f.string("host_name")?;
        let status = f.required("status", Value::as_u64, "an integer")?;
        let status = u8::try_from(status)
            .ok()
            .filter(|s| *s <= 3)
            .ok_or_else(|| format!("{}: must be one of 0, 1, 2, 3", f.at("status")))?;
        f.required("tags", Value::as_array, "an array of strings")?;
        let tags = f.tags("tags")?;
        let timestamp = f.opt_int("timestamp")?;
        if let Some(ts) = timestamp {
            if ts < now.saturating_sub(MAX_AGE_SECS) {
                return Err(format!(
                    "{}: service check is more than 10 minutes in the past",
                    f.at("timestamp")
                ));
            }
            if ts > now.saturating_add(MAX_AHEAD_SECS) {
                return Err(format!(
                    "{}: service check is more than 10 minutes in the future",
                    f.at("timestamp")
                ));
            }
        }
        records.push(CheckRecord {
            api_key_id: sender.api_key_id.clone(),
            org_id: sender.org_id.clone(),
            check: check.to_owned(),
            host_name: host_name.to_owned(),
            status,
            tags,
            message: f.opt_string("message")?.map(str::to_owned),
            timestamp,
            received_at: now,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_the_four_fields_and_a_known_status() {
        let ok =
            serde_json::json!([{"check":"app.ok","host_name":"host","status":0,"tags":["a:b"]}]);
        assert_eq!(parse(&ok, &Sender::for_tests(), 0).unwrap()[0].status, 0);
        let bad_status = serde_json::json!([{"check":"c","host_name":"h","status":4,"tags":[]}]);
        assert!(
            parse(&bad_status, &Sender::for_tests(), 0)
                .unwrap_err()
                .contains("$[0].status")
        );
        let no_tags = serde_json::json!([{"check":"c","host_name":"h","status":1}]);
        assert!(
            parse(&no_tags, &Sender::for_tests(), 0)
                .unwrap_err()
                .contains("$[0].tags")
        );
        let old =
            serde_json::json!([{"check":"c","host_name":"h","status":1,"tags":[],"timestamp":0}]);
        assert!(parse(&old, &Sender::for_tests(), 10_000).is_err());
        assert!(parse(&serde_json::json!({}), &Sender::for_tests(), 0).is_err());
    }
}
