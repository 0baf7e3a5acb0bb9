//! Devices that trust another CA refuse the intake's certificate: nothing reaches the emulator,
//! and every point is still accounted for (queued or dropped with a reason, none lost).

use ddlink_tests::{IntakeTrust, WorldConfig, intake_requests, run_world};

#[test]
fn device_with_a_wrong_trust_anchor_sends_nothing() {
    let mut config = WorldConfig::new(2);
    config.trust = IntakeTrust::UnrelatedCa;
    config.duration_ms = 4_000;
    config.drain_ms = 3_000;
    let outcome = run_world(config, |_| {});
    let world = &outcome.world;
    let t = &outcome.tally;
    let front = world.front().expect("HTTPS front").stats();
    assert_eq!(
        t.provisioned, 2,
        "the gateway leg is independent of the intake CA: {t:?}"
    );
    assert!(
        front.failed_handshakes > 0,
        "the devices never tried: {front:?}"
    );
    assert_eq!(front.forwarded, 0, "a session was established: {front:?}");
    let intake = intake_requests(world);
    assert!(intake.is_empty(), "the emulator received {intake:?}");
    assert!(world.emulator().received_series().is_empty());
    assert_eq!(t.points_accepted, 0, "{t:?}");
    assert!(t.points_sent > 0, "{t:?}");
    assert_eq!(
        t.lost, 0,
        "unsent points must stay queued or be dropped with a reason: {t:?}"
    );
    outcome.world.shutdown();
}
