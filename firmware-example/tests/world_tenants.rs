//! Two tenants' devices side by side in the sandbox world: each tenant's fleet is bound to its
//! own emulated org, and every point a device sent lands in its own tenant's org, none in the
//! other's.

use std::collections::{BTreeMap, BTreeSet};

use ddlink_firmware_example::sim::world::{World, WorldConfig};

#[test]
fn each_tenants_devices_report_into_their_own_org_only() {
    let mut config = WorldConfig::new(4);
    config.tenants = 2;
    config.interval_ms = 1_000;
    config.flush_interval_ms = 2_000;
    config.duration_ms = 6_000;
    config.drain_ms = 20_000;
    let world = World::start(config).unwrap_or_else(|e| panic!("sandbox world: {e:#}"));
    let runs = futures_lite::future::block_on(world.run_devices())
        .unwrap_or_else(|e| panic!("devices: {e:#}"));
    let tally = world.tally(&runs);
    println!("{}\n{tally}", tally.details());

    let tenants = world.sandbox().tenants();
    assert_eq!(tenants.len(), 2);
    assert_ne!(tenants[0].org.id, tenants[1].org.id);
    assert_ne!(tenants[0].fleet, tenants[1].fleet);
    assert_eq!(tally.provisioned, 4, "{tally:?}");
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(tally.misrouted, 0, "{tally:?}");
    assert!(tally.points_accepted > 0, "{tally:?}");
    assert!(tally.to_string().ends_with(" misrouted=0"), "{tally}");

    // What each org holds, independently of the tally: exactly its own tenant's devices.
    let mut hosts_by_org: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in world.emulator().received_series() {
        if let Some(host) = record.host {
            hosts_by_org.entry(record.org_id).or_default().insert(host);
        }
    }
    for (index, tenant) in (0..4).map(|i| (i, world.tenant_of(i))) {
        assert_eq!(runs[index].org_id, tenant.org.id);
        assert!(
            hosts_by_org
                .get(&tenant.org.id)
                .is_some_and(|hosts| hosts.contains(&world.device_id(index))),
            "device {index} has no points in its org {}: {hosts_by_org:?}",
            tenant.org.id
        );
    }
    let expected: BTreeMap<String, BTreeSet<String>> = tenants
        .iter()
        .enumerate()
        .map(|(t, tenant)| {
            let devices = (0..4).filter(|i| i % 2 == t).map(|i| world.device_id(i));
            (tenant.org.id.clone(), devices.collect())
        })
        .collect();
    assert_eq!(
        hosts_by_org, expected,
        "each org holds only its tenant's hosts"
    );

    // One marketplace key per org, and each tenant's devices used their own org's key.
    let keys = world.emulator().api_keys();
    for tenant in tenants {
        assert_eq!(
            keys.iter().filter(|k| k.org_id == tenant.org.id).count(),
            1,
            "{keys:?}"
        );
    }
    world.shutdown();
}
