//! Datadog's OAuth 2.0 server for partner (confidential) clients: authorization codes with
//! PKCE S256, rotating refresh tokens, RFC 7009 revocation.

pub(crate) mod app;
pub(crate) mod marketplace;
mod params;
mod pkce;
pub(crate) mod token;

use std::collections::HashMap;

use serde::Serialize;

/// Authorization codes live 10 minutes.
pub(crate) const CODE_TTL_SECS: i64 = 600;
/// Consent pages stay answerable as long as a code would.
pub(crate) const CONSENT_TTL_SECS: i64 = 600;
/// Access tokens last one hour.
pub(crate) const ACCESS_TOKEN_TTL_SECS: i64 = 3600;

/// A connection of an org to an OAuth client (one successful authorization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub client_id: String,
    pub org_id: String,
    pub org_name: String,
    pub scopes: Vec<String>,
    /// Unix seconds (emulator clock).
    pub created_at: i64,
    /// How many refresh grants succeeded.
    pub refreshes: u32,
    /// Revoked (refresh token revoked, code replayed, or the integration uninstalled).
    pub revoked: bool,
}

/// A consent page waiting for Authorize / Deny.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    /// The org whose web app showed the page.
    pub(crate) org_id: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: String,
    /// Origin of the web-app host the user is on (`site` on the redirect).
    pub(crate) site: String,
    pub(crate) expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) org_id: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: i64,
    /// Set when redeemed; a replay revokes this connection.
    pub(crate) redeemed_by: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) connection_id: String,
    pub(crate) expires_at: i64,
    pub(crate) revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub(crate) connection_id: String,
    /// False once rotated away or revoked.
    pub(crate) active: bool,
}

/// Codes and tokens are secrets: `Debug` shows only how many there are.
#[derive(Default)]
pub(crate) struct OAuthStore {
    pub(crate) consents: HashMap<String, PendingConsent>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) connections: Vec<ConnectionInfo>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
}

impl std::fmt::Debug for OAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStore")
            .field("consents", &self.consents.len())
            .field("codes", &self.codes.len())
            .field("connections", &self.connections)
            .field("access_tokens", &self.access_tokens.len())
            .field("refresh_tokens", &self.refresh_tokens.len())
            .finish()
    }
}

impl OAuthStore {
    pub(crate) fn connection(&self, id: &str) -> Option<&ConnectionInfo> {
        self.connections.iter().find(|c| c.id == id)
    }

    /// Revokes a connection and every token issued for it.
    pub(crate) fn revoke_connection(&mut self, id: &str) {
        for c in self.connections.iter_mut().filter(|c| c.id == id) {
            c.revoked = true;
        }
        for t in self
            .access_tokens
            .values_mut()
            .filter(|t| t.connection_id == id)
        {
            t.revoked = true;
        }
        for t in self
            .refresh_tokens
            .values_mut()
            .filter(|t| t.connection_id == id)
        {
            t.active = false;
        }
    }

    /// Uninstalls the client's integration from the org, as the tile's **Uninstall** does:
    /// every live connection of that org to that client is revoked with all its tokens. The
    /// API key the client created stays valid (Datadog leaves it to the user to revoke it).
    /// Returns how many connections were revoked.
    pub(crate) fn uninstall(&mut self, org_id: &str, client_id: &str) -> usize {
        let ids: Vec<String> = self
            .connections
            .iter()
            .filter(|c| !c.revoked && c.org_id == org_id && c.client_id == client_id)
            .map(|c| c.id.clone())
            .collect();
        for id in &ids {
            self.revoke_connection(id);
        }
        ids.len()
    }

    /// Whether the org has a live connection to the client (the tile shows it installed).
    pub(crate) fn is_installed(&self, org_id: &str, client_id: &str) -> bool {
        self.connections
            .iter()
            .any(|c| !c.revoked && c.org_id == org_id && c.client_id == client_id)
    }

    /// The live connection an access token grants, if the token is valid at `now`.
    pub(crate) fn authorize_bearer(&self, token: &str, now: i64) -> Option<&ConnectionInfo> {
        let access = self.access_tokens.get(token)?;
        if access.revoked || now >= access.expires_at {
            return None;
        }
        self.connection(&access.connection_id)
            .filter(|c| !c.revoked)
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
