//! Admin pages: login/logout, the connection overview, and the disconnect action.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Deserialize;

use super::WebError;
use super::pages::{self, AdminView};
use super::session::{
    AdminSession, ClientAddr, clearing_cookie, create_session, current_session, verify_password,
};
use crate::state::AppState;
use crate::upkeep;

/// How many recent events the admin page lists.
const EVENTS_SHOWN: i64 = 20;

fn html(markup: maud::Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

/// Only same-site relative paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048 =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    html(pages::login(&safe_next(query.next.as_deref()), None))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    password: SecretString,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    if !state.login_limiter.allows(ip) {
        state.metrics.login("rate_limited");
        let page = pages::login(
            &next,
            Some("Too many failed sign-in attempts. Wait a few minutes."),
        );
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            axum::response::Html(page.into_string()),
        )
            .into_response());
    }
    if !verify_password(&state, form.password).await? {
        state.login_limiter.record_failure(ip);
        state.metrics.login("failed");
        let page = pages::login(&next, Some("Wrong password or token."));
        return Ok((
            StatusCode::UNAUTHORIZED,
            axum::response::Html(page.into_string()),
        )
            .into_response());
    }
    state.login_limiter.record_success(ip);
    state.metrics.login("ok");
    let (_session, cookie) = create_session(&state).await?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// The session, if the form carries its CSRF token; otherwise the request is refused.
async fn session_for_post(
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
    let connections = state.connections.statuses().await?;
    let events = state.store.recent_events(EVENTS_SHOWN).await?;
    let csrf = session.csrf_token();
    let onboarding_url = state.config.onboarding_url();
    let redirect_uri = state.config.redirect_uri();
    let mut sections = Vec::new();
    for section in &state.extensions.admin_sections {
        sections.push(section.render(&state, &csrf).await?);
    }
    let view = AdminView {
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
    session_for_post(&state, &headers, &form).await?;
    if !upkeep::disconnect(&state, &id).await? {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to("/").into_response())
}
