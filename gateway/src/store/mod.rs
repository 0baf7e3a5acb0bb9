//! Persistence: the [`Store`] over SQLite and PostgreSQL, and the records it reads and writes.
//!
//! The store only ever sees sealed secrets (`Vec<u8>` blobs from [`crate::crypto`]); sealing and
//! opening happen in [`crate::connections`], which knows each value's row identity.

mod db;
mod sql;
pub mod tenant;
mod transport;

pub use db::{Backend, Db, DbOptions, sqlite_path, sqlite_url_for_path};
pub use sql::Store;
pub use transport::{PgEnvironment, TransportError, check_postgres_url};

use self::tenant::TenantId;

/// Store-layer errors. Messages never contain secret values (they are sealed anyway).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database lacks {missing} migration(s) of this gateway version: start `ddlink-gateway serve` on it once first"
    )]
    NotMigrated { missing: usize },
    #[error(
        "no database file at the configured sqlite URL: start `ddlink-gateway serve` once first"
    )]
    NoDatabase,
    #[error("unsupported database url (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("invalid stored value in {table}.{column}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
    },
    #[error("{0}")]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// An OAuth authorisation between the onboarding redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// SHA-256 hex of the `state` parameter.
    pub state_hash: String,
    /// The PKCE verifier, sealed with row identity `oauth_states.pkce_verifier.<state_hash>`.
    pub sealed_verifier: Vec<u8>,
    /// Authorize origin the flow started on (may carry a customer subdomain).
    pub site: String,
    /// The Datadog domain the callback must name again.
    pub domain: String,
    /// SHA-256 hex of the admin session that started the flow.
    pub session_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Text of the database or a form that names no known value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// Lifecycle of a connection to one Datadog organisation; the text is what the database and
/// the API show. Only [`ConnectionState::Active`] connections hand their key to devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Tokens and key are usable.
    Active,
    /// Datadog revoked the integration's OAuth authorisation (the refresh token answered
    /// `invalid_grant`, or the access token 401): it was uninstalled from the tile or an org
    /// admin revoked its access. Datadog sends no notice of this. An admin must connect again
    /// from the tile; the API key usually still exists at Datadog.
    Uninstalled,
    /// Datadog rejects the stored API key (`GET /api/v1/validate` answered 403): a user revoked
    /// it on the API Keys page. Connecting again from the tile creates a new key.
    KeyRevoked,
    /// An admin disconnected; tokens were revoked and secrets wiped.
    Disconnected,
}

impl ConnectionState {
    /// Every state, in the order `/metrics` lists them.
    pub const ALL: [Self; 4] = [
        Self::Active,
        Self::Uninstalled,
        Self::KeyRevoked,
        Self::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Uninstalled => "uninstalled",
            Self::KeyRevoked => "key_revoked",
            Self::Disconnected => "disconnected",
        }
    }
}

impl std::str::FromStr for ConnectionState {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownValue(text.to_owned()))
    }
}

/// Compares with the stored text (`state == "active"`).
impl PartialEq<&str> for ConnectionState {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == *text
    }
}

/// What an entry of the event log is about; the text is what the database and the API show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A Datadog organisation was connected from the tile.
    Connected,
    /// Datadog revoked the connection's OAuth authorisation (uninstalled): connect again.
    Uninstalled,
    /// Datadog rejects the connection's API key (revoked on its API Keys page).
    KeyRevoked,
    /// An admin disconnected an organisation.
    Disconnected,
    /// A device was approved or revoked.
    Device,
    /// A fleet was bound or unbound.
    Fleet,
    /// An admin invite was created.
    Invite,
    /// An invite was accepted: a new tenant admin.
    Admin,
}

impl EventKind {
    const ALL: [Self; 8] = [
        Self::Connected,
        Self::Uninstalled,
        Self::KeyRevoked,
        Self::Disconnected,
        Self::Device,
        Self::Fleet,
        Self::Invite,
        Self::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Uninstalled => "uninstalled",
            Self::KeyRevoked => "key_revoked",
            Self::Disconnected => "disconnected",
            Self::Device => "device",
            Self::Fleet => "fleet",
            Self::Invite => "invite",
            Self::Admin => "admin",
        }
    }

    /// Whether the operator's overview shows it as a tenant's last problem.
    pub fn is_problem(self) -> bool {
        matches!(self, Self::Uninstalled | Self::KeyRevoked)
    }
}

impl std::str::FromStr for EventKind {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownValue(text.to_owned()))
    }
}

/// Compares with the stored text (`kind == "key_revoked"`).
impl PartialEq<&str> for EventKind {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == *text
    }
}

/// One Datadog organisation connection as stored (secrets sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Row id; also part of every sealed value's associated data.
    pub id: String,
    /// Datadog org UUID (`dd_oid`) when Datadog sent it.
    pub org_id: String,
    pub org_name: String,
    pub domain: String,
    pub site: String,
    pub state: ConnectionState,
    pub sealed_access_token: Option<Vec<u8>>,
    pub sealed_refresh_token: Option<Vec<u8>>,
    pub access_expires_at: i64,
    pub sealed_api_key: Option<Vec<u8>>,
    pub api_key_id: Option<String>,
    pub api_key_last4: Option<String>,
    /// Bumped whenever the API key changes, so devices know to fetch it again.
    pub key_version: i64,
    /// Result of the last `GET /api/v1/validate`, if any.
    pub key_valid: Option<bool>,
    pub key_checked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// New tokens after a refresh.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub sealed_access_token: Vec<u8>,
    /// `None` keeps the stored refresh token (the server did not rotate it).
    pub sealed_refresh_token: Option<Vec<u8>>,
    pub access_expires_at: i64,
}

/// An entry of the admin page's "recent events" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    pub at: i64,
    pub kind: EventKind,
    pub message: String,
}

/// A sealed column that key rotation must re-seal. Its `row_id` is the associated-data row id.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub table: &'static str,
    pub id_column: &'static str,
    pub column: &'static str,
}

/// Every sealed column of the gateway. Device provisioning adds its own (fleet keys) here.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "oauth_states",
        id_column: "state_hash",
        column: "pkce_verifier",
    },
    SealedColumn {
        table: "connections",
        id_column: "id",
        column: "access_token",
    },
    SealedColumn {
        table: "connections",
        id_column: "id",
        column: "refresh_token",
    },
    SealedColumn {
        table: "connections",
        id_column: "id",
        column: "api_key",
    },
];

/// How [`Store::upsert_connection`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionWrite {
    Written,
    /// The organisation is connected to another tenant: nothing was written.
    OtherTenant,
}

/// How [`Store::accept_invite`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteAcceptance {
    /// The user exists now, as an admin of this tenant; the invite is used up.
    Created(TenantId),
    /// No such invite, or it expired or was used.
    Unknown,
    /// The user name is taken; the invite is kept.
    NameTaken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_kinds_round_trip_through_their_text_and_refuse_other_text() {
        for state in ConnectionState::ALL {
            assert_eq!(state.as_str().parse::<ConnectionState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(
            "Active".parse::<ConnectionState>(),
            Err(UnknownValue("Active".to_owned()))
        );
        assert!("".parse::<EventKind>().is_err());
    }
}
