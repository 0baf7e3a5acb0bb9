//! Shared application state, cloned into every handler and background task. Handlers that
//! need only a part take it as a sub-state (`FromRef`): [`Auth`] for sign-in and sessions,
//! [`Provisioning`] for device provisioning.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::Config;
use crate::connections::Connections;
use crate::crypto::KeyRing;
use crate::datadog::Datadog;
use crate::metrics::Metrics;
use crate::provision::Provisioning;
use crate::store::{Db, Store};
use crate::web::auth::Auth;
use crate::web::login_guard::LoginGuard;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The gateway's own queries.
    pub store: Store,
    /// The pool behind `store`, for modules with their own tables (device provisioning).
    pub db: Db,
    /// Seals secrets at rest; reuse it for any new secret column (row identity as context).
    pub keys: Arc<KeyRing>,
    pub datadog: Datadog,
    pub connections: Connections,
    pub metrics: Arc<Metrics>,
    pub login_guard: Arc<LoginGuard>,
    pub clock: Clock,
    /// Device provisioning: its store, opened fleet keys and limiter.
    pub provisioning: Arc<Provisioning>,
    /// This gateway instance's name in row leases (random per start).
    pub instance_id: Arc<String>,
}

impl AppState {
    /// What sign-in and session checks need.
    pub fn auth(&self) -> Auth {
        Auth {
            store: self.store.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            login_guard: self.login_guard.clone(),
            session_ttl: self.config.timings.session_ttl,
            cookies_secure: self.config.cookies_secure(),
        }
    }
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth()
    }
}

impl FromRef<AppState> for Arc<Provisioning> {
    fn from_ref(state: &AppState) -> Self {
        state.provisioning.clone()
    }
}
