//! The sandbox world over HTTPS (the intake front's RSA chain): a device keeps one TLS
//! connection for its requests instead of a handshake per request, and its router counts the
//! bytes on the wire.

use ddlink_firmware_example::sim::world::{World, WorldConfig};

#[test]
fn a_device_reuses_its_tls_connection_across_requests() {
    let mut config = WorldConfig::new(1);
    // Each sample flushed on its own: two intake requests a second (series and heartbeat), so
    // 25 s give some 50 requests against the two sessions the boot needs (logs host, then API
    // host).
    config.interval_ms = 1_000;
    config.flush_interval_ms = 500;
    config.duration_ms = 25_000;
    config.drain_ms = 20_000;
    let world = World::start(config).unwrap_or_else(|e| panic!("sandbox world: {e:#}"));
    let runs = futures_lite::future::block_on(world.run_devices())
        .unwrap_or_else(|e| panic!("devices: {e:#}"));
    let tally = world.tally(&runs);
    println!(
        "{}\n{tally}\n{:?}",
        tally.details(),
        runs[0].report.uploader
    );
    assert_eq!(tally.provisioned, 1, "{tally:?}");
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert!(tally.requests >= 40, "{tally:?}");
    assert!(
        tally.tls_sessions * 10 < tally.requests,
        "one handshake per ten requests at most: {tally:?}"
    );
    let uploader = runs[0].report.uploader;
    assert_eq!(
        u64::from(uploader.connections_opened),
        tally.tls_sessions,
        "each connection the device opened is a session the front completed: {uploader:?}"
    );
    assert!(
        tally.wire_bytes_per_point().is_some_and(|b| b > 0.0),
        "the router counted the bytes: {tally:?}"
    );
    let summary = tally.to_string();
    assert!(
        summary.contains(&format!(" tls_sessions={} ", tally.tls_sessions)),
        "{summary}"
    );
    assert!(summary.contains(" wire_bytes_per_point="), "{summary}");
    world.shutdown();
}
