//! The key's life end to end, on SQLite and (with `DDLINK_TEST_POSTGRES_URL`) PostgreSQL:
//!
//! 1. **Uninstall** from the tile mid-run: the gateway shows `uninstalled` within 10 s and
//!    provisioning answers `not_connected`; within one (short) lease every device has stopped
//!    submitting, buffering instead; a reconnect from the tile (the org's key still exists, so
//!    Datadog answers 409 and the gateway keeps the key it holds) lets them resume, `lost=0`.
//! 2. **Key revoked** on the API Keys page: devices get 403s and stop, the gateway shows
//!    `key_revoked` within 10 s; a reconnect creates a new key (`key_version` 2) that reaches
//!    the devices at their next provision; their buffered points arrive, `lost=0`.

use std::time::{Duration, Instant};

use ddlink_gateway::store::ConnectionState;
use ddlink_tests::{
    TestDatabase, World, WorldConfig, assert_nothing_lost, intake_requests, run_world,
    test_databases,
};

/// The sandbox fleet's lease in these scenarios: devices renew at about 80 % of it.
const LEASE_SECS: u32 = 20;
/// How long the gateway may take to notice (the sandbox validates every 2 s).
const DETECTION: Duration = Duration::from_secs(10);
/// A device still submitting flushes at least twice in this long (every 10 s, and the batch
/// of 2 s samples does not fill sooner).
const SILENCE: Duration = Duration::from_secs(22);

fn config(database: &TestDatabase) -> WorldConfig {
    let mut config = WorldConfig::new(2);
    // Stopped devices buffer for about a minute: sampling every 2 s keeps that within the queue.
    config.interval_ms = 2_000;
    config.duration_ms = 40_000;
    config.drain_ms = 70_000;
    config.lease_secs = Some(LEASE_SECS);
    config.database = database.options.clone();
    config
}

/// The state of the (only) tenant's connection.
fn connection_state(world: &World) -> ConnectionState {
    let tenant = &world.sandbox().tenants()[0];
    let statuses = world
        .block_on(world.sandbox().state().connections.statuses(&tenant.id))
        .expect("connection statuses");
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    statuses[0].state
}

/// Polls until the connection is in `state`; returns how long that took (panics after 30 s).
fn wait_for_state(world: &World, state: ConnectionState) -> Duration {
    let started = Instant::now();
    while connection_state(world) != state {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the connection never became {state:?} (is {:?})",
            connection_state(world)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

/// Asserts that no intake request arrives for [`SILENCE`], from now on.
fn assert_devices_silent(world: &World) {
    let before = intake_requests(world).len();
    std::thread::sleep(SILENCE);
    let after = intake_requests(world).len();
    assert_eq!(
        after,
        before,
        "devices still submitted {} request(s) in {SILENCE:?}",
        after - before
    );
}

#[test]
fn uninstall_from_the_tile_stops_devices_within_a_lease_and_a_reconnect_resumes_them() {
    for database in test_databases("e2e_uninstall") {
        println!("== {}", database.name);
        uninstall_scenario(&database);
        database.drop_schema();
    }
}

fn uninstall_scenario(database: &TestDatabase) {
    let outcome = run_world(config(database), |world| {
        std::thread::sleep(Duration::from_secs(5));
        let sandbox = world.sandbox();
        let org = &sandbox.tenants()[0].org;
        assert_eq!(
            world.emulator().uninstall(&org.id, sandbox.client_id()),
            Some(1),
            "uninstalling from the tile"
        );
        let detected = wait_for_state(world, ConnectionState::Uninstalled);
        println!("uninstall seen after {detected:.1?}");
        assert!(detected <= DETECTION, "uninstall seen after {detected:.1?}");
        // Datadog keeps the key: the devices may go on until their lease runs out (a renewal
        // since the uninstall answered not_connected), no longer.
        std::thread::sleep(Duration::from_secs(u64::from(LEASE_SECS) + 2));
        assert_devices_silent(world);
        world
            .block_on(sandbox.connect())
            .unwrap_or_else(|e| panic!("reconnecting from the tile: {e:#}"));
        assert_eq!(connection_state(world), ConnectionState::Active);
    });
    for run in &outcome.runs {
        assert_eq!(
            run.report.key_version,
            Some(1),
            "{}: the reconnect kept the key the gateway holds",
            run.device_id
        );
    }
    assert_nothing_lost(&outcome);
    outcome.world.shutdown();
}

#[test]
fn a_revoked_key_is_seen_within_seconds_and_the_new_key_reaches_the_devices() {
    for database in test_databases("e2e_revoked") {
        println!("== {}", database.name);
        revoked_scenario(&database);
        database.drop_schema();
    }
}

fn revoked_scenario(database: &TestDatabase) {
    let outcome = run_world(config(database), |world| {
        std::thread::sleep(Duration::from_secs(5));
        let emulator = world.emulator();
        let keys: Vec<_> = emulator
            .api_keys()
            .into_iter()
            .filter(|k| !k.revoked)
            .collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(emulator.revoke_api_key(&keys[0].id));
        let detected = wait_for_state(world, ConnectionState::KeyRevoked);
        println!("revocation seen after {detected:.1?}");
        assert!(
            detected <= DETECTION,
            "revocation seen after {detected:.1?}"
        );
        // A 403 stops a device at once (it keeps its points and reports at its next
        // provisioning, which answers not_connected now); every device meets one at its next
        // flush, within 10 s.
        std::thread::sleep(Duration::from_secs(12));
        assert_devices_silent(world);
        world
            .block_on(world.sandbox().connect())
            .unwrap_or_else(|e| panic!("reconnecting from the tile: {e:#}"));
        assert_eq!(connection_state(world), ConnectionState::Active);
    });
    let forbidden = intake_requests(&outcome.world)
        .iter()
        .filter(|r| r.status == 403)
        .count();
    assert!(forbidden > 0, "no device ever got a 403");
    for run in &outcome.runs {
        assert_eq!(
            run.report.key_version,
            Some(2),
            "{}: not on the new key",
            run.device_id
        );
    }
    assert_nothing_lost(&outcome);
    outcome.world.shutdown();
}
