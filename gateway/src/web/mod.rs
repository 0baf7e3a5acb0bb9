//! HTTP layer: the router, its error type, and security headers.

pub mod admin;
pub mod advice;
pub mod api;
pub mod login_guard;
pub mod oauth;
pub mod pages;
pub mod people;
pub mod session;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use maud::html;

use crate::state::AppState;

/// Errors of the HTTP layer. Internal details are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not signed in")]
    Unauthenticated,
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Datadog(#[from] crate::datadog::DatadogError),
    #[error(transparent)]
    Tenant(#[from] crate::tenants::TenantError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::Unauthenticated => return Redirect::to("/login").into_response(),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "The form was refused: it did not carry this session's CSRF token. Reload the page and try again.",
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found."),
            Self::Store(_) | Self::Crypto(_) | Self::Datadog(_) | Self::Tenant(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The gateway hit an internal error; details are in its log.",
                )
            }
        };
        let page = pages::layout(
            "Error",
            html! { p.err { (message) } p { a href="/" { "Back" } } },
        );
        (status, axum::response::Html(page.into_string())).into_response()
    }
}

/// The whole application router (the extension routes included).
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
        .merge(crate::extensions::router(&state))
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
