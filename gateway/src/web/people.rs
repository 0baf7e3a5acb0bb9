//! Inviting tenant admins: an admin makes a one-time invite link for their own tenant
//! (`POST /invites`); the invitee opens it (`GET /invite/{token}`) and chooses a user name and
//! password (`POST /invite/{token}`, Argon2id). Only the token's hash is stored, and it is
//! deleted when used.

use axum::extract::{Form, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use maud::html;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::WebError;
use super::admin::{CsrfForm, session_for_post};
use super::pages::layout;
use crate::crypto::hash_token;
use crate::state::AppState;
use crate::store::InviteAcceptance;
use crate::tenants::{self, MIN_PASSWORD_LEN, TenantId, valid_name};

/// Longest token accepted in an invite path (ours are 43 characters).
const TOKEN_MAX_LEN: usize = 128;

/// `POST /invites`: a new invite link for the signed-in admin's tenant.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = session_for_post(&state, &headers, &form).await?;
    let tenant = &session.user().tenant;
    let url = tenants::create_invite(&state, tenant).await?;
    let message = format!("{} created an admin invite", session.user().name);
    state
        .store
        .record_event(tenant, state.clock.now(), "invite", &message)
        .await?;
    let page = layout(
        "Invite an admin",
        html! {
            p { "Send this link to the person who should administer tenant " code { (tenant) } ". It works once, within "
                (tenants::INVITE_TTL_SECS / 86_400) " days." }
            p { code id="invite-url" { (url) } }
            p { a href="/" { "Back" } }
        },
    );
    Ok(Html(page.into_string()).into_response())
}

fn invite_page(tenant: &TenantId, token: &str, error: Option<&str>) -> maud::Markup {
    layout(
        "Become an admin",
        html! {
            @if let Some(error) = error { p.err { (error) } }
            p { "You were invited to administer tenant " code { (tenant) } " on this gateway." }
            form method="post" action={ "/invite/" (token) } {
                p {
                    label for="user" { "User name" } br;
                    input id="user" type="text" name="user" autocomplete="username" autocapitalize="none" required;
                    br; small { "Lower-case letters, digits, dots, dashes and underscores." }
                }
                p {
                    label for="password" { "Password (at least " (MIN_PASSWORD_LEN) " characters)" } br;
                    input id="password" type="password" name="password" autocomplete="new-password" required;
                }
                p { button type="submit" { "Create my account" } }
            }
        },
    )
}

fn invite_unknown() -> Response {
    let page = layout(
        "Invite not valid",
        html! {
            p.err { "This invite link was already used, has expired, or was never issued." }
            p { "Ask an admin of your tenant (or the gateway's operator) for a new one." }
        },
    );
    (StatusCode::NOT_FOUND, Html(page.into_string())).into_response()
}

fn token_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= TOKEN_MAX_LEN
}

/// `GET /invite/{token}`: the form to choose a user name and password.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if !token_ok(&token) {
        return Ok(invite_unknown());
    }
    match state
        .store
        .invite_tenant(&hash_token(&token), state.clock.now())
        .await?
    {
        Some(tenant) => Ok(Html(invite_page(&tenant, &token, None).into_string()).into_response()),
        None => Ok(invite_unknown()),
    }
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    user: String,
    password: SecretString,
}

/// `POST /invite/{token}`: creates the admin and uses the invite up.
pub async fn accept(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    if !token_ok(&token) {
        return Ok(invite_unknown());
    }
    let token_hash = hash_token(&token);
    let now = state.clock.now();
    let Some(tenant) = state.store.invite_tenant(&token_hash, now).await? else {
        return Ok(invite_unknown());
    };
    let refuse = |message: &str| {
        let page = invite_page(&tenant, &token, Some(message));
        (StatusCode::BAD_REQUEST, Html(page.into_string())).into_response()
    };
    if !valid_name(&form.user) || form.user == tenants::OPERATOR {
        return Ok(refuse(
            "Choose a user name of lower-case letters, digits, dots, dashes and underscores.",
        ));
    }
    if form.password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
        return Ok(refuse(&format!(
            "Choose a password of at least {MIN_PASSWORD_LEN} characters."
        )));
    }
    let hash = tenants::hash_off_thread(form.password).await?;
    match state
        .store
        .accept_invite(&token_hash, &form.user, &hash, now)
        .await?
    {
        InviteAcceptance::Created(tenant) => {
            let message = format!("{} became an admin", form.user);
            state
                .store
                .record_event(&tenant, now, "admin", &message)
                .await?;
            tracing::info!(%tenant, user = %form.user, "tenant admin created from an invite");
            Ok(Redirect::to("/login").into_response())
        }
        InviteAcceptance::NameTaken => Ok(refuse("That user name is taken; choose another.")),
        InviteAcceptance::Unknown => Ok(invite_unknown()),
    }
}
