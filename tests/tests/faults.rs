//! 30% of intake requests answered 500/503/429 (with `X-RateLimit-*`) or dropped, plus a
//! stretch where the intake is unreachable: afterwards nothing is lost, the emulator holds every
//! point, and duplicates (retries after ambiguous failures) stay under 1%.

use std::time::Duration;

use ddlink_tests::{WorldConfig, assert_nothing_lost, fault_schedule, intake_requests, run_world};

#[test]
fn faults_and_an_outage_lose_nothing() {
    let mut config = WorldConfig::new(3);
    // Five samples per device: a series batch and a heartbeat each, so the 16-slot queue holds
    // a whole outage plus back-off without overflowing (overflow would be a reasoned drop).
    config.interval_ms = 2_000;
    // Each sample sent on its own, so enough requests meet the faults.
    config.flush_interval_ms = 1_000;
    config.duration_ms = 10_000;
    config.drain_ms = 60_000;
    let outcome = run_world(config, |world| {
        for fault in fault_schedule(400, 300, 42) {
            world.emulator().inject_fault(fault);
        }
        let front = world.front().expect("HTTPS front");
        std::thread::sleep(Duration::from_secs(3));
        front.set_reachable(false);
        std::thread::sleep(Duration::from_secs(2));
        front.set_reachable(true);
    });
    let world = &outcome.world;
    let requests = intake_requests(world);
    let faulted = |status: u16| {
        requests
            .iter()
            .filter(|r| r.status == status && r.fault.is_some())
            .count()
    };
    let (e500, e503, e429) = (faulted(500), faulted(503), faulted(429));
    let dropped = world
        .emulator()
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref().is_some_and(|f| f.contains("drop")))
        .count();
    let refused = world.front().expect("front").stats().refused;
    println!(
        "intake requests={} injected: 500={e500} 503={e503} 429={e429} dropped={dropped}; outage refused {refused} connections",
        requests.len()
    );
    assert!(
        e500 > 0 && e503 > 0 && e429 > 0 && dropped > 0,
        "every fault kind must have hit: 500={e500} 503={e503} 429={e429} drop={dropped}"
    );
    assert!(refused > 0, "the outage refused no connection");
    assert_nothing_lost(&outcome);
    let t = &outcome.tally;
    println!(
        "duplicates: {} of {} distinct points",
        t.duplicates, t.points_received
    );
    assert_eq!(t.points_received, t.points_sent, "{t:?}");
    assert!(
        t.duplicates * 100 <= t.points_received,
        "more than 1% duplicates: {t:?}"
    );
    outcome.world.shutdown();
}
