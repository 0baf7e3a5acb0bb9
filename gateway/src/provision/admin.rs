//! Admin page section (fleets, devices, approve / revoke) and the `/api/status` additions.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Provisioning;
use super::store::{DeviceRow, DeviceState, ProvisionStore};
use crate::store::tenant::{TenantId, User};
use crate::store::{ConnectionState, EventKind, StoreError, UnknownValue};
use crate::web::auth::{AdminForm, NoFields};
use crate::web::error::WebError;

/// A fleet as listed by `/api/status` and `fleet list` (never its key).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetStatus {
    pub name: String,
    pub auto_approve: bool,
    /// The connection whose key its devices get (`null`: unbound, devices get `not_connected`).
    pub connection_id: Option<String>,
    pub created_at: i64,
    /// Seconds a device may use the key from each approval.
    pub lease_secs: u32,
}

/// Fleets and devices for `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisioningStatus {
    pub fleets: Vec<FleetStatus>,
    pub devices: Vec<DeviceRow>,
}

/// The tenant's fleets and devices.
pub async fn status(
    store: &ProvisionStore,
    tenant: &TenantId,
) -> Result<ProvisioningStatus, StoreError> {
    let fleets = store
        .fleets(tenant)
        .await?
        .into_iter()
        .map(|f| FleetStatus {
            name: f.name,
            auto_approve: f.auto_approve,
            connection_id: f.connection_id,
            created_at: f.created_at,
            lease_secs: f.lease_secs,
        })
        .collect();
    Ok(ProvisioningStatus {
        fleets,
        devices: store.devices(tenant).await?,
    })
}

/// The admin index's fleets-and-devices section, of `user`'s tenant only. `csrf` is the
/// session's token for the hidden `csrf` fields of its forms.
pub async fn section(
    provisioning: &Provisioning,
    user: &User,
    csrf: &str,
) -> Result<Markup, WebError> {
    let status = status(&provisioning.store, &user.tenant).await?;
    let connections = provisioning.connections.statuses(&user.tenant).await?;
    let unbound = status
        .fleets
        .iter()
        .filter(|f| f.connection_id.is_none())
        .count();
    let now = provisioning.clock.now();
    Ok(html! {
        h2 { "Fleets and devices" }
        @if status.fleets.is_empty() {
            p { "No fleet yet. Create one with " code { "ddlink-gateway fleet create NAME --tenant " (user.tenant) } "." }
        } @else {
            @if unbound > 0 {
                @for c in connections.iter().filter(|c| c.state == ConnectionState::Active) {
                    form.inline.warn method="post" action="/provision/fleets/bind-unbound" id="bind-unbound" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="connection" value=(c.id);
                        (unbound) " fleet(s) are not bound to a Datadog connection; their devices get no key. "
                        button type="submit" { "Bind them to " (c.org_name) }
                    }
                }
            }
            table id="fleets" {
                tr { th { "Fleet" } th { "Approval" } th { "Lease" } th { "Datadog connection" } }
                @for fleet in &status.fleets {
                    tr data-connection=(fleet.connection_id.as_deref().unwrap_or("")) {
                        td { code { (fleet.name) } }
                        td { @if fleet.auto_approve { "automatic" } @else { "by an admin" } }
                        td.lease data-lease-secs=(fleet.lease_secs) { (lease_text(fleet.lease_secs)) }
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
                                (action_form(csrf, device, DeviceAction::Approve, "Approve"))
                            }
                            @if device.state != DeviceState::Revoked {
                                (action_form(csrf, device, DeviceAction::Revoke, "Revoke"))
                            }
                        }
                    }
                }
            }
            p { small { "Revoking refuses the device's next provisioning. The Datadog API key it already holds stays valid until the organisation's key is replaced (disconnect and reconnect)." } }
        }
    })
}

/// A lease as an admin reads it: whole days, hours or minutes when it is one, else seconds.
fn lease_text(secs: u32) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn action_form(csrf: &str, device: &DeviceRow, action: DeviceAction, label: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/provision/devices/" (device.fleet) "/" (device.device_id) "/" (action.as_str()) } {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (label) }
        }
    }
}

/// What an admin does to a device (the last segment of its action URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    Approve,
    Revoke,
}

impl DeviceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Revoke => "revoke",
        }
    }

    fn new_state(self) -> DeviceState {
        match self {
            Self::Approve => DeviceState::Approved,
            Self::Revoke => DeviceState::Revoked,
        }
    }
}

impl std::str::FromStr for DeviceAction {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "approve" => Ok(Self::Approve),
            "revoke" => Ok(Self::Revoke),
            _ => Err(UnknownValue(text.to_owned())),
        }
    }
}

/// `POST /provision/devices/{fleet}/{device_id}/{approve|revoke}` (session + CSRF token); 404
/// for devices of other tenants.
pub async fn set_state(
    State(provisioning): State<Arc<Provisioning>>,
    Path((fleet, device_id, action)): Path<(String, String, String)>,
    AdminForm { session, .. }: AdminForm<NoFields>,
) -> Result<Response, WebError> {
    let tenant = &session.user().tenant;
    let Ok(action) = action.parse::<DeviceAction>() else {
        return Err(WebError::NotFound);
    };
    let new_state = action.new_state();
    if !provisioning
        .store
        .set_device_state(tenant, &fleet, &device_id, new_state)
        .await?
    {
        return Err(WebError::NotFound);
    }
    let message = format!("{fleet}/{device_id} {}", new_state.as_str());
    provisioning
        .events
        .record_event(
            tenant,
            provisioning.clock.now(),
            EventKind::Device,
            &message,
        )
        .await?;
    tracing::info!(%fleet, %device_id, state = new_state.as_str(), "device state changed by an admin");
    Ok(Redirect::to("/").into_response())
}

#[derive(Debug, Deserialize)]
pub struct BindFields {
    /// A connection id of the session's tenant; empty unbinds.
    connection: Option<String>,
}

/// `POST /provision/fleets/{fleet}/bind` (session + CSRF token): binds the fleet to one of the
/// tenant's connections, or unbinds it. 404 for fleets or connections of other tenants.
pub async fn bind(
    State(provisioning): State<Arc<Provisioning>>,
    Path(fleet): Path<String>,
    AdminForm { session, fields }: AdminForm<BindFields>,
) -> Result<Response, WebError> {
    let tenant = &session.user().tenant;
    let connection = fields.connection.as_deref().filter(|c| !c.is_empty());
    let store = &provisioning.store;
    if !store.bind_fleet(tenant, &fleet, connection).await? {
        return Err(WebError::NotFound);
    }
    let message = match connection {
        Some(connection) => format!("fleet {fleet} bound to connection {connection}"),
        None => format!("fleet {fleet} unbound"),
    };
    provisioning
        .events
        .record_event(tenant, provisioning.clock.now(), EventKind::Fleet, &message)
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /provision/fleets/bind-unbound` (session + CSRF token): binds every unbound fleet of
/// the tenant to one of its connections (offered after the tenant's first connection).
pub async fn bind_unbound(
    State(provisioning): State<Arc<Provisioning>>,
    AdminForm { session, fields }: AdminForm<BindFields>,
) -> Result<Response, WebError> {
    let tenant = &session.user().tenant;
    let connection = fields.connection.as_deref().unwrap_or_default();
    let store = &provisioning.store;
    if !store.has_connection(tenant, connection).await? {
        return Err(WebError::NotFound);
    }
    let bound = store.bind_unbound_fleets(tenant, connection).await?;
    let message = format!("{bound} unbound fleet(s) bound to connection {connection}");
    provisioning
        .events
        .record_event(tenant, provisioning.clock.now(), EventKind::Fleet, &message)
        .await?;
    Ok(Redirect::to("/").into_response())
}
