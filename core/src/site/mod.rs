//! Datadog sites and the hosts derived from them.
//!
//! A [`Site`] is either one of the nine public Datadog deployments ([`Region`]) or a `*.localhost`
//! domain served by the local emulator. A sandbox is reachable only through [`Site::sandbox`], or
//! [`Site::parse`] / [`Onboarding::parse`] with [`SandboxPolicy::Allow`]; the plain parsers
//! ([`Site::from_domain`], [`str::parse`]) accept the nine domains only, so production
//! configuration cannot reach a sandbox by accident.
//!
//! Hosts come back as [`Host`], a `Copy` value that derefs to `&str` and needs no allocator.
//! [`Onboarding`] validates the `site` / `domain` parameters Datadog hands to the onboarding URL.

mod hostname;
mod onboarding;

use core::fmt;
use core::ops::Deref;
use core::str::FromStr;

use crate::inline_str::InlineStr;

pub use onboarding::{AUTHORIZE_PATH, ORIGIN_MAX_LEN, Onboarding, SandboxPolicy};

/// Longest sandbox domain accepted by [`Site::sandbox`], port included (`datadoghq.localhost:8080`).
pub const SANDBOX_DOMAIN_MAX_LEN: usize = 64;

/// Prefix of the logs intake host, `http-intake.logs.<domain>`.
const LOGS_PREFIX: &str = "http-intake.logs.";
/// Prefix of the API host, `api.<domain>`.
const API_PREFIX: &str = "api.";
/// Prefix of a sandbox's app host, `app.<domain>`.
const APP_PREFIX: &str = "app.";

/// Longest host a [`Site`] can produce (the logs host of the longest sandbox domain).
pub const HOST_MAX_LEN: usize = LOGS_PREFIX.len() + SANDBOX_DOMAIN_MAX_LEN;

/// The public Datadog deployments (the `site` enum of Datadog's API specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Region {
    /// US1, `datadoghq.com`.
    Us1,
    /// US3, `us3.datadoghq.com`.
    Us3,
    /// US5, `us5.datadoghq.com`.
    Us5,
    /// EU1, `datadoghq.eu`.
    Eu1,
    /// AP1 (Japan), `ap1.datadoghq.com`.
    Ap1,
    /// AP2 (Australia), `ap2.datadoghq.com`.
    Ap2,
    /// UK1, `uk1.datadoghq.com`.
    Uk1,
    /// US1-FED, `ddog-gov.com`.
    Us1Fed,
    /// US2-FED, `us2.ddog-gov.com`.
    Us2Fed,
}

impl Region {
    /// Every region, in the order of Datadog's site table.
    pub const ALL: [Region; 9] = [
        Region::Us1,
        Region::Us3,
        Region::Us5,
        Region::Eu1,
        Region::Ap1,
        Region::Ap2,
        Region::Uk1,
        Region::Us1Fed,
        Region::Us2Fed,
    ];

    /// The `domain` parameter, e.g. `datadoghq.eu`.
    pub const fn domain(self) -> &'static str {
        match self {
            Region::Us1 => "datadoghq.com",
            Region::Us3 => "us3.datadoghq.com",
            Region::Us5 => "us5.datadoghq.com",
            Region::Eu1 => "datadoghq.eu",
            Region::Ap1 => "ap1.datadoghq.com",
            Region::Ap2 => "ap2.datadoghq.com",
            Region::Uk1 => "uk1.datadoghq.com",
            Region::Us1Fed => "ddog-gov.com",
            Region::Us2Fed => "us2.ddog-gov.com",
        }
    }

    /// API host, `api.<domain>`: token, revoke, key creation and every intake except logs.
    pub const fn api_host(self) -> &'static str {
        match self {
            Region::Us1 => "api.datadoghq.com",
            Region::Us3 => "api.us3.datadoghq.com",
            Region::Us5 => "api.us5.datadoghq.com",
            Region::Eu1 => "api.datadoghq.eu",
            Region::Ap1 => "api.ap1.datadoghq.com",
            Region::Ap2 => "api.ap2.datadoghq.com",
            Region::Uk1 => "api.uk1.datadoghq.com",
            Region::Us1Fed => "api.ddog-gov.com",
            Region::Us2Fed => "api.us2.ddog-gov.com",
        }
    }

    /// Logs intake host, `http-intake.logs.<domain>`.
    pub const fn logs_host(self) -> &'static str {
        match self {
            Region::Us1 => "http-intake.logs.datadoghq.com",
            Region::Us3 => "http-intake.logs.us3.datadoghq.com",
            Region::Us5 => "http-intake.logs.us5.datadoghq.com",
            Region::Eu1 => "http-intake.logs.datadoghq.eu",
            Region::Ap1 => "http-intake.logs.ap1.datadoghq.com",
            Region::Ap2 => "http-intake.logs.ap2.datadoghq.com",
            Region::Uk1 => "http-intake.logs.uk1.datadoghq.com",
            Region::Us1Fed => "http-intake.logs.ddog-gov.com",
            Region::Us2Fed => "http-intake.logs.us2.ddog-gov.com",
        }
    }

    /// Web-app (OAuth authorize) host: `app.<domain>` for US1, EU1 and US1-FED, the domain itself
    /// elsewhere.
    pub const fn app_host(self) -> &'static str {
        match self {
            Region::Us1 => "app.datadoghq.com",
            Region::Eu1 => "app.datadoghq.eu",
            Region::Us1Fed => "app.ddog-gov.com",
            other => other.domain(),
        }
    }

    /// Datadog's short name for the region, e.g. `EU1`, `US1-FED`.
    pub const fn name(self) -> &'static str {
        match self {
            Region::Us1 => "US1",
            Region::Us3 => "US3",
            Region::Us5 => "US5",
            Region::Eu1 => "EU1",
            Region::Ap1 => "AP1",
            Region::Ap2 => "AP2",
            Region::Uk1 => "UK1",
            Region::Us1Fed => "US1-FED",
            Region::Us2Fed => "US2-FED",
        }
    }

    /// The region whose `domain` is `domain` (ASCII case-insensitive), if any.
    pub fn from_domain(domain: &str) -> Option<Region> {
        Region::ALL
            .into_iter()
            .find(|region| region.domain().eq_ignore_ascii_case(domain))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.domain())
    }
}

/// Why a site, domain or sandbox domain was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SiteError {
    /// The value is empty.
    Empty,
    /// The value is longer than any accepted host.
    TooLong,
    /// `domain` is not one of the nine Datadog domains.
    UnknownDomain,
    /// `domain` is a sandbox (`*.localhost`) domain but the caller did not allow sandboxes.
    SandboxNotAllowed,
    /// [`Site::sandbox`] was given a domain that does not end in `.localhost`.
    NotSandboxDomain,
    /// A scheme other than `https://` (or `http://` for a sandbox).
    UnsupportedScheme,
    /// Userinfo (`user@`) before the host.
    UserInfo,
    /// A path, query or fragment after the host (a single trailing `/` is tolerated).
    PathQueryOrFragment,
    /// A port where none is allowed, or a sandbox port different from the domain's.
    UnexpectedPort,
    /// A port that is not a canonical decimal number in 1–65535.
    InvalidPort,
    /// Whitespace, control, non-ASCII, `%`-escape or other character not allowed in a host name.
    InvalidCharacter,
    /// A label starting or ending with `-`, or an IDN (`xn--`) label.
    InvalidLabel,
    /// An empty label (`a..b`, leading dot).
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A trailing dot (`datadoghq.com.`): refused rather than normalised.
    TrailingDot,
    /// The `site` host is not under any Datadog domain.
    NotDatadogHost,
    /// The `site` host is under a different Datadog (or sandbox) domain than `domain`.
    DomainMismatch,
    /// The `site` host is under the right domain but is neither its app host nor
    /// `<one custom label>.<domain>`.
    NotAnAppHost,
}

impl SiteError {
    /// A short, fixed, English description (contains none of the rejected input).
    pub const fn as_str(self) -> &'static str {
        match self {
            SiteError::Empty => "empty value",
            SiteError::TooLong => "value too long",
            SiteError::UnknownDomain => "domain is not a Datadog site",
            SiteError::SandboxNotAllowed => "sandbox domain not allowed here",
            SiteError::NotSandboxDomain => "sandbox domain must end in .localhost",
            SiteError::UnsupportedScheme => "scheme must be https",
            SiteError::UserInfo => "userinfo is not allowed",
            SiteError::PathQueryOrFragment => "path, query or fragment is not allowed",
            SiteError::UnexpectedPort => "port is not allowed",
            SiteError::InvalidPort => "invalid port",
            SiteError::InvalidCharacter => "invalid character in host",
            SiteError::InvalidLabel => "invalid host label",
            SiteError::EmptyLabel => "empty host label",
            SiteError::LabelTooLong => "host label longer than 63 bytes",
            SiteError::TrailingDot => "trailing dot in host",
            SiteError::NotDatadogHost => "site is not a Datadog host",
            SiteError::DomainMismatch => "site does not belong to domain",
            SiteError::NotAnAppHost => "site is not a Datadog app host",
        }
    }
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for SiteError {}

/// A Datadog deployment: one of the nine [`Region`]s, or a sandbox domain for the emulator.
///
/// `Copy`, comparable and hashable; `Display` prints [`Site::domain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Site(SiteKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SiteKind {
    Datadog(Region),
    /// Lower-cased `<labels>.localhost[:port]`, validated by [`Site::sandbox`].
    Sandbox(InlineStr<SANDBOX_DOMAIN_MAX_LEN>),
}

impl Site {
    /// The site of a public region (also available as `Site::from(region)`).
    pub const fn from_region(region: Region) -> Site {
        Site(SiteKind::Datadog(region))
    }

    /// Parses a `domain` parameter: exactly one of the nine Datadog domains, ASCII
    /// case-insensitive. Never yields a sandbox.
    pub fn from_domain(domain: &str) -> Result<Site, SiteError> {
        Region::from_domain(domain)
            .map(Site::from_region)
            .ok_or(SiteError::UnknownDomain)
    }

    /// Parses a `domain` under `sandbox`: the nine Datadog domains, plus a sandbox domain when
    /// allowed. Use it to read back a stored site or to check a callback's `domain`.
    pub fn parse(domain: &str, sandbox: SandboxPolicy) -> Result<Site, SiteError> {
        onboarding::parse_domain(domain, sandbox)
    }

    /// A sandbox site for the local emulator: `<label>(.<label>)*.localhost`, optionally with a
    /// `:port`, at most [`SANDBOX_DOMAIN_MAX_LEN`] bytes; stored lower-cased. The hosts become
    /// `api.<domain>`, `http-intake.logs.<domain>` and `app.<domain>` (port included).
    pub fn sandbox(domain: &str) -> Result<Site, SiteError> {
        if domain.is_empty() {
            return Err(SiteError::Empty);
        }
        if domain.len() > SANDBOX_DOMAIN_MAX_LEN {
            return Err(SiteError::TooLong);
        }
        let (name, _port) = hostname::split_port(domain)?;
        hostname::check_host_name(name)?;
        let (parent, tld) = name.rsplit_once('.').ok_or(SiteError::NotSandboxDomain)?;
        if parent.is_empty() || !tld.eq_ignore_ascii_case("localhost") {
            return Err(SiteError::NotSandboxDomain);
        }
        InlineStr::concat_lowercase(&[domain])
            .map(|stored| Site(SiteKind::Sandbox(stored)))
            .ok_or(SiteError::TooLong)
    }

    /// The public region, or `None` for a sandbox.
    pub const fn region(&self) -> Option<Region> {
        match self.0 {
            SiteKind::Datadog(region) => Some(region),
            SiteKind::Sandbox(_) => None,
        }
    }

    /// Whether this is a sandbox (emulator) site.
    pub const fn is_sandbox(&self) -> bool {
        matches!(self.0, SiteKind::Sandbox(_))
    }

    /// The `domain` (for a sandbox: with its port, if any).
    pub fn domain(&self) -> &str {
        match &self.0 {
            SiteKind::Datadog(region) => region.domain(),
            SiteKind::Sandbox(domain) => domain.as_str(),
        }
    }

    /// API host, `api.<domain>`.
    pub fn api_host(&self) -> Host {
        self.host(Region::api_host, API_PREFIX)
    }

    /// Logs intake host, `http-intake.logs.<domain>`.
    pub fn logs_host(&self) -> Host {
        self.host(Region::logs_host, LOGS_PREFIX)
    }

    /// Web-app host (see [`Region::app_host`]; `app.<domain>` for a sandbox).
    pub fn app_host(&self) -> Host {
        self.host(Region::app_host, APP_PREFIX)
    }

    fn host(&self, of_region: fn(Region) -> &'static str, sandbox_prefix: &str) -> Host {
        match &self.0 {
            SiteKind::Datadog(region) => Host(HostRepr::Static(of_region(*region))),
            SiteKind::Sandbox(domain) => Host(
                // Fits by construction: prefix ≤ LOGS_PREFIX and domain ≤ SANDBOX_DOMAIN_MAX_LEN.
                InlineStr::concat_lowercase(&[sandbox_prefix, domain.as_str()])
                    .map_or(HostRepr::Static(""), HostRepr::Inline),
            ),
        }
    }
}

impl From<Region> for Site {
    fn from(region: Region) -> Site {
        Site::from_region(region)
    }
}

/// Parses like [`Site::from_domain`]: the nine Datadog domains only, never a sandbox.
impl FromStr for Site {
    type Err = SiteError;

    fn from_str(domain: &str) -> Result<Site, SiteError> {
        Site::from_domain(domain)
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.domain())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Site {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.domain());
    }
}

/// A host name, with `:port` for a sandbox that has one. Derefs to `&str`; needs no allocator.
#[derive(Clone, Copy)]
pub struct Host(HostRepr);

#[derive(Clone, Copy)]
enum HostRepr {
    Static(&'static str),
    Inline(InlineStr<HOST_MAX_LEN>),
}

impl Host {
    /// The host as written in a `Host` header (`name[:port]`).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            HostRepr::Static(host) => host,
            HostRepr::Inline(host) => host.as_str(),
        }
    }

    /// The name to resolve (without the port).
    pub fn name(&self) -> &str {
        let text = self.as_str();
        text.split_once(':').map_or(text, |(name, _)| name)
    }

    /// The explicit port, if any (only sandboxes have one; Datadog hosts use 443).
    pub fn port(&self) -> Option<u16> {
        let (_, port) = self.as_str().split_once(':')?;
        hostname::parse_port(port).ok()
    }
}

impl Deref for Host {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Host {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Host) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Host {}

impl PartialEq<str> for Host {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Host {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl core::hash::Hash for Host {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Host {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

#[cfg(test)]
mod tests;
