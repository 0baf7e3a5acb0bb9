//! HTTP layer: the router, its error type, and security headers.

pub mod admin;
pub mod advice;
pub mod api;
pub mod auth;
pub mod error;
pub mod login_guard;
pub mod oauth;
pub mod pages;
pub mod people;
pub mod session;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderValue, header};

use crate::state::AppState;

/// Every route of the gateway: its own, and device provisioning's ([`crate::provision::routes`]).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(admin::index))
        .route("/login", get(admin::login_page).post(admin::login))
        .route("/logout", post(admin::logout))
        .route("/connections/{id}/disconnect", post(admin::disconnect))
        .route("/invites", post(people::create))
        .route("/invite/{token}", get(people::show).post(people::accept))
        .route("/oauth/onboard", get(oauth::onboard))
        .route("/oauth/callback", get(oauth::callback))
        .route("/api/status", get(api::status))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .merge(crate::provision::routes())
        .layer(middleware::from_fn_with_state(
            state.config.cookies_secure(),
            security_headers,
        ))
        .with_state(state)
}

/// No framing, no referrer (callback URLs carry codes), no caching of pages with secrets, and
/// HSTS when the public URL is `https`. No `form-action`: signing in from the Datadog tile posts
/// the login form and is redirected on to Datadog's consent page, which it would block.
async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut http::HeaderMap, name, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    );
    if https {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        );
    }
    response
}
