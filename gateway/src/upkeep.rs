//! Token and key upkeep: refreshing access tokens under a row lease, validating connections,
//! and disconnecting (revoke at Datadog, wipe secrets).
//!
//! Datadog never tells a partner that its integration was uninstalled or its API key revoked;
//! the gateway finds out from Datadog's answers and moves the connection out of
//! [`ConnectionState::Active`], so devices get `not_connected` instead of a dead key:
//!
//! - a refresh answering `invalid_grant` → [`ConnectionState::Uninstalled`];
//! - `GET /api/v1/validate` answering 403 → [`ConnectionState::KeyRevoked`].
//!
//! [`validate_connection`] checks one connection (the key, and with
//! [`crate::config::Timings::validate_refreshes`] the authorisation too, by a refresh);
//! [`validate_all`] runs it for every active connection, every
//! [`crate::config::Timings::validate_interval`]. Timeouts, transport errors and 5xx answers
//! change nothing: only Datadog's explicit refusals do.

use crate::connections::site_of;
use crate::datadog::{DatadogError, OAuthCode};
use crate::state::AppState;
use crate::store::{ConnectionRecord, ConnectionState, EventKind, StoreError};
use crate::tenants::TenantId;

/// Outcome counts of one pass, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub refreshed: u32,
    /// The refresh token was refused: the connection is now uninstalled.
    pub uninstalled: u32,
    pub failed: u32,
    /// Due, but another instance holds the lease.
    pub skipped: u32,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Refreshes every active connection whose access token expires within the refresh margin.
/// `owner` identifies this gateway instance for the row lease.
pub async fn refresh_due(state: &AppState, owner: &str) -> Result<PassReport, StoreError> {
    let now = state.clock.now();
    let due_before = now.saturating_add(secs(state.config.timings.refresh_margin));
    let mut report = PassReport::default();
    for tenant in state.store.tenants().await? {
        for connection in state.store.connections(&tenant).await? {
            if connection.state != ConnectionState::Active
                || connection.access_expires_at > due_before
            {
                continue;
            }
            let id = connection.id.as_str();
            if !state
                .store
                .try_lease(&tenant, id, owner, secs(state.config.timings.lease))
                .await?
            {
                report.skipped += 1;
                continue;
            }
            let outcome = refresh_leased(state, &tenant, id, owner, due_before).await;
            state.store.release_lease(&tenant, id, owner).await?;
            match outcome? {
                RefreshOutcome::Refreshed => report.refreshed += 1,
                RefreshOutcome::Uninstalled => report.uninstalled += 1,
                RefreshOutcome::LeaseLost | RefreshOutcome::Failed => report.failed += 1,
                RefreshOutcome::NotDue | RefreshOutcome::Superseded => {}
            }
        }
    }
    Ok(report)
}

/// How one connection's refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshOutcome {
    Refreshed,
    /// Refreshed, but the row lease ran out meanwhile, so the tokens were not stored.
    LeaseLost,
    /// The refresh token was refused (`invalid_grant`): uninstalled.
    Uninstalled,
    /// The refresh token was refused, but a reconnect stored new tokens meanwhile: left as is.
    Superseded,
    Failed,
    NotDue,
}

impl RefreshOutcome {
    /// The `outcome` label of `ddlink_token_refreshes_total` (none when nothing was tried).
    fn metric_label(self) -> Option<&'static str> {
        match self {
            Self::Refreshed => Some("ok"),
            Self::LeaseLost => Some("lease_lost"),
            Self::Uninstalled => Some("invalid_grant"),
            Self::Superseded => Some("superseded"),
            Self::Failed => Some("failed"),
            Self::NotDue => None,
        }
    }
}

/// Refreshes under the lease `owner` holds and counts the outcome in
/// `ddlink_token_refreshes_total`.
async fn refresh_leased(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    owner: &str,
    due_before: i64,
) -> Result<RefreshOutcome, StoreError> {
    let outcome = refresh_leased_uncounted(state, tenant, id, owner, due_before).await?;
    if let Some(label) = outcome.metric_label() {
        state.metrics.refresh(label);
    }
    Ok(outcome)
}

async fn refresh_leased_uncounted(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    owner: &str,
    due_before: i64,
) -> Result<RefreshOutcome, StoreError> {
    // Re-read under the lease: another instance may have refreshed (and rotated the refresh
    // token) between our listing and taking the lease.
    let Some(connection) = state.store.connection(tenant, id).await? else {
        return Ok(RefreshOutcome::NotDue);
    };
    if connection.state != ConnectionState::Active || connection.access_expires_at > due_before {
        return Ok(RefreshOutcome::NotDue);
    }
    let site = site_of(&connection)?;
    let refresh_token = state.connections.refresh_token(&connection)?;
    match state.datadog.refresh(&site, &refresh_token).await {
        Ok(tokens) => {
            if !state
                .connections
                .save_refreshed(tenant, id, owner, &tokens)
                .await?
            {
                // The lease ran out during the call and another instance may be refreshing:
                // writing now could overwrite its newer tokens.
                state.metrics.error("refresh");
                tracing::warn!(
                    connection = id,
                    "refreshed tokens not stored: the row lease was lost meanwhile"
                );
                return Ok(RefreshOutcome::LeaseLost);
            }
            tracing::info!(connection = id, "access token refreshed");
            Ok(RefreshOutcome::Refreshed)
        }
        Err(DatadogError::OAuth { code, .. })
            if OAuthCode::of(&code) == OAuthCode::InvalidGrant =>
        {
            let message = format!(
                "{} on {}: Datadog refused the refresh token (invalid_grant): the integration was \
                 uninstalled or its access revoked; reconnect from the Datadog tile",
                connection.org_name, connection.domain
            );
            if transition(
                state,
                tenant,
                &connection,
                ConnectionState::Uninstalled,
                EventKind::Uninstalled,
                &message,
            )
            .await?
            {
                Ok(RefreshOutcome::Uninstalled)
            } else {
                Ok(RefreshOutcome::Superseded)
            }
        }
        Err(error) => {
            state.metrics.error("refresh");
            tracing::warn!(connection = id, %error, "token refresh failed; will retry");
            Ok(RefreshOutcome::Failed)
        }
    }
}

/// Moves a connection out of `active` and records why (the admin page shows the message),
/// unless it changed since `connection` was read; `false` then, and nothing is written.
async fn transition(
    state: &AppState,
    tenant: &TenantId,
    connection: &ConnectionRecord,
    to: ConnectionState,
    kind: EventKind,
    message: &str,
) -> Result<bool, StoreError> {
    let now = state.clock.now();
    // A state write bumps the store's connection-write count, which drops the device key
    // cache: the next provisioning request already answers not_connected.
    if !state
        .store
        .set_connection_state(tenant, connection, to, now)
        .await?
    {
        tracing::info!(connection = %connection.id, state = to.as_str(), "connection changed since it was checked (reconnected or refreshed); state left as is");
        return Ok(false);
    }
    state.store.record_event(tenant, now, kind, message).await?;
    tracing::warn!(connection = %connection.id, state = to.as_str(), "connection no longer usable");
    Ok(true)
}

/// What [`validate_connection`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Datadog accepts the key (and the refresh token, when checked).
    Valid,
    /// Datadog rejects the key: the connection is now `key_revoked`.
    KeyRevoked,
    /// Datadog refused the refresh token: the connection is now `uninstalled`.
    Uninstalled,
    /// Datadog could not be asked (transport error, 5xx, unexpected answer), or another
    /// instance holds the row lease: nothing changed, the next pass asks again.
    Inconclusive,
    /// Unknown, not active, or without a key: nothing to check.
    NotActive,
}

/// Counts of one [`validate_all`] pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ValidateReport {
    pub valid: u32,
    pub key_revoked: u32,
    pub uninstalled: u32,
    pub inconclusive: u32,
}

impl ValidateReport {
    /// How many connections were checked.
    pub fn checked(&self) -> u32 {
        self.valid + self.key_revoked + self.uninstalled + self.inconclusive
    }
}

/// Validates every active connection that holds a key (see [`validate_connection`]).
pub async fn validate_all(state: &AppState) -> Result<ValidateReport, StoreError> {
    let mut report = ValidateReport::default();
    for tenant in state.store.tenants().await? {
        for connection in state.store.connections(&tenant).await? {
            match validate_connection(state, &tenant, &connection.id).await? {
                Validation::Valid => report.valid += 1,
                Validation::KeyRevoked => report.key_revoked += 1,
                Validation::Uninstalled => report.uninstalled += 1,
                Validation::Inconclusive => report.inconclusive += 1,
                Validation::NotActive => {}
            }
        }
    }
    Ok(report)
}

/// Checks one connection of `tenant` with Datadog: its API key with `GET /api/v1/validate`
/// (403 → `key_revoked`), then, if [`crate::config::Timings::validate_refreshes`] is set, its
/// authorisation with a refresh under the row lease (`invalid_grant` → `uninstalled`). Only
/// those explicit refusals change the state. Provisioning can call this when a device reports
/// that Datadog refused its key.
pub async fn validate_connection(
    state: &AppState,
    tenant: &TenantId,
    connection_id: &str,
) -> Result<Validation, StoreError> {
    let Some(connection) = state.store.connection(tenant, connection_id).await? else {
        return Ok(Validation::NotActive);
    };
    if connection.state != ConnectionState::Active || connection.sealed_api_key.is_none() {
        return Ok(Validation::NotActive);
    }
    let site = site_of(&connection)?;
    let key = state.connections.api_key(&connection)?;
    let now = state.clock.now();
    match state.datadog.validate_key(&site, &key).await {
        Ok(true) => {
            state.metrics.validation("valid");
            state
                .store
                .record_key_check(tenant, &connection.id, true, now)
                .await?;
        }
        Ok(false) => {
            state.metrics.validation("invalid");
            state
                .store
                .record_key_check(tenant, &connection.id, false, now)
                .await?;
            let message = format!(
                "{} on {}: Datadog rejects the stored API key (revoked on its API Keys page); \
                 reconnect from the Datadog tile to create a new one",
                connection.org_name, connection.domain
            );
            let revoked = transition(
                state,
                tenant,
                &connection,
                ConnectionState::KeyRevoked,
                EventKind::KeyRevoked,
                &message,
            )
            .await?;
            return Ok(if revoked {
                Validation::KeyRevoked
            } else {
                Validation::Inconclusive
            });
        }
        Err(error) => {
            state.metrics.validation("error");
            state.metrics.error("validate");
            tracing::warn!(connection = %connection.id, %error, "API key validation failed; state unchanged");
            return Ok(Validation::Inconclusive);
        }
    }
    if !state.config.timings.validate_refreshes {
        return Ok(Validation::Valid);
    }
    let owner = state.instance_id.as_str();
    let lease = secs(state.config.timings.lease);
    if !state
        .store
        .try_lease(tenant, &connection.id, owner, lease)
        .await?
    {
        return Ok(Validation::Inconclusive);
    }
    // Due "before the end of time": this refresh is the check, whatever the token's expiry.
    let outcome = refresh_leased(state, tenant, &connection.id, owner, i64::MAX).await;
    state
        .store
        .release_lease(tenant, &connection.id, owner)
        .await?;
    Ok(match outcome? {
        RefreshOutcome::Refreshed => Validation::Valid,
        RefreshOutcome::Uninstalled => Validation::Uninstalled,
        RefreshOutcome::NotDue => Validation::NotActive,
        RefreshOutcome::LeaseLost | RefreshOutcome::Failed | RefreshOutcome::Superseded => {
            Validation::Inconclusive
        }
    })
}

/// Revokes the connection's tokens at Datadog (best effort) and wipes its secrets.
/// Returns `false` if the tenant has no such connection.
pub async fn disconnect(state: &AppState, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
    let Some(connection) = state.store.connection(tenant, id).await? else {
        return Ok(false);
    };
    if let Ok(site) = site_of(&connection) {
        let tokens = [
            (state.connections.refresh_token(&connection).ok(), true),
            (state.connections.access_token(&connection).ok(), false),
        ];
        for (token, is_refresh) in tokens {
            if let Some(token) = token
                && let Err(error) = state.datadog.revoke(&site, &token, is_refresh).await
            {
                state.metrics.error("revoke");
                tracing::warn!(connection = id, %error, "token revocation failed; secrets are wiped anyway");
            }
        }
    }
    let now = state.clock.now();
    state.store.wipe_connection(tenant, id, now).await?;
    let message = format!(
        "{} on {}: disconnected, tokens revoked and secrets wiped",
        connection.org_name, connection.domain
    );
    state
        .store
        .record_event(tenant, now, EventKind::Disconnected, &message)
        .await?;
    tracing::info!(connection = id, "disconnected");
    Ok(true)
}
