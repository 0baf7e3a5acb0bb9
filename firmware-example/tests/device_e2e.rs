//! The firmware application end to end: provisioning from a gateway stand-in (core's
//! gateway-side crypto), then sampling and submitting to a local intake, over the host's sockets
//! and over the in-process embassy-net network. Every sampled point must arrive exactly once.

mod support;

use std::time::Duration;

use ddlink_firmware_example::device::{DeviceReport, POINTS_PER_SAMPLE};
use ddlink_firmware_example::sim::netsim::{NetSimConfig, run_with_network};
use ddlink_firmware_example::sim::os::os_stack;
use ddlink_firmware_example::sim::runner::{SimDevice, Summary, run_device};
use futures_lite::future::block_on;
use support::gateway::{Gateway, Handout, device_secret_hex, gateway};
use support::{Received, Script, Server, http_server};

const KEY_V1: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_V2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn world(script: Script) -> (Server, Gateway) {
    let intake = http_server(script);
    let gateway = gateway(Handout {
        api_key: KEY_V1.into(),
        key_version: 1,
        site_domain: format!("datadoghq.localhost:{}", intake.port()),
    });
    (intake, gateway)
}

fn device(gateway_url: String, device_id: &str) -> SimDevice {
    SimDevice {
        gateway_url,
        fleet: "acme".into(),
        device_id: device_id.into(),
        device_secret_hex: device_secret_hex("acme", device_id),
        trust_anchors: Vec::new(),
        interval_ms: 200,
        flush_interval_ms: 500,
        duration_ms: 1_500,
        drain_ms: 10_000,
        reprovision_every_ms: 60_000,
    }
}

fn count(received: &[Received], path: &str) -> usize {
    received.iter().filter(|r| r.path == path).count()
}

fn assert_every_point_arrived_once(report: &DeviceReport, intake: &Server, event_requests: usize) {
    let received = intake.received();
    assert!(report.points.sampled >= 9, "{report:?}");
    assert_eq!(report.points.accepted, report.points.sampled, "{report:?}");
    assert_eq!(report.points.dropped, 0, "{report:?}");
    assert_eq!(support::series_points(&received), report.points.sampled);
    // Batched: a series request carries several samples (a flush every 500 ms, a sample every
    // 200 ms).
    let series_requests = count(&received, "/api/v2/series") as u64;
    assert!(
        series_requests * u64::from(POINTS_PER_SAMPLE) < report.points.sampled,
        "{series_requests} series requests for {} points",
        report.points.sampled
    );
    assert_eq!(report.points.batched, 0, "the batch was flushed at the end");
    assert_eq!(report.boot_events, 1, "one boot event");
    assert_eq!(count(&received, "/api/v1/events"), event_requests);
    assert_eq!(
        count(&received, "/api/v1/check_run") as u32,
        report.heartbeats,
        "every heartbeat arrives"
    );
    let mut summary = Summary::default();
    summary.add(report);
    assert_eq!(summary.lost(), 0);
    assert!(summary.to_string().ends_with("lost=0"), "{summary}");
}

#[test]
fn device_on_os_sockets_delivers_every_point() {
    let (intake, gateway) = world(Script(vec![(202, r#"{"errors":[]}"#)]));
    let params = device(gateway.url(), "sim-os-1");
    let report = block_on(run_device(&os_stack(), &os_stack(), &params)).unwrap();
    assert_eq!(report.provisioned, 1);
    assert_eq!(report.key_version, Some(1));
    assert_every_point_arrived_once(&report, &intake, 1);
    assert!(
        intake
            .received()
            .iter()
            .all(|r| r.headers["dd-api-key"] == KEY_V1)
    );
}

#[test]
fn device_on_embassy_net_delivers_every_point() {
    let (intake, gateway) = world(Script(vec![(202, r#"{"errors":[]}"#)]));
    let params = device(
        format!("http://gateway.localhost:{}", gateway.addr.port()),
        "sim-net-1",
    );
    let mut config = NetSimConfig::forwarding(&[gateway.addr.port(), intake.port()]);
    config.loss_per_mille = 0;
    config.seed = 3;
    let (report, stats) = block_on(run_with_network(&config, async |tcp, dns| {
        run_device(tcp, dns, &params).await
    }))
    .unwrap();
    let report = report.unwrap();
    assert_eq!(report.provisioned, 1);
    assert_every_point_arrived_once(&report, &intake, 1);
    // Provisioning's two steps (challenge, then the request), then the intake's logs host (the
    // boot line) and its API host (everything else, kept alive).
    assert_eq!(stats.forwarded_connections, 4, "{stats:?} {report:?}");
    assert_eq!(report.uploader.connections_opened, 2, "{report:?}");
    assert!(stats.tcp_payload_bytes > 0, "{stats:?}");
}

#[test]
fn forbidden_key_triggers_reprovisioning_without_losing_points() {
    let (intake, gateway) = world(Script(vec![
        (403, r#"{"errors":["Forbidden"]}"#),
        (202, r#"{"errors":[]}"#),
    ]));
    let params = device(gateway.url(), "sim-403");
    let report = block_on(run_device(&os_stack(), &os_stack(), &params)).unwrap();
    assert_eq!(report.provisioned, 2, "{report:?}");
    assert_eq!(gateway.approvals(), 2);
    assert_eq!(report.uploader.reprovision_requests, 1);
    // The provisioning right after the 403 reported it, and only that one.
    let reports = gateway.policy.lock().unwrap().reports.clone();
    assert_eq!(
        reports[..2],
        [None, Some("forbidden".to_owned())],
        "{reports:?}"
    );
    assert!(reports[2..].iter().all(Option::is_none), "{reports:?}");
    assert_eq!(report.stopped, None, "resumed after the approval");
    // The first payload (the boot log line) was refused with 403, then resent with the new key.
    assert_every_point_arrived_once(&report, &intake, 1);
    assert_eq!(count(&intake.received(), "/api/v2/logs"), 2);
}

#[test]
fn new_key_version_is_picked_up() {
    let (intake, gateway) = world(Script(vec![(202, r#"{"errors":[]}"#)]));
    let mut params = device(gateway.url(), "sim-rotate");
    params.reprovision_every_ms = 300;
    let handout = gateway.handout.clone();
    let rotate = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let mut handout = handout.lock().unwrap();
        handout.api_key = KEY_V2.into();
        handout.key_version = 2;
    });
    let report = block_on(run_device(&os_stack(), &os_stack(), &params)).unwrap();
    rotate.join().unwrap();
    assert_eq!(report.key_version, Some(2), "{report:?}");
    assert_eq!(
        report.provisioned, 2,
        "a changed version installs the new key once"
    );
    let received = intake.received();
    assert_eq!(received.last().unwrap().headers["dd-api-key"], KEY_V2);
    assert_eq!(received.first().unwrap().headers["dd-api-key"], KEY_V1);
    assert_every_point_arrived_once(&report, &intake, 1);
}

#[test]
fn not_connected_stops_submitting_and_keeps_every_point_buffered() {
    let (intake, gateway) = world(Script(vec![(202, r#"{"errors":[]}"#)]));
    let mut params = device(gateway.url(), "sim-409");
    params.reprovision_every_ms = 300;
    params.drain_ms = 2_500;
    let policy = gateway.policy.clone();
    let disconnect = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        policy.lock().unwrap().not_connected = true;
    });
    let report = block_on(run_device(&os_stack(), &os_stack(), &params)).unwrap();
    disconnect.join().unwrap();
    assert_eq!(
        report.stopped,
        Some(ddlink_firmware_example::lease::Stopped::NotConnected),
        "{report:?}"
    );
    // Sampling went on; what was not sent is still on the device, nothing was dropped.
    assert!(
        report.points.accepted > 0,
        "sent before the refusal: {report:?}"
    );
    assert!(
        report.points.in_flight() > 0,
        "buffered after it: {report:?}"
    );
    assert_eq!(
        report.points.sampled,
        report.points.accepted + report.points.in_flight(),
        "{report:?}"
    );
    assert_eq!(report.points.dropped, 0);
    assert_eq!(
        support::series_points(&intake.received()),
        report.points.accepted
    );
}
