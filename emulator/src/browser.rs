//! A headless stand-in for the browser of an org's user: from the org's integration tile,
//! **Connect Accounts**, the vendor's onboarding URL, the consent page, Authorize or Deny, and
//! back to the vendor's callback. It follows no redirect by itself, so each step is checked.
//!
//! Signing in to the vendor's service is the vendor's business: the caller signs in however
//! that service wants and hands over the `Cookie` header the browser would then hold. It is
//! sent on every request that leaves the emulator's domain, never to the emulator.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION};

use crate::EmulatorHandle;
use crate::oauth::app::consent_id_from_page;

/// The button pressed on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Authorize,
    Deny,
}

impl Decision {
    fn form_value(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Deny => "deny",
        }
    }
}

/// A page as the browser received it (redirects are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAnswer {
    pub status: u16,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    pub body: String,
}

/// Which step of the flow failed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserError(String);

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserError {}

fn fail(step: &str, why: impl fmt::Display) -> BrowserError {
    BrowserError(format!("{step}: {why}"))
}

/// Names below the emulator's domain go to its listener, as browsers resolve `*.localhost`
/// to loopback (so orgs added later are reachable too); other names go to the system.
struct EmulatorDns {
    domain: String,
    addr: SocketAddr,
}

impl reqwest::dns::Resolve for EmulatorDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        if is_below(&host, &self.domain) {
            let addr = self.addr;
            return Box::pin(
                async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) },
            );
        }
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `host` is `domain` or a name below it.
fn is_below(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.ends_with('.'))
}

/// The target of a redirect `page` answered at `page_url`; relative targets resolve against the
/// page, as a browser does.
fn redirect_target(step: &str, page_url: &str, page: PageAnswer) -> Result<String, BrowserError> {
    match page.location {
        Some(location) if (300..400).contains(&page.status) => Url::parse(page_url)
            .and_then(|base| base.join(&location))
            .map(String::from)
            .map_err(|e| fail(step, e)),
        _ => Err(fail(
            step,
            format!("expected a redirect, got {}: {}", page.status, page.body),
        )),
    }
}

/// A headless stand-in for the browser of an org's user (from
/// [`EmulatorHandle::headless_browser`]): tile, Connect Accounts, the vendor's onboarding URL,
/// the consent page, Authorize or Deny, the vendor's callback; no redirect is followed by
/// itself, so each step is checked. The vendor cookie (whatever the caller's sign-in to the
/// vendor's service gave) goes on every request outside the emulator's domain, never to the
/// emulator. `Debug` does not show it.
pub struct HeadlessBrowser {
    client: reqwest::Client,
    /// The emulator's domain name (no port): requests below it carry no vendor cookie.
    emulator_domain: String,
    /// The org's web-app origin.
    org_app_url: String,
    vendor_cookie: Option<String>,
}

impl fmt::Debug for HeadlessBrowser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadlessBrowser")
            .field("org_app_url", &self.org_app_url)
            .field(
                "vendor_cookie",
                &self.vendor_cookie.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// A headless browser signed in to the emulator as the user of org `org_id`, holding
    /// `vendor_cookie` for the vendor's service (see [`HeadlessBrowser`]). It resolves the
    /// emulator's hosts to its listener and trusts its CA when it serves HTTPS.
    pub fn headless_browser(
        &self,
        org_id: &str,
        vendor_cookie: Option<String>,
    ) -> Result<HeadlessBrowser, BrowserError> {
        let org_app_url = self
            .org_app_url(org_id)
            .ok_or_else(|| fail("headless browser", format!("no org {org_id}")))?;
        // reqwest is built without a bundled crypto provider. An error only means one is
        // already installed in this process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .dns_resolver(EmulatorDns {
                domain: self.domain_name().to_owned(),
                addr: self.local_addr(),
            });
        if let Some(pem) = self.ca_pem() {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| fail("the emulator's CA", e))?;
            builder = builder.tls_certs_only([ca]);
        }
        Ok(HeadlessBrowser {
            client: builder
                .build()
                .map_err(|e| fail("building the HTTP client", e))?,
            emulator_domain: self.domain_name().to_owned(),
            org_app_url,
            vendor_cookie,
        })
    }
}

impl HeadlessBrowser {
    /// The org's integration tile.
    pub fn tile_url(&self) -> String {
        format!("{}/tile", self.org_app_url)
    }

    fn is_emulator(&self, url: &Url) -> bool {
        url.host_str()
            .is_some_and(|host| is_below(&host.to_ascii_lowercase(), &self.emulator_domain))
    }

    fn with_cookie(&self, url: &Url, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.vendor_cookie {
            Some(cookie) if !self.is_emulator(url) => request.header(COOKIE, cookie),
            _ => request,
        }
    }

    async fn read(response: reqwest::Response) -> Result<PageAnswer, BrowserError> {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| fail("reading a page", e.without_url()))?;
        Ok(PageAnswer {
            status,
            location,
            body,
        })
    }

    /// Opens a URL (with the vendor cookie unless it is the emulator's).
    pub async fn get(&self, url: &str) -> Result<PageAnswer, BrowserError> {
        let parsed = Url::parse(url).map_err(|e| fail("opening a page", e))?;
        let request = self.with_cookie(&parsed, self.client.get(parsed.clone()));
        let response = request
            .send()
            .await
            .map_err(|e| fail("opening a page", e.without_url()))?;
        Self::read(response).await
    }

    /// Opens `url` and expects a redirect; returns its target.
    async fn redirect(&self, step: &str, url: &str) -> Result<String, BrowserError> {
        let page = self.get(url).await.map_err(|e| fail(step, e))?;
        redirect_target(step, url, page)
    }

    /// The consent page at `authorize_url` (the emulator's `/oauth2/v1/authorize?…`), then
    /// the decision: the redirect target, the vendor's callback URL (not opened).
    pub async fn decide(
        &self,
        authorize_url: &str,
        decision: Decision,
    ) -> Result<String, BrowserError> {
        let page = self.get(authorize_url).await?;
        if page.status != 200 {
            return Err(fail(
                "the consent page",
                format!("answered {}: {}", page.status, page.body),
            ));
        }
        let consent_id = consent_id_from_page(&page.body)
            .ok_or_else(|| fail("the consent page", "no consent form"))?;
        // The form posts to the authorize path of the host that showed it.
        let form_target = Url::parse(authorize_url)
            .and_then(|u| u.join("/oauth2/v1/authorize"))
            .map_err(|e| fail("the consent page", e))?;
        let response = self
            .client
            .post(form_target)
            .form(&[
                ("consent_id", consent_id.as_str()),
                ("decision", decision.form_value()),
            ])
            .send()
            .await
            .map_err(|e| fail("the consent decision", e.without_url()))?;
        let answer = Self::read(response).await?;
        redirect_target("the consent decision", authorize_url, answer)
    }

    /// From the org's tile: **Connect Accounts** of `client_id`, the vendor's onboarding URL,
    /// the consent page and the decision. Returns the vendor's callback URL, not yet opened.
    pub async fn consent(
        &self,
        client_id: &str,
        decision: Decision,
    ) -> Result<String, BrowserError> {
        let tile = self.get(&self.tile_url()).await?;
        let button = format!(
            "name=\"client_id\" value=\"{}\"",
            crate::pages::escape(client_id)
        );
        if tile.status != 200 || !tile.body.contains(&button) {
            return Err(fail(
                "the tile",
                format!(
                    "no Connect Accounts for client {client_id} ({})",
                    tile.status
                ),
            ));
        }
        let mut connect = Url::parse(&self.tile_url())
            .and_then(|u| u.join("/tile/connect"))
            .map_err(|e| fail("the tile", e))?;
        connect
            .query_pairs_mut()
            .append_pair("client_id", client_id);
        let onboarding = self.redirect("Connect Accounts", connect.as_str()).await?;
        let authorize = self
            .redirect("the vendor's onboarding URL", &onboarding)
            .await?;
        self.decide(&authorize, decision).await
    }

    /// [`HeadlessBrowser::consent`] with Authorize, then the callback: the vendor's answer.
    pub async fn connect(&self, client_id: &str) -> Result<PageAnswer, BrowserError> {
        let callback = self.consent(client_id, Decision::Authorize).await?;
        self.get(&callback)
            .await
            .map_err(|e| fail("the vendor's callback", e))
    }
}
