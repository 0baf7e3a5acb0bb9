//! Minimal HTML for the web-app host (tile, consent, error pages).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete page; `body` must already be escaped.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} | Datadog (emulator)</title></head>\n<body>\n{body}\n</body></html>\n",
        escape(title)
    );
    (status, Html(html)).into_response()
}

/// Datadog's authorize error page: shown instead of redirecting when the client or the
/// redirect URI cannot be trusted. The text is `error - description`, as Datadog shows it.
pub(crate) fn oauth_error_page(error: &str, description: &str) -> Response {
    let text = format!("{error} - {description}");
    page(
        StatusCode::BAD_REQUEST,
        "Authorization error",
        &format!(
            "<h1>Authorization error</h1>\n<p id=\"error\">{}</p>",
            escape(&text)
        ),
    )
}

/// A `302 Found` redirect, the status Datadog's web app uses.
pub(crate) fn found(location: &str) -> Response {
    match axum::http::HeaderValue::try_from(location) {
        Ok(value) => (StatusCode::FOUND, [(axum::http::header::LOCATION, value)]).into_response(),
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "<h1>Invalid redirect target</h1>",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
