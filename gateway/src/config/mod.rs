//! Gateway configuration: the resolved [`Config`] the library runs on, and [`FileConfig`], the
//! TOML file layer. Precedence (see [`layering`]): flags > `DDLINK_*` environment > file >
//! defaults. Secrets (client secret, master key) come only from the environment or files and are
//! held as `SecretString`, so they never reach logs or `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ddlink_core::site::{Region, Site};
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::store::DbOptions;

pub mod layering;

/// Problems in the configuration. Messages name the setting, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("missing setting `{0}`")]
    Missing(&'static str),
    #[error("invalid setting `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The TOML file (every field optional; unknown keys are an error so typos surface).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub master_key_file: Option<PathBuf>,
    #[serde(default)]
    pub previous_master_key_files: Vec<PathBuf>,
    pub admin_password_hash: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub timings: FileTimings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimings {
    pub refresh_margin_secs: Option<u64>,
    pub refresh_check_secs: Option<u64>,
    pub validate_interval_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }
}

/// Which Datadog domains the onboarding URL accepts and outbound requests may reach.
#[derive(Debug, Clone)]
pub enum SitePolicy {
    /// Production: these public regions (all nine by default).
    Datadog(Vec<Region>),
    /// Sandbox: the emulator's `*.localhost` domain only.
    Sandbox(Site),
}

impl SitePolicy {
    pub fn all_regions() -> Self {
        Self::Datadog(Region::ALL.to_vec())
    }

    /// Whether `site` (already validated by the core parser) is allowed here.
    pub fn allows(&self, site: &Site) -> bool {
        match self {
            Self::Datadog(regions) => site.region().is_some_and(|r| regions.contains(&r)),
            Self::Sandbox(sandbox) => site == sandbox,
        }
    }

    pub fn sites(&self) -> Vec<Site> {
        match self {
            Self::Datadog(regions) => regions.iter().copied().map(Site::from_region).collect(),
            Self::Sandbox(site) => vec![*site],
        }
    }

    pub fn is_sandbox(&self) -> bool {
        matches!(self, Self::Sandbox(_))
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// Base64 text (from `DDLINK_MASTER_KEY`).
    Value(SecretString),
    /// A file that must exist.
    File(PathBuf),
    /// A file created with a fresh key (mode 0600) on first run: the embedded SQLite default.
    FileOrGenerate(PathBuf),
}

/// How the admin credential is set up at start.
#[derive(Debug, Clone)]
pub enum AdminCredential {
    /// An Argon2id PHC string from the configuration; replaces whatever is stored.
    PasswordHash(String),
    /// Keep the stored credential; on first run generate a token and write it to this file (0600).
    FirstRunTokenFile(PathBuf),
    /// Replace the stored credential with this token (the sandbox hands it out in sandbox.json).
    Token(SecretString),
}

/// Background-task and expiry timings, and request limits.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Refresh an access token this long before it expires.
    pub refresh_margin: Duration,
    /// How often the refresher looks for due work.
    pub refresh_check: Duration,
    /// How often every active connection's API key is checked with `GET /api/v1/validate`
    /// (a revoked key makes the connection `key_revoked`).
    pub validate_interval: Duration,
    /// Whether each validation also refreshes the access token, so an uninstall is seen within
    /// one `validate_interval` instead of at the next due refresh (within the hour). Off in
    /// production: Datadog offers no other call that tells an uninstall with only the
    /// `api_keys_write` scope, and every refresh rotates the refresh token. The sandbox turns
    /// it on.
    pub validate_refreshes: bool,
    /// How long a refresher holds a connection's row lease.
    pub lease: Duration,
    /// Lifetime of an OAuth `state` (single use).
    pub state_ttl: Duration,
    /// Lifetime of an admin session.
    pub session_ttl: Duration,
    /// Limits on slow HTTP clients.
    pub serve: crate::server::ServeLimits,
    /// Limits on the device provisioning API.
    pub provisioning: crate::provision::limiter::ProvisionLimits,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(300),
            refresh_check: Duration::from_secs(30),
            validate_interval: Duration::from_secs(600),
            validate_refreshes: false,
            lease: Duration::from_secs(60),
            state_ttl: Duration::from_secs(600),
            session_ttl: Duration::from_secs(12 * 3600),
            serve: crate::server::ServeLimits::default(),
            provisioning: crate::provision::limiter::ProvisionLimits::default(),
        }
    }
}

/// Everything [`crate::run`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origin users reach the gateway at; the onboarding and redirect URLs derive from it.
    pub public_url: url::Url,
    pub database: DbOptions,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub master_key: MasterKeySource,
    pub previous_master_keys: Vec<PathBuf>,
    pub admin: AdminCredential,
    pub sites: SitePolicy,
    pub timings: Timings,
    /// Host → address overrides for outbound requests (the sandbox's `*.localhost` hosts).
    pub resolve: Vec<(String, SocketAddr)>,
    /// Overrides the per-region tile links on the start page (the sandbox's emulator tile).
    pub tile_url: Option<url::Url>,
    pub clock: Clock,
}

impl Config {
    pub fn onboarding_url(&self) -> url::Url {
        self.public_url
            .join("oauth/onboard")
            .unwrap_or_else(|_| self.public_url.clone())
    }

    pub fn redirect_uri(&self) -> url::Url {
        self.public_url
            .join("oauth/callback")
            .unwrap_or_else(|_| self.public_url.clone())
    }

    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Parses a public URL: http(s), no query or fragment; a trailing `/` is added to the path.
pub fn parse_public_url(text: &str) -> Result<url::Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "public_url",
        reason: reason.to_owned(),
    };
    let mut url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("no query, fragment or user info allowed"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Parses `allowed_domains` into regions (the nine Datadog domains only).
pub fn parse_allowed_domains(domains: &[String]) -> Result<SitePolicy, ConfigError> {
    let regions = domains
        .iter()
        .map(|d| {
            Region::from_domain(d.trim()).ok_or_else(|| ConfigError::Invalid {
                name: "allowed_domains",
                reason: format!("`{d}` is not a Datadog domain"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if regions.is_empty() {
        return Err(ConfigError::Invalid {
            name: "allowed_domains",
            reason: "at least one domain is needed".into(),
        });
    }
    Ok(SitePolicy::Datadog(regions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_derives_onboarding_and_redirect_urls() {
        let url = parse_public_url("https://gw.example.com/ddlink").unwrap();
        assert_eq!(url.as_str(), "https://gw.example.com/ddlink/");
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("https://x/?a=b").is_err());
    }

    #[test]
    fn allowed_domains_accept_only_datadog_domains() {
        let policy = parse_allowed_domains(&["datadoghq.eu".into()]).unwrap();
        assert!(policy.allows(&Site::from_domain("datadoghq.eu").unwrap()));
        assert!(!policy.allows(&Site::from_domain("datadoghq.com").unwrap()));
        assert!(!policy.allows(&Site::sandbox("datadoghq.localhost:1").unwrap()));
        assert!(parse_allowed_domains(&["evil.example".into()]).is_err());
        assert!(parse_allowed_domains(&[]).is_err());
    }

    #[test]
    fn file_config_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(&path, "client_id = \"abc\"\nclient_secret = \"oops\"\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("client_secret"), "{err}");
        assert!(!err.contains("oops"), "{err}");
    }
}
