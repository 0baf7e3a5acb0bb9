//! The sandbox's fleet against the real gateway: a device provisions and gets the stored key.

use std::net::SocketAddr;

use ddlink_core::provision::{ProvisionError, ProvisionOutcome};
use ddlink_core::site::SandboxPolicy;
use ddlink_gateway::tenants::TenantId;
use ddlink_sandbox::{SandboxHandle, SandboxOptions};
use secrecy::ExposeSecret as _;
use serde_json::Value;

#[tokio::test]
async fn the_sandbox_fleet_provisions_devices_against_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ddlink_sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        state_dir: dir.path().to_owned(),
        tenants: 1,
        database: None,
        fleet_lease_secs: None,
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
    let provision = |policy| {
        crate::common::provision(
            handle.gateway_url(),
            handle.fleet(),
            key_hex,
            "sim-1",
            policy,
        )
    };
    assert_eq!(
        provision(SandboxPolicy::Deny).await.err(),
        Some(ProvisionError::SandboxNotAllowed),
        "a field device refuses the sandbox site"
    );
    let Ok(ProvisionOutcome::Approved(provisioned)) = provision(SandboxPolicy::Allow).await else {
        panic!("sandbox device not approved");
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
    let answer = crate::common::provision(
        handle.gateway_url(),
        handle.fleet(),
        key_hex,
        serial,
        SandboxPolicy::Allow,
    )
    .await;
    match answer {
        Ok(ProvisionOutcome::Approved(provisioned)) => Some((
            provisioned.api_key.as_str().to_owned(),
            provisioned.key_version,
        )),
        Ok(ProvisionOutcome::NotConnected) => None,
        Ok(_) => panic!("{serial}: neither approved nor not_connected"),
        Err(error) => panic!("{serial}: bad provisioning answer: {error:?}"),
    }
}
