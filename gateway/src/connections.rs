//! Connections to Datadog organisations: sealing tokens and keys into [`ConnectionRecord`]s and
//! opening them again. The only place that knows each secret's row identity.

use std::sync::Arc;

use ddlink_core::site::{Onboarding, SandboxPolicy, Site};
use secrecy::SecretString;
use serde::Serialize;

use crate::clock::Clock;
use crate::crypto::{CryptoError, KeyRing, SealContext};
use crate::datadog::{CreatedKey, Tokens};
use crate::store::tenant::TenantId;
use crate::store::{
    ConnectionRecord, ConnectionState, ConnectionWrite, Store, StoreError, TokenUpdate,
};

const TABLE: &str = "connections";

/// Who the connection belongs to, from the OAuth callback.
#[derive(Debug, Clone)]
pub struct OrgInfo {
    /// `dd_oid` when present.
    pub org_id: Option<String>,
    pub org_name: String,
}

/// Row id of an organisation's connection: its `dd_oid`, else a stable hash of domain and name.
pub fn connection_id(org: &OrgInfo, domain: &str) -> String {
    match &org.org_id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            id.to_ascii_lowercase()
        }
        _ => format!(
            "h-{}",
            &crate::crypto::hash_token(&format!("{domain}\0{}", org.org_name))[..32]
        ),
    }
}

/// The site a stored connection's API calls go to (its `domain`, never the `site` origin).
pub fn site_of(record: &ConnectionRecord) -> Result<Site, StoreError> {
    Onboarding::parse(None, &record.domain, SandboxPolicy::Allow)
        .map(|o| *o.site())
        .map_err(|_| StoreError::Corrupt {
            table: TABLE,
            column: "domain",
        })
}

/// Public view of a connection for the admin page and `/api/status`: no secrets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionStatus {
    pub id: String,
    pub org_name: String,
    pub domain: String,
    pub site: String,
    pub api_key_last4: Option<String>,
    pub token_expires_at: i64,
    pub state: ConnectionState,
    pub key_valid: Option<bool>,
    pub key_checked_at: Option<i64>,
}

impl From<&ConnectionRecord> for ConnectionStatus {
    fn from(r: &ConnectionRecord) -> Self {
        Self {
            id: r.id.clone(),
            org_name: r.org_name.clone(),
            domain: r.domain.clone(),
            site: r.site.clone(),
            api_key_last4: r.api_key_last4.clone(),
            token_expires_at: r.access_expires_at,
            state: r.state,
            key_valid: r.key_valid,
            key_checked_at: r.key_checked_at,
        }
    }
}

/// What [`Connections::save_authorized`] did.
#[derive(Debug, Clone)]
pub enum Saved {
    /// Stored under the tenant (new, or the same tenant reconnecting).
    Stored(Box<ConnectionRecord>),
    /// Datadog created no key and no usable one is stored: nothing was written.
    NoKey,
    /// The organisation is connected to another tenant: nothing was written.
    OtherTenant,
}

/// Opened device keys by tenant and fleet.
type DeviceKeyCache = std::collections::HashMap<(TenantId, String), CachedDeviceKey>;

/// Sealing-aware access to connections.
#[derive(Debug, Clone)]
pub struct Connections {
    store: Store,
    keys: Arc<KeyRing>,
    clock: Clock,
    device_keys: Arc<std::sync::Mutex<DeviceKeyCache>>,
}

/// How long [`Connections::device_api_key`] reuses its answer when nothing changed in this
/// process; changes made by other gateway instances are seen within this time.
pub const DEVICE_KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(1);

/// The device key as read after `writes` connection writes, at `read_at`.
#[derive(Debug)]
struct CachedDeviceKey {
    writes: u64,
    read_at: std::time::Instant,
    value: Option<(ConnectionRecord, SecretString)>,
}

impl Connections {
    pub fn new(store: Store, keys: Arc<KeyRing>, clock: Clock) -> Self {
        Self {
            store,
            keys,
            clock,
            device_keys: Arc::default(),
        }
    }

    fn seal(&self, id: &str, column: &str, secret: &SecretString) -> Result<Vec<u8>, CryptoError> {
        self.keys
            .seal_str(&SealContext::new(TABLE, column, id), secret)
    }

    fn open(
        &self,
        id: &str,
        column: &'static str,
        blob: Option<&Vec<u8>>,
    ) -> Result<SecretString, StoreError> {
        let blob = blob.ok_or(StoreError::Corrupt {
            table: TABLE,
            column,
        })?;
        Ok(self
            .keys
            .open_string(&SealContext::new(TABLE, column, id), blob)?)
    }

    pub fn access_token(&self, r: &ConnectionRecord) -> Result<SecretString, StoreError> {
        self.open(&r.id, "access_token", r.sealed_access_token.as_ref())
    }

    pub fn refresh_token(&self, r: &ConnectionRecord) -> Result<SecretString, StoreError> {
        self.open(&r.id, "refresh_token", r.sealed_refresh_token.as_ref())
    }

    pub fn api_key(&self, r: &ConnectionRecord) -> Result<SecretString, StoreError> {
        self.open(&r.id, "api_key", r.sealed_api_key.as_ref())
    }

    /// The tenant the organisation is connected to already, if any.
    pub async fn owner(&self, org: &OrgInfo, site: &Site) -> Result<Option<TenantId>, StoreError> {
        self.store
            .connection_owner(&connection_id(org, site.domain()))
            .await
    }

    /// Stores a freshly authorised connection of `tenant`, active again whatever its state was
    /// (a reconnect after an uninstall or a revoked key). A new key bumps `key_version`, so
    /// devices fetch it at their next provisioning. With `key == None` (Datadog answered 409)
    /// the stored key is kept if Datadog has not rejected it: a reconnect after an uninstall
    /// finds the integration's key still in place. Otherwise nothing is written
    /// ([`Saved::NoKey`]).
    pub async fn save_authorized(
        &self,
        tenant: &TenantId,
        org: &OrgInfo,
        site: &Site,
        authorize_origin: &str,
        tokens: &Tokens,
        key: Option<&CreatedKey>,
    ) -> Result<Saved, StoreError> {
        let now = self.clock.now();
        let id = connection_id(org, site.domain());
        let existing = self.store.connection(tenant, &id).await?;
        let refresh = tokens.refresh_token.as_ref().ok_or(StoreError::Corrupt {
            table: TABLE,
            column: "refresh_token",
        })?;
        let (sealed_api_key, api_key_id, api_key_last4, key_version) = match (key, &existing) {
            (Some(key), existing) => (
                Some(self.seal(&id, "api_key", &key.key)?),
                Some(key.id.clone()),
                Some(key.last4.clone()),
                existing.as_ref().map_or(1, |e| e.key_version + 1),
            ),
            // Datadog's 409 names a key it still holds; the stored one serves only if that is it,
            // not one Datadog already rejected (then the user must revoke the other key first).
            (None, Some(existing))
                if existing.sealed_api_key.is_some()
                    && existing.state != ConnectionState::KeyRevoked
                    && existing.key_valid != Some(false) =>
            {
                (
                    existing.sealed_api_key.clone(),
                    existing.api_key_id.clone(),
                    existing.api_key_last4.clone(),
                    existing.key_version,
                )
            }
            (None, _) => return Ok(Saved::NoKey),
        };
        let record = ConnectionRecord {
            id: id.clone(),
            org_id: org.org_id.clone().unwrap_or_default(),
            org_name: org.org_name.clone(),
            domain: site.domain().to_owned(),
            site: authorize_origin.to_owned(),
            state: ConnectionState::Active,
            sealed_access_token: Some(self.seal(&id, "access_token", &tokens.access_token)?),
            sealed_refresh_token: Some(self.seal(&id, "refresh_token", refresh)?),
            access_expires_at: now.saturating_add(tokens.expires_in_secs),
            sealed_api_key,
            api_key_id,
            api_key_last4,
            key_version,
            key_valid: key
                .map(|_| true)
                .or(existing.as_ref().and_then(|e| e.key_valid)),
            key_checked_at: existing.as_ref().and_then(|e| e.key_checked_at),
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        Ok(match self.store.upsert_connection(tenant, &record).await? {
            ConnectionWrite::Written => Saved::Stored(Box::new(record)),
            ConnectionWrite::OtherTenant => Saved::OtherTenant,
        })
    }

    /// Persists refreshed tokens (the new refresh token too, if Datadog rotated it) while
    /// `lease_owner` still holds the row lease; `false` if it no longer does (nothing written).
    pub async fn save_refreshed(
        &self,
        tenant: &TenantId,
        id: &str,
        lease_owner: &str,
        tokens: &Tokens,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let update = TokenUpdate {
            sealed_access_token: self.seal(id, "access_token", &tokens.access_token)?,
            sealed_refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| self.seal(id, "refresh_token", t))
                .transpose()?,
            access_expires_at: now.saturating_add(tokens.expires_in_secs),
        };
        self.store
            .update_tokens(tenant, id, lease_owner, &update, now)
            .await
    }

    pub async fn statuses(&self, tenant: &TenantId) -> Result<Vec<ConnectionStatus>, StoreError> {
        Ok(self
            .store
            .connections(tenant)
            .await?
            .iter()
            .map(ConnectionStatus::from)
            .collect())
    }

    /// The key for devices of fleet `fleet` of `tenant`: that of the connection the fleet is
    /// bound to, if the connection is active and holds a key; `None` otherwise (unbound, not
    /// usable). Returns the record (site, `key_version`) and the opened key.
    ///
    /// Provisioning asks on every request, so the answer is reused for [`DEVICE_KEY_CACHE`]
    /// unless a connection was written through this process's store in the meantime.
    pub async fn device_api_key(
        &self,
        tenant: &TenantId,
        fleet: &str,
    ) -> Result<Option<(ConnectionRecord, SecretString)>, StoreError> {
        // Read the counter before the rows: a write racing the read leaves the entry outdated.
        let writes = self.store.connection_writes();
        let cache_key = (tenant.clone(), fleet.to_owned());
        if let Some(cached) = self.device_keys_lock().get(&cache_key)
            && cached.writes == writes
            && cached.read_at.elapsed() < DEVICE_KEY_CACHE
        {
            return Ok(cached.value.clone());
        }
        let value = match self.store.fleet_connection(tenant, fleet).await? {
            Some(record)
                if record.state == ConnectionState::Active && record.sealed_api_key.is_some() =>
            {
                let key = self.api_key(&record)?;
                Some((record, key))
            }
            _ => None,
        };
        let mut cache = self.device_keys_lock();
        // Entries are per fleet (devices reach this only with a valid MAC, so only for fleets
        // that exist); drop stale ones so deleted or renamed fleets do not pile up.
        cache.retain(|_, entry| entry.read_at.elapsed() < DEVICE_KEY_CACHE);
        cache.insert(
            cache_key,
            CachedDeviceKey {
                writes,
                read_at: std::time::Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    fn device_keys_lock(&self) -> std::sync::MutexGuard<'_, DeviceKeyCache> {
        // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.device_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_come_from_dd_oid_or_a_hash() {
        let with_oid = OrgInfo {
            org_id: Some("ABCD-1234".into()),
            org_name: "Acme".into(),
        };
        assert_eq!(connection_id(&with_oid, "datadoghq.eu"), "abcd-1234");
        let hostile = OrgInfo {
            org_id: Some("../../etc; DROP".into()),
            org_name: "Acme".into(),
        };
        let id = connection_id(&hostile, "datadoghq.eu");
        assert!(id.starts_with("h-") && id.len() == 34, "{id}");
        let other_domain = connection_id(&hostile, "datadoghq.com");
        assert_ne!(id, other_domain);
    }
}
