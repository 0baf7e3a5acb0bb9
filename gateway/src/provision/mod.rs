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
//! - [`store`]: the SQL (migrations `*_provision*.sql` for SQLite and PostgreSQL).
//! - [`key_checks`]: when a device reports `"last_error":"forbidden"` (Datadog answered 403 to
//!   its key), the report is an event and the fleet's connection is queued for an immediate key
//!   check, at most once per connection; the validating task takes the receiving end with
//!   [`Provisioning::take_key_check_receiver`].
//!
//! Every approval carries the fleet's lease (`lease_secs`, [`fleets::DEFAULT_LEASE_SECS`]
//! unless `fleet create --lease-secs` set another): devices renew at about 80 % of it and stop
//! sending when it ends unrenewed, so refusing a device (revoked, `not_connected`) takes effect
//! on all of them within one lease.
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
pub mod key_checks;
pub mod limiter;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;

use crate::clock::Clock;
use crate::connections::Connections;
use crate::crypto::KeyRing;
use crate::metrics::Metrics;
use crate::store::{Db, SealedColumn, Store};
use crate::web::auth::Auth;

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

/// Provisioning's sub-state of the application state: its store, opened fleet keys and
/// limiter, and the parts of the gateway it uses.
#[derive(Debug)]
pub struct Provisioning {
    pub store: store::ProvisionStore,
    pub fleets: fleets::FleetCache,
    pub limiter: limiter::ProvisionLimiter,
    /// Opens fleet keys.
    pub keys: Arc<KeyRing>,
    /// Where approved devices' API keys come from.
    pub connections: Connections,
    /// The gateway's store, for the event log.
    pub events: Store,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// Connections to check with Datadog now (devices reported 403s).
    pub key_checks: key_checks::KeyCheckRequests,
    key_check_receiver: Mutex<Option<key_checks::KeyCheckReceiver>>,
    issued: AtomicU64,
}

/// What [`Provisioning::new`] is built from.
#[derive(Debug)]
pub struct ProvisioningParts {
    pub db: Db,
    pub limits: limiter::ProvisionLimits,
    pub keys: Arc<KeyRing>,
    pub connections: Connections,
    pub events: Store,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
}

impl Provisioning {
    pub fn new(parts: ProvisioningParts) -> Self {
        let (key_checks, key_check_receiver) = key_checks::key_check_channel();
        Self {
            store: store::ProvisionStore::new(parts.db),
            fleets: fleets::FleetCache::default(),
            limiter: limiter::ProvisionLimiter::new(parts.limits),
            keys: parts.keys,
            connections: parts.connections,
            events: parts.events,
            metrics: parts.metrics,
            clock: parts.clock,
            key_checks,
            key_check_receiver: Mutex::new(Some(key_check_receiver)),
            issued: AtomicU64::new(0),
        }
    }

    /// The receiving end of [`Provisioning::key_checks`], for the task that validates
    /// connections; `None` once taken (there is one receiver).
    pub fn take_key_check_receiver(&self) -> Option<key_checks::KeyCheckReceiver> {
        self.key_check_receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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

/// The device API and the admin actions, for any state that holds provisioning and
/// [`Auth`] as sub-states.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Provisioning>: FromRef<S>,
    Auth: FromRef<S>,
{
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
}
