//! Device provisioning, gateway side (`docs/PROTOCOL.md`; the wire format and all cryptography are
//! `ddlink_core::provision`, shared with the devices).
//!
//! - [`fleets`]: `fleet create`, `fleet list`, `device-secret` (factory) and the opened-key
//!   cache. A fleet key is 32 random bytes, stored sealed under the master key ring (row
//!   identity `provision_fleets.fleet_key.<name>`, re-sealed on master-key rotation).
//! - [`api`]: `POST /v1/provision/challenge` and `POST /v1/provision`. Challenges are stored
//!   (as SHA-256) in the database with a 60 s expiry, at most [`OUTSTANDING_PER_DEVICE`] per
//!   device, and deleted when used, so any instance can answer step 2; MACs are checked first
//!   and in constant time; challenge issuance and failures are limited ([`limiter`]). Unknown
//!   fleets are answered exactly like known ones.
//! - [`admin`]: the fleets-and-devices section of the admin page with CSRF-checked approve /
//!   revoke, and the `fleets`/`devices` part of `/api/status`.
//! - [`store`]: the SQL (migrations `*_provision.sql` for SQLite and PostgreSQL).
//!
//! Each fleet belongs to a tenant and is bound to one of that tenant's connections (or none);
//! an approved device gets only that connection's key (`not_connected` without a usable one).
//! Bound and re-bound from the admin page ([`admin::bind`]) and `fleet bind`.
//!
//! A device row is created on the first MAC-verified contact, `pending` (or `approved` when the
//! fleet auto-approves), with first/last seen, last address and the key version it was given.
//! When the connection's API key changes, gw's connection code increments `key_version`; the
//! next provision of every approved device delivers the new key and records the new version.

pub mod admin;
pub mod api;
pub mod cli;
pub mod fleets;
pub mod limiter;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::routing::post;
use axum::{Extension, Router};

use crate::extensions::AdminSection;
use crate::state::AppState;
use crate::store::SealedColumn;

/// The sealed column of this module, for master-key rotation.
pub const SEALED_COLUMN: SealedColumn = SealedColumn {
    table: store::FLEETS,
    id_column: "name",
    column: "fleet_key",
};

/// How many challenges are issued between two sweeps of expired ones.
const PURGE_EVERY: u64 = 256;

/// Unexpired challenges kept per device; issuing another replaces the oldest.
pub const OUTSTANDING_PER_DEVICE: u32 = 4;

/// Per-router runtime state: the store, opened fleet keys and the limiter.
#[derive(Debug)]
pub struct Provisioning {
    pub store: store::ProvisionStore,
    pub fleets: fleets::FleetCache,
    pub limiter: limiter::ProvisionLimiter,
    issued: AtomicU64,
}

impl Provisioning {
    pub fn new(state: &AppState) -> Self {
        Self {
            store: store::ProvisionStore::new(state.db.clone()),
            fleets: fleets::FleetCache::default(),
            limiter: limiter::ProvisionLimiter::new(state.config.timings.provisioning),
            issued: AtomicU64::new(0),
        }
    }

    /// Deletes expired challenges every [`PURGE_EVERY`] issues (unused challenges would
    /// otherwise accumulate).
    async fn maybe_purge(&self, now: i64) {
        if self
            .issued
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PURGE_EVERY)
            && let Err(error) = self.store.purge_expired_challenges(now).await
        {
            tracing::warn!(%error, "purging expired provisioning challenges failed");
        }
    }
}

/// The device API and the admin actions. Needs the state to open its store, so it is built
/// with [`router_for`] where the state is known.
pub fn router_for(state: &AppState) -> Router<AppState> {
    let provisioning = Arc::new(Provisioning::new(state));
    Router::new()
        .route(ddlink_core::provision::CHALLENGE_PATH, post(api::challenge))
        .route(ddlink_core::provision::PROVISION_PATH, post(api::provision))
        .route(
            "/provision/devices/{fleet}/{device_id}/{action}",
            post(admin::set_state),
        )
        .route("/provision/fleets/{fleet}/bind", post(admin::bind))
        .route("/provision/fleets/bind-unbound", post(admin::bind_unbound))
        .layer(axum::extract::DefaultBodyLimit::max(api::BODY_LIMIT))
        .layer(Extension(provisioning))
}

/// The admin-page section listing fleets and devices.
pub fn admin_section() -> Arc<dyn AdminSection> {
    Arc::new(admin::DevicesSection)
}
