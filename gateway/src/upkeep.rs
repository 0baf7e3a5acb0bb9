//! Token and key upkeep: refreshing access tokens under a row lease, validating stored API keys,
//! and disconnecting (revoke at Datadog, wipe secrets).

use crate::connections::site_of;
use crate::datadog::DatadogError;
use crate::state::AppState;
use crate::store::{ConnectionRecord, ConnectionState, StoreError};
use crate::tenants::TenantId;

/// Outcome counts of one pass, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub refreshed: u32,
    pub needs_reauth: u32,
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
                RefreshOutcome::NeedsReauth => report.needs_reauth += 1,
                RefreshOutcome::Failed => report.failed += 1,
                RefreshOutcome::NotDue => {}
            }
        }
    }
    Ok(report)
}

enum RefreshOutcome {
    Refreshed,
    NeedsReauth,
    Failed,
    NotDue,
}

async fn refresh_leased(
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
                state.metrics.refresh("lease_lost");
                state.metrics.error("refresh");
                tracing::warn!(
                    connection = id,
                    "refreshed tokens not stored: the row lease was lost meanwhile"
                );
                return Ok(RefreshOutcome::Failed);
            }
            state.metrics.refresh("ok");
            tracing::info!(connection = id, "access token refreshed");
            Ok(RefreshOutcome::Refreshed)
        }
        Err(DatadogError::OAuth { code, .. }) if code == "invalid_grant" => {
            let now = state.clock.now();
            state
                .store
                .set_connection_state(tenant, id, ConnectionState::NeedsReauth, now)
                .await?;
            let message = format!(
                "{} on {}: refresh token refused, reconnect from the tile",
                connection.org_name, connection.domain
            );
            state
                .store
                .record_event(tenant, now, "needs_reauth", &message)
                .await?;
            state.metrics.refresh("invalid_grant");
            tracing::warn!(
                connection = id,
                "refresh token refused (invalid_grant): needs re-authorisation"
            );
            Ok(RefreshOutcome::NeedsReauth)
        }
        Err(error) => {
            state.metrics.refresh("failed");
            state.metrics.error("refresh");
            tracing::warn!(connection = id, %error, "token refresh failed; will retry");
            Ok(RefreshOutcome::Failed)
        }
    }
}

/// Validates the stored API key of every active connection not checked within `validate_interval`
/// (all of them when `force`). Returns how many were checked.
pub async fn validate_keys(state: &AppState, force: bool) -> Result<u32, StoreError> {
    let now = state.clock.now();
    let interval = secs(state.config.timings.validate_interval);
    let mut checked = 0;
    for tenant in state.store.tenants().await? {
        for connection in state.store.connections(&tenant).await? {
            let recent = connection
                .key_checked_at
                .is_some_and(|at| now.saturating_sub(at) < interval);
            if connection.state != ConnectionState::Active
                || connection.sealed_api_key.is_none()
                || (recent && !force)
            {
                continue;
            }
            validate_one(state, &tenant, &connection).await?;
            checked += 1;
        }
    }
    Ok(checked)
}

async fn validate_one(
    state: &AppState,
    tenant: &TenantId,
    connection: &ConnectionRecord,
) -> Result<(), StoreError> {
    let site = site_of(connection)?;
    let key = state.connections.api_key(connection)?;
    let now = state.clock.now();
    match state.datadog.validate_key(&site, &key).await {
        Ok(valid) => {
            state
                .store
                .record_key_check(tenant, &connection.id, valid, now)
                .await?;
            state
                .metrics
                .validation(if valid { "valid" } else { "invalid" });
            if !valid && connection.key_valid != Some(false) {
                let message = format!(
                    "{} on {}: Datadog rejects the stored API key",
                    connection.org_name, connection.domain
                );
                state
                    .store
                    .record_event(tenant, now, "key_invalid", &message)
                    .await?;
                tracing::warn!(connection = %connection.id, "stored API key is no longer valid");
            }
        }
        Err(error) => {
            state.metrics.validation("error");
            state.metrics.error("validate");
            tracing::warn!(connection = %connection.id, %error, "API key validation failed");
        }
    }
    Ok(())
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
        .record_event(tenant, now, "disconnected", &message)
        .await?;
    tracing::info!(connection = id, "disconnected");
    Ok(true)
}
