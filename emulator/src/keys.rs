//! The orgs' API keys: pre-registered, created by tests, or created through the marketplace
//! endpoint on behalf of an OAuth client. Every key belongs to one org, and what arrives
//! with it is recorded under that org.

use std::fmt;

use serde::Serialize;

use crate::ids;

/// Who created a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeyOrigin {
    /// Listed in the configuration (`--api-key`).
    Configured,
    /// Created through the test API.
    TestApi,
    /// Created by `POST /api/v2/api_keys/marketplace` with a token of this client.
    Marketplace { client_id: String },
}

/// An API key of an org. `Debug` shows only the last four characters of the key.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    /// The key's UUID (what received records name in `api_key_id`).
    pub id: String,
    /// The org the key belongs to (what received records name in `org_id`).
    pub org_id: String,
    /// The key value (the emulator is a test tool: tests need it).
    pub key: String,
    pub name: String,
    pub last4: String,
    /// `2021-05-06T16:32:07.411970+00:00`
    pub created_at: String,
    pub revoked: bool,
    pub origin: KeyOrigin,
}

impl fmt::Debug for ApiKeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyInfo")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("key", &format_args!("…{}", self.last4))
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("revoked", &self.revoked)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why a `DD-API-KEY` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRejection {
    Missing,
    Invalid,
}

/// Who sent a request: the key's id and its org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sender {
    pub(crate) api_key_id: String,
    pub(crate) org_id: String,
}

#[cfg(test)]
impl Sender {
    pub(crate) fn for_tests() -> Self {
        Self {
            api_key_id: "k".into(),
            org_id: "o".into(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct KeyStore {
    keys: Vec<ApiKeyInfo>,
}

impl KeyStore {
    pub(crate) fn insert(
        &mut self,
        org_id: &str,
        key: String,
        name: String,
        created_at: String,
        origin: KeyOrigin,
    ) -> ApiKeyInfo {
        let last4 = key
            .get(key.len().saturating_sub(4)..)
            .unwrap_or_default()
            .to_owned();
        let info = ApiKeyInfo {
            id: ids::uuid(),
            org_id: org_id.to_owned(),
            key,
            name,
            last4,
            created_at,
            revoked: false,
            origin,
        };
        self.keys.push(info.clone());
        info
    }

    /// Creates a fresh 32-hex key.
    pub(crate) fn create(
        &mut self,
        org_id: &str,
        name: String,
        created_at: String,
        origin: KeyOrigin,
    ) -> ApiKeyInfo {
        self.insert(org_id, ids::api_key(), name, created_at, origin)
    }

    /// Revokes by id or by key value; `false` if no such key.
    pub(crate) fn revoke(&mut self, id_or_key: &str) -> bool {
        let found = self
            .keys
            .iter_mut()
            .find(|k| k.id == id_or_key || k.key == id_or_key);
        found.map(|k| k.revoked = true).is_some()
    }

    /// Revokes by id only (what the HTTP test API offers: paths are logged, key values
    /// must not be); `false` if no such key.
    pub(crate) fn revoke_id(&mut self, id: &str) -> bool {
        let found = self.keys.iter_mut().find(|k| k.id == id);
        found.map(|k| k.revoked = true).is_some()
    }

    /// Revokes a key of one org by id (the org's API Keys page): `false` if that org has no
    /// such key, so one org's page never revokes another's.
    pub(crate) fn revoke_of_org(&mut self, org_id: &str, id: &str) -> bool {
        let found = self
            .keys
            .iter_mut()
            .find(|k| k.id == id && k.org_id == org_id);
        found.map(|k| k.revoked = true).is_some()
    }

    /// The keys of one org, oldest first.
    pub(crate) fn of_org(&self, org_id: &str) -> Vec<ApiKeyInfo> {
        self.keys
            .iter()
            .filter(|k| k.org_id == org_id)
            .cloned()
            .collect()
    }

    /// The sender behind a valid (known, not revoked) key.
    pub(crate) fn authenticate(&self, key: Option<&str>) -> Result<Sender, KeyRejection> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(KeyRejection::Missing)?;
        self.keys
            .iter()
            .find(|k| !k.revoked && k.key == key)
            .map(|k| Sender {
                api_key_id: k.id.clone(),
                org_id: k.org_id.clone(),
            })
            .ok_or(KeyRejection::Invalid)
    }

    /// Whether the org has a live marketplace key of this client (Datadog allows one per
    /// client and org).
    pub(crate) fn has_marketplace_key(&self, client_id: &str, org_id: &str) -> bool {
        self.keys.iter().any(|k| {
            !k.revoked
                && k.org_id == org_id
                && matches!(&k.origin, KeyOrigin::Marketplace { client_id: c } if c == client_id)
        })
    }

    pub(crate) fn list(&self) -> Vec<ApiKeyInfo> {
        self.keys.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_keys_stop_authenticating() {
        let mut store = KeyStore::default();
        let key = store.create("org-a", "k".into(), "t".into(), KeyOrigin::TestApi);
        assert_eq!(
            store.authenticate(Some(&key.key)),
            Ok(Sender {
                api_key_id: key.id.clone(),
                org_id: "org-a".into()
            })
        );
        assert_eq!(store.authenticate(None), Err(KeyRejection::Missing));
        assert_eq!(store.authenticate(Some("  ")), Err(KeyRejection::Missing));
        assert_eq!(store.authenticate(Some("nope")), Err(KeyRejection::Invalid));
        assert!(store.revoke(&key.id));
        assert_eq!(
            store.authenticate(Some(&key.key)),
            Err(KeyRejection::Invalid)
        );
        assert!(!store.revoke("unknown"));
        let other = store.create("org-a", "k2".into(), "t".into(), KeyOrigin::TestApi);
        assert!(
            !store.revoke_id(&other.key),
            "HTTP revocation takes ids, never key values"
        );
        assert!(store.revoke_id(&other.id));
        let of_b = store.create("org-b", "k3".into(), "t".into(), KeyOrigin::TestApi);
        assert!(
            !store.revoke_of_org("org-a", &of_b.id),
            "one org's page cannot revoke another org's key"
        );
        assert!(store.revoke_of_org("org-b", &of_b.id));
        assert_eq!(store.of_org("org-b").len(), 1);
        assert_eq!(store.of_org("org-a").len(), 2);
    }

    #[test]
    fn marketplace_keys_are_one_per_client_and_org() {
        let mut store = KeyStore::default();
        let origin = KeyOrigin::Marketplace {
            client_id: "c".into(),
        };
        let key = store.create("org-a", "m".into(), "t".into(), origin);
        assert!(store.has_marketplace_key("c", "org-a"));
        assert!(!store.has_marketplace_key("c", "org-b"));
        assert!(!store.has_marketplace_key("other-client", "org-a"));
        assert!(store.revoke(&key.id));
        assert!(!store.has_marketplace_key("c", "org-a"));
    }

    #[test]
    fn debug_hides_the_key() {
        let mut store = KeyStore::default();
        let key = store.create("org-a", "k".into(), "t".into(), KeyOrigin::Configured);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.key));
        assert!(shown.contains(&key.last4));
    }
}
