//! Data intake endpoints. Each checks what Datadog checks, in this order: body size, API
//! key, content encoding and decoded size, then the payload's schema and time rules, and
//! answers with Datadog's status codes, content types and bodies.

mod checks;
mod events_v1;
mod events_v2;
mod logs;
mod rules;
mod series;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::body::{BodyError, read_limited};
use crate::clock::lock;
use crate::decoding::{self, ContentEncoding, DecodeError};
use crate::keys::{KeyRejection, Sender};
use crate::state::AppState;

pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/series", post(series::submit_v2))
        .route("/api/v1/series", post(series::submit_v1))
        .route(
            "/api/v1/distribution_points",
            post(series::submit_distribution),
        )
        .route("/api/v1/events", post(events_v1::submit))
        .route("/api/v1/check_run", post(checks::submit))
        .route("/api/v1/validate", get(validate))
}

pub(crate) fn logs_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/logs", post(logs::submit_v2))
        .route("/v1/input", post(logs::submit_v1))
}

pub(crate) fn event_intake_routes() -> Router<AppState> {
    Router::new().route("/api/v2/events", post(events_v2::submit))
}

/// How an endpoint formats its errors (Datadog's endpoints differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// `{"errors":["…"]}` as `application/json` (v2 API, validate).
    Json,
    /// `{"errors":["…"]}` as `text/json` (v1 series, distribution points, check_run).
    TextJson,
    /// `{"errors":["…"]}` as `text/plain; charset=utf-8` (v1 events, recorded).
    PlainJson,
    /// JSON:API errors `{"errors":[{"status","title","detail"}]}` (logs, v2 events).
    JsonApi,
}

pub(crate) fn error(style: ErrorStyle, status: StatusCode, message: &str) -> Response {
    let (content_type, body) = match style {
        ErrorStyle::Json => ("application/json", json!({ "errors": [message] })),
        ErrorStyle::TextJson => ("text/json", json!({ "errors": [message] })),
        ErrorStyle::PlainJson => ("text/plain; charset=utf-8", json!({ "errors": [message] })),
        ErrorStyle::JsonApi => (
            "application/json",
            json!({ "errors": [{
                "status": status.as_str(),
                "title": status.canonical_reason().unwrap_or("Error"),
                "detail": message,
            }] }),
        ),
    };
    respond(status, content_type, body.to_string())
}

/// A response with an exact `Content-Type`.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut response = (status, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What an endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntakeSpec {
    pub(crate) style: ErrorStyle,
    pub(crate) encodings: &'static [ContentEncoding],
    /// Largest body on the wire (compressed), inclusive.
    pub(crate) max_body: usize,
    /// Decoded bodies must be strictly smaller.
    pub(crate) max_decoded: usize,
    /// Status for a request without an API key (403 on the API host, 401 for logs).
    pub(crate) missing_key_status: StatusCode,
}

/// An authenticated, decoded request body.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) sender: Sender,
    pub(crate) body: Vec<u8>,
    pub(crate) now: i64,
}

/// The API key from `DD-API-KEY`, or the deprecated `api_key` query parameter.
fn api_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(key) = headers.get("dd-api-key") {
        // A key that is not even ASCII is wrong, not missing.
        return Some(key.to_str().unwrap_or("\u{fffd}").to_owned());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v)
}

/// A refused request's answer (boxed: responses are large).
pub(crate) type Rejection = Box<Response>;

/// Checks the API key of a request without a body (`/api/v1/validate`).
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    spec: &IntakeSpec,
) -> Result<Sender, Rejection> {
    let key = api_key(headers, query);
    lock(&state.keys)
        .authenticate(key.as_deref())
        .map_err(|rejection| {
            Box::new(match rejection {
                KeyRejection::Missing => {
                    error(spec.style, spec.missing_key_status, "API key required")
                }
                KeyRejection::Invalid => error(spec.style, StatusCode::FORBIDDEN, "Forbidden"),
            })
        })
}

/// Reads, authenticates and decodes a request body.
pub(crate) async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    spec: &IntakeSpec,
) -> Result<Accepted, Rejection> {
    let raw = read_limited(body, spec.max_body).await.map_err(|e| {
        Box::new(match e {
            BodyError::TooLarge => error(
                spec.style,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Payload too large (limit {} bytes)", spec.max_body),
            ),
            BodyError::Timeout => error(spec.style, StatusCode::REQUEST_TIMEOUT, "Request timeout"),
            BodyError::Incomplete => error(
                spec.style,
                StatusCode::BAD_REQUEST,
                "Incomplete request body",
            ),
        })
    })?;
    let sender = authenticate(state, headers, query, spec)?;
    let header = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("<non-ascii>"));
    let decoded = ContentEncoding::parse(header)
        .and_then(|encoding| {
            if spec.encodings.contains(&encoding) {
                decoding::decode(encoding, &raw, spec.max_decoded)
            } else {
                Err(DecodeError::Unsupported(encoding.name().to_owned()))
            }
        })
        .map_err(|e| {
            let status = match e {
                DecodeError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                DecodeError::Corrupt(_) => StatusCode::BAD_REQUEST,
                DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            };
            Box::new(error(spec.style, status, &e.to_string()))
        })?;
    Ok(Accepted {
        sender,
        body: decoded,
        now: state.clock.unix(),
    })
}

const VALIDATE: IntakeSpec = IntakeSpec {
    style: ErrorStyle::Json,
    encodings: &[ContentEncoding::Identity],
    max_body: 0,
    max_decoded: 1,
    missing_key_status: StatusCode::FORBIDDEN,
};

/// `GET /api/v1/validate`: `200 {"valid":true}` for a valid key.
async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match authenticate(&state, &headers, query.as_deref(), &VALIDATE) {
        Ok(_) => respond(StatusCode::OK, "application/json", r#"{"valid":true}"#),
        Err(response) => *response,
    }
}
