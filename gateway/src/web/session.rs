//! Admin authentication: Argon2id credential, session cookies, CSRF tokens, login rate limiting.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::{hash_token, random_token};
use crate::state::AppState;
use crate::store::StoreError;

pub const SESSION_COOKIE: &str = "ddlink_session";
/// Failed logins allowed per source address within [`LIMIT_WINDOW`].
const FAILURES_PER_ADDRESS: usize = 5;
/// Failed logins allowed in total within [`LIMIT_WINDOW`] (slows distributed guessing).
const FAILURES_TOTAL: usize = 50;
const LIMIT_WINDOW: Duration = Duration::from_secs(300);

/// A logged-in admin (the cookie's token is never stored, only its hash).
#[derive(Debug)]
pub struct AdminSession {
    token: SecretString,
    hash: String,
}

impl AdminSession {
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The CSRF token bound to this session, for hidden form fields.
    pub fn csrf_token(&self) -> String {
        let digest = Sha256::new_with_prefix(b"ddlink/csrf/v1\0")
            .chain_update(self.token.expose_secret().as_bytes())
            .finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        self.csrf_token()
            .as_bytes()
            .ct_eq(submitted.as_bytes())
            .into()
    }
}

fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session named by the request's cookie, if it exists and has not expired.
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<AdminSession>, StoreError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = hash_token(token);
    if state
        .store
        .session_is_valid(&hash, state.clock.now())
        .await?
    {
        Ok(Some(AdminSession {
            token: SecretString::from(token.to_owned()),
            hash,
        }))
    } else {
        Ok(None)
    }
}

/// Creates a session and returns it with its `Set-Cookie` value.
pub async fn create_session(state: &AppState) -> Result<(AdminSession, String), StoreError> {
    let token = random_token(32)?;
    let hash = hash_token(&token);
    let now = state.clock.now();
    let ttl = state.config.timings.session_ttl.as_secs();
    let expires = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    state.store.create_session(&hash, now, expires).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}{}",
        if state.config.cookies_secure() {
            "; Secure"
        } else {
            ""
        }
    );
    Ok((
        AdminSession {
            token: SecretString::from(token),
            hash,
        },
        cookie,
    ))
}

pub fn clearing_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Argon2id PHC string of a password or token.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Verifies against the stored Argon2id hash (on a blocking thread: it is deliberately slow).
pub async fn verify_password(
    state: &AppState,
    candidate: SecretString,
) -> Result<bool, StoreError> {
    let Some(stored) = state.store.admin_password_hash().await? else {
        return Ok(false);
    };
    let verified = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(candidate.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    Ok(verified)
}

/// Sliding-window limit on failed logins, per source address and overall.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<FailureLog>,
}

/// Times of recent failed logins.
#[derive(Debug, Default)]
struct FailureLog {
    per_address: HashMap<IpAddr, VecDeque<Instant>>,
    total: VecDeque<Instant>,
}

impl LoginLimiter {
    /// Whether another attempt from `addr` may be checked now.
    pub fn allows(&self, addr: Option<IpAddr>) -> bool {
        let addr = bucket(addr);
        let Ok(mut guard) = self.failures.lock() else {
            return false;
        };
        let log = &mut *guard;
        let now = Instant::now();
        prune(&mut log.total, now);
        if log.total.len() >= FAILURES_TOTAL {
            return false;
        }
        match log.per_address.get_mut(&addr) {
            Some(list) => {
                prune(list, now);
                list.len() < FAILURES_PER_ADDRESS
            }
            None => true,
        }
    }

    pub fn record_failure(&self, addr: Option<IpAddr>) {
        let addr = bucket(addr);
        if let Ok(mut guard) = self.failures.lock() {
            let log = &mut *guard;
            let now = Instant::now();
            log.total.push_back(now);
            log.per_address.entry(addr).or_default().push_back(now);
            // Bound memory: forget addresses whose failures all expired.
            log.per_address.retain(|_, list| {
                prune(list, now);
                !list.is_empty()
            });
        }
    }

    pub fn record_success(&self, addr: Option<IpAddr>) {
        if let Ok(mut guard) = self.failures.lock() {
            guard.per_address.remove(&bucket(addr));
        }
    }
}

/// Requests without a known peer address (in-process callers) share one bucket.
fn bucket(addr: Option<IpAddr>) -> IpAddr {
    addr.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn prune(list: &mut VecDeque<Instant>, now: Instant) {
    while list
        .front()
        .is_some_and(|t| now.duration_since(*t) > LIMIT_WINDOW)
    {
        list.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_an_address_after_repeated_failures() {
        let limiter = LoginLimiter::default();
        let attacker = Some(IpAddr::from([10, 0, 0, 1]));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..FAILURES_PER_ADDRESS {
            assert!(limiter.allows(attacker));
            limiter.record_failure(attacker);
        }
        assert!(!limiter.allows(attacker));
        assert!(limiter.allows(other));
        limiter.record_success(attacker);
        assert!(limiter.allows(attacker));
    }

    #[test]
    fn password_hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
    }

    #[test]
    fn cookies_are_parsed_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; ddlink_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}

/// The peer address when the server was started with connect info (absent in `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}
