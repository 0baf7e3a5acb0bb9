//! 1,000 simulated devices (host sockets, plain HTTP to the emulator, one sample each) provision
//! from one gateway and submit. Prints the wall time and the process's peak RSS (`VmHWM`:
//! gateway, emulator and all devices together, measured before and after the devices ran).

use ddlink_tests::{
    DeviceNetwork, IntakeTrust, WorldConfig, assert_nothing_lost, peak_rss_kib, run_world,
};

#[test]
fn a_thousand_devices_provision_and_submit() {
    let mut config = WorldConfig::new(1_000);
    config.network = DeviceNetwork::OsSockets;
    config.trust = IntakeTrust::PlainHttp;
    // One sample per device: provisioning, a series batch, a heartbeat and a boot event.
    config.duration_ms = 1_000;
    config.interval_ms = 60_000;
    config.drain_ms = 60_000;
    config.start_spread_ms = 5_000;
    let mut before = None;
    let outcome = run_world(config, |_| before = peak_rss_kib());
    let after = peak_rss_kib();
    println!(
        "1000 devices: {:.1?}; peak RSS of the process (VmHWM) before devices {:?} KiB, after {:?} KiB",
        outcome.elapsed, before, after
    );
    assert_nothing_lost(&outcome);
    let t = &outcome.tally;
    assert_eq!(t.devices, 1_000);
    assert_eq!(t.points_received, t.points_sent, "{t:?}");
    assert!(after.is_some(), "/proc/self/status has no VmHWM");
    outcome.world.shutdown();
}
