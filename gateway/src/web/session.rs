//! Admin credentials and sessions as values: Argon2id hashing, the session cookie, CSRF tokens.
//! Looking them up and checking requests is [`super::auth`]; sign-in throttling is
//! [`super::login_guard`].

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use base64::Engine as _;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::tenant::User;

pub const SESSION_COOKIE: &str = "ddlink_session";

/// A logged-in admin (the cookie's token is never stored, only its hash).
#[derive(Debug)]
pub struct AdminSession {
    token: SecretString,
    hash: String,
    user: User,
}

impl AdminSession {
    /// A session of `user` whose cookie carries `token` (stored as `hash`).
    pub(super) fn new(token: SecretString, hash: String, user: User) -> Self {
        Self { token, hash, user }
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Who signed in; their tenant is the only one whose data the session reaches.
    pub fn user(&self) -> &User {
        &self.user
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

pub(super) fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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

/// Whether `candidate` matches an Argon2 PHC string (deliberately slow: ~19 MiB, tens of ms).
pub fn password_matches(stored: &str, candidate: &str) -> bool {
    password_matches_in(stored, candidate.as_bytes(), &mut Argon2Memory::default())
}

/// Argon2 working memory, reused from one check to the next. Allocating it afresh for every
/// check makes the allocator keep a freed 19 MiB block in each thread's arena, so resident
/// memory grows with the number of threads checks happen to run on.
#[derive(Debug, Default)]
pub struct Argon2Memory(Vec<argon2::Block>);

/// [`password_matches`] with the working memory given (resized as the hash's parameters need).
pub fn password_matches_in(stored: &str, candidate: &[u8], memory: &mut Argon2Memory) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let algorithm = argon2::Algorithm::try_from(hash.algorithm);
    let version = hash
        .version
        .map_or(Ok(argon2::Version::default()), argon2::Version::try_from);
    let params = argon2::Params::try_from(&hash);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    memory.0.resize(params.block_count(), argon2::Block::new());
    let mut computed = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(candidate, salt, &mut computed, &mut memory.0)
        .is_ok()
        && bool::from(computed.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier as _;

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
        let mut memory = Argon2Memory::default();
        assert!(password_matches_in(&hash, b"correct horse", &mut memory));
        assert!(!password_matches_in(&hash, b"correct horsf", &mut memory));
        assert!(!password_matches_in(
            "$argon2id$v=19$m=8,t=1,p=1$bad",
            b"x",
            &mut memory
        ));
        assert!(password_matches(&hash, "correct horse"));
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
