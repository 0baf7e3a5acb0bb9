//! [`Store`] over [`Db`]: one set of runtime queries for SQLite and PostgreSQL.

use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{AssertSqlSafe, Executor as _, Row as _};

use super::tenant::{OPERATOR, TenantId, User};
use super::{
    ConnectionRecord, ConnectionState, ConnectionWrite, Db, EventKind, GatewayEvent,
    InviteAcceptance, PendingAuthorization, SealedColumn, StoreError, TokenUpdate,
};

/// Everything the gateway persists, on SQLite or PostgreSQL through one code path. Cloning
/// is cheap (a pool handle).
/// Functions on tenant data take the tenant's [`TenantId`] and never see another tenant's rows.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// Bumped after every write to `connections` through this store or a clone of it (see
    /// [`Store::connection_writes`]).
    connection_writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            connection_writes: std::sync::Arc::default(),
        }
    }

    /// Runs a write to `connections` and counts it once finished (a failed one too: it may
    /// have committed).
    async fn write_connections<'q, Q>(&self, query: Q) -> Result<AnyQueryResult, StoreError>
    where
        Q: sqlx::Execute<'q, sqlx::Any> + 'q,
    {
        let written = self.db.pool().execute(query).await;
        self.connection_writes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(written?)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How many writes to connection rows this store (this process) has finished; a cache of
    /// connection data is current for this process while the number is unchanged.
    pub fn connection_writes(&self) -> u64 {
        self.connection_writes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub async fn put_pending_authorization(
        &self,
        p: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, pkce_verifier, site, domain, session_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.state_hash)
        .bind(&p.sealed_verifier)
        .bind(&p.site)
        .bind(&p.domain)
        .bind(&p.session_hash)
        .bind(p.created_at)
        .bind(p.expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Removes and returns the authorisation (single use). Expired rows are removed but not returned.
    pub async fn take_pending_authorization(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        // DELETE … RETURNING makes the state single-use even with several gateway instances.
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING state_hash, pkce_verifier, site, domain, session_hash, created_at, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => {
                let pending = pending_from_row(&row)?;
                Ok((pending.expires_at > now).then_some(pending))
            }
            None => Ok(None),
        }
    }

    /// Deletes authorisations, sessions and invites that expired before `now`.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let states = sqlx::query("DELETE FROM oauth_states WHERE expires_at <= $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        let sessions = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        let invites = sqlx::query("DELETE FROM invites WHERE expires_at <= $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(states.rows_affected() + sessions.rows_affected() + invites.rows_affected())
    }

    /// `false` if the tenant exists already.
    pub async fn create_tenant(&self, tenant: &TenantId, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM tenants ORDER BY id")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(TenantId::from_stored(r.try_get("id")?)))
            .collect()
    }

    /// Adds an admin of `tenant`; `false` if the user name is taken.
    pub async fn create_user(
        &self,
        tenant: &TenantId,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = insert_admin(tenant, name, password_hash, now)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant and Argon2id hash of a tenant admin, for sign-in (user names are unique
    /// across tenants; the operator has no password here).
    pub async fn user_password_hash(
        &self,
        name: &str,
    ) -> Result<Option<(TenantId, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, password_hash FROM users \
             WHERE name = $1 AND operator = 0 AND password_hash IS NOT NULL",
        )
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok((
                TenantId::from_stored(r.try_get("tenant_id")?),
                r.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    pub async fn create_invite(
        &self,
        tenant: &TenantId,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO invites (token_hash, tenant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(tenant.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The tenant an unexpired invite is for (the invite stays).
    pub async fn invite_tenant(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<TenantId>, StoreError> {
        let row =
            sqlx::query("SELECT tenant_id FROM invites WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.db.pool())
                .await?;
        row.map(|r| Ok(TenantId::from_stored(r.try_get("tenant_id")?)))
            .transpose()
    }

    /// Uses the invite up and creates the user, in one transaction.
    pub async fn accept_invite(
        &self,
        token_hash: &str,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<InviteAcceptance, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        // DELETE … RETURNING: two submissions of one invite cannot both succeed.
        let row = sqlx::query(
            "DELETE FROM invites WHERE token_hash = $1 AND expires_at > $2 RETURNING tenant_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(InviteAcceptance::Unknown);
        };
        let tenant = TenantId::from_stored(row.try_get("tenant_id")?);
        let created = insert_admin(&tenant, name, password_hash, now)
            .execute(&mut *tx)
            .await?;
        if created.rows_affected() != 1 {
            // Rolled back on drop: the invite stays usable with another name.
            return Ok(InviteAcceptance::NameTaken);
        }
        tx.commit().await?;
        Ok(InviteAcceptance::Created(tenant))
    }

    /// Inserts, or replaces every field of, the tenant's connection with this id (lease kept).
    /// A row of another tenant is left alone ([`ConnectionWrite::OtherTenant`]).
    pub async fn upsert_connection(
        &self,
        tenant: &TenantId,
        c: &ConnectionRecord,
    ) -> Result<ConnectionWrite, StoreError> {
        // The WHERE on the update leaves another tenant's row alone (0 rows affected), even
        // when two tenants race to connect the same organisation.
        let done = self
            .write_connections(
                sqlx::query(
                    "INSERT INTO connections (id, tenant_id, org_id, org_name, domain, site, state, access_token, \
                         refresh_token, access_expires_at, api_key, api_key_id, api_key_last4, key_version, \
                         key_valid, key_checked_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                     ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, org_name = excluded.org_name, \
                         domain = excluded.domain, site = excluded.site, state = excluded.state, \
                         access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
                         access_expires_at = excluded.access_expires_at, api_key = excluded.api_key, \
                         api_key_id = excluded.api_key_id, api_key_last4 = excluded.api_key_last4, \
                         key_version = excluded.key_version, key_valid = excluded.key_valid, \
                         key_checked_at = excluded.key_checked_at, updated_at = excluded.updated_at \
                     WHERE connections.tenant_id = excluded.tenant_id",
                )
                .bind(&c.id)
                .bind(tenant.as_str())
                .bind(&c.org_id)
                .bind(&c.org_name)
                .bind(&c.domain)
                .bind(&c.site)
                .bind(c.state.as_str())
                .bind(&c.sealed_access_token)
                .bind(&c.sealed_refresh_token)
                .bind(c.access_expires_at)
                .bind(&c.sealed_api_key)
                .bind(&c.api_key_id)
                .bind(&c.api_key_last4)
                .bind(c.key_version)
                .bind(c.key_valid.map(i64::from))
                .bind(c.key_checked_at)
                .bind(c.created_at)
                .bind(c.updated_at),
            )
            .await?;
        Ok(if done.rows_affected() == 1 {
            ConnectionWrite::Written
        } else {
            ConnectionWrite::OtherTenant
        })
    }

    /// Which tenant holds the connection with this id, if any (checked before a new
    /// authorisation creates an API key).
    pub async fn connection_owner(&self, id: &str) -> Result<Option<TenantId>, StoreError> {
        let row = sqlx::query("SELECT tenant_id FROM connections WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| Ok(TenantId::from_stored(r.try_get("tenant_id")?)))
            .transpose()
    }

    pub async fn connection(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    pub async fn connections(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// The connection fleet `fleet` of `tenant` is bound to, if both belong to the tenant.
    pub async fn fleet_connection(
        &self,
        tenant: &TenantId,
        fleet: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        // Both rows must carry the tenant: a binding to another tenant's connection (which the
        // bind statement never writes) would find nothing here.
        let columns = CONNECTION_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM provision_fleets f \
             JOIN connections c ON c.id = f.connection_id AND c.tenant_id = f.tenant_id \
             WHERE f.tenant_id = $1 AND f.name = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(fleet)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    /// Stores refreshed tokens only while `owner` holds the row lease (by the database's
    /// clock); `false` means the lease was lost or taken over and nothing was written.
    pub async fn update_tokens(
        &self,
        tenant: &TenantId,
        id: &str,
        owner: &str,
        u: &TokenUpdate,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE connections SET access_token = $1, refresh_token = COALESCE($2, refresh_token), \
                 access_expires_at = $3, updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 AND lease_until > {db_now} AND tenant_id = $7",
            db_now = self.db.now_sql()
        );
        let done = self
            .write_connections(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(&u.sealed_access_token)
                    .bind(&u.sealed_refresh_token)
                    .bind(u.access_expires_at)
                    .bind(now)
                    .bind(id)
                    .bind(owner)
                    .bind(tenant.as_str()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the connection to `state` only while it is as `seen` was read (same key version
    /// and refresh token): a reconnect or token refresh that landed since wins, and `false`
    /// means nothing was written.
    pub async fn set_connection_state(
        &self,
        tenant: &TenantId,
        seen: &ConnectionRecord,
        state: ConnectionState,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Sealed tokens are fresh ciphertexts on every write: equal bytes mean untouched.
        let written = self
            .write_connections(
                sqlx::query(
                    "UPDATE connections SET state = $1, updated_at = $2 \
                     WHERE id = $3 AND tenant_id = $4 AND key_version = $5 AND refresh_token = $6",
                )
                .bind(state.as_str())
                .bind(now)
                .bind(seen.id.as_str())
                .bind(tenant.as_str())
                .bind(seen.key_version)
                .bind(seen.sealed_refresh_token.clone()),
            )
            .await?;
        Ok(written.rows_affected() == 1)
    }

    pub async fn record_key_check(
        &self,
        tenant: &TenantId,
        id: &str,
        valid: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_connections(
            sqlx::query(
                "UPDATE connections SET key_valid = $1, key_checked_at = $2 WHERE id = $3 AND tenant_id = $4",
            )
            .bind(i64::from(valid))
            .bind(now)
            .bind(id)
            .bind(tenant.as_str()),
        )
        .await?;
        Ok(())
    }

    /// Marks the connection disconnected and erases every sealed secret of it.
    pub async fn wipe_connection(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_connections(
            sqlx::query(
                "UPDATE connections SET state = $1, access_token = NULL, refresh_token = NULL, api_key = NULL, \
                     access_expires_at = 0, key_valid = NULL, updated_at = $2 WHERE id = $3 AND tenant_id = $4",
            )
            .bind(ConnectionState::Disconnected.as_str())
            .bind(now)
            .bind(id)
            .bind(tenant.as_str()),
        )
        .await?;
        Ok(())
    }

    /// Takes the row lease for `lease_secs` if it is free or expired, or extends it for its
    /// owner; `true` means `owner` holds it. Expiry is reckoned by the database's clock, so
    /// instances with skewed clocks agree on it.
    pub async fn try_lease(
        &self,
        tenant: &TenantId,
        id: &str,
        owner: &str,
        lease_secs: i64,
    ) -> Result<bool, StoreError> {
        // Portable compare-and-set: exactly one instance sees rows_affected == 1.
        let sql = format!(
            "UPDATE connections SET lease_owner = $1, lease_until = {db_now} + $2 \
             WHERE id = $3 AND tenant_id = $4 AND (lease_until <= {db_now} OR lease_owner = $1)",
            db_now = self.db.now_sql()
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_secs)
            .bind(id)
            .bind(tenant.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_lease(
        &self,
        tenant: &TenantId,
        id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE connections SET lease_owner = NULL, lease_until = 0 \
             WHERE id = $1 AND lease_owner = $2 AND tenant_id = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(tenant.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The operator's credential (the admin token or configured password).
    pub async fn admin_password_hash(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM admin_credential WHERE id = 1")
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(|r| r.try_get("password_hash")).transpose()?)
    }

    /// Stores the hash only if none exists yet; returns whether this call stored it.
    pub async fn init_admin_password_hash(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO admin_credential (id, password_hash, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(hash)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the credential and deletes every operator session, in one transaction (a
    /// changed secret must not leave sessions opened with the old one).
    pub async fn replace_admin_password_hash(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO admin_credential (id, password_hash, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, created_at = excluded.created_at",
        )
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM admin_sessions WHERE user_name = $1")
            .bind(OPERATOR)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_session(
        &self,
        session_hash: &str,
        user: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_sessions (session_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_hash)
        .bind(user)
        .bind(now)
        .bind(expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The user of an unexpired session.
    pub async fn session_user(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.name, u.tenant_id, u.operator FROM admin_sessions s \
             JOIN users u ON u.name = s.user_name \
             WHERE s.session_hash = $1 AND s.expires_at > $2",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok(User {
                name: r.try_get("name")?,
                tenant: TenantId::from_stored(r.try_get("tenant_id")?),
                operator: r.try_get::<i64, _>("operator")? != 0,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn record_event(
        &self,
        tenant: &TenantId,
        at: i64,
        kind: EventKind,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gateway_events (tenant_id, at, kind, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(at)
        .bind(kind.as_str())
        .bind(message)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn recent_events(
        &self,
        tenant: &TenantId,
        limit: i64,
    ) -> Result<Vec<GatewayEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, kind, message FROM gateway_events WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GatewayEvent {
                    at: r.try_get("at")?,
                    kind: r.try_get::<String, _>("kind")?.parse().map_err(|_| {
                        StoreError::Corrupt {
                            table: "gateway_events",
                            column: "kind",
                        }
                    })?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// `(row_id, blob)` for every non-null value of a sealed column.
    pub async fn sealed_values(
        &self,
        column: &SealedColumn,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        // Identifiers come from the static SEALED_COLUMNS registry, never from input.
        let sql = format!(
            "SELECT {id} AS row_id, {col} AS sealed FROM {table} WHERE {col} IS NOT NULL",
            id = column.id_column,
            col = column.column,
            table = column.table,
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("row_id")?, r.try_get("sealed")?)))
            .collect()
    }

    /// Replaces a sealed value only if it still equals `old` (a concurrent write wins).
    pub async fn replace_sealed_value(
        &self,
        column: &SealedColumn,
        row_id: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {table} SET {col} = $1 WHERE {id} = $2 AND {col} = $3",
            id = column.id_column,
            col = column.column,
            table = column.table,
        );
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(new)
            .bind(row_id)
            .bind(old);
        let done = if column.table == "connections" {
            self.write_connections(query).await?
        } else {
            query.execute(self.db.pool()).await?
        };
        Ok(done.rows_affected() == 1)
    }
}

const CONNECTION_COLUMNS: &str = "id, org_id, org_name, domain, site, state, access_token, refresh_token, \
     access_expires_at, api_key, api_key_id, api_key_last4, key_version, key_valid, key_checked_at, \
     created_at, updated_at";

fn connection_from_row(row: &AnyRow) -> Result<ConnectionRecord, StoreError> {
    let state: String = row.try_get("state")?;
    let key_valid: Option<i64> = row.try_get("key_valid")?;
    Ok(ConnectionRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        domain: row.try_get("domain")?,
        site: row.try_get("site")?,
        state: state.parse().map_err(|_| StoreError::Corrupt {
            table: "connections",
            column: "state",
        })?,
        sealed_access_token: row.try_get("access_token")?,
        sealed_refresh_token: row.try_get("refresh_token")?,
        access_expires_at: row.try_get("access_expires_at")?,
        sealed_api_key: row.try_get("api_key")?,
        api_key_id: row.try_get("api_key_id")?,
        api_key_last4: row.try_get("api_key_last4")?,
        key_version: row.try_get("key_version")?,
        key_valid: key_valid.map(|v| v != 0),
        key_checked_at: row.try_get("key_checked_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Adds a tenant admin unless the user name is taken (then 0 rows).
fn insert_admin<'q>(
    tenant: &'q TenantId,
    name: &'q str,
    password_hash: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO users (name, tenant_id, operator, password_hash, created_at) \
         VALUES ($1, $2, 0, $3, $4) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(tenant.as_str())
    .bind(password_hash)
    .bind(now)
}

fn pending_from_row(row: &AnyRow) -> Result<PendingAuthorization, StoreError> {
    Ok(PendingAuthorization {
        state_hash: row.try_get("state_hash")?,
        sealed_verifier: row.try_get("pkce_verifier")?,
        site: row.try_get("site")?,
        domain: row.try_get("domain")?,
        session_hash: row.try_get("session_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
