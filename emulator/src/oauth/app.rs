//! The web-app host (`app.<domain>` or a custom subdomain): integration tile (with
//! **Uninstall**), authorize endpoint, consent page and the org's API Keys page (with
//! **Revoke**). The host names the org (see [`crate::orgs`]): the tile, the consent page and
//! the keys page are that org's, and so is the connection an Authorize creates.
//!
//! As on Datadog, uninstalling revokes the integration's OAuth tokens but keeps the API key it
//! created, and nothing tells the partner: it finds out when a refresh answers
//! `invalid_grant` or a call with the access token answers 401. Revoking the key is a
//! separate step on the API Keys page; afterwards the key gets 403 everywhere.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};

use super::params::{self, Params};
use super::{AuthCode, CODE_TTL_SECS, CONSENT_TTL_SECS, PendingConsent, pkce};
use crate::clock::lock;
use crate::config::OrgConfig;
use crate::hosts;
use crate::ids;
use crate::pages::{escape, found, oauth_error_page, page};
use crate::state::AppState;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/tile", get(tile))
        .route("/tile/connect", get(connect))
        .route("/tile/uninstall", post(uninstall))
        .route(API_KEYS_PAGE, get(api_keys_page))
        .route(
            "/organization-settings/api-keys/{id}/revoke",
            post(revoke_api_key),
        )
        .route("/oauth2/v1/authorize", get(authorize).post(decide))
        .fallback(|| async {
            page(
                StatusCode::NOT_FOUND,
                "Not found",
                "<h1>Page not found</h1>",
            )
        })
        .with_state(state)
}

/// Where an org's API keys are listed, as on Datadog.
const API_KEYS_PAGE: &str = "/organization-settings/api-keys";

/// The origin of the web-app host the browser is on (`site`), from its `Host` header.
fn site_origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    format!("{}://{}", state.scheme, host.to_ascii_lowercase())
}

/// The org whose web app the browser is on, from its `Host` header.
fn org_of(state: &AppState, headers: &HeaderMap) -> OrgConfig {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let kind = hosts::classify(host, &state.domain_name).unwrap_or(hosts::HostKind::App);
    lock(&state.orgs).for_app_host(&kind).clone()
}

async fn home() -> Response {
    page(
        StatusCode::OK,
        "Datadog emulator",
        "<h1>Datadog emulator</h1>\n<p><a href=\"/tile\">Integration tile</a></p>",
    )
}

async fn tile(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let org = org_of(&state, &headers);
    let mut body = format!("<h1>Integrations — {}</h1>\n", escape(&org.name));
    if state.clients.is_empty() {
        body.push_str("<p>No OAuth client is registered with this emulator.</p>\n");
    }
    for client in &state.clients {
        let installed = lock(&state.oauth).is_installed(&org.id, &client.client_id);
        let id = escape(&client.client_id);
        let uninstall = if installed {
            format!(
                "<p class=\"installed\">Installed</p>\n\
                 <form method=\"post\" action=\"/tile/uninstall\">\
                 <input type=\"hidden\" name=\"client_id\" value=\"{id}\">\
                 <button type=\"submit\">Uninstall</button></form>\n"
            )
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<section class=\"tile\">\n<h2>{name}</h2>\n<p>Scopes: {scopes}</p>\n{uninstall}\
             <form method=\"get\" action=\"/tile/connect\">\
             <input type=\"hidden\" name=\"client_id\" value=\"{id}\">\
             <button type=\"submit\">Connect Accounts</button></form>\n</section>\n",
            name = escape(&client.name),
            scopes = escape(&client.scopes.join(" ")),
        ));
    }
    body.push_str(&format!(
        "<p><a href=\"{API_KEYS_PAGE}\">Organization settings → API Keys</a></p>\n"
    ));
    page(StatusCode::OK, "Integrations", &body)
}

/// **Connect Accounts**: like Datadog's tile (and *Test Authorization*), sends the browser to
/// the client's onboarding URL with `site` and `domain`.
async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params::from_query(query.as_deref()).unwrap_or_default();
    let Some(client) = params::get(&params, "client_id").and_then(|id| state.client(id)) else {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<h1>No such integration</h1>",
        );
    };
    let site = site_origin(&state, &headers);
    let target = params::with_query(
        &client.onboarding_url,
        &[("site", &site), ("domain", &state.public_domain)],
    );
    found(&target)
}

#[derive(serde::Deserialize)]
pub(crate) struct UninstallForm {
    client_id: String,
}

/// **Uninstall** on the tile: revokes the integration's OAuth tokens for this org and keeps
/// its API key, as Datadog does (the page says so, and where to revoke the key).
async fn uninstall(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<UninstallForm>,
) -> Response {
    let Some(client) = state.client(&form.client_id) else {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<h1>No such integration</h1>",
        );
    };
    let org = org_of(&state, &headers);
    let revoked = lock(&state.oauth).uninstall(&org.id, &client.client_id);
    tracing::info!(org = %org.id, client = %client.client_id, revoked, "integration uninstalled");
    let body = format!(
        "<h1>{client} uninstalled</h1>\n<p id=\"uninstalled\">{client} was uninstalled from \
         {org}: its authorizations are revoked. Its API key was not: revoke it on the \
         <a href=\"{API_KEYS_PAGE}\">API Keys page</a> if it should stop sending data.</p>\n\
         <p><a href=\"/tile\">Back to the tile</a></p>",
        client = escape(&client.name),
        org = escape(&org.name),
    );
    page(StatusCode::OK, "Uninstalled", &body)
}

/// The org's API Keys page: names, last four characters (never a whole key) and a **Revoke**
/// button per live key.
async fn api_keys_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let org = org_of(&state, &headers);
    let keys = lock(&state.keys).of_org(&org.id);
    let mut rows = String::new();
    for key in &keys {
        let action = if key.revoked {
            "Revoked".to_owned()
        } else {
            format!(
                "<form method=\"post\" action=\"{API_KEYS_PAGE}/{id}/revoke\">\
                 <button type=\"submit\">Revoke</button></form>",
                id = escape(&key.id)
            )
        };
        rows.push_str(&format!(
            "<tr data-key-id=\"{id}\"><td>{name}</td><td>…{last4}</td><td>{created}</td><td>{action}</td></tr>\n",
            id = escape(&key.id),
            name = escape(&key.name),
            last4 = escape(&key.last4),
            created = escape(&key.created_at),
        ));
    }
    let body = format!(
        "<h1>API Keys — {org}</h1>\n<table id=\"api-keys\">\n\
         <tr><th>Name</th><th>Key</th><th>Created</th><th></th></tr>\n{rows}</table>",
        org = escape(&org.name),
    );
    page(StatusCode::OK, "API Keys", &body)
}

/// **Revoke** on the API Keys page: only a key of the page's org; back to the page.
async fn revoke_api_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let org = org_of(&state, &headers);
    if !lock(&state.keys).revoke_of_org(&org.id, &id) {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<h1>No such API key</h1>",
        );
    }
    tracing::info!(org = %org.id, key = %id, "API key revoked");
    found(API_KEYS_PAGE)
}

/// `GET /oauth2/v1/authorize`: validates the request and shows the consent page.
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(params) = params::from_query(query.as_deref()) else {
        return oauth_error_page("invalid_request", "Malformed query string");
    };
    let Some(client) = params::get(&params, "client_id").and_then(|id| state.client(id)) else {
        return oauth_error_page("invalid_request", "Invalid client_id parameter value");
    };
    let Some(redirect_uri) = params::get(&params, "redirect_uri")
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
    else {
        return oauth_error_page("invalid_request", "Mismatching redirect URI");
    };
    // From here on the redirect URI is trusted: errors go back to it (RFC 6749 §4.1.2.1).
    let state_param = params::get(&params, "state");
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        pairs.extend(state_param.map(|s| ("state", s)));
        found(&params::with_query(redirect_uri, &pairs))
    };
    if params::get(&params, "response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "The response_type parameter must be code",
        );
    }
    let Some(challenge) = params::get(&params, "code_challenge") else {
        return fail("invalid_request", "Missing code_challenge parameter");
    };
    if params::get(&params, "code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "The code_challenge_method parameter must be S256",
        );
    }
    if !pkce::is_valid_challenge(challenge) {
        return fail("invalid_request", "Invalid code_challenge parameter value");
    }
    let scopes = match requested_scopes(&params, &client.scopes) {
        Ok(scopes) => scopes,
        Err(unknown) => return fail("invalid_scope", &format!("Invalid scope: {unknown}")),
    };

    let org = org_of(&state, &headers);
    let consent_id = ids::token();
    let consent = PendingConsent {
        org_id: org.id.clone(),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state: state_param.map(str::to_owned),
        scopes: scopes.clone(),
        code_challenge: challenge.to_owned(),
        site: site_origin(&state, &headers),
        expires_at: state.clock.unix() + CONSENT_TTL_SECS,
    };
    lock(&state.oauth)
        .consents
        .insert(consent_id.clone(), consent);

    let scope_items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let body = format!(
        "<h1>Authorize {client}</h1>\n<p>{client} is requesting access to the organization \
         <strong id=\"org\">{org}</strong> with these scopes:</p>\n<ul id=\"scopes\">{scope_items}</ul>\n\
         <form method=\"post\" action=\"/oauth2/v1/authorize\">\
         <input type=\"hidden\" name=\"consent_id\" value=\"{consent_id}\">\
         <button type=\"submit\" name=\"decision\" value=\"authorize\">Authorize</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(&client.name),
        org = escape(&org.name),
    );
    page(StatusCode::OK, "Authorize", &body)
}

/// The requested scopes (space separated), all of which the client must have; no `scope`
/// parameter means every scope configured on the client.
fn requested_scopes(params: &Params, allowed: &[String]) -> Result<Vec<String>, String> {
    let Some(requested) = params::get(params, "scope") else {
        return Ok(allowed.to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split_ascii_whitespace() {
        if !allowed.iter().any(|a| a == scope) {
            return Err(scope.to_owned());
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

#[derive(serde::Deserialize)]
pub(crate) struct Decision {
    consent_id: String,
    decision: String,
}

/// `POST /oauth2/v1/authorize`: the consent form. Authorize redirects with a code (and the
/// org and site details Datadog adds); Deny with `access_denied`.
async fn decide(State(state): State<AppState>, Form(form): Form<Decision>) -> Response {
    let now = state.clock.unix();
    let consent = lock(&state.oauth).consents.remove(&form.consent_id);
    let Some(consent) = consent.filter(|c| now < c.expires_at) else {
        return oauth_error_page(
            "invalid_request",
            "Unknown or expired authorization request",
        );
    };
    let state_pairs = consent.state.as_deref().map(|s| ("state", s));
    match form.decision.as_str() {
        "authorize" => {
            let Some(org) = state.org(&consent.org_id) else {
                return oauth_error_page("invalid_request", "Unknown organization");
            };
            let code = ids::token();
            lock(&state.oauth).codes.insert(
                code.clone(),
                AuthCode {
                    org_id: org.id.clone(),
                    client_id: consent.client_id.clone(),
                    redirect_uri: consent.redirect_uri.clone(),
                    code_challenge: consent.code_challenge,
                    scopes: consent.scopes,
                    expires_at: now + CODE_TTL_SECS,
                    redeemed_by: None,
                },
            );
            let mut pairs = vec![("code", code.as_str())];
            pairs.extend(state_pairs);
            pairs.extend([
                ("domain", state.public_domain.as_str()),
                ("site", consent.site.as_str()),
                ("dd_oid", org.id.as_str()),
                ("dd_org_name", org.name.as_str()),
                ("client_id", consent.client_id.as_str()),
            ]);
            found(&params::with_query(&consent.redirect_uri, &pairs))
        }
        "deny" => {
            let mut pairs = vec![
                ("error", "access_denied"),
                (
                    "error_description",
                    "The user denied the authorization request",
                ),
            ];
            pairs.extend(state_pairs);
            found(&params::with_query(&consent.redirect_uri, &pairs))
        }
        _ => oauth_error_page("invalid_request", "The decision must be authorize or deny"),
    }
}

/// Extracts the `consent_id` from a consent page, for tests that drive the flow over HTTP.
pub fn consent_id_from_page(html: &str) -> Option<String> {
    let marker = "name=\"consent_id\" value=\"";
    let start = html.find(marker)? + marker.len();
    let len = html.get(start..)?.find('"')?;
    html.get(start..start + len).map(str::to_owned)
}
