//! Who data belongs to and who signs in: tenant ids, users, the errors of tenant input, and
//! the operator's read model of every tenant's health. Here, below the store, so that every
//! layer (the store itself, provisioning, the web pages) can name them; what is done with
//! tenants (creating them, inviting admins) is in `crate::tenants`.

use serde::Serialize;

use super::{ConnectionState, EventKind, StoreError};

/// A tenant's id: `[a-z0-9._-]{1,64}`, also its name. Only [`TenantId::parse`] and the store
/// make one, so a tenant id cannot be confused with another kind of id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

/// The tenant of an on-site gateway and of data from before tenants existed.
pub const DEFAULT_TENANT: &str = "default";

/// The operator's user name.
pub const OPERATOR: &str = "operator";

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
