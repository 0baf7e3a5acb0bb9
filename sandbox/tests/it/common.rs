//! Shared test settings: the admin token and client secret, and a sandbox-policy gateway
//! configuration built on the gateway tests' production-style one.

use ddlink_core::provision::{
    ChallengeReply, DeviceIdentity, LastError, ProvisionError, ProvisionExchange, ProvisionOutcome,
    read_challenge_response,
};
use ddlink_core::site::{SandboxPolicy, Site};
use ddlink_gateway::config::{Config, SitePolicy};
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};

#[path = "../../../gateway/tests/gateway_config/mod.rs"]
mod gateway_config;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const CLIENT_SECRET: &str = "test-client-secret-s3cr3t";

/// A sandbox-policy configuration (SQLite in `dir`) for the emulator at `domain`.
pub fn sandbox_config(dir: &std::path::Path, public_url: &str, domain: &str) -> Config {
    let database = DbOptions::new(sqlite_url_for_path(&dir.join("ddlink.db")));
    Config {
        sites: SitePolicy::Sandbox(Site::sandbox(domain).unwrap()),
        ..gateway_config::gateway_config(dir, public_url, database, ADMIN_TOKEN, CLIENT_SECRET)
    }
}

/// One provisioning exchange of device `device_id` of `fleet` (fleet key in hex) against the
/// gateway at `gateway_url`, as a simulated factory-flashed device does; the answer read
/// under `policy`.
pub async fn provision(
    gateway_url: &url::Url,
    fleet: &str,
    fleet_key_hex: &str,
    device_id: &str,
    policy: SandboxPolicy,
) -> Result<ProvisionOutcome, ProvisionError> {
    provision_reporting(gateway_url, fleet, fleet_key_hex, device_id, policy, None).await
}

/// [`provision`], reporting `last_error` (what Datadog answered the device's key).
pub async fn provision_reporting(
    gateway_url: &url::Url,
    fleet: &str,
    fleet_key_hex: &str,
    device_id: &str,
    policy: SandboxPolicy,
    last_error: Option<LastError>,
) -> Result<ProvisionOutcome, ProvisionError> {
    let key: Vec<u8> = (0..fleet_key_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&fleet_key_hex[i..i + 2], 16).unwrap())
        .collect();
    let secret = ddlink_core::provision::derive_device_secret(&key, fleet, device_id).unwrap();
    let identity = DeviceIdentity::new(fleet, device_id, &secret).unwrap();
    let http = reqwest::Client::new();
    let mut body = [0u8; 512];
    let len = identity.write_challenge_request(&mut body).unwrap();
    let reply = http
        .post(gateway_url.join("v1/provision/challenge").unwrap())
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let ChallengeReply::Issued(challenge) =
        read_challenge_response(status, &reply.bytes().await.unwrap()).unwrap()
    else {
        panic!("{fleet}/{device_id}: no challenge ({status})");
    };
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    let mut exchange = ProvisionExchange::new(identity, &challenge, nonce);
    if let Some(last_error) = last_error {
        exchange = exchange.with_last_error(last_error);
    }
    let len = exchange.write_request(&mut body).unwrap();
    let reply = http
        .post(gateway_url.join("v1/provision").unwrap())
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    exchange.read_response(status, &reply.bytes().await.unwrap(), policy)
}

/// The API key a sandbox device of `fleet` gets (it must be approved).
pub async fn provision_device(
    gateway_url: &url::Url,
    fleet: &str,
    fleet_key_hex: &str,
    device_id: &str,
) -> String {
    match provision(
        gateway_url,
        fleet,
        fleet_key_hex,
        device_id,
        SandboxPolicy::Allow,
    )
    .await
    {
        Ok(ProvisionOutcome::Approved(provisioned)) => provisioned.api_key.as_str().to_owned(),
        Ok(_) => panic!("{fleet}/{device_id}: not approved"),
        Err(error) => panic!("{fleet}/{device_id}: bad answer: {error:?}"),
    }
}
