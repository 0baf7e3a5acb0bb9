//! SQL for fleets, devices and challenges, on the gateway's pool (SQLite or PostgreSQL).
//!
//! Runtime queries with `$N` placeholders; booleans are stored as 0/1 integers so the same
//! statements run on both backends.

use sqlx::Row as _;

use std::sync::Arc;

use crate::store::tenant::TenantId;
use crate::store::{Backend, Db, StoreError, UnknownValue};

pub(crate) const FLEETS: &str = "provision_fleets";

/// The three states of a device; the text is what the database and the API show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Pending,
    Approved,
    Revoked,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Revoked => "revoked",
        }
    }

    /// A state read from the database.
    fn from_column(text: &str) -> Result<Self, StoreError> {
        text.parse().map_err(|_| StoreError::Corrupt {
            table: "provision_devices",
            column: "state",
        })
    }
}

impl std::str::FromStr for DeviceState {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "revoked" => Ok(Self::Revoked),
            _ => Err(UnknownValue(text.to_owned())),
        }
    }
}

/// A fleet as stored (its key sealed). Fleet names are unique across tenants: devices name
/// only the fleet.
#[derive(Debug, Clone)]
pub struct FleetRow {
    pub name: String,
    pub tenant: TenantId,
    pub sealed_key: Vec<u8>,
    pub auto_approve: bool,
    /// The tenant connection whose key its devices get (`None`: unbound, devices get
    /// `not_connected`).
    pub connection_id: Option<String>,
    pub created_at: i64,
    /// Seconds a device may use the key from each approval (`docs/PROTOCOL.md`, leases).
    pub lease_secs: u32,
}

/// A fleet to insert (its tenant is given separately).
#[derive(Debug, Clone)]
pub struct NewFleet<'a> {
    pub name: &'a str,
    pub sealed_key: &'a [u8],
    pub auto_approve: bool,
    pub connection_id: Option<&'a str>,
    pub created_at: i64,
    pub lease_secs: u32,
}

const FLEET_COLUMNS: &str =
    "name, tenant_id, fleet_key, auto_approve, connection_id, created_at, lease_secs";

/// A device as shown on the admin page and in `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRow {
    pub fleet: String,
    pub device_id: String,
    pub state: DeviceState,
    pub first_seen: i64,
    pub last_seen: i64,
    pub last_address: Option<String>,
    /// `key_version` of the last API key handed out, if any.
    pub key_version: Option<i64>,
}

/// An issued challenge, as taken (deleted) from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub fleet: String,
    pub device_id: String,
    pub expires_at: i64,
}

/// What a valid contact changes on the device row.
#[derive(Debug, Clone)]
pub struct Contact<'a> {
    pub fleet: &'a str,
    pub device_id: &'a str,
    pub now: i64,
    pub address: Option<String>,
    /// State of a device seen for the first time (`approved` when the fleet auto-approves).
    pub new_state: DeviceState,
    /// The key version about to be delivered if the device is (or becomes) approved; `None`
    /// when the gateway has no key.
    pub deliverable_key_version: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ProvisionStore {
    db: Db,
    /// SQLite has one writer at a time; a writer that finds the lock taken sleeps in SQLite's
    /// busy handler (1 ms, 2 ms, 5 ms, …). Queueing this module's writes here instead keeps
    /// latency flat under load. `None` for PostgreSQL.
    sqlite_writes: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl ProvisionStore {
    pub fn new(db: Db) -> Self {
        let sqlite_writes =
            (db.backend() == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Self { db, sqlite_writes }
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_writes {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Inserts a fleet of `tenant`; `false` if one with this name exists, in any tenant. A
    /// binding to a connection that is not the tenant's is not written: the fleet is unbound.
    pub async fn insert_fleet(
        &self,
        tenant: &TenantId,
        fleet: &NewFleet<'_>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO provision_fleets (name, tenant_id, fleet_key, auto_approve, connection_id, created_at, lease_secs) \
             VALUES ($1, $2, $3, $4, (SELECT id FROM connections WHERE id = $5 AND tenant_id = $2), $6, $7) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(fleet.name)
        .bind(tenant.as_str())
        .bind(fleet.sealed_key)
        .bind(i64::from(fleet.auto_approve))
        .bind(fleet.connection_id)
        .bind(fleet.created_at)
        .bind(i64::from(fleet.lease_secs))
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The fleet a device names, whichever tenant it belongs to (the device API: the row
    /// says whose it is).
    pub async fn fleet_for_device(&self, name: &str) -> Result<Option<FleetRow>, StoreError> {
        let sql = format!("SELECT {FLEET_COLUMNS} FROM provision_fleets WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| fleet_from(&row)).transpose()
    }

    pub async fn fleet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<FleetRow>, StoreError> {
        let sql = format!(
            "SELECT {FLEET_COLUMNS} FROM provision_fleets WHERE tenant_id = $1 AND name = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| fleet_from(&row)).transpose()
    }

    pub async fn fleets(&self, tenant: &TenantId) -> Result<Vec<FleetRow>, StoreError> {
        let sql = format!(
            "SELECT {FLEET_COLUMNS} FROM provision_fleets WHERE tenant_id = $1 ORDER BY name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(fleet_from).collect()
    }

    /// Whether the tenant has a connection with this id.
    pub async fn has_connection(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Binds the tenant's fleet to one of the tenant's connections (`None`: unbinds it).
    /// `false` if the tenant has no such fleet or no such connection (nothing written).
    pub async fn bind_fleet(
        &self,
        tenant: &TenantId,
        name: &str,
        connection_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE provision_fleets SET connection_id = CAST($3 AS TEXT) \
             WHERE tenant_id = $1 AND name = $2 AND (CAST($3 AS TEXT) IS NULL OR EXISTS \
               (SELECT 1 FROM connections WHERE id = CAST($3 AS TEXT) AND tenant_id = $1))",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(connection_id)
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Binds every unbound fleet of the tenant to one of its connections; returns how many.
    pub async fn bind_unbound_fleets(
        &self,
        tenant: &TenantId,
        connection_id: &str,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE provision_fleets SET connection_id = $2 \
             WHERE tenant_id = $1 AND connection_id IS NULL AND EXISTS \
               (SELECT 1 FROM connections WHERE id = $2 AND tenant_id = $1)",
        )
        .bind(tenant.as_str())
        .bind(connection_id)
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// Stores a new challenge for a device, keeping at most `outstanding` unexpired ones per
    /// device: older (and expired) ones of that device are deleted first, so a flood of
    /// requests naming a device adds no rows and never stops it from getting a challenge.
    pub async fn issue_challenge(
        &self,
        hash: &str,
        row: &ChallengeRow,
        now: i64,
        outstanding: u32,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.db.pool().begin().await?;
        // LIMIT before OFFSET for SQLite; a large LIMIT as PostgreSQL refuses a negative one.
        sqlx::query(
            "DELETE FROM provision_challenges WHERE fleet = $1 AND device_id = $2 AND \
             (expires_at < $3 OR challenge_hash IN (SELECT challenge_hash FROM provision_challenges \
               WHERE fleet = $1 AND device_id = $2 \
               ORDER BY issued DESC LIMIT 1000000 OFFSET $4))",
        )
        .bind(&row.fleet)
        .bind(&row.device_id)
        .bind(now)
        .bind(i64::from(outstanding.saturating_sub(1)))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO provision_challenges (challenge_hash, fleet, device_id, expires_at, issued) \
             VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(issued), 0) + 1 FROM provision_challenges \
               WHERE fleet = $2 AND device_id = $3))",
        )
        .bind(hash)
        .bind(&row.fleet)
        .bind(&row.device_id)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unexpired challenges stored for a device (tests: the per-device bound).
    pub async fn outstanding_challenges(
        &self,
        fleet: &str,
        device_id: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM provision_challenges WHERE fleet = $1 AND device_id = $2 AND expires_at >= $3",
        )
        .bind(fleet)
        .bind(device_id)
        .bind(now)
        .fetch_one(self.db.pool())
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Deletes and returns the challenge (single use, whatever happens next).
    pub async fn take_challenge(&self, hash: &str) -> Result<Option<ChallengeRow>, StoreError> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "DELETE FROM provision_challenges WHERE challenge_hash = $1 RETURNING fleet, device_id, expires_at",
        )
        .bind(hash)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(ChallengeRow {
                fleet: row.try_get(0)?,
                device_id: row.try_get(1)?,
                expires_at: row.try_get(2)?,
            })
        })
        .transpose()
    }

    pub async fn purge_expired_challenges(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM provision_challenges WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(result.rows_affected())
    }

    /// Records a MAC-verified contact in one statement: creates the device (in
    /// `contact.new_state`) or updates `last_seen`/address, and — only if the device is
    /// approved — the delivered key version. Returns the device's state.
    pub async fn record_contact(&self, contact: &Contact<'_>) -> Result<DeviceState, StoreError> {
        let _turn = self.write_turn().await;
        let inserted_version = match contact.new_state {
            DeviceState::Approved => contact.deliverable_key_version,
            DeviceState::Pending | DeviceState::Revoked => None,
        };
        let row = sqlx::query(
            "INSERT INTO provision_devices (fleet, device_id, state, first_seen, last_seen, last_address, key_version) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) \
             ON CONFLICT (fleet, device_id) DO UPDATE SET \
               last_seen = excluded.last_seen, \
               last_address = excluded.last_address, \
               key_version = CASE WHEN provision_devices.state = 'approved' \
                 THEN COALESCE(CAST($7 AS BIGINT), provision_devices.key_version) \
                 ELSE provision_devices.key_version END \
             RETURNING state",
        )
        .bind(contact.fleet)
        .bind(contact.device_id)
        .bind(contact.new_state.as_str())
        .bind(contact.now)
        .bind(contact.address.as_deref())
        .bind(inserted_version)
        .bind(contact.deliverable_key_version)
        .fetch_one(self.db.pool())
        .await?;
        DeviceState::from_column(&row.try_get::<String, _>(0)?)
    }

    /// Sets the state of a device of one of the tenant's fleets; `false` if there is no such
    /// device.
    pub async fn set_device_state(
        &self,
        tenant: &TenantId,
        fleet: &str,
        device_id: &str,
        state: DeviceState,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE provision_devices SET state = $1 WHERE fleet = $2 AND device_id = $3 \
             AND fleet IN (SELECT name FROM provision_fleets WHERE tenant_id = $4)",
        )
        .bind(state.as_str())
        .bind(fleet)
        .bind(device_id)
        .bind(tenant.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The devices of the tenant's fleets.
    pub async fn devices(&self, tenant: &TenantId) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.fleet, d.device_id, d.state, d.first_seen, d.last_seen, d.last_address, d.key_version \
             FROM provision_devices d JOIN provision_fleets f ON f.name = d.fleet \
             WHERE f.tenant_id = $1 ORDER BY d.fleet, d.device_id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeviceRow {
                    fleet: row.try_get(0)?,
                    device_id: row.try_get(1)?,
                    state: DeviceState::from_column(&row.try_get::<String, _>(2)?)?,
                    first_seen: row.try_get(3)?,
                    last_seen: row.try_get(4)?,
                    last_address: row.try_get(5)?,
                    key_version: row.try_get(6)?,
                })
            })
            .collect()
    }
}

fn fleet_from(row: &sqlx::any::AnyRow) -> Result<FleetRow, StoreError> {
    Ok(FleetRow {
        name: row.try_get(0)?,
        tenant: TenantId::from_stored(row.try_get(1)?),
        sealed_key: row.try_get(2)?,
        auto_approve: row.try_get::<i64, _>(3)? != 0,
        connection_id: row.try_get(4)?,
        created_at: row.try_get(5)?,
        lease_secs: u32::try_from(row.try_get::<i64, _>(6)?).map_err(|_| StoreError::Corrupt {
            table: FLEETS,
            column: "lease_secs",
        })?,
    })
}
