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
use crate::web::WebError;
use crate::web::session::current_session;

/// A fleet as listed by `/api/status` and `fleet list` (never its key).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetStatus {
    pub name: String,
    pub auto_approve: bool,
    pub created_at: i64,
}

/// Fleets and devices for `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisioningStatus {
    pub fleets: Vec<FleetStatus>,
    pub devices: Vec<DeviceRow>,
}

pub async fn status(state: &AppState) -> Result<ProvisioningStatus, StoreError> {
    let store = ProvisionStore::new(state.db.clone());
    let fleets = store
        .fleets()
        .await?
        .into_iter()
        .map(|f| FleetStatus {
            name: f.name,
            auto_approve: f.auto_approve,
            created_at: f.created_at,
        })
        .collect();
    Ok(ProvisioningStatus {
        fleets,
        devices: store.devices().await?,
    })
}

#[derive(Debug)]
pub struct DevicesSection;

#[async_trait]
impl AdminSection for DevicesSection {
    async fn render(&self, state: &AppState, csrf: &str) -> Result<Markup, WebError> {
        let status = status(state).await?;
        let now = state.clock.now();
        Ok(html! {
            h2 { "Fleets and devices" }
            @if status.fleets.is_empty() {
                p { "No fleet yet. Create one with " code { "ddlink-gateway fleet create NAME" } "." }
            } @else {
                table id="fleets" {
                    tr { th { "Fleet" } th { "Approval" } }
                    @for fleet in &status.fleets {
                        tr { td { code { (fleet.name) } } td { @if fleet.auto_approve { "automatic" } @else { "by an admin" } } }
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

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /provision/devices/{fleet}/{device_id}/{approve|revoke}` (session + CSRF token).
pub async fn set_state(
    State(state): State<AppState>,
    Extension(provisioning): Extension<Arc<Provisioning>>,
    headers: HeaderMap,
    Path((fleet, device_id, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let session = current_session(&state, &headers)
        .await?
        .ok_or(WebError::Unauthenticated)?;
    if !form
        .csrf
        .as_deref()
        .is_some_and(|token| session.csrf_matches(token))
    {
        state.metrics.error("csrf");
        return Err(WebError::Csrf);
    }
    let new_state = match action.as_str() {
        "approve" => DeviceState::Approved,
        "revoke" => DeviceState::Revoked,
        _ => return Err(WebError::NotFound),
    };
    if !provisioning
        .store
        .set_device_state(&fleet, &device_id, new_state)
        .await?
    {
        return Err(WebError::NotFound);
    }
    let message = format!("{fleet}/{device_id} {}", new_state.as_str());
    state
        .store
        .record_event(state.clock.now(), "device", &message)
        .await?;
    tracing::info!(%fleet, %device_id, state = new_state.as_str(), "device state changed by an admin");
    Ok(Redirect::to("/").into_response())
}
