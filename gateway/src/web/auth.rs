//! Who is asking, for every handler: sign-in, the session behind a cookie and the CSRF check of
//! POST forms, as extractors ([`AdminSession`] for pages, [`AdminForm`] for forms). Reads only
//! its own sub-state [`Auth`] (`FromRef`), so it depends on no handler and not on the
//! application state.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, FromRef, FromRequest, FromRequestParts, Request};
use http::HeaderMap;
use http::request::Parts;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::login_guard::{self, LoginGuard, SignIn};
use super::session::{AdminSession, SESSION_COOKIE, cookie_value, password_matches};
use crate::clock::Clock;
use crate::crypto::{hash_token, random_token};
use crate::metrics::Metrics;
use crate::store::tenant::User;
use crate::store::{Store, StoreError};

/// What checking credentials and sessions needs.
#[derive(Debug, Clone)]
pub struct Auth {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub login_guard: Arc<LoginGuard>,
    pub session_ttl: Duration,
    /// Whether cookies get `Secure` (the public URL is `https`).
    pub cookies_secure: bool,
}

impl Auth {
    /// Checks a sign-in from `addr` under the throttle ([`login_guard::sign_in`]).
    pub async fn sign_in(
        &self,
        addr: Option<IpAddr>,
        user: Option<&str>,
        candidate: SecretString,
    ) -> Result<SignIn, StoreError> {
        login_guard::sign_in(
            &self.login_guard,
            &self.store,
            &self.metrics,
            addr,
            user,
            candidate,
        )
        .await
    }
}

/// The session named by the request's cookie, if it exists and has not expired.
pub async fn current_session(
    auth: &Auth,
    headers: &HeaderMap,
) -> Result<Option<AdminSession>, StoreError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = hash_token(token);
    Ok(auth
        .store
        .session_user(&hash, auth.clock.now())
        .await?
        .map(|user| AdminSession::new(SecretString::from(token.to_owned()), hash, user)))
}

/// Creates a session of `user` and returns it with its `Set-Cookie` value.
pub async fn create_session(auth: &Auth, user: User) -> Result<(AdminSession, String), StoreError> {
    let token = random_token(32)?;
    let hash = hash_token(&token);
    let now = auth.clock.now();
    let ttl = auth.session_ttl.as_secs();
    let expires = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    auth.store
        .create_session(&hash, &user.name, now, expires)
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}{}",
        if auth.cookies_secure { "; Secure" } else { "" }
    );
    Ok((
        AdminSession::new(SecretString::from(token), hash, user),
        cookie,
    ))
}

/// Verifies against the stored Argon2id hash (on a blocking thread: it is deliberately slow).
pub async fn verify_password(auth: &Auth, candidate: SecretString) -> Result<bool, StoreError> {
    let Some(stored) = auth.store.admin_password_hash().await? else {
        return Ok(false);
    };
    let verified =
        tokio::task::spawn_blocking(move || password_matches(&stored, candidate.expose_secret()))
            .await
            .unwrap_or(false);
    Ok(verified)
}

/// A signed-in admin is required: without a session the request is sent to `/login`.
impl<S> FromRequestParts<S> for AdminSession
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        current_session(&Auth::from_ref(state), &parts.headers)
            .await?
            .ok_or(WebError::Unauthenticated)
    }
}

/// A POST form of a signed-in admin that carried the session's CSRF token (hidden `csrf`
/// field), with its other fields as `T`.
#[derive(Debug)]
pub struct AdminForm<T> {
    pub session: AdminSession,
    pub fields: T,
}

/// A form with no fields besides the CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
struct CsrfField<T> {
    csrf: Option<String>,
    #[serde(flatten)]
    fields: T,
}

impl<S, T> FromRequest<S> for AdminForm<T>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = axum::response::Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = request.into_parts();
        let session = AdminSession::from_request_parts(&mut parts, state).await;
        let Form(form) =
            Form::<CsrfField<T>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        let session = session.map_err(IntoResponse::into_response)?;
        match form.csrf.as_deref() {
            Some(token) if session.csrf_matches(token) => Ok(Self {
                session,
                fields: form.fields,
            }),
            _ => {
                Auth::from_ref(state).metrics.error("csrf");
                Err(WebError::Csrf.into_response())
            }
        }
    }
}
