//! Test-only endpoints under `/_emulator/`, on any host: what was received, keys,
//! connections, faults and the clock. Never part of Datadog's API.
//!
//! They hand out full API keys and can revoke keys and connections, so every request must
//! carry `Authorization: Bearer <token>` (compared in constant time); anything else gets 401
//! before a handler runs.

use std::fmt;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::clock::{lock, unix_seconds};
use crate::faults::FaultSpec;
use crate::keys::{ApiKeyInfo, KeyOrigin};
use crate::state::AppState;

/// Shortest accepted configured token (a generated one is 43 characters).
pub(crate) const TOKEN_MIN_LEN: usize = 16;

/// The test API's bearer token. `Debug` does not show it.
pub(crate) struct TestApiToken(String);

impl fmt::Debug for TestApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestApiToken(<redacted>)")
    }
}

impl TestApiToken {
    pub(crate) fn new(token: String) -> Self {
        Self(token)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`; the comparison takes the
    /// same time wherever the first differing byte is.
    pub(crate) fn authorizes(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        bool::from(presented.ct_eq(self.0.as_bytes()))
    }
}

/// The answer to a test-API request without the right token: nothing about the emulator.
pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "The emulator test API needs Authorization: Bearer <test API token>\n",
    )
        .into_response()
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/_emulator/received/series",
            get(|State(s): State<AppState>| async move { Json(lock(&s.received).series.clone()) }),
        )
        .route(
            "/_emulator/received/distribution_points",
            get(|State(s): State<AppState>| async move {
                Json(lock(&s.received).distributions.clone())
            }),
        )
        .route(
            "/_emulator/received/events",
            get(|State(s): State<AppState>| async move { Json(lock(&s.received).events.clone()) }),
        )
        .route(
            "/_emulator/received/logs",
            get(|State(s): State<AppState>| async move { Json(lock(&s.received).logs.clone()) }),
        )
        .route(
            "/_emulator/received/checks",
            get(|State(s): State<AppState>| async move { Json(lock(&s.received).checks.clone()) }),
        )
        .route(
            "/_emulator/requests",
            get(
                |State(s): State<AppState>| async move { Json(lock(&s.received).requests.clone()) },
            ),
        )
        .route("/_emulator/keys", get(list_keys).post(create_key))
        .route("/_emulator/keys/{id}/revoke", post(revoke_key))
        .route(
            "/_emulator/connections",
            get(
                |State(s): State<AppState>| async move { Json(lock(&s.oauth).connections.clone()) },
            ),
        )
        .route(
            "/_emulator/connections/{id}/revoke",
            post(revoke_connection),
        )
        .route(
            "/_emulator/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance_clock))
        .fallback(|| async { (StatusCode::NOT_FOUND, "No such emulator test endpoint\n") })
        .with_state(state)
}

/// Creates a valid API key (as `POST /_emulator/keys` does).
pub(crate) fn new_key(state: &AppState, name: Option<String>) -> ApiKeyInfo {
    let created_at = crate::clock::iso8601_micros(state.clock.now());
    let name = name.unwrap_or_else(|| "Emulator test key".to_owned());
    lock(&state.keys).create(name, created_at, KeyOrigin::TestApi)
}

async fn list_keys(State(state): State<AppState>) -> Json<Vec<ApiKeyInfo>> {
    Json(lock(&state.keys).list())
}

#[derive(Debug, Default, Deserialize)]
struct NewKey {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /_emulator/keys` (optional body `{"name":"…"}`) → 201 with the key.
async fn create_key(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let request: NewKey = if body.is_empty() {
        NewKey::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("invalid JSON: {e}\n")).into_response();
            }
        }
    };
    (StatusCode::CREATED, Json(new_key(&state, request.name))).into_response()
}

async fn revoke_key(State(state): State<AppState>, Path(id): Path<String>) -> StatusCode {
    if lock(&state.keys).revoke_id(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn revoke_connection(State(state): State<AppState>, Path(id): Path<String>) -> StatusCode {
    let mut oauth = lock(&state.oauth);
    if oauth.connection(&id).is_none() {
        return StatusCode::NOT_FOUND;
    }
    oauth.revoke_connection(&id);
    StatusCode::NO_CONTENT
}

async fn list_faults(State(state): State<AppState>) -> Json<Vec<FaultSpec>> {
    Json(lock(&state.faults).list())
}

async fn add_fault(State(state): State<AppState>, Json(spec): Json<FaultSpec>) -> StatusCode {
    lock(&state.faults).push(spec);
    StatusCode::CREATED
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}

#[derive(Serialize)]
struct ClockView {
    unix: i64,
}

async fn clock(State(state): State<AppState>) -> Json<ClockView> {
    Json(ClockView {
        unix: unix_seconds(state.clock.now()),
    })
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

/// `POST /_emulator/clock/advance` `{"seconds":N}` → the new time.
async fn advance_clock(State(state): State<AppState>, Json(by): Json<Advance>) -> Json<ClockView> {
    state.clock.advance(Duration::from_secs(by.seconds));
    Json(ClockView {
        unix: state.clock.unix(),
    })
}
