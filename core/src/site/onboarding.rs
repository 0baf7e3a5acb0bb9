//! Validation of the `site` and `domain` parameters Datadog passes to the onboarding URL (and back
//! to the redirect URI).
//!
//! `domain` picks the [`Site`] (API hosts); `site` is the web-app origin the user is on and only
//! ever yields the OAuth authorize origin. Rules for `site`:
//!
//! - optional scheme: `https://` (ASCII case-insensitive); `http://` only for a sandbox; a missing
//!   scheme means `https://` (`http://` for a sandbox);
//! - no userinfo, no path/query/fragment (one trailing `/` is tolerated), no port (a sandbox
//!   site must carry exactly the sandbox domain's port);
//! - the host is letters, digits, inner hyphens and dots only: whitespace, `%`-escapes, non-ASCII
//!   and IDN (`xn--`) labels, empty labels, labels over 63 bytes and a trailing dot are refused;
//!   upper case is accepted and lower-cased;
//! - the host must be the app host of `domain` or `<one label>.<domain>` (a custom subdomain such
//!   as `acme.datadoghq.com`), where `domain` is the *most specific* Datadog domain the host is
//!   under: `acme.us3.datadoghq.com` belongs to `us3.datadoghq.com`, never to `datadoghq.com`.

use super::hostname::{LABEL_MAX_LEN, check_host_name, split_port};
use super::{Region, SANDBOX_DOMAIN_MAX_LEN, Site, SiteError};
use crate::inline_str::InlineStr;

/// Path of Datadog's OAuth authorize endpoint, appended to [`Onboarding::authorize_origin`].
pub const AUTHORIZE_PATH: &str = "/oauth2/v1/authorize";

/// Longest authorize origin: `https://` + one custom label + `.` + the longest sandbox domain.
pub const ORIGIN_MAX_LEN: usize = "https://".len() + LABEL_MAX_LEN + 1 + SANDBOX_DOMAIN_MAX_LEN;

/// Whether a `*.localhost` sandbox domain may be accepted as `domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SandboxPolicy {
    /// Production: only the nine Datadog domains.
    Deny,
    /// Sandbox mode: the nine domains or a [`Site::sandbox`] domain.
    Allow,
}

/// Validated onboarding parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Onboarding {
    site: Site,
    authorize_origin: InlineStr<ORIGIN_MAX_LEN>,
}

impl Onboarding {
    /// Validates `domain` and, if present, `site` (see the module docs for the rules).
    ///
    /// Without `site` (a flow not started from the Datadog tile) the authorize origin is the
    /// domain's app host.
    pub fn parse(
        site: Option<&str>,
        domain: &str,
        sandbox: SandboxPolicy,
    ) -> Result<Onboarding, SiteError> {
        let parsed = parse_domain(domain, sandbox)?;
        let authorize_origin = match site {
            None => default_origin(&parsed)?,
            Some(site) => parse_site(site, &parsed)?,
        };
        Ok(Onboarding {
            site: parsed,
            authorize_origin,
        })
    }

    /// The site whose hosts every API call must use.
    pub const fn site(&self) -> &Site {
        &self.site
    }

    /// `https://<host>` (lower-case, no trailing slash), for the authorize URL only:
    /// `format!("{}{}", o.authorize_origin(), AUTHORIZE_PATH)`.
    pub fn authorize_origin(&self) -> &str {
        self.authorize_origin.as_str()
    }
}

pub(super) fn parse_domain(domain: &str, sandbox: SandboxPolicy) -> Result<Site, SiteError> {
    if domain.is_empty() {
        return Err(SiteError::Empty);
    }
    if let Ok(site) = Site::from_domain(domain) {
        return Ok(site);
    }
    match (sandbox, Site::sandbox(domain)) {
        (SandboxPolicy::Allow, Ok(site)) => Ok(site),
        (SandboxPolicy::Allow, Err(SiteError::NotSandboxDomain)) => Err(SiteError::UnknownDomain),
        (SandboxPolicy::Allow, Err(other)) => Err(other),
        (SandboxPolicy::Deny, Ok(_)) => Err(SiteError::SandboxNotAllowed),
        (SandboxPolicy::Deny, Err(_)) => Err(SiteError::UnknownDomain),
    }
}

/// Scheme used when `site` has none (or is absent): the emulator serves plain HTTP by default.
fn default_scheme(site: &Site) -> &'static str {
    if site.is_sandbox() { "http" } else { "https" }
}

fn default_origin(site: &Site) -> Result<InlineStr<ORIGIN_MAX_LEN>, SiteError> {
    InlineStr::concat_lowercase(&[default_scheme(site), "://", site.app_host().as_str()])
        .ok_or(SiteError::TooLong)
}

fn parse_site(text: &str, expected: &Site) -> Result<InlineStr<ORIGIN_MAX_LEN>, SiteError> {
    if text.is_empty() {
        return Err(SiteError::Empty);
    }
    if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(SiteError::InvalidCharacter);
    }
    let (scheme, rest) = match text.split_once("://") {
        None => (default_scheme(expected), text),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") && expected.is_sandbox() => {
            ("http", rest)
        }
        Some(_) => return Err(SiteError::UnsupportedScheme),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest
        .split_at_checked(authority_end)
        .ok_or(SiteError::InvalidCharacter)?;
    if !(tail.is_empty() || tail == "/") {
        return Err(SiteError::PathQueryOrFragment);
    }
    if authority.contains('@') {
        return Err(SiteError::UserInfo);
    }
    let (host, port) = split_port(authority)?;
    check_host_name(host)?;
    match expected.region() {
        Some(region) => check_datadog_host(host, port, region)?,
        None => check_sandbox_host(host, port, expected.domain())?,
    }
    InlineStr::concat_lowercase(&[scheme, "://", authority]).ok_or(SiteError::TooLong)
}

fn check_datadog_host(host: &str, port: Option<u16>, expected: Region) -> Result<(), SiteError> {
    if port.is_some() {
        return Err(SiteError::UnexpectedPort);
    }
    let (region, subdomain) = Region::ALL
        .into_iter()
        .filter_map(|region| subdomain_of(host, region.domain()).map(|sub| (region, sub)))
        .max_by_key(|(region, _)| region.domain().len())
        .ok_or(SiteError::NotDatadogHost)?;
    if region != expected {
        return Err(SiteError::DomainMismatch);
    }
    let app_host_is_domain = region.app_host() == region.domain();
    check_subdomain(subdomain, app_host_is_domain)
}

fn check_sandbox_host(host: &str, port: Option<u16>, domain: &str) -> Result<(), SiteError> {
    let (domain_name, domain_port) = split_port(domain)?;
    if port != domain_port {
        return Err(SiteError::UnexpectedPort);
    }
    let subdomain = subdomain_of(host, domain_name).ok_or(SiteError::DomainMismatch)?;
    // A sandbox's app host is always `app.<domain>`, never the bare domain.
    check_subdomain(subdomain, false)
}

/// `""` if `host` is `domain`, `"x.y"` if it is `x.y.<domain>`, `None` if it is not under it.
fn subdomain_of<'h>(host: &'h str, domain: &str) -> Option<&'h str> {
    let split = host.len().checked_sub(domain.len())?;
    let (head, tail) = host.split_at_checked(split)?;
    if !tail.eq_ignore_ascii_case(domain) {
        return None;
    }
    if head.is_empty() {
        Some(head)
    } else {
        head.strip_suffix('.')
    }
}

/// The app host is the bare domain (if `bare_domain_is_app_host`) or one label under it; a custom
/// subdomain is one label too.
fn check_subdomain(subdomain: &str, bare_domain_is_app_host: bool) -> Result<(), SiteError> {
    let acceptable = if subdomain.is_empty() {
        bare_domain_is_app_host
    } else {
        !subdomain.contains('.')
    };
    if acceptable {
        Ok(())
    } else {
        Err(SiteError::NotAnAppHost)
    }
}
