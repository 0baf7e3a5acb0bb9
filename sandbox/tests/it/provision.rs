//! The sandbox's fleet against the real gateway: a device provisions and gets the stored key.

use std::net::SocketAddr;

use ddlink_core::provision::{
    ChallengeReply, DeviceIdentity, ProvisionError, ProvisionExchange, ProvisionOutcome,
    read_challenge_response,
};
use ddlink_core::site::SandboxPolicy;
use ddlink_gateway::tenants::TenantId;
use ddlink_sandbox::{SandboxHandle, SandboxOptions};
use secrecy::ExposeSecret as _;
use serde_json::Value;

fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    nonce
}

#[tokio::test]
async fn the_sandbox_fleet_provisions_devices_against_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ddlink_sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        state_dir: dir.path().to_owned(),
        tenants: 1,
    })
    .await
    .unwrap();
    handle.connect().await.unwrap();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(handle.manifest_path()).unwrap()).unwrap();
    assert_eq!(manifest["fleet"], "demo");
    assert_eq!(
        manifest["fleet_key_hex"].as_str(),
        Some(handle.fleet_key_hex().expose_secret())
    );
    let key_hex = handle.fleet_key_hex().expose_secret();
    let key: Vec<u8> = (0..key_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap())
        .collect();
    let secret =
        ddlink_core::provision::derive_device_secret(&key, handle.fleet(), "sim-1").unwrap();

    let http = reqwest::Client::new();
    let base = handle
        .gateway_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let identity = DeviceIdentity::new(handle.fleet(), "sim-1", &secret).unwrap();
    let mut body = [0u8; 512];
    let len = identity.write_challenge_request(&mut body).unwrap();
    let reply = http
        .post(format!("{base}/v1/provision/challenge"))
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let ChallengeReply::Issued(challenge) =
        read_challenge_response(status, &reply.bytes().await.unwrap()).unwrap()
    else {
        panic!("no challenge");
    };
    let exchange = ProvisionExchange::new(identity, &challenge, fresh_nonce());
    let len = exchange.write_request(&mut body).unwrap();
    let reply = http
        .post(format!("{base}/v1/provision"))
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let reply = reply.bytes().await.unwrap();
    assert_eq!(
        exchange
            .read_response(status, &reply, SandboxPolicy::Deny)
            .err(),
        Some(ProvisionError::SandboxNotAllowed),
        "a field device refuses the sandbox site"
    );
    let Ok(ProvisionOutcome::Approved(provisioned)) =
        exchange.read_response(status, &reply, SandboxPolicy::Allow)
    else {
        panic!("sandbox device not approved: {status}");
    };
    assert!(provisioned.site.is_sandbox());
    let (_, stored) = handle
        .state()
        .connections
        .device_api_key(&TenantId::default_tenant(), handle.fleet())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(provisioned.api_key.as_str(), stored.expose_secret());
    handle.shutdown().await;
}

/// What a device of the sandbox fleet gets from one provisioning: `Some((key, key_version))`
/// when approved, `None` when the gateway answers `not_connected`; anything else fails.
pub(crate) async fn provision(handle: &SandboxHandle, serial: &str) -> Option<(String, u32)> {
    let key_hex = handle.fleet_key_hex().expose_secret();
    let key: Vec<u8> = (0..key_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap())
        .collect();
    let secret =
        ddlink_core::provision::derive_device_secret(&key, handle.fleet(), serial).unwrap();
    let http = reqwest::Client::new();
    let base = handle
        .gateway_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let identity = DeviceIdentity::new(handle.fleet(), serial, &secret).unwrap();
    let mut body = [0u8; 512];
    let len = identity.write_challenge_request(&mut body).unwrap();
    let reply = http
        .post(format!("{base}/v1/provision/challenge"))
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let ChallengeReply::Issued(challenge) =
        read_challenge_response(status, &reply.bytes().await.unwrap()).unwrap()
    else {
        panic!("no challenge");
    };
    let exchange = ProvisionExchange::new(identity, &challenge, fresh_nonce());
    let len = exchange.write_request(&mut body).unwrap();
    let reply = http
        .post(format!("{base}/v1/provision"))
        .body(body[..len].to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let reply = reply.bytes().await.unwrap();
    match exchange.read_response(status, &reply, SandboxPolicy::Allow) {
        Ok(ProvisionOutcome::Approved(provisioned)) => Some((
            provisioned.api_key.as_str().to_owned(),
            provisioned.key_version,
        )),
        Ok(ProvisionOutcome::NotConnected) => None,
        other => panic!("unexpected provisioning answer {status}: {other:?}"),
    }
}
