//! Admin page section (fleets, devices, approve / revoke) and the `/api/status` additions.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Provisioning;
use super::store::{DeviceRow, DeviceState, ProvisionStore};
use crate::extensions::AdminSection;
use crate::state::AppState;
use crate::store::StoreError;
use crate::tenants::{TenantId, User};
use crate::web::WebError;
use crate::web::admin::{CsrfForm, session_for_post};

/// A fleet as listed by `/api/status` and `fleet list` (never its key).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetStatus {
    pub name: String,
    pub auto_approve: bool,
    /// The connection whose key its devices get (`null`: unbound, devices get `not_connected`).
    pub connection_id: Option<String>,
    pub created_at: i64,
}

/// Fleets and devices for `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisioningStatus {
    pub fleets: Vec<FleetStatus>,
    pub devices: Vec<DeviceRow>,
}

/// The tenant's fleets and devices.
pub async fn status(state: &AppState, tenant: &TenantId) -> Result<ProvisioningStatus, StoreError> {
    let store = ProvisionStore::new(state.db.clone());
    let fleets = store
        .fleets(tenant)
        .await?
        .into_iter()
        .map(|f| FleetStatus {
            name: f.name,
            auto_approve: f.auto_approve,
            connection_id: f.connection_id,
            created_at: f.created_at,
        })
        .collect();
    Ok(ProvisioningStatus {
        fleets,
        devices: store.devices(tenant).await?,
    })
}

#[derive(Debug)]
pub struct DevicesSection;

#[async_trait]
impl AdminSection for DevicesSection {
    async fn render(&self, state: &AppState, user: &User, csrf: &str) -> Result<Markup, WebError> {
        let status = status(state, &user.tenant).await?;
        let connections = state.connections.statuses(&user.tenant).await?;
        let unbound = status
            .fleets
            .iter()
            .filter(|f| f.connection_id.is_none())
            .count();
        let now = state.clock.now();
        Ok(html! {
            h2 { "Fleets and devices" }
            @if status.fleets.is_empty() {
                p { "No fleet yet. Create one with " code { "ddlink-gateway fleet create NAME --tenant " (user.tenant) } "." }
            } @else {
                @if unbound > 0 {
                    @for c in connections.iter().filter(|c| c.state == "active") {
                        form.inline.warn method="post" action="/provision/fleets/bind-unbound" id="bind-unbound" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="connection" value=(c.id);
                            (unbound) " fleet(s) are not bound to a Datadog connection; their devices get no key. "
                            button type="submit" { "Bind them to " (c.org_name) }
                        }
                    }
                }
                table id="fleets" {
                    tr { th { "Fleet" } th { "Approval" } th { "Datadog connection" } }
                    @for fleet in &status.fleets {
                        tr data-connection=(fleet.connection_id.as_deref().unwrap_or("")) {
                            td { code { (fleet.name) } }
                            td { @if fleet.auto_approve { "automatic" } @else { "by an admin" } }
                            td {
                                form.inline method="post" action={ "/provision/fleets/" (fleet.name) "/bind" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    select name="connection" {
                                        option value="" selected[fleet.connection_id.is_none()] { "none (devices get no key)" }
                                        @for c in &connections {
                                            option value=(c.id) selected[fleet.connection_id.as_deref() == Some(c.id.as_str())] {
                                                (c.org_name) " (" (c.domain) ")"
                                            }
                                        }
                                    }
                                    " "
                                    button type="submit" { "Bind" }
                                }
                            }
                        }
                    }
                }
            }
            @if !status.devices.is_empty() {
                table id="devices" {
                    tr { th { "Device" } th { "State" } th { "Last seen" } th { "Key version" } th {} }
                    @for device in &status.devices {
                        tr data-state=(device.state.as_str()) {
                            td { code { (device.fleet) "/" (device.device_id) } }
                            td { (device.state.as_str()) }
                            td {
                                (format!("{} s ago", (now - device.last_seen).max(0)))
                                @if let Some(address) = &device.last_address { br; small { (address) } }
                            }
                            td { @if let Some(version) = device.key_version { (version) } @else { "—" } }
                            td {
                                @if device.state != DeviceState::Approved {
                                    (action_form(csrf, device, "approve", "Approve"))
                                }
                                @if device.state != DeviceState::Revoked {
                                    (action_form(csrf, device, "revoke", "Revoke"))
                                }
                            }
                        }
                    }
                }
                p { small { "Revoking refuses the device's next provisioning. The Datadog API key it already holds stays valid until the organisation's key is replaced (disconnect and reconnect)." } }
            }
        })
    }
}

fn action_form(csrf: &str, device: &DeviceRow, action: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/provision/devices/" (device.fleet) "/" (device.device_id) "/" (action) } {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (label) }
        }
    }
}

/// `POST /provision/devices/{fleet}/{device_id}/{approve|revoke}` (session + CSRF token); 404
/// for devices of other tenants.
pub async fn set_state(
    State(state): State<AppState>,
    Extension(provisioning): Extension<Arc<Provisioning>>,
    headers: HeaderMap,
    Path((fleet, device_id, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = session_for_post(&state, &headers, &form).await?;
    let tenant = &session.user().tenant;
    let new_state = match action.as_str() {
        "approve" => DeviceState::Approved,
        "revoke" => DeviceState::Revoked,
        _ => return Err(WebError::NotFound),
    };
    if !provisioning
        .store
        .set_device_state(tenant, &fleet, &device_id, new_state)
        .await?
    {
        return Err(WebError::NotFound);
    }
    let message = format!("{fleet}/{device_id} {}", new_state.as_str());
    state
        .store
        .record_event(tenant, state.clock.now(), "device", &message)
        .await?;
    tracing::info!(%fleet, %device_id, state = new_state.as_str(), "device state changed by an admin");
    Ok(Redirect::to("/").into_response())
}

#[derive(Debug, Deserialize)]
pub struct BindForm {
    csrf: Option<String>,
    /// A connection id of the session's tenant; empty unbinds.
    connection: Option<String>,
}

async fn bind_session(
    state: &AppState,
    headers: &HeaderMap,
    form: &BindForm,
) -> Result<crate::web::session::AdminSession, WebError> {
    let csrf = CsrfForm {
        csrf: form.csrf.clone(),
    };
    session_for_post(state, headers, &csrf).await
}

/// `POST /provision/fleets/{fleet}/bind` (session + CSRF token): binds the fleet to one of the
/// tenant's connections, or unbinds it. 404 for fleets or connections of other tenants.
pub async fn bind(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(fleet): Path<String>,
    Form(form): Form<BindForm>,
) -> Result<Response, WebError> {
    let session = bind_session(&state, &headers, &form).await?;
    let tenant = &session.user().tenant;
    let connection = form.connection.as_deref().filter(|c| !c.is_empty());
    let store = ProvisionStore::new(state.db.clone());
    if !store.bind_fleet(tenant, &fleet, connection).await? {
        return Err(WebError::NotFound);
    }
    let message = match connection {
        Some(connection) => format!("fleet {fleet} bound to connection {connection}"),
        None => format!("fleet {fleet} unbound"),
    };
    state
        .store
        .record_event(tenant, state.clock.now(), "fleet", &message)
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /provision/fleets/bind-unbound` (session + CSRF token): binds every unbound fleet of
/// the tenant to one of its connections (offered after the tenant's first connection).
pub async fn bind_unbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<BindForm>,
) -> Result<Response, WebError> {
    let session = bind_session(&state, &headers, &form).await?;
    let tenant = &session.user().tenant;
    let connection = form.connection.as_deref().unwrap_or_default();
    let store = ProvisionStore::new(state.db.clone());
    if !store.has_connection(tenant, connection).await? {
        return Err(WebError::NotFound);
    }
    let bound = store.bind_unbound_fleets(tenant, connection).await?;
    let message = format!("{bound} unbound fleet(s) bound to connection {connection}");
    state
        .store
        .record_event(tenant, state.clock.now(), "fleet", &message)
        .await?;
    Ok(Redirect::to("/").into_response())
}
