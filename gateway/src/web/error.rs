//! The HTTP layer's error type: internal details are logged, never shown.

use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use maud::html;

use super::pages;

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
    Tenant(#[from] crate::store::tenant::TenantError),
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
