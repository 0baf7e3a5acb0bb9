//! State shared by every request handler of one emulator instance.

use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::config::{OAuthClient, OrgConfig};
use crate::faults::FaultQueue;
use crate::keys::KeyStore;
use crate::oauth::OAuthStore;
use crate::orgs::OrgDirectory;
use crate::received::Received;
use crate::test_api::TestApiToken;

pub(crate) type AppState = Arc<Shared>;

#[derive(Debug)]
pub(crate) struct Shared {
    /// Host name of the sandbox domain, e.g. `datadoghq.localhost`.
    pub(crate) domain_name: String,
    /// The `domain` handed to clients: the host name plus the listener's port.
    pub(crate) public_domain: String,
    /// `http` or `https`.
    pub(crate) scheme: &'static str,
    pub(crate) clients: Vec<OAuthClient>,
    pub(crate) orgs: Mutex<OrgDirectory>,
    pub(crate) clock: Clock,
    pub(crate) keys: Mutex<KeyStore>,
    pub(crate) oauth: Mutex<OAuthStore>,
    pub(crate) received: Mutex<Received>,
    pub(crate) faults: Mutex<FaultQueue>,
    /// What `/_emulator/…` requests must present.
    pub(crate) test_api_token: TestApiToken,
}

impl Shared {
    /// `scheme://<prefix>.<public domain>`, e.g. `http://api.datadoghq.localhost:8080`.
    pub(crate) fn url_for(&self, prefix: &str) -> String {
        format!("{}://{prefix}.{}", self.scheme, self.public_domain)
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<&OAuthClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub(crate) fn org(&self, id: &str) -> Option<OrgConfig> {
        crate::clock::lock(&self.orgs).get(id).cloned()
    }

    /// The origin of an org's web app: `app.` for the first, else its subdomain.
    pub(crate) fn org_app_url(&self, org: &OrgConfig) -> String {
        self.url_for(org.subdomain.as_deref().unwrap_or(crate::hosts::APP))
    }
}
