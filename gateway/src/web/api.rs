//! Machine endpoints: `/api/status` (admin bearer token or session), `/healthz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Serialize;

use super::WebError;
use super::login_guard::{SignIn, sign_in};
use super::session::{ClientAddr, current_session};
use crate::state::AppState;
use crate::tenants::TenantId;

#[derive(Debug, Serialize)]
struct StatusConnection {
    /// What fleets' `connection_id` names.
    id: String,
    org_name: String,
    domain: String,
    site: String,
    api_key_last4: Option<String>,
    token_expires_at: i64,
    state: &'static str,
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
    tenants: Option<Vec<crate::tenants::TenantHealth>>,
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
    let user = match bearer(&headers) {
        Some(token) => match sign_in(&state, ip, None, SecretString::from(token.to_owned())).await?
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
        None => current_session(&state, &headers)
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
    let provisioning = crate::provision::admin::status(&state, &user.tenant).await?;
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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
