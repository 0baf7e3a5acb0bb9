//! PostgreSQL transport policy: a database on another host is reached over TLS unless the
//! operator explicitly writes `sslmode=disable`.
//!
//! libpq's and sqlx's default, `prefer`, tries TLS and silently falls back to plaintext, so an
//! active attacker on the path can strip TLS and read every sealed blob, session and challenge.
//! Loopback addresses and Unix sockets never leave the machine and accept any mode.

use std::net::IpAddr;

use url::Url;

/// Why a PostgreSQL URL was refused. Never carries the URL (it may hold a password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error(
        "PostgreSQL on a non-loopback host needs TLS: add `sslmode=verify-full` (with \
         `sslrootcert=PATH` for a private CA) or `sslmode=require` to the URL; `prefer` and \
         `allow` fall back to plaintext silently, so write `sslmode=disable` to choose plaintext \
         explicitly"
    )]
    ImplicitPlaintext,
    #[error(
        "unknown `sslmode` in the PostgreSQL URL (expected disable, allow, prefer, require, verify-ca or verify-full)"
    )]
    UnknownSslMode,
    #[error("the PostgreSQL URL is not a valid URL")]
    Malformed,
}

/// The `sslmode` values libpq defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, TransportError> {
        match text.to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "allow" => Ok(Self::Allow),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            _ => Err(TransportError::UnknownSslMode),
        }
    }
}

/// The environment variables sqlx falls back to when the URL leaves host or mode out.
#[derive(Debug, Clone, Default)]
pub struct PgEnvironment {
    pub host: Option<String>,
    pub sslmode: Option<String>,
}

impl PgEnvironment {
    pub fn from_process() -> Self {
        Self {
            host: ["PGHOSTADDR", "PGHOST"]
                .into_iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty())),
            sslmode: std::env::var("PGSSLMODE").ok().filter(|v| !v.is_empty()),
        }
    }
}

/// Checks a `postgres://` URL against the policy in the module documentation, reading it the
/// way sqlx does: the authority's host, then query parameters in order (the last wins), then the
/// environment for whatever is still unset.
pub fn check_postgres_url(url: &str, env: &PgEnvironment) -> Result<(), TransportError> {
    let parsed = Url::parse(url).map_err(|_| TransportError::Malformed)?;
    let mut host = parsed.host_str().filter(|h| !h.is_empty()).map(|h| {
        percent_encoding::percent_decode_str(h)
            .decode_utf8_lossy()
            .into_owned()
    });
    let mut mode_text = None;
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "host" | "hostaddr" => host = Some(value.into_owned()),
            "sslmode" | "ssl-mode" => mode_text = Some(value.into_owned()),
            _ => {}
        }
    }
    let mode = match mode_text.or_else(|| env.sslmode.clone()) {
        Some(text) => Some(SslMode::parse(&text)?),
        None => None,
    };
    let host = host.or_else(|| env.host.clone());
    if host.as_deref().is_none_or(stays_on_this_machine) {
        return Ok(());
    }
    match mode {
        Some(SslMode::Disable | SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull) => {
            Ok(())
        }
        None | Some(SslMode::Allow | SslMode::Prefer) => Err(TransportError::ImplicitPlaintext),
    }
}

/// A Unix socket directory or a loopback name or address. No host at all means sqlx's default,
/// a local socket or `localhost`.
fn stays_on_this_machine(host: &str) -> bool {
    if host.starts_with('/') || host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), TransportError> {
        check_postgres_url(url, &PgEnvironment::default())
    }

    #[test]
    fn loopback_and_sockets_accept_any_mode() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:p@localhost/db",
            "postgres://u@[::1]:5432/db?sslmode=prefer",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://%2Fvar%2Frun%2Fpostgresql/db",
            "postgresql://127.0.0.9/db?sslmode=disable",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn remote_hosts_need_tls_or_an_explicit_disable() {
        for url in [
            "postgres://u:hunter2@db.internal/ddlink",
            "postgres://u@10.0.0.5/ddlink?sslmode=prefer",
            "postgres://u@db/ddlink?sslmode=allow",
            // Parameters override the authority, the last one winning, as in sqlx.
            "postgres://localhost/ddlink?host=db.internal",
            "postgres://localhost/ddlink?hostaddr=10.0.0.5",
            "postgres://db/ddlink?sslmode=require&ssl-mode=prefer",
        ] {
            assert_eq!(check(url), Err(TransportError::ImplicitPlaintext), "{url}");
        }
        for mode in [
            "require",
            "verify-ca",
            "verify-full",
            "VERIFY-FULL",
            "disable",
        ] {
            let url = format!("postgres://u@db.internal/ddlink?sslmode={mode}");
            assert_eq!(check(&url), Ok(()), "{url}");
        }
        assert_eq!(
            check("postgres://db/x?sslmode=maybe"),
            Err(TransportError::UnknownSslMode)
        );
    }

    #[test]
    fn environment_fills_what_the_url_leaves_out() {
        let env = PgEnvironment {
            host: Some("db.internal".into()),
            sslmode: None,
        };
        assert_eq!(
            check_postgres_url("postgres:///ddlink", &env),
            Err(TransportError::ImplicitPlaintext)
        );
        let env = PgEnvironment {
            host: Some("db.internal".into()),
            sslmode: Some("verify-full".into()),
        };
        assert_eq!(check_postgres_url("postgres:///ddlink", &env), Ok(()));
        // The URL's own mode wins over the environment's.
        assert_eq!(
            check_postgres_url("postgres:///ddlink?sslmode=prefer", &env),
            Err(TransportError::ImplicitPlaintext)
        );
    }

    #[test]
    fn errors_never_show_the_url() {
        let error = check("postgres://u:hunter2@db.internal/ddlink").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
    }
}
