//! Test-only endpoints under `/_emulator/`, on any host: orgs (and uninstalling an integration
//! from one), what was received (all of it, or one org's with `?org_id=`), keys, connections,
//! faults and the clock. Never part of
//! Datadog's API.
//!
//! They hand out full API keys and can revoke keys and connections, so every request must
//! carry `Authorization: Bearer <token>` (compared in constant time); anything else gets 401
//! before a handler runs.

use std::fmt;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::clock::{lock, unix_seconds};
use crate::config::OrgConfig;
use crate::faults::FaultSpec;
use crate::keys::{ApiKeyInfo, KeyOrigin};
use crate::orgs::OrgError;
use crate::received::{OfOrg, Received, of_org};
use crate::state::{AppState, Shared};

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

/// `?org_id=` on the received endpoints.
#[derive(Debug, Deserialize)]
struct OrgFilter {
    org_id: Option<String>,
}

/// `GET /_emulator/received/<kind>[?org_id=…]`.
fn received<T: OfOrg + Clone + Serialize + Send + 'static>(
    records: fn(&Received) -> &[T],
) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(s): State<AppState>, Query(filter): Query<OrgFilter>| async move {
            Json(of_org(
                records(&lock(&s.received)),
                filter.org_id.as_deref(),
            ))
        },
    )
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/_emulator/orgs", get(list_orgs).post(create_org))
        .route("/_emulator/orgs/{org_id}/uninstall", post(uninstall))
        .route("/_emulator/received/series", received(|r| &r.series))
        .route(
            "/_emulator/received/distribution_points",
            received(|r| &r.distributions),
        )
        .route("/_emulator/received/events", received(|r| &r.events))
        .route("/_emulator/received/logs", received(|r| &r.logs))
        .route("/_emulator/received/checks", received(|r| &r.checks))
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

/// Creates a valid API key of an org (the first without `org_id`), as `POST /_emulator/keys`
/// does; `None` if there is no such org.
pub(crate) fn new_key(
    state: &Shared,
    name: Option<String>,
    org_id: Option<&str>,
) -> Option<ApiKeyInfo> {
    let org_id = match org_id {
        Some(id) => state.org(id)?.id,
        None => lock(&state.orgs).first().id.clone(),
    };
    Some(create_key_of(state, name, &org_id))
}

/// Creates a valid API key of a known org.
pub(crate) fn create_key_of(state: &Shared, name: Option<String>, org_id: &str) -> ApiKeyInfo {
    let created_at = crate::clock::iso8601_micros(state.clock.now());
    let name = name.unwrap_or_else(|| "Emulator test key".to_owned());
    lock(&state.keys).create(org_id, name, created_at, KeyOrigin::TestApi)
}

/// An org as the test API shows it: with the URLs of its web app and tile.
#[derive(Debug, Serialize)]
pub(crate) struct OrgView {
    #[serde(flatten)]
    org: OrgConfig,
    app_url: String,
    tile_url: String,
}

impl OrgView {
    pub(crate) fn new(state: &Shared, org: OrgConfig) -> Self {
        let app_url = state.org_app_url(&org);
        Self {
            tile_url: format!("{app_url}/tile"),
            app_url,
            org,
        }
    }
}

async fn list_orgs(State(state): State<AppState>) -> Json<Vec<OrgView>> {
    let orgs = lock(&state.orgs).list();
    Json(
        orgs.into_iter()
            .map(|org| OrgView::new(&state, org))
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
struct NewOrg {
    name: String,
    #[serde(default)]
    subdomain: Option<String>,
}

/// Adds an org with fresh ids (and `org-<n>` unless a subdomain is given).
pub(crate) fn add_org(
    state: &Shared,
    name: String,
    subdomain: Option<String>,
) -> Result<OrgConfig, OrgError> {
    let mut orgs = lock(&state.orgs);
    let subdomain = subdomain.unwrap_or_else(|| orgs.free_subdomain());
    let org = OrgConfig::new(name, subdomain);
    orgs.add(org.clone())?;
    Ok(org)
}

/// `POST /_emulator/orgs` `{"name":"…","subdomain":"…"?}` → 201 with the org, 400 if
/// malformed, 409 if the subdomain is taken.
async fn create_org(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let request: NewOrg = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid JSON: {e}\n")).into_response(),
    };
    match add_org(&state, request.name, request.subdomain) {
        Ok(org) => (StatusCode::CREATED, Json(OrgView::new(&state, org))).into_response(),
        Err(e @ OrgError::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
        }
        Err(e @ OrgError::Conflict(_)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
    }
}

async fn list_keys(State(state): State<AppState>) -> Json<Vec<ApiKeyInfo>> {
    Json(lock(&state.keys).list())
}

#[derive(Debug, Default, Deserialize)]
struct NewKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    org_id: Option<String>,
}

/// `POST /_emulator/keys` (optional body `{"name":"…","org_id":"…"}`) → 201 with the key of
/// that org (default the first), 404 for an unknown org.
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
    match new_key(&state, request.name, request.org_id.as_deref()) {
        Some(key) => (StatusCode::CREATED, Json(key)).into_response(),
        None => (StatusCode::NOT_FOUND, "No such org\n").into_response(),
    }
}

async fn revoke_key(State(state): State<AppState>, Path(id): Path<String>) -> StatusCode {
    if lock(&state.keys).revoke_id(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// Why an uninstall could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UninstallError {
    UnknownOrg,
    UnknownClient,
    /// No client id given and several clients are registered.
    ClientNeeded,
}

/// Uninstalls a client's integration from an org (the tile's **Uninstall**); with no client
/// id, the only registered client. Returns how many connections were revoked.
pub(crate) fn uninstall_of(
    state: &Shared,
    org_id: &str,
    client_id: Option<&str>,
) -> Result<usize, UninstallError> {
    let org = state.org(org_id).ok_or(UninstallError::UnknownOrg)?;
    let client = match client_id {
        Some(id) => state.client(id).ok_or(UninstallError::UnknownClient)?,
        None => match state.clients.as_slice() {
            [only] => only,
            _ => return Err(UninstallError::ClientNeeded),
        },
    };
    Ok(lock(&state.oauth).uninstall(&org.id, &client.client_id))
}

#[derive(Debug, Deserialize)]
struct UninstallQuery {
    client_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Uninstalled {
    revoked_connections: usize,
}

/// `POST /_emulator/orgs/{org_id}/uninstall[?client_id=…]` → 200
/// `{"revoked_connections":n}`; 404 for an unknown org or client, 400 without `client_id` when
/// several clients are registered.
async fn uninstall(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    Query(query): Query<UninstallQuery>,
) -> Response {
    match uninstall_of(&state, &org_id, query.client_id.as_deref()) {
        Ok(revoked_connections) => Json(Uninstalled {
            revoked_connections,
        })
        .into_response(),
        Err(UninstallError::UnknownOrg) => (StatusCode::NOT_FOUND, "No such org\n").into_response(),
        Err(UninstallError::UnknownClient) => {
            (StatusCode::NOT_FOUND, "No such OAuth client\n").into_response()
        }
        Err(UninstallError::ClientNeeded) => (
            StatusCode::BAD_REQUEST,
            "Several OAuth clients are registered: name one with ?client_id=\n",
        )
            .into_response(),
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
