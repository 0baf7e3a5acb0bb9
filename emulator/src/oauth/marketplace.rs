//! `POST /api/v2/api_keys/marketplace`: an OAuth client creates the API key of the org that
//! authorised it, one per client and org.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::{iso8601_micros, lock};
use crate::keys::KeyOrigin;
use crate::state::AppState;

/// The scope Datadog requires for this endpoint.
const REQUIRED_SCOPE: &str = "api_keys_write";

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn errors(status: StatusCode, message: &str) -> Response {
    json(status, json!({ "errors": [message] }))
}

pub(crate) async fn create_key(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let now = state.clock.unix();
    let connection =
        bearer.and_then(|token| lock(&state.oauth).authorize_bearer(token, now).cloned());
    let Some(connection) = connection else {
        return errors(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    if !connection.scopes.iter().any(|s| s == REQUIRED_SCOPE) {
        return errors(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Some(client) = state.client(&connection.client_id) else {
        return errors(StatusCode::FORBIDDEN, "Forbidden");
    };
    let Some(org) = state.org(&connection.org_id) else {
        return errors(StatusCode::FORBIDDEN, "Forbidden");
    };
    let created_at = iso8601_micros(state.clock.now());
    let name = format!("{} OAuth Client API Key {}", client.name, client.client_id);
    let key = {
        let mut keys = lock(&state.keys);
        if keys.has_marketplace_key(&client.client_id, &org.id) {
            return errors(
                StatusCode::CONFLICT,
                "An API key with this name already exists",
            );
        }
        keys.create(
            &org.id,
            name,
            created_at,
            KeyOrigin::Marketplace {
                client_id: client.client_id.clone(),
            },
        )
    };
    let user = json!({ "data": { "type": "users", "id": org.user_id } });
    json(
        StatusCode::CREATED,
        json!({
            "data": {
                "type": "api_keys",
                "attributes": {
                    "created_at": key.created_at,
                    "key": key.key,
                    "last4": key.last4,
                    "modified_at": key.created_at,
                    "name": key.name,
                },
                "relationships": { "created_by": user, "modified_by": user },
                "id": key.id,
            }
        }),
    )
}
