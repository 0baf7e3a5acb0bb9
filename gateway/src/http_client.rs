//! Outbound HTTP: a small transport trait (reqwest in production, doubles in tests) behind an
//! allow-list guard, so no request can reach a host outside the configured Datadog sites.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub type HttpRequest = http::Request<Vec<u8>>;
pub type HttpResponse = http::Response<Vec<u8>>;
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Why an outbound request produced no HTTP response. Carries no URL query, header or body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("refusing to contact {0}: not an allowed Datadog API host")]
    NotAllowed(String),
    #[error("request to {host} timed out")]
    Timeout { host: String },
    #[error("could not connect to {host}")]
    Connect { host: String },
    #[error("request to {host} failed: {reason}")]
    Other { host: String, reason: String },
}

/// Sends one HTTP request and returns the whole response. Must not follow redirects.
pub trait Transport: Send + Sync + fmt::Debug {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_>;
}

/// `scheme://host[:port]` origins that outbound requests may go to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    origins: BTreeSet<String>,
}

impl AllowList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `scheme://host` (`host` may carry a port).
    pub fn allow(&mut self, scheme: &str, host: &str) {
        self.origins
            .insert(format!("{scheme}://{}", host.to_ascii_lowercase()));
    }

    pub fn permits(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                let origin = format!("{scheme}://{}", authority.as_str().to_ascii_lowercase());
                // A userinfo part would make the authority differ; refuse it outright.
                !authority.as_str().contains('@') && self.origins.contains(&origin)
            }
            _ => false,
        }
    }
}

/// The guarded client every Datadog call goes through.
#[derive(Debug, Clone)]
pub struct Outbound {
    transport: Arc<dyn Transport>,
    allow: Arc<AllowList>,
    sent: Arc<AtomicU64>,
}

impl Outbound {
    pub fn new(transport: Arc<dyn Transport>, allow: AllowList) -> Self {
        Self {
            transport,
            allow: Arc::new(allow),
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `request` if its origin is allowed.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        if !self.allow.permits(request.uri()) {
            let host = request.uri().host().unwrap_or("").to_owned();
            tracing::warn!(%host, "blocked outbound request to a host outside the allow-list");
            return Err(TransportError::NotAllowed(host));
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.transport.send(request).await
    }

    /// Requests handed to the transport so far (blocked ones excluded).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// Production transport: reqwest 0.13 with rustls (ring), no redirects, bounded timeouts.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// `resolve` pins host names to addresses (the sandbox maps its `*.localhost` hosts to
    /// loopback, which not every system resolver does).
    pub fn new(resolve: &[(String, SocketAddr)]) -> Result<Self, reqwest::Error> {
        // reqwest is built without a bundled provider; ring needs no C toolchain beyond cc.
        // Ignored error: a provider was already installed by this process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("ddlink-gateway/", env!("CARGO_PKG_VERSION")));
        for (host, addr) in resolve {
            builder = builder.resolve(host, *addr);
        }
        Ok(Self {
            client: builder.build()?,
        })
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(async move {
            let host = request.uri().host().unwrap_or("").to_owned();
            let request =
                reqwest::Request::try_from(request).map_err(|e| TransportError::Other {
                    host: host.clone(),
                    reason: e.without_url().to_string(),
                })?;
            let classify = |e: reqwest::Error| {
                if e.is_timeout() {
                    TransportError::Timeout { host: host.clone() }
                } else if e.is_connect() {
                    TransportError::Connect { host: host.clone() }
                } else {
                    TransportError::Other {
                        host: host.clone(),
                        reason: e.without_url().to_string(),
                    }
                }
            };
            let response = self.client.execute(request).await.map_err(classify)?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(classify)?;
            builder
                .body(body.to_vec())
                .map_err(|e| TransportError::Other {
                    host: host.clone(),
                    reason: e.to_string(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_scheme_host_and_port_exactly() {
        let mut allow = AllowList::new();
        allow.allow("https", "api.datadoghq.eu");
        allow.allow("http", "api.datadoghq.localhost:4000");
        let ok = |u: &str| allow.permits(&u.parse().unwrap());
        assert!(ok("https://api.datadoghq.eu/oauth2/v1/token"));
        assert!(ok("https://API.datadoghq.eu/x"));
        assert!(ok("http://api.datadoghq.localhost:4000/x"));
        assert!(!ok("http://api.datadoghq.eu/x"));
        assert!(!ok("https://api.datadoghq.eu:8443/x"));
        assert!(!ok("https://acme.datadoghq.eu/x"));
        assert!(!ok("https://evil@api.datadoghq.eu/x"));
        assert!(!ok("http://api.datadoghq.localhost:4001/x"));
        assert!(!ok("/relative"));
    }
}
