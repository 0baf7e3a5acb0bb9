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

use crate::crypto::{hash_token, random_token};
use crate::state::AppState;
use crate::store::StoreError;
pub use crate::store::tenant::{
    ConnectionHealth, DEFAULT_TENANT, OPERATOR, ProblemEvent, TenantError, TenantHealth, TenantId,
    User, valid_name,
};

/// How long an invite link stays valid.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;

/// Shortest password a tenant admin may choose.
pub const MIN_PASSWORD_LEN: usize = 12;

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
