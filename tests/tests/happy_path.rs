//! Three devices on the in-process embassy-net network, HTTPS intake: every sampled point
//! reaches the emulator exactly once, from the device's host, with the firmware's tags; every
//! heartbeat and log line arrives; series and logs travel deflated.

use std::collections::BTreeMap;

use ddlink_tests::{
    FIRMWARE_TAG, TestDatabase, WorldConfig, assert_nothing_lost, run_world, series_of,
    test_databases,
};

/// On SQLite, and on PostgreSQL when `DDLINK_TEST_POSTGRES_URL` is set.
#[test]
fn every_point_arrives_once_with_the_device_tags() {
    for database in test_databases("e2e_happy") {
        println!("== {}", database.name);
        every_point_arrives_once(&database);
        database.drop_schema();
    }
}

fn every_point_arrives_once(database: &TestDatabase) {
    let mut config = WorldConfig::new(3);
    config.duration_ms = 5_000;
    config.drain_ms = 20_000;
    config.database = database.options.clone();
    let outcome = run_world(config, |_| {});
    assert_nothing_lost(&outcome);
    let t = &outcome.tally;
    assert_eq!(t.devices, 3);
    assert_eq!(
        t.duplicates, 0,
        "a loss-free run sends nothing twice: {t:?}"
    );
    assert_eq!(t.points_accepted, t.points_sent, "{t:?}");
    assert_eq!(t.points_received, t.points_sent, "{t:?}");

    let received = outcome.world.emulator().received_series();
    for run in &outcome.runs {
        let series = series_of(&received, &run.device_id);
        let points: usize = series.iter().map(|s| s.points.len()).sum();
        assert_eq!(
            points as u64, run.report.points.sampled,
            "{}: emulator holds {points} points, device sampled {}",
            run.device_id, run.report.points.sampled
        );
        for s in &series {
            assert!(
                s.tags.iter().any(|t| t == FIRMWARE_TAG),
                "{}: series {} lacks {FIRMWARE_TAG}: {:?}",
                run.device_id,
                s.metric,
                s.tags
            );
        }
        let mut per_metric: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &series {
            *per_metric.entry(s.metric.as_str()).or_default() += s.points.len();
        }
        assert_eq!(
            per_metric.keys().copied().collect::<Vec<_>>(),
            [
                "ddlink.device.queue_free",
                "ddlink.device.temperature",
                "ddlink.device.uptime"
            ],
            "{}",
            run.device_id
        );
        assert_eq!(
            run.report.last_retry, None,
            "{}: a loss-free network needs no retry: {:?}",
            run.device_id, run.report.uploader
        );
        assert!(
            run.report.boot_events == 1,
            "{}: {:?}",
            run.device_id,
            run.report
        );
    }
    let checks = outcome.world.emulator().received_checks();
    for run in &outcome.runs {
        let beats = checks
            .iter()
            .filter(|c| c.host_name == run.device_id)
            .count();
        assert_eq!(
            beats as u32, run.report.heartbeats,
            "{}: heartbeats sent vs received",
            run.device_id
        );
    }
    let logs = outcome.world.emulator().received_logs();
    for run in &outcome.runs {
        let mine: Vec<_> = logs
            .iter()
            .filter(|l| l.hostname.as_deref() == Some(run.device_id.as_str()))
            .collect();
        assert_eq!(
            mine.len() as u32,
            run.report.logs_submitted,
            "{}: logs submitted vs received",
            run.device_id
        );
        assert!(
            mine.iter()
                .any(|l| l.message == "firmware started, API key version 1"
                    && l.ddsource.as_deref() == Some("ddlink-firmware")),
            "{}: no boot log line in {mine:?}",
            run.device_id
        );
    }
    // Series and logs travel deflated (zlib) and the emulator decoded them into the counts above.
    let requests = ddlink_tests::intake_requests(&outcome.world);
    let deflated = |path: &str| {
        requests
            .iter()
            .filter(|r| r.path == path)
            .all(|r| r.content_encoding.as_deref() == Some("deflate"))
    };
    assert!(
        deflated("/api/v2/series") && deflated("/api/v2/logs"),
        "series and logs must be deflated: {requests:?}"
    );
    assert!(
        outcome
            .runs
            .iter()
            .all(|r| r.report.deflate_saved_bytes > 0)
    );
    let tls = outcome.world.front().expect("HTTPS front").stats();
    assert!(tls.forwarded > 0 && tls.failed_handshakes == 0, "{tls:?}");
    outcome.world.shutdown();
}
