//! Tenants: the vendor's customer accounts, and the people who sign in.
//!
//! One gateway serves many tenants. A tenant owns its Datadog **connections** (an organisation
//! belongs to at most one tenant), its **fleets** (each bound to one of the tenant's own
//! connections, or to none) and, through them, its **devices**. A device is only ever handed the
//! key of its fleet's bound connection. Every store function that reads or writes tenant data
//! takes a [`TenantId`], so a handler cannot forget whose data it asks for; the device API names
//! a fleet (fleet names are unique across tenants) and the tenant comes from the fleet's row.
//!
//! People: the **operator** (vendor staff) signs in with the admin credential (the first-run
//! token or configured password); its home tenant is `default`, and it also sees every tenant's
//! health (connection states, device counts, last problems; never a secret). **Tenant admins**
//! sign in with a user name and password (Argon2id); they are created through one-time invite
//! links ([`create_invite`]) made by `ddlink-gateway tenant create|invite` or by an admin of the
//! same tenant.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use crate::crypto::{hash_token, random_token};
use crate::state::AppState;
use crate::store::{ConnectionState, EventKind, StoreError};

/// A tenant's id: `[a-z0-9._-]{1,64}`, also its name. Only [`TenantId::parse`] and the store
/// make one, so a tenant id cannot be confused with another kind of id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

/// The tenant of an on-site gateway and of data from before tenants existed.
pub const DEFAULT_TENANT: &str = "default";

/// The operator's user name.
pub const OPERATOR: &str = "operator";

/// How long an invite link stays valid.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;

/// Shortest password a tenant admin may choose.
pub const MIN_PASSWORD_LEN: usize = 12;

impl TenantId {
    /// Checks a tenant name from input.
    pub fn parse(text: &str) -> Result<Self, TenantError> {
        if valid_name(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(TenantError::InvalidName)
        }
    }

    pub fn default_tenant() -> Self {
        Self(DEFAULT_TENANT.to_owned())
    }

    /// A value read back from the database (written only through [`TenantId::parse`]).
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tenant names and user names: `[a-z0-9._-]{1,64}`.
pub fn valid_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant and user names must match [a-z0-9._-]{{1,64}}")]
    InvalidName,
    #[error("tenant `{0}` already exists")]
    Exists(String),
    #[error("no tenant named `{0}`")]
    Unknown(String),
    #[error("user name `{0}` is taken")]
    UserExists(String),
    #[error("hashing the password failed")]
    Hashing,
    #[error("the public URL cannot carry an invite path")]
    PublicUrl,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The tenant whose data this user sees and changes.
    pub tenant: TenantId,
    /// Vendor staff: also sees every tenant's health.
    pub operator: bool,
}

impl User {
    /// The operator, signed in with the admin credential.
    pub fn operator() -> Self {
        Self {
            name: OPERATOR.to_owned(),
            tenant: TenantId::default_tenant(),
            operator: true,
        }
    }
}

/// Creates an empty tenant.
pub async fn create(state: &AppState, name: &str) -> Result<TenantId, TenantError> {
    let tenant = TenantId::parse(name)?;
    if !state
        .store
        .create_tenant(&tenant, state.clock.now())
        .await?
    {
        return Err(TenantError::Exists(name.to_owned()));
    }
    Ok(tenant)
}

/// The tenant of this name, if it exists.
pub async fn find(state: &AppState, name: &str) -> Result<TenantId, TenantError> {
    let tenant = TenantId::parse(name)?;
    if state.store.tenants().await?.contains(&tenant) {
        Ok(tenant)
    } else {
        Err(TenantError::Unknown(name.to_owned()))
    }
}

/// A one-time invite URL to become an admin of `tenant` (valid [`INVITE_TTL_SECS`]); only the
/// token's hash is stored.
pub async fn create_invite(state: &AppState, tenant: &TenantId) -> Result<url::Url, TenantError> {
    let token = random_token(32)?;
    let now = state.clock.now();
    state
        .store
        .create_invite(tenant, &hash_token(&token), now, now + INVITE_TTL_SECS)
        .await?;
    state
        .config
        .public_url
        .join(&format!("invite/{token}"))
        .map_err(|_| TenantError::PublicUrl)
}

/// A tenant admin created by [`create_with_admin`]: sign in at `/login` with `user` and
/// `password`.
#[derive(Debug, Clone)]
pub struct TenantAdmin {
    pub tenant: TenantId,
    pub user: String,
    pub password: SecretString,
}

/// Creates tenant `name` with one admin, user `<name>-admin`, whose random password is returned
/// (for tools that sign in without a person: the sandbox). People get invite links instead.
pub async fn create_with_admin(state: &AppState, name: &str) -> Result<TenantAdmin, TenantError> {
    let tenant = create(state, name).await?;
    let user = format!("{}-admin", &name[..name.len().min(58)]);
    let password = SecretString::from(random_token(24)?);
    add_admin(state, &tenant, &user, &password).await?;
    Ok(TenantAdmin {
        tenant,
        user,
        password,
    })
}

/// Adds an admin of `tenant` with this password (hashed with Argon2id).
pub async fn add_admin(
    state: &AppState,
    tenant: &TenantId,
    user: &str,
    password: &SecretString,
) -> Result<(), TenantError> {
    if !valid_name(user) {
        return Err(TenantError::InvalidName);
    }
    let hash = hash_off_thread(password.clone()).await?;
    if !state
        .store
        .create_user(tenant, user, &hash, state.clock.now())
        .await?
    {
        return Err(TenantError::UserExists(user.to_owned()));
    }
    Ok(())
}

/// Argon2id on a blocking thread (it is deliberately slow).
pub async fn hash_off_thread(password: SecretString) -> Result<String, TenantError> {
    tokio::task::spawn_blocking(move || {
        crate::web::session::hash_password(password.expose_secret())
    })
    .await
    .map_err(|_| TenantError::Hashing)?
    .map_err(|_| TenantError::Hashing)
}

/// One tenant's health for the operator: no secret, no key digits.
#[derive(Debug, Clone, Serialize)]
pub struct TenantHealth {
    pub tenant: TenantId,
    pub connections: Vec<ConnectionHealth>,
    pub fleets: usize,
    pub devices: usize,
    /// The most recent problem event (`uninstalled`, `key_revoked`), if any.
    pub last_problem: Option<ProblemEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionHealth {
    pub org_name: String,
    pub domain: String,
    pub state: ConnectionState,
    pub key_valid: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProblemEvent {
    pub at: i64,
    pub kind: EventKind,
    pub message: String,
}

/// Every tenant's health, for the operator.
pub async fn health(state: &AppState) -> Result<Vec<TenantHealth>, StoreError> {
    let provisioning = crate::provision::store::ProvisionStore::new(state.db.clone());
    let mut out = Vec::new();
    for tenant in state.store.tenants().await? {
        let connections = state
            .store
            .connections(&tenant)
            .await?
            .into_iter()
            .map(|c| ConnectionHealth {
                org_name: c.org_name,
                domain: c.domain,
                state: c.state,
                key_valid: c.key_valid,
            })
            .collect();
        let last_problem = state
            .store
            .recent_events(&tenant, 50)
            .await?
            .into_iter()
            .find(|e| e.kind.is_problem())
            .map(|e| ProblemEvent {
                at: e.at,
                kind: e.kind,
                message: e.message,
            });
        out.push(TenantHealth {
            fleets: provisioning.fleets(&tenant).await?.len(),
            devices: provisioning.devices(&tenant).await?.len(),
            connections,
            last_problem,
            tenant,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_slugs() {
        for good in ["default", "acme", "acme-2", "a.b_c", &"x".repeat(64)] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "a b", "a/b", "ü", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TenantId::default_tenant().as_str(), DEFAULT_TENANT);
    }
}
