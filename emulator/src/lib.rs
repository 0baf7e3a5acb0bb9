//! `ddlink-emulator`: a faithful local stand-in for Datadog's OAuth, key-management and
//! intake APIs, for tests and the sandbox. Never used in production.
//!
//! One listener serves every host of a sandbox domain (default `datadoghq.localhost`,
//! which resolves to loopback), routed by `Host`:
//!
//! | host | serves |
//! |---|---|
//! | `app.<domain>`, `<custom>.<domain>` | `GET /tile`, `GET /tile/connect`, `POST /tile/uninstall`, `GET`/`POST /oauth2/v1/authorize`, `GET /organization-settings/api-keys`, `POST /organization-settings/api-keys/{id}/revoke` |
//! | `api.<domain>` | `POST /oauth2/v1/token`, `POST /oauth2/v1/revoke`, `POST /api/v2/api_keys/marketplace`, `POST /api/v2/series`, `POST /api/v1/series`, `POST /api/v1/distribution_points`, `POST /api/v1/events`, `POST /api/v1/check_run`, `GET /api/v1/validate` |
//! | `http-intake.logs.<domain>` | `POST /api/v2/logs`, `POST /v1/input` |
//! | `event-management-intake.<domain>` | `POST /api/v2/events` |
//! | any | `/_emulator/…` test API, with `Authorization: Bearer <token>` ([`EmulatorHandle::test_api_token`]; [`EmulatorHandle`] offers the same in process) |
//!
//! Other hosts get `421 Misdirected Request`.
//!
//! Several orgs can share one emulator ([`EmulatorConfig::orgs`], [`EmulatorHandle::create_org`]):
//! each has its own web-app host, tile, consent page, user and API keys, and every received
//! record carries the `org_id` of the key it came with. [`HeadlessBrowser`] walks an org's
//! tile → consent → callback flow the way its user's browser would.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ddlink_emulator::{Emulator, EmulatorConfig, OAuthClient};
//!
//! let config = EmulatorConfig {
//!     clients: vec![OAuthClient::new(
//!         "client-id",
//!         "client-secret",
//!         "http://127.0.0.1:8080/oauth/callback",
//!         "http://127.0.0.1:8080/oauth/onboard",
//!     )],
//!     api_keys: vec!["0123456789abcdef0123456789abcdef".into()],
//!     ..EmulatorConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let emulator = Emulator::start(config, listener).await?;
//! println!("domain={} api={}", emulator.domain(), emulator.api_url());
//! // … drive a client, then inspect what arrived:
//! let series = emulator.received_series();
//! # let _ = series;
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod body;
mod browser;
mod clock;
mod config;
mod decoding;
mod faults;
mod hosts;
mod ids;
mod intake;
mod keys;
mod oauth;
mod orgs;
mod pages;
pub mod pki;
mod received;
mod routing;
mod server;
mod state;
mod test_api;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use browser::{BrowserError, Decision, HeadlessBrowser, PageAnswer};
pub use config::{DEFAULT_DOMAIN, EmulatorConfig, OAuthClient, OrgConfig, TlsConfig};
pub use faults::{FaultAction, FaultSpec, RateLimit};
pub use hosts::HostKind;
pub use keys::{ApiKeyInfo, KeyOrigin};
pub use oauth::ConnectionInfo;
pub use oauth::app::consent_id_from_page;
pub use orgs::OrgError;
pub use received::{
    CheckRecord, DistributionRecord, EventRecord, EventsEndpoint, LogRecord, Point, RequestRecord,
    SeriesEndpoint, SeriesRecord,
};
pub use tls::{CA_FILE_NAME, TlsError, intake_leaf_names};

use crate::clock::{Clock, iso8601_micros, lock};
use crate::state::{AppState, Shared};

/// Why the emulator could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration is unusable (the message says why).
    Config(String),
    /// The listener's address could not be read.
    Listener(std::io::Error),
    Tls(TlsError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(why) => write!(f, "invalid emulator configuration: {why}"),
            Self::Listener(e) => write!(f, "unusable listener: {e}"),
            Self::Tls(e) => write!(f, "HTTPS setup failed: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts serving on `listener` (in the current tokio runtime) and returns at once.
    pub async fn start(
        config: EmulatorConfig,
        listener: TcpListener,
    ) -> Result<EmulatorHandle, StartError> {
        validate(&config)?;
        let orgs =
            orgs::OrgDirectory::new(config.orgs).map_err(|e| StartError::Config(e.to_string()))?;
        let test_api_token =
            test_api::TestApiToken::new(config.test_api_token.unwrap_or_else(ids::token));
        let local_addr = listener.local_addr().map_err(StartError::Listener)?;
        let domain_name = config.domain.to_ascii_lowercase();
        let tls = match &config.tls {
            Some(tls) => {
                Some(tls::setup(&domain_name, &tls.dir, tls.key_type).map_err(StartError::Tls)?)
            }
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let default_port = if tls.is_some() { 443 } else { 80 };
        let public_domain = if local_addr.port() == default_port {
            domain_name.clone()
        } else {
            format!("{domain_name}:{}", local_addr.port())
        };
        let clock = Clock::new(config.frozen_clock);
        let mut key_store = keys::KeyStore::default();
        for key in &config.api_keys {
            key_store.insert(
                &orgs.first().id,
                key.clone(),
                "Configured API key".to_owned(),
                iso8601_micros(clock.now()),
                KeyOrigin::Configured,
            );
        }
        let state: AppState = Arc::new(Shared {
            domain_name,
            public_domain,
            scheme,
            clients: config.clients,
            orgs: Mutex::new(orgs),
            clock,
            keys: Mutex::new(key_store),
            oauth: Mutex::default(),
            received: Mutex::default(),
            faults: Mutex::default(),
            test_api_token,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config.clone()));
        let dispatcher = routing::Dispatcher::new(state.clone());
        let task = tokio::spawn(server::accept_loop(
            listener,
            acceptor,
            dispatcher,
            shutdown_rx,
        ));
        Ok(EmulatorHandle {
            state,
            local_addr,
            ca: tls.map(|t| (t.ca_pem, t.ca_path)),
            shutdown,
            task: Some(task),
        })
    }
}

fn validate(config: &EmulatorConfig) -> Result<(), StartError> {
    let domain = &config.domain;
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 200 || !domain.contains('.') || !domain.split('.').all(valid_label) {
        return Err(StartError::Config(format!(
            "domain {domain:?} must be a host name such as datadoghq.localhost (no scheme, no port)"
        )));
    }
    for (i, client) in config.clients.iter().enumerate() {
        if client.client_id.is_empty() || client.client_secret.is_empty() {
            return Err(StartError::Config(format!(
                "client #{i} needs a client_id and a client_secret"
            )));
        }
        if client.redirect_uris.is_empty() {
            return Err(StartError::Config(format!(
                "client {} has no redirect URI",
                client.client_id
            )));
        }
        if config
            .clients
            .iter()
            .filter(|c| c.client_id == client.client_id)
            .count()
            > 1
        {
            return Err(StartError::Config(format!(
                "client_id {} is registered twice",
                client.client_id
            )));
        }
    }
    if config
        .api_keys
        .iter()
        .any(|k| k.trim().is_empty() || k.trim() != k)
    {
        return Err(StartError::Config(
            "API keys must be non-empty and without surrounding spaces".into(),
        ));
    }
    if let Some(token) = &config.test_api_token
        && (token.len() < test_api::TOKEN_MIN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(StartError::Config(format!(
            "the test API token must be at least {} printable ASCII characters without spaces",
            test_api::TOKEN_MIN_LEN
        )));
    }
    Ok(())
}

/// A running emulator. Dropping it stops the server; [`EmulatorHandle::shutdown`] also
/// waits until every connection is closed.
#[derive(Debug)]
pub struct EmulatorHandle {
    state: AppState,
    local_addr: SocketAddr,
    ca: Option<(String, PathBuf)>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.state.scheme
    }

    /// The Datadog `domain` of this sandbox, as sent to clients on redirects: the host
    /// name plus the port unless it is the scheme's default, e.g. `datadoghq.localhost:41234`.
    pub fn domain(&self) -> &str {
        &self.state.public_domain
    }

    /// The domain's host name without port, e.g. `datadoghq.localhost`.
    pub fn domain_name(&self) -> &str {
        &self.state.domain_name
    }

    /// `scheme://<prefix>.<domain>`, e.g. `url_for_host("api")` →
    /// `http://api.datadoghq.localhost:41234`.
    pub fn url_for_host(&self, prefix: &str) -> String {
        self.state.url_for(prefix)
    }

    /// `scheme://app.<domain>`: the `site` of the sandbox (tile, authorize), the first org's.
    pub fn app_url(&self) -> String {
        self.url_for_host(hosts::APP)
    }

    /// The origin of an org's web app (its `site`): `app.` for the first org, else
    /// `scheme://<subdomain>.<domain>`. `None` for an unknown org.
    pub fn org_app_url(&self, org_id: &str) -> Option<String> {
        self.state
            .org(org_id)
            .map(|org| self.state.org_app_url(&org))
    }

    /// An org's integration tile (`<org app url>/tile`); `None` for an unknown org.
    pub fn org_tile_url(&self, org_id: &str) -> Option<String> {
        self.org_app_url(org_id).map(|app| format!("{app}/tile"))
    }

    /// Every org, the first (default) one first.
    pub fn orgs(&self) -> Vec<OrgConfig> {
        lock(&self.state.orgs).list()
    }

    /// Adds an org at run time (as `POST /_emulator/orgs` does): fresh org and user ids, the
    /// subdomain `org-<n>` unless one is given.
    pub fn create_org(
        &self,
        name: impl Into<String>,
        subdomain: Option<String>,
    ) -> Result<OrgConfig, OrgError> {
        test_api::add_org(&self.state, name.into(), subdomain)
    }

    /// `scheme://api.<domain>`.
    pub fn api_url(&self) -> String {
        self.url_for_host(hosts::API)
    }

    /// `scheme://http-intake.logs.<domain>`.
    pub fn logs_url(&self) -> String {
        self.url_for_host(hosts::LOGS_INTAKE)
    }

    /// `scheme://event-management-intake.<domain>`.
    pub fn event_intake_url(&self) -> String {
        self.url_for_host(hosts::EVENT_INTAKE)
    }

    /// `scheme://127.0.0.1:<port>` (the listener's IP): reaches the `/_emulator/` test API
    /// without name resolution (with [`EmulatorHandle::test_api_token`]).
    pub fn base_url(&self) -> String {
        let ip = if self.local_addr.ip().is_unspecified() {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            self.local_addr.ip()
        };
        format!(
            "{}://{}",
            self.scheme(),
            SocketAddr::new(ip, self.local_addr.port())
        )
    }

    /// The fixed host names (without port), e.g. for `reqwest::ClientBuilder::resolve`.
    pub fn host_names(&self) -> Vec<String> {
        [
            hosts::APP,
            hosts::API,
            hosts::LOGS_INTAKE,
            hosts::EVENT_INTAKE,
        ]
        .iter()
        .map(|prefix| format!("{prefix}.{}", self.state.domain_name))
        .collect()
    }

    /// The bearer token the `/_emulator/…` test API requires (`Authorization: Bearer <token>`):
    /// the configured one, or the one generated at start.
    pub fn test_api_token(&self) -> &str {
        self.state.test_api_token.expose()
    }

    /// The CA certificate (PEM) when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|(pem, _)| pem.as_str())
    }

    /// Where the CA certificate was written when serving HTTPS.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca.as_ref().map(|(_, path)| path.as_path())
    }

    /// The emulator's current time.
    pub fn now(&self) -> SystemTime {
        self.state.clock.now()
    }

    /// Moves the clock forward (expires access tokens, codes, consent pages; shifts the
    /// accepted timestamp window).
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    pub fn received_series(&self) -> Vec<SeriesRecord> {
        lock(&self.state.received).series.clone()
    }

    pub fn received_distributions(&self) -> Vec<DistributionRecord> {
        lock(&self.state.received).distributions.clone()
    }

    pub fn received_events(&self) -> Vec<EventRecord> {
        lock(&self.state.received).events.clone()
    }

    pub fn received_logs(&self) -> Vec<LogRecord> {
        lock(&self.state.received).logs.clone()
    }

    pub fn received_checks(&self) -> Vec<CheckRecord> {
        lock(&self.state.received).checks.clone()
    }

    /// Every request answered so far (method, host, path, status; no headers or bodies).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.received).requests.clone()
    }

    /// Every API key of every org, including revoked ones.
    pub fn api_keys(&self) -> Vec<ApiKeyInfo> {
        lock(&self.state.keys).list()
    }

    /// Creates a valid API key of the first org.
    pub fn create_api_key(&self) -> ApiKeyInfo {
        let first = lock(&self.state.orgs).first().id.clone();
        test_api::create_key_of(&self.state, None, &first)
    }

    /// Creates a valid API key of an org; `None` for an unknown org.
    pub fn create_org_api_key(&self, org_id: &str) -> Option<ApiKeyInfo> {
        test_api::new_key(&self.state, None, Some(org_id))
    }

    /// Revokes a key by id or value (later submissions with it get 403); `false` if unknown.
    pub fn revoke_api_key(&self, id_or_key: &str) -> bool {
        lock(&self.state.keys).revoke(id_or_key)
    }

    /// Uninstalls a client's integration from an org, as the tile's **Uninstall** does: every
    /// live connection of the org to the client is revoked with its tokens (refreshing answers
    /// `invalid_grant`, the access token 401), and the API key it created stays valid.
    /// Returns how many connections were revoked; `None` for an unknown org or client.
    pub fn uninstall(&self, org_id: &str, client_id: &str) -> Option<usize> {
        test_api::uninstall_of(&self.state, org_id, Some(client_id)).ok()
    }

    /// Successful authorizations (connections of orgs to OAuth clients).
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.state.oauth).connections.clone()
    }

    /// Revokes a connection as an uninstall would: its tokens stop working and refreshing
    /// answers `invalid_grant`. `false` if unknown.
    pub fn revoke_connection(&self, connection_id: &str) -> bool {
        let mut oauth = lock(&self.state.oauth);
        let known = oauth.connection(connection_id).is_some();
        oauth.revoke_connection(connection_id);
        known
    }

    /// Queues a fault (see [`FaultSpec`]).
    pub fn inject_fault(&self, fault: FaultSpec) {
        lock(&self.state.faults).push(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
