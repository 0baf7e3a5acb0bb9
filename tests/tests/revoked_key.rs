//! The API key is revoked in the emulator and the gateway reconnected (new key): devices get 403,
//! re-provision, continue with the new key version, and lose nothing.

use std::time::Duration;

use ddlink_tests::{WorldConfig, assert_nothing_lost, intake_requests, run_world};

#[test]
fn revoked_key_leads_to_reprovisioning_with_the_new_version() {
    let mut config = WorldConfig::new(2);
    config.duration_ms = 12_000;
    config.drain_ms = 30_000;
    let old_key_ids = std::sync::Mutex::new(Vec::new());
    let outcome = run_world(config, |world| {
        std::thread::sleep(Duration::from_secs(4));
        let emulator = world.emulator();
        let active: Vec<_> = emulator
            .api_keys()
            .into_iter()
            .filter(|k| !k.revoked)
            .collect();
        assert_eq!(active.len(), 1, "the gateway created one key: {active:?}");
        for key in &active {
            assert!(emulator.revoke_api_key(&key.id), "revoking {}", key.id);
        }
        *old_key_ids.lock().unwrap() = active.into_iter().map(|k| k.id).collect();
        std::thread::sleep(Duration::from_secs(2));
        world
            .block_on(world.sandbox().connect())
            .unwrap_or_else(|e| panic!("reconnecting the gateway: {e:#}"));
    });
    let old = old_key_ids.into_inner().unwrap();
    let world = &outcome.world;
    let forbidden = intake_requests(world)
        .iter()
        .filter(|r| r.status == 403)
        .count();
    assert!(
        forbidden > 0,
        "no device ever got a 403 with the revoked key"
    );
    for run in &outcome.runs {
        assert!(
            run.report.provisioned >= 2,
            "{} did not re-provision: {:?}",
            run.device_id,
            run.report
        );
        assert!(
            run.report.key_version.is_some_and(|v| v >= 2),
            "{} still on the first key version: {:?}",
            run.device_id,
            run.report.key_version
        );
    }
    let received = world.emulator().received_series();
    let under_new_key = received
        .iter()
        .filter(|s| !old.contains(&s.api_key_id))
        .count();
    assert!(under_new_key > 0, "no series arrived under the new key");
    assert_nothing_lost(&outcome);
    println!("403 answers: {forbidden}; series under the new key: {under_new_key}");
    outcome.world.shutdown();
}
