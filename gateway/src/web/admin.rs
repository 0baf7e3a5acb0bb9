//! Admin pages: login/logout, the connection overview, and the disconnect action.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Deserialize;

use super::WebError;
use super::login_guard::{SignIn, sign_in};
use super::pages::{self, AdminView};
use super::session::{AdminSession, ClientAddr, clearing_cookie, create_session, current_session};
use crate::state::AppState;
use crate::upkeep;

/// How many recent events the admin page lists.
const EVENTS_SHOWN: i64 = 20;

fn html(markup: maud::Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

/// Longest `next` followed after login.
const NEXT_MAX_LEN: usize = 2048;

/// Where to go after login: `next` only if it is a path on the gateway's own origin, else `/`
/// (no open redirect). Browsers drop tabs and newlines from URLs and read `\` as `/`, and
/// some proxies decode `%2F`/`%5C`, so anything but printable ASCII, and backslashes (raw,
/// or percent-encoded in the path), is refused before the same-origin check.
fn safe_next(public_url: &url::Url, next: Option<&str>) -> String {
    next.and_then(|next| same_origin_path(public_url, next))
        .unwrap_or_else(|| "/".to_owned())
}

fn same_origin_path(public_url: &url::Url, next: &str) -> Option<String> {
    // Only printable ASCII: no controls, whitespace (any Unicode kind) or other invisibles.
    let suspicious = |c: char| !c.is_ascii_graphic() || c == '\\';
    if next.len() > NEXT_MAX_LEN
        || !next.starts_with('/')
        || next.starts_with("//")
        || next.contains(suspicious)
    {
        return None;
    }
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if decoded.starts_with("//") || decoded.contains(suspicious) {
        return None;
    }
    let resolved = public_url.join(next).ok()?;
    (resolved.origin() == public_url.origin())
        .then(|| resolved[url::Position::BeforePath..].to_owned())
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = safe_next(&state.config.public_url, query.next.as_deref());
    html(pages::login(&next, None))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// A tenant admin's user name; empty or absent for the operator's admin token.
    user: Option<String>,
    password: SecretString,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(&state.config.public_url, form.next.as_deref());
    let refusal = |status: StatusCode, message: &str| {
        let page = pages::login(&next, Some(message));
        (status, axum::response::Html(page.into_string())).into_response()
    };
    match sign_in(&state, ip, form.user.as_deref(), form.password).await? {
        SignIn::Accepted(user) => {
            let (_session, cookie) = create_session(&state, user).await?;
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
        }
        SignIn::Refused => Ok(refusal(
            StatusCode::UNAUTHORIZED,
            "Wrong user name, password or token.",
        )),
        SignIn::Throttled { retry_after_secs } => {
            let mut response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many sign-in attempts. Try again in {retry_after_secs} s."),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            Ok(response)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub(crate) csrf: Option<String>,
}

/// The session, if the form carries its CSRF token; otherwise the request is refused.
pub(crate) async fn session_for_post(
    state: &AppState,
    headers: &HeaderMap,
    form: &CsrfForm,
) -> Result<AdminSession, WebError> {
    let session = current_session(state, headers)
        .await?
        .ok_or(WebError::Unauthenticated)?;
    match form.csrf.as_deref() {
        Some(token) if session.csrf_matches(token) => Ok(session),
        _ => {
            state.metrics.error("csrf");
            Err(WebError::Csrf)
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = session_for_post(&state, &headers, &form).await?;
    state.store.delete_session(session.hash()).await?;
    Ok((
        [(
            header::SET_COOKIE,
            clearing_cookie(state.config.cookies_secure()),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(session) = current_session(&state, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let user = session.user();
    let connections = state.connections.statuses(&user.tenant).await?;
    let events = state
        .store
        .recent_events(&user.tenant, EVENTS_SHOWN)
        .await?;
    let csrf = session.csrf_token();
    let onboarding_url = state.config.onboarding_url();
    let redirect_uri = state.config.redirect_uri();
    let mut sections = Vec::new();
    for section in &state.extensions.admin_sections {
        sections.push(section.render(&state, user, &csrf).await?);
    }
    let tenants = if user.operator {
        Some(crate::tenants::health(&state).await?)
    } else {
        None
    };
    let view = AdminView {
        user,
        tenants: tenants.as_deref(),
        csrf: &csrf,
        connections: &connections,
        events: &events,
        onboarding_url: onboarding_url.as_str(),
        redirect_uri: redirect_uri.as_str(),
        now: state.clock.now(),
        sections,
    };
    Ok(html(pages::admin(&view)))
}

pub async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = session_for_post(&state, &headers, &form).await?;
    if !upkeep::disconnect(&state, &session.user().tenant, &id).await? {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_followed_only_to_paths_on_the_same_origin() {
        let public = url::Url::parse("https://gw.example.com/").unwrap();
        let refused = [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\\\\evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/%09/evil.example",
            "/%0A/evil.example",
            "/%0d/evil.example",
            "/%20/evil.example",
            "/%5Cevil.example",
            "/%5c/evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%2F/evil.example",
            "%2F%2Fevil.example",
            "%2f%2fevil.example",
            "//evil.example",
            "///evil.example",
            "https:evil.example",
            "https:/evil.example",
            "https://evil.example/",
            "https://gw.example.com/",
            "javascript:alert(1)",
            "evil.example",
            " /x",
            "/x y",
            "/\u{0}x",
            "/\u{a0}x",
            "/\u{2028}x",
            "/\u{feff}x",
            "",
        ];
        for next in refused {
            assert_eq!(safe_next(&public, Some(next)), "/", "{next:?}");
        }
        assert_eq!(safe_next(&public, None), "/");
        assert_eq!(
            safe_next(&public, Some(&format!("/{}", "a".repeat(NEXT_MAX_LEN)))),
            "/"
        );
        for next in [
            "/",
            "/connections",
            "/oauth/onboard?domain=datadoghq.eu&site=https%3A%2F%2Fapp.datadoghq.eu",
            "/a/../b",
        ] {
            let followed = safe_next(&public, Some(next));
            assert!(
                followed.starts_with('/') && !followed.starts_with("//"),
                "{followed}"
            );
            assert_eq!(
                public.join(&followed).unwrap().origin(),
                public.origin(),
                "{next}"
            );
        }
        assert_eq!(
            safe_next(&public, Some("/oauth/onboard?domain=datadoghq.eu")),
            "/oauth/onboard?domain=datadoghq.eu"
        );
    }
}
