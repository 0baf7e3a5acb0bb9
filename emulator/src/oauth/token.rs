//! `POST /oauth2/v1/token` and `POST /oauth2/v1/revoke` on the API host.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::params::{self, Params};
use super::{
    ACCESS_TOKEN_TTL_SECS, AccessToken, ConnectionInfo, OAuthStore, RefreshToken, pkce,
    secrets_equal,
};
use crate::body::{BodyError, read_limited};
use crate::clock::lock;
use crate::config::OAuthClient;
use crate::ids;
use crate::state::AppState;

/// Token and revoke requests are small forms.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// An RFC 6749 §5.2 error: `{"error","error_description"}` as `application/json`.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    fn invalid_code() -> Self {
        Self::bad_request("invalid_grant", "Invalid code or code verifier")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "error": self.error, "error_description": self.description });
        json_response(self.status, body.to_string())
    }
}

/// Exactly `application/json` (the oauth2 crate insists on it), never cached.
fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    refresh_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

async fn read_params(headers: &HeaderMap, body: Body) -> Result<Params, OAuthError> {
    let bytes = read_limited(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => OAuthError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                error: "invalid_request",
                description: "Request body too large".into(),
            },
            BodyError::Timeout | BodyError::Incomplete => {
                OAuthError::bad_request("invalid_request", "Incomplete request body")
            }
        })?;
    params::from_body(headers, &bytes)
        .map_err(|why| OAuthError::bad_request("invalid_request", why))
}

/// Client authentication by `client_id` + `client_secret` in the body (Datadog documents
/// only this method); a confidential client without its secret gets 401.
fn authenticate_client<'a>(
    state: &'a AppState,
    params: &Params,
) -> Result<&'a OAuthClient, OAuthError> {
    let client = params::get(params, "client_id")
        .and_then(|id| state.client(id))
        .ok_or_else(|| OAuthError::invalid_client("Invalid client_id parameter value"))?;
    let secret = params::get(params, "client_secret")
        .ok_or_else(|| OAuthError::invalid_client("Missing client_secret parameter"))?;
    if !secrets_equal(secret, &client.client_secret) {
        return Err(OAuthError::invalid_client("Invalid client credentials"));
    }
    Ok(client)
}

pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match exchange(&state, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn exchange(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let params = read_params(headers, body).await?;
    let client = authenticate_client(state, &params)?;
    let now = state.clock.unix();
    let mut store = lock(&state.oauth);
    let connection_id = match params::get(&params, "grant_type") {
        Some("authorization_code") => redeem_code(&mut store, client, &params, now, state)?,
        Some("refresh_token") => rotate_refresh(&mut store, client, &params)?,
        Some(other) => {
            return Err(OAuthError::bad_request(
                "unsupported_grant_type",
                format!("Unsupported grant_type: {other}"),
            ));
        }
        None => {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "Missing grant_type parameter",
            ));
        }
    };
    let access_token = ids::token();
    let refresh_token = ids::token();
    store.access_tokens.insert(
        access_token.clone(),
        AccessToken {
            connection_id: connection_id.clone(),
            expires_at: now + ACCESS_TOKEN_TTL_SECS,
            revoked: false,
        },
    );
    store.refresh_tokens.insert(
        refresh_token.clone(),
        RefreshToken {
            connection_id: connection_id.clone(),
            active: true,
        },
    );
    let scope = store
        .connection(&connection_id)
        .map(|c| c.scopes.join(" "))
        .unwrap_or_default();
    let body = TokenResponse {
        access_token: &access_token,
        refresh_token: &refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
        scope,
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_string(&body).unwrap_or_default(),
    ))
}

/// `authorization_code`: single use, unexpired, same client and redirect URI, PKCE S256.
/// Returns the new connection's id.
fn redeem_code(
    store: &mut OAuthStore,
    client: &OAuthClient,
    params: &Params,
    now: i64,
    state: &AppState,
) -> Result<String, OAuthError> {
    let code = params::get(params, "code")
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "Missing code parameter"))?;
    let Some(grant) = store.codes.get(code).cloned() else {
        return Err(OAuthError::invalid_code());
    };
    if let Some(connection_id) = &grant.redeemed_by {
        // A replayed code may be stolen: revoke what it issued (RFC 6749 §4.1.2).
        store.revoke_connection(connection_id);
        return Err(OAuthError::invalid_code());
    }
    if grant.client_id != client.client_id || now >= grant.expires_at {
        return Err(OAuthError::invalid_code());
    }
    if params::get(params, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::bad_request(
            "invalid_grant",
            "Mismatching redirect URI",
        ));
    }
    let verifier = params::get(params, "code_verifier").unwrap_or_default();
    if !pkce::verify_s256(verifier, &grant.code_challenge) {
        return Err(OAuthError::invalid_code());
    }
    let org = state
        .org(&grant.org_id)
        .ok_or_else(OAuthError::invalid_code)?;
    let connection = ConnectionInfo {
        id: ids::uuid(),
        client_id: client.client_id.clone(),
        org_id: org.id,
        org_name: org.name,
        scopes: grant.scopes,
        created_at: now,
        refreshes: 0,
        revoked: false,
    };
    let id = connection.id.clone();
    store.connections.push(connection);
    if let Some(stored) = store.codes.get_mut(code) {
        stored.redeemed_by = Some(id.clone());
    }
    Ok(id)
}

/// `refresh_token`: the presented token is retired and a new pair issued.
fn rotate_refresh(
    store: &mut OAuthStore,
    client: &OAuthClient,
    params: &Params,
) -> Result<String, OAuthError> {
    let presented = params::get(params, "refresh_token").ok_or_else(|| {
        OAuthError::bad_request("invalid_request", "Missing refresh_token parameter")
    })?;
    let invalid = || OAuthError::bad_request("invalid_grant", "Invalid refresh token");
    let token = store
        .refresh_tokens
        .get(presented)
        .filter(|t| t.active)
        .cloned()
        .ok_or_else(invalid)?;
    let connection = store
        .connections
        .iter_mut()
        .find(|c| c.id == token.connection_id && !c.revoked && c.client_id == client.client_id)
        .ok_or_else(invalid)?;
    connection.refreshes += 1;
    if let Some(old) = store.refresh_tokens.get_mut(presented) {
        old.active = false;
    }
    Ok(token.connection_id)
}

/// RFC 7009: 200 whether or not the token was known; revoking a refresh token ends the
/// connection, revoking an access token only that token.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let params = read_params(&headers, body).await?;
        let client = authenticate_client(&state, &params)?;
        let token = params::get(&params, "token")
            .ok_or_else(|| OAuthError::bad_request("invalid_request", "Missing token parameter"))?;
        let mut store = lock(&state.oauth);
        let owner =
            |connection_id: &str| store.connection(connection_id).map(|c| c.client_id.clone());
        let refresh_owner = store
            .refresh_tokens
            .get(token)
            .and_then(|t| owner(&t.connection_id).map(|o| (o, t.connection_id.clone())));
        let access_owner = store
            .access_tokens
            .get(token)
            .and_then(|t| owner(&t.connection_id));
        // Tokens of other clients are left alone (and still answered with 200).
        if let Some((owner, connection_id)) = refresh_owner {
            if owner == client.client_id {
                store.revoke_connection(&connection_id);
            }
        } else if let (Some(owner), Some(access)) =
            (access_owner, store.access_tokens.get_mut(token))
        {
            access.revoked |= owner == client.client_id;
        }
        Ok::<_, OAuthError>(StatusCode::OK.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
