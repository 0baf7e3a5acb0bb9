//! Machine endpoints: `/api/status` (admin bearer token or session), `/healthz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Serialize;

use super::auth::current_session;
use super::error::WebError;
use super::login_guard::SignIn;
use super::session::ClientAddr;
use crate::state::AppState;
use crate::store::ConnectionState;
use crate::store::tenant::TenantId;

#[derive(Debug, Serialize)]
struct StatusConnection {
    /// What fleets' `connection_id` names.
    id: String,
    org_name: String,
    domain: String,
    site: String,
    api_key_last4: Option<String>,
    token_expires_at: i64,
    state: ConnectionState,
}

#[derive(Debug, Serialize)]
struct StatusBody {
    /// The caller's tenant: everything else in the body is that tenant's.
    tenant: TenantId,
    connections: Vec<StatusConnection>,
    /// Device provisioning: `fleets` and `devices`.
    #[serde(flatten)]
    provisioning: crate::provision::admin::ProvisioningStatus,
    /// Every tenant's health; only for the operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenants: Option<Vec<crate::store::tenant::TenantHealth>>,
}

fn unauthorized(message: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"ddlink\"")],
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The caller's tenant as JSON, for scripts and monitoring: the operator's admin token as a
/// bearer token, or a session cookie.
pub async fn status(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let auth = state.auth();
    let user = match bearer(&headers) {
        Some(token) => match auth
            .sign_in(ip, None, SecretString::from(token.to_owned()))
            .await?
        {
            SignIn::Accepted(user) => Some(user),
            SignIn::Refused => None,
            SignIn::Throttled { retry_after_secs } => {
                return Ok((
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after_secs.to_string())],
                    Json(serde_json::json!({"error": "rate limited", "retry_after": retry_after_secs})),
                )
                    .into_response());
            }
        },
        None => current_session(&auth, &headers)
            .await?
            .map(|session| session.user().clone()),
    };
    let Some(user) = user else {
        return Ok(unauthorized("admin token or session required"));
    };
    let connections = state
        .connections
        .statuses(&user.tenant)
        .await?
        .into_iter()
        .map(|c| StatusConnection {
            id: c.id,
            org_name: c.org_name,
            domain: c.domain,
            site: c.site,
            api_key_last4: c.api_key_last4,
            token_expires_at: c.token_expires_at,
            state: c.state,
        })
        .collect();
    let provisioning =
        crate::provision::admin::status(&state.provisioning.store, &user.tenant).await?;
    let tenants = if user.operator {
        Some(crate::tenants::health(&state).await?)
    } else {
        None
    };
    Ok(Json(StatusBody {
        tenant: user.tenant,
        connections,
        provisioning,
        tenants,
    })
    .into_response())
}

/// Liveness plus a database round trip.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.admin_password_hash().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    match connection_states(&state).await {
        Ok(counts) => text.push_str(&crate::metrics::render_connection_states(&counts)),
        // The counters still help; a missing gauge shows the scrape that could not read it.
        Err(error) => {
            state.metrics.error("metrics");
            tracing::warn!(%error, "could not count connections for /metrics");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// How many connections of all tenants are in each state.
async fn connection_states(
    state: &AppState,
) -> Result<std::collections::HashMap<crate::store::ConnectionState, u64>, crate::store::StoreError>
{
    let mut counts = std::collections::HashMap::new();
    for tenant in state.store.tenants().await? {
        for connection in state.store.connections(&tenant).await? {
            *counts.entry(connection.state).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
