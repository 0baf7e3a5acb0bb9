//! What an emulator instance serves: its domain, registered OAuth clients, pre-registered
//! API keys, the organisations that authorise, TLS and the clock.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

/// The default sandbox domain. `*.localhost` resolves to loopback in browsers and curl, and
/// `ddlink-core` accepts it as a sandbox site.
pub const DEFAULT_DOMAIN: &str = "datadoghq.localhost";

/// Configuration for [`crate::Emulator::start`]. `Debug` does not show the API keys.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Host name of the sandbox domain, without port (default [`DEFAULT_DOMAIN`]). The
    /// emulator serves `app.`, `api.`, `http-intake.logs.` and `event-management-intake.`
    /// below it, and any other single label as a custom-subdomain app host. The `domain`
    /// it hands out (see [`crate::EmulatorHandle::domain`]) appends the listener's port.
    pub domain: String,
    /// Serve HTTPS (by default with an RSA chain like Datadog's) instead of plain HTTP.
    pub tls: Option<TlsConfig>,
    /// OAuth clients registered "in the Developer Platform".
    pub clients: Vec<OAuthClient>,
    /// API keys valid from the start (owned by the first org, not by an OAuth client).
    pub api_keys: Vec<String>,
    /// Freeze the clock at this instant (it then moves only by `advance_clock`).
    pub frozen_clock: Option<SystemTime>,
    /// The organisations, each with its own web app (tile and consent page), user and API
    /// keys. The first one answers on `app.<domain>` and on every custom subdomain no other
    /// org claims; each further org needs its own [`OrgConfig::subdomain`]. At least one.
    pub orgs: Vec<OrgConfig>,
    /// Bearer token the `/_emulator/…` test API requires (`Authorization: Bearer <token>`);
    /// `None` generates a random one, read it back with
    /// [`crate::EmulatorHandle::test_api_token`]. The test API hands out full API keys and can
    /// revoke them, so it is never open.
    pub test_api_token: Option<String>,
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("domain", &self.domain)
            .field("tls", &self.tls)
            .field("clients", &self.clients)
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("frozen_clock", &self.frozen_clock)
            .field("orgs", &self.orgs)
            .field(
                "test_api_token",
                &self.test_api_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            domain: DEFAULT_DOMAIN.to_owned(),
            tls: None,
            clients: Vec::new(),
            api_keys: Vec::new(),
            frozen_clock: None,
            orgs: vec![OrgConfig::default()],
            test_api_token: None,
        }
    }
}

/// HTTPS settings.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Directory where the root certificate is written as `ca.pem` (created if missing), so
    /// clients can trust it, and where RSA keys are cached (`rsa-*.pk8`). Certificates are
    /// issued afresh at every start.
    pub dir: PathBuf,
    /// The certificate hierarchy (default: RSA, shaped like Datadog's).
    pub key_type: crate::pki::KeyType,
}

impl TlsConfig {
    /// HTTPS with the default (RSA) chain, files in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            key_type: crate::pki::KeyType::default(),
        }
    }
}

/// A confidential OAuth client as registered in Datadog's Developer Platform.
#[derive(Clone)]
pub struct OAuthClient {
    /// The client name (shown on the tile and consent page; prefixes the API key name).
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URIs; `authorize` and `token` require an exact match.
    pub redirect_uris: Vec<String>,
    /// Where the tile's **Connect Accounts** button sends the browser.
    pub onboarding_url: String,
    /// Scopes configured on the client; requests may ask for a subset.
    pub scopes: Vec<String>,
}

impl OAuthClient {
    /// A client named "ddlink" with one redirect URI and the `api_keys_write` scope.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
        onboarding_url: impl Into<String>,
    ) -> Self {
        Self {
            name: "ddlink".to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri.into()],
            onboarding_url: onboarding_url.into(),
            scopes: vec!["api_keys_write".to_owned()],
        }
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("onboarding_url", &self.onboarding_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A Datadog organisation and the user of it who authorises clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgConfig {
    /// Display name, sent back as `dd_org_name`.
    pub name: String,
    /// Org UUID, sent back as `dd_oid`.
    pub id: String,
    /// UUID of the user who authorises (appears as the key's `created_by`).
    pub user_id: String,
    /// The org's custom subdomain: its web app (tile, consent page) is
    /// `<subdomain>.<domain>`, as Datadog serves orgs with a custom subdomain. `None` only for
    /// the first org, which answers on `app.<domain>`. A DNS label, neither `app` nor `api`.
    pub subdomain: Option<String>,
}

impl OrgConfig {
    /// An org with fresh random org and user ids, served on `<subdomain>.<domain>`.
    pub fn new(name: impl Into<String>, subdomain: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            id: crate::ids::uuid(),
            user_id: crate::ids::uuid(),
            subdomain: Some(subdomain.into()),
        }
    }
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            name: "Sandbox Org".to_owned(),
            id: "3f0a5a5e-6d1c-4d3b-9a55-5ad0b0c0ffee".to_owned(),
            user_id: "5e1f5b7c-2a8d-4c11-8f0e-0000dd11c0de".to_owned(),
            subdomain: None,
        }
    }
}
