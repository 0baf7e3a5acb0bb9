//! Shared application state, cloned into every handler and background task.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::connections::Connections;
use crate::crypto::KeyRing;
use crate::datadog::Datadog;
use crate::extensions::Extensions;
use crate::metrics::Metrics;
use crate::store::{Db, Store};
use crate::web::login_guard::LoginGuard;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The gateway's own queries.
    pub store: Arc<dyn Store>,
    /// The pool behind `store`, for modules with their own tables (device provisioning).
    pub db: Db,
    /// Seals secrets at rest; reuse it for any new secret column (row identity as context).
    pub keys: Arc<KeyRing>,
    pub datadog: Datadog,
    pub connections: Connections,
    pub metrics: Arc<Metrics>,
    pub login_guard: Arc<LoginGuard>,
    pub clock: Clock,
    pub extensions: Arc<Extensions>,
}

impl AppState {
    /// Links to the Datadog integration tile shown when onboarding starts outside Datadog.
    pub fn tile_links(&self) -> Vec<crate::web::pages::TileLink> {
        use crate::config::SitePolicy;
        use crate::web::pages::{TileLink, tile_links_for};
        match (&self.config.tile_url, &self.config.sites) {
            (Some(url), _) => vec![TileLink {
                label: "Integration tile".to_owned(),
                url: url.to_string(),
            }],
            (None, SitePolicy::Datadog(regions)) => tile_links_for(regions),
            (None, SitePolicy::Sandbox(_)) => Vec::new(),
        }
    }
}
