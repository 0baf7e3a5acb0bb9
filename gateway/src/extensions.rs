//! Extension point for modules that add their own routes, admin-page sections and sealed
//! columns (device provisioning: fleets, devices, challenges). Register them here.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use maud::Markup;

use crate::state::AppState;
use crate::store::SealedColumn;
use crate::tenants::User;
use crate::web::WebError;

/// A section of the admin index page (rendered after the Datadog connection).
#[async_trait]
pub trait AdminSection: Send + Sync + Debug {
    /// Shows `user`'s tenant only. `csrf` is the session's token for hidden `csrf` fields of
    /// POST forms; POST handlers check it with
    /// [`crate::web::session::AdminSession::csrf_matches`].
    async fn render(&self, state: &AppState, user: &User, csrf: &str) -> Result<Markup, WebError>;
}

/// What extensions contribute besides routes.
#[derive(Debug, Default)]
pub struct Extensions {
    pub admin_sections: Vec<Arc<dyn AdminSection>>,
    /// Sealed columns of extension tables, re-sealed on master-key rotation.
    pub sealed_columns: Vec<SealedColumn>,
}

/// Extension contributions: device provisioning's admin section and sealed fleet keys.
pub fn extensions() -> Extensions {
    Extensions {
        admin_sections: vec![crate::provision::admin_section()],
        sealed_columns: vec![crate::provision::SEALED_COLUMN],
    }
}

/// Routes merged into the gateway's router: device provisioning (`/v1/provision…` and its admin
/// actions).
pub fn router(state: &AppState) -> Router<AppState> {
    crate::provision::router_for(state)
}
