//! `--tenants 2`: two tenants, each connected to its own emulated org, each fleet handed only
//! its own org's key, and `sandbox.json` listing both.

use ddlink_sandbox::SandboxOptions;
use secrecy::ExposeSecret as _;
use serde_json::Value;

#[tokio::test]
async fn each_tenant_connects_its_own_org_and_its_fleet_gets_only_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let world = ddlink_sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.path().join("state"),
        tenants: 2,
        database: None,
        fleet_lease_secs: None,
    })
    .await
    .unwrap();
    world.connect().await.unwrap();

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(world.manifest_path()).unwrap()).unwrap();
    let listed = manifest["tenants"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(manifest["fleet"], "demo");
    assert_eq!(manifest["fleet_key_hex"], listed[0]["fleet_key_hex"]);
    assert_eq!(manifest["admin_token"], listed[0]["admin_token"]);
    assert_eq!(listed[0]["name"], "default");
    assert_eq!(listed[1]["name"], "tenant-2");
    assert_eq!(listed[1]["fleet"], "demo-2");
    assert_eq!(listed[1]["org_name"], "Tenant 2 Org");
    assert_ne!(listed[1]["admin_token"], manifest["admin_token"]);
    assert_ne!(listed[0]["fleet_key_hex"], listed[1]["fleet_key_hex"]);

    let emulator = world.emulator();
    let connections = emulator.connections();
    assert_eq!(connections.len(), 2);
    for (tenant, entry) in world.tenants().iter().zip(listed) {
        assert_eq!(entry["org_id"], tenant.org.id.as_str());
        assert_eq!(entry["fleet"], tenant.fleet.as_str());
        assert_eq!(
            entry["fleet_key_hex"].as_str(),
            Some(tenant.fleet_key_hex.expose_secret())
        );
        assert!(connections.iter().any(|c| c.org_id == tenant.org.id));
        // The fleet's key is the marketplace key of this tenant's org, never the other's.
        let (_, key) = world
            .state()
            .connections
            .device_api_key(&tenant.id, &tenant.fleet)
            .await
            .unwrap()
            .unwrap();
        let owner = emulator
            .api_keys()
            .into_iter()
            .find(|k| k.key == key.expose_secret())
            .unwrap();
        assert_eq!(owner.org_id, tenant.org.id);
    }
    // A fleet looked up under the other tenant does not exist there.
    let (first, second) = (&world.tenants()[0], &world.tenants()[1]);
    assert!(
        world
            .state()
            .connections
            .device_api_key(&first.id, &second.fleet)
            .await
            .unwrap()
            .is_none()
    );
    world.shutdown().await;
}
