//! The device API (`docs/PROTOCOL.md`): `POST /v1/provision/challenge` and `POST /v1/provision`.
//!
//! Bodies are parsed here rather than with axum's `Json` so that every refusal is a small JSON
//! answer a device can read: 400 `{"status":"bad_request","error":…}` for malformed input, 413
//! for bodies over [`BODY_LIMIT`]. Nothing secret is logged: not the MAC, the challenge, the
//! device secret, the fleet key or the API key.

// Early returns carry the finished refusal `Response` (128 bytes); boxing each one would only
// add noise on a path that ends the request anyway.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ddlink_core::provision::{
    ApiKey, CHALLENGE_LEN, DEVICE_NONCE_LEN, DeviceSecret, ExchangeSecrets, LastError, MAC_LEN,
    MacInput, SEAL_NONCE_LEN, SEALED_KEY_MAX_LEN, SealedClaims, seal_api_key, validate_device_id,
    validate_fleet, verify_provision_mac,
};
use http::StatusCode;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::Provisioning;
use super::fleets::Lookup;
use super::store::{ChallengeRow, Contact, DeviceState};
use crate::store::EventKind;
use crate::web::session::ClientAddr;

/// Largest request body accepted on the device API (a v1 request is at most 360 bytes).
pub const BODY_LIMIT: usize = 1024;
/// Seconds a challenge stays valid.
pub const CHALLENGE_TTL_SECS: i64 = 60;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn bad_request(error: &'static str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"status": "bad_request", "error": error}),
    )
}

fn unauthorized() -> Response {
    answer(StatusCode::UNAUTHORIZED, json!({"status": "unauthorized"}))
}

fn rate_limited(retry_after: u32) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(http::header::RETRY_AFTER, retry_after.to_string())],
        Json(json!({"status": "rate_limited", "retry_after": retry_after})),
    )
        .into_response()
}

fn internal(what: &'static str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "provisioning: {what}");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"status": "error", "error": "internal error; see the gateway log"}),
    )
}

fn too_large() -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"status": "bad_request", "error": "body too large"}),
    )
}

/// The body, or a JSON refusal (axum's own rejections are plain text).
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    match body {
        Ok(bytes) if bytes.len() > BODY_LIMIT => Err(too_large()),
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
        Err(_) => Err(bad_request("unreadable body")),
    }
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|_| bad_request("body must be a JSON object with the documented fields"))
}

fn names(fleet: &str, device_id: &str) -> Result<(), Response> {
    validate_fleet(fleet).map_err(|_| bad_request("fleet must match [a-z0-9._-]{1,64}"))?;
    validate_device_id(device_id).map_err(|_| bad_request("device_id must match [a-z0-9._-]{1,64}"))
}

fn challenge_hash(challenge: &[u8]) -> String {
    Sha256::digest(challenge)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], Response> {
    let bytes = B64.decode(text).map_err(|_| bad_request(field))?;
    bytes.try_into().map_err(|_| bad_request(field))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    fleet: String,
    device_id: String,
}

/// Step 1: a fresh single-use challenge for this device, stored for [`CHALLENGE_TTL_SECS`].
/// Whether the fleet exists is not looked at: unknown fleets get the same answer, and no
/// challenge of theirs ever verifies.
pub async fn challenge(
    State(provisioning): State<Arc<Provisioning>>,
    ClientAddr(address): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_of(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request: ChallengeRequest = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(response) = names(&request.fleet, &request.device_id) {
        return response;
    }
    if let Err(wait) = provisioning.limiter.issue(address) {
        provisioning.metrics.error("provision_rate_limited");
        return rate_limited(wait);
    }
    let mut challenge = [0u8; CHALLENGE_LEN];
    if getrandom::fill(&mut challenge).is_err() {
        return internal("random challenge", &"random number generator failed");
    }
    let now = provisioning.clock.now();
    let row = ChallengeRow {
        fleet: request.fleet,
        device_id: request.device_id,
        expires_at: now + CHALLENGE_TTL_SECS,
    };
    if let Err(error) = provisioning
        .store
        .issue_challenge(
            &challenge_hash(&challenge),
            &row,
            now,
            super::OUTSTANDING_PER_DEVICE,
        )
        .await
    {
        return internal("storing a challenge", &error);
    }
    provisioning.maybe_purge(now).await;
    answer(
        StatusCode::OK,
        json!({"challenge": B64.encode(challenge), "expires_in": CHALLENGE_TTL_SECS}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvisionRequest {
    fleet: String,
    device_id: String,
    challenge: String,
    device_nonce: String,
    /// Why the device provisions again (`forbidden`: Datadog answered 403 to its key).
    last_error: Option<String>,
    mac: String,
}

/// Step 2: checks the challenge and MAC, records the device, and answers with its state or
/// the sealed API key.
pub async fn provision(
    State(provisioning): State<Arc<Provisioning>>,
    ClientAddr(address): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_of(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request: ProvisionRequest = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(response) = names(&request.fleet, &request.device_id) {
        return response;
    }
    let decoded = (|| {
        Ok::<_, Response>((
            decode::<CHALLENGE_LEN>(&request.challenge, "challenge must be base64 of 32 bytes")?,
            decode::<DEVICE_NONCE_LEN>(
                &request.device_nonce,
                "device_nonce must be base64 of 16 bytes",
            )?,
            decode::<MAC_LEN>(&request.mac, "mac must be base64 of 32 bytes")?,
        ))
    })();
    let (challenge, device_nonce, mac) = match decoded {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let last_error = match request.last_error.as_deref().map(LastError::from_wire) {
        None => None,
        Some(Some(last_error)) => Some(last_error),
        Some(None) => return bad_request("last_error must be \"forbidden\""),
    };
    let device_key = format!("{}/{}", request.fleet, request.device_id);
    let lookup = match provisioning
        .fleets
        .get_or_decoy(&provisioning.store, &provisioning.keys, &request.fleet)
        .await
    {
        Ok(lookup) => lookup,
        Err(error) => return internal("loading a fleet", &error),
    };
    let fleet = lookup.fleet();
    let secret = match fleet.device_secret(&request.device_id) {
        Ok(secret) => secret,
        Err(error) => return internal("deriving a device secret", &error),
    };
    // Cheap and first: the limits below only ever refuse a request whose MAC does not verify,
    // so a device holding its secret is never locked out by others' failures.
    let mac_input = MacInput {
        challenge: &challenge,
        device_nonce: &device_nonce,
        device_id: &request.device_id,
        last_error,
    };
    let mac_valid =
        verify_provision_mac(&secret, &mac_input, &mac) && matches!(lookup, Lookup::Known(_));
    if !mac_valid && let Some(wait) = provisioning.limiter.failures_blocked(&device_key, address) {
        provisioning.metrics.error("provision_rate_limited");
        return rate_limited(wait);
    }
    // Single use whatever happens next.
    let issued = match provisioning
        .store
        .take_challenge(&challenge_hash(&challenge))
        .await
    {
        Ok(issued) => issued,
        Err(error) => return internal("taking a challenge", &error),
    };
    let issued_to_device = issued
        .as_ref()
        .is_some_and(|c| c.fleet == request.fleet && c.device_id == request.device_id);
    let unexpired = issued
        .as_ref()
        .is_some_and(|c| c.expires_at >= provisioning.clock.now());
    if mac_valid && issued_to_device && unexpired {
        let exchange = Exchange {
            request: &request,
            secret: &secret,
            challenge: &challenge,
            device_nonce: &device_nonce,
            address,
            auto_approve: fleet.auto_approve,
            lease_secs: fleet.lease_secs,
            last_error,
            tenant: &fleet.tenant,
        };
        return respond(&provisioning, &exchange).await;
    }
    // Only a wrong MAC over a challenge really issued to this device counts against it.
    let against_device = (!mac_valid && issued_to_device).then_some(device_key.as_str());
    provisioning.limiter.record_failure(against_device, address);
    provisioning.metrics.error("provision_unauthorized");
    tracing::info!(fleet = %request.fleet, device_id = %request.device_id, "provisioning refused: bad MAC or challenge");
    unauthorized()
}

struct Exchange<'a> {
    request: &'a ProvisionRequest,
    secret: &'a DeviceSecret,
    challenge: &'a [u8; CHALLENGE_LEN],
    device_nonce: &'a [u8; DEVICE_NONCE_LEN],
    address: Option<IpAddr>,
    auto_approve: bool,
    lease_secs: u32,
    /// What the device reported, authenticated by the MAC.
    last_error: Option<LastError>,
    /// The fleet's tenant, from the fleet's row (never from the request).
    tenant: &'a crate::store::tenant::TenantId,
}

async fn respond(provisioning: &Provisioning, exchange: &Exchange<'_>) -> Response {
    let request = exchange.request;
    // Only the key of the connection this fleet is bound to, within the fleet's tenant.
    let connection = match provisioning
        .connections
        .device_api_key(exchange.tenant, &request.fleet)
        .await
    {
        Ok(connection) => connection,
        Err(error) => return internal("reading the connection", &error),
    };
    let now = provisioning.clock.now();
    let contact = Contact {
        fleet: &request.fleet,
        device_id: &request.device_id,
        now,
        address: exchange.address.map(|ip| ip.to_string()),
        new_state: if exchange.auto_approve {
            DeviceState::Approved
        } else {
            DeviceState::Pending
        },
        deliverable_key_version: connection.as_ref().map(|(record, _)| record.key_version),
    };
    let device_state = match provisioning.store.record_contact(&contact).await {
        Ok(device_state) => device_state,
        Err(error) => return internal("recording a device", &error),
    };
    if let Some(last_error) = exchange.last_error
        && device_state == DeviceState::Approved
    {
        let connection_id = connection.as_ref().map(|(record, _)| record.id.as_str());
        report_last_error(provisioning, exchange, last_error, connection_id, now).await;
    }
    match (device_state, connection) {
        (DeviceState::Revoked, _) => answer(StatusCode::FORBIDDEN, json!({"status": "revoked"})),
        (DeviceState::Pending, _) => answer(StatusCode::ACCEPTED, json!({"status": "pending"})),
        (DeviceState::Approved, None) => {
            answer(StatusCode::CONFLICT, json!({"status": "not_connected"}))
        }
        (DeviceState::Approved, Some((record, api_key))) => {
            let site = match crate::connections::site_of(&record) {
                Ok(site) => site,
                Err(error) => return internal("reading the connection's site", &error),
            };
            let Ok(key_version) = u32::try_from(record.key_version) else {
                return internal("key version", &"key_version out of range");
            };
            let claims = SealedClaims {
                device_id: &request.device_id,
                key_version,
                site,
                server_time: u64::try_from(now).unwrap_or(0),
                lease_secs: exchange.lease_secs,
            };
            let Ok(api_key) = ApiKey::new(api_key.expose_secret()) else {
                return internal("sealing the key", &"stored API key is not a header value");
            };
            let mut nonce = [0u8; SEAL_NONCE_LEN];
            if getrandom::fill(&mut nonce).is_err() {
                return internal("random nonce", &"random number generator failed");
            }
            let secrets = ExchangeSecrets {
                secret: exchange.secret,
                challenge: exchange.challenge,
                device_nonce: exchange.device_nonce,
            };
            let mut sealed = [0u8; SEALED_KEY_MAX_LEN];
            let Ok(len) = seal_api_key(&secrets, &claims, &nonce, &api_key, &mut sealed) else {
                return internal("sealing the key", &"seal failed");
            };
            answer(
                StatusCode::OK,
                json!({
                    "status": "approved",
                    "key_version": key_version,
                    "site": site.domain(),
                    "api_host": site.api_host().as_str(),
                    "logs_host": site.logs_host().as_str(),
                    "server_time": claims.server_time,
                    "lease_secs": claims.lease_secs,
                    "nonce": B64.encode(nonce),
                    "sealed_key": B64.encode(&sealed[..len]),
                }),
            )
        }
    }
}

/// Records an approved device's report as an event and, for a 403 from Datadog, asks for a
/// check of the key of the connection it was handed (none when the connection is already not
/// usable: the device will get `not_connected`). A failure to record is logged, not answered:
/// the device's provisioning does not depend on it.
async fn report_last_error(
    provisioning: &Provisioning,
    exchange: &Exchange<'_>,
    last_error: LastError,
    connection_id: Option<&str>,
    now: i64,
) {
    let request = exchange.request;
    let queued = match (last_error, connection_id) {
        (LastError::Forbidden, Some(connection)) if provisioning.key_checks.request(connection) => {
            format!("key check of connection {connection} requested")
        }
        (LastError::Forbidden, Some(connection)) => {
            format!("a key check of connection {connection} is already waiting")
        }
        _ => "its connection is not usable".to_owned(),
    };
    provisioning
        .metrics
        .error("provision_device_reported_forbidden");
    let message = format!(
        "{}/{} reported that Datadog refused its key ({}); {queued}",
        request.fleet,
        request.device_id,
        last_error.as_str()
    );
    if let Err(error) = provisioning
        .events
        .record_event(exchange.tenant, now, EventKind::Device, &message)
        .await
    {
        tracing::warn!(%error, "recording a device's last_error failed");
    }
    tracing::info!(fleet = %request.fleet, device_id = %request.device_id, last_error = last_error.as_str(), "device reported an error");
}
