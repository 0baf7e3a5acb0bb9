//! Property tests for the telemetry encoders: every payload parses with `serde_json` and carries
//! exactly the values pushed (strings, floats bit-for-bit, tags); a push that fails (`Full`,
//! `TooLarge`, invalid record) leaves the previous payload intact; no input panics.

use ddlink_core::checks::{CheckBatch, CheckStatus, ServiceCheck};
use ddlink_core::events::{AlertType, Event, Priority};
use ddlink_core::json::PushError;
use ddlink_core::logs::{LogBatch, LogEntry, LogStatus};
use ddlink_core::metrics::{
    DistributionBatch, DistributionPoint, DistributionSeries, MetricType, Point, Resource, Series,
    SeriesBatch, SeriesV1, SeriesV1Batch,
};
use proptest::prelude::*;
use serde_json::Value;

const NOW: i64 = 1_700_000_000;

/// Any text, biased towards what breaks JSON: quotes, backslashes, every C0 control, DEL,
/// U+2028/9 and multi-byte characters.
fn nasty_string(max_len: usize) -> impl Strategy<Value = String> {
    let nasty_char = prop_oneof![
        any::<char>(),
        Just('"'),
        Just('\\'),
        Just('/'),
        (0u8..0x20).prop_map(char::from),
        Just('\u{7f}'),
        Just('\u{2028}'),
        Just('é'),
        Just('😀'),
    ];
    prop::collection::vec(nasty_char, 0..=max_len).prop_map(String::from_iter)
}

/// Tags Datadog accepts, with quotes, backslashes and non-ASCII letters inside.
fn valid_tag() -> impl Strategy<Value = String> {
    "[a-zé][a-z0-9_./é-]{0,12}(:[a-z0-9 \"\\\\/é]{0,12}[a-z0-9é])?"
}

fn metric_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_.]{0,40}"
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |value| value.is_finite())
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.\"\\\\é-]{1,20}"
}

fn host() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{0,30}"
}

/// An owned series, borrowed into a [`Series`] by [`OwnedSeries::view`].
#[derive(Debug, Clone)]
struct OwnedSeries {
    metric: String,
    metric_type: MetricType,
    points: Vec<Point>,
    interval: Option<i64>,
    unit: Option<String>,
    tags: Vec<String>,
    resources: Vec<(String, String)>,
    source_type_name: Option<String>,
}

fn owned_series() -> impl Strategy<Value = OwnedSeries> {
    let metric_type = prop_oneof![
        Just(MetricType::Unspecified),
        Just(MetricType::Count),
        Just(MetricType::Rate),
        Just(MetricType::Gauge),
    ];
    let point = (NOW - 3_600..=NOW + 600, finite_f64())
        .prop_map(|(timestamp, value)| Point { timestamp, value });
    (
        metric_name(),
        metric_type,
        prop::collection::vec(point, 1..4),
        prop::option::of(1i64..100_000),
        prop::option::of("[a-z_ ]{1,16}"),
        prop::collection::vec(valid_tag(), 0..4),
        prop::collection::vec((label(), label()), 0..3),
        prop::option::of(label()),
    )
        .prop_map(
            |(metric, metric_type, points, interval, unit, tags, resources, source_type_name)| {
                OwnedSeries {
                    metric,
                    metric_type,
                    points,
                    interval,
                    unit,
                    tags,
                    resources,
                    source_type_name,
                }
            },
        )
}

/// Borrowed tag list (the encoders take `&[&str]`).
fn strs(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

fn parse(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).unwrap_or_else(|error| {
        panic!(
            "invalid JSON ({error}): {:?}",
            String::from_utf8_lossy(payload)
        )
    })
}

fn json_tags(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|tag| tag.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("tags are not an array: {other}"),
    }
}

/// Asserts that one parsed v2 series carries exactly the owned series' values.
fn assert_series_eq(parsed: &Value, expected: &OwnedSeries) {
    assert_eq!(parsed["metric"], expected.metric.as_str());
    assert_eq!(parsed["type"], u64::from(expected.metric_type.code()));
    let points = parsed["points"].as_array().unwrap();
    assert_eq!(points.len(), expected.points.len());
    for (point, want) in points.iter().zip(&expected.points) {
        assert_eq!(point["timestamp"].as_i64(), Some(want.timestamp));
        let value = point["value"].as_f64().unwrap();
        assert!(
            value == want.value,
            "value {value} != {} (bits differ)",
            want.value
        );
    }
    assert_eq!(parsed["interval"].as_i64(), expected.interval);
    assert_eq!(parsed["unit"].as_str(), expected.unit.as_deref());
    assert_eq!(json_tags(&parsed["tags"]), expected.tags);
    let resources: Vec<(String, String)> = match &parsed["resources"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        other => panic!("resources are not an array: {other}"),
    };
    assert_eq!(resources, expected.resources);
    assert_eq!(
        parsed["source_type_name"].as_str(),
        expected.source_type_name.as_deref()
    );
}

/// Pushes `owned` into `batch`, building the borrowed view on the stack.
fn push_series(
    batch: &mut SeriesBatch<'_>,
    owned: &OwnedSeries,
) -> Result<(), PushError<ddlink_core::metrics::MetricError>> {
    let tags = strs(&owned.tags);
    let resources: Vec<Resource<'_>> = owned
        .resources
        .iter()
        .map(|(name, kind)| Resource::new(kind, name))
        .collect();
    let series = Series {
        metric: &owned.metric,
        metric_type: owned.metric_type,
        points: &owned.points,
        interval: owned.interval,
        unit: owned.unit.as_deref(),
        tags: &tags,
        resources: &resources,
        source_type_name: owned.source_type_name.as_deref(),
    };
    batch.push(&series, Some(NOW))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn series_round_trip(all in prop::collection::vec(owned_series(), 1..6)) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut batch = SeriesBatch::new(&mut buf).unwrap();
        for owned in &all {
            push_series(&mut batch, owned).unwrap();
        }
        let parsed = parse(batch.finish());
        let series = parsed["series"].as_array().unwrap();
        prop_assert_eq!(series.len(), all.len());
        for (parsed, owned) in series.iter().zip(&all) {
            assert_series_eq(parsed, owned);
        }
    }

    #[test]
    fn v1_series_round_trip(
        all in prop::collection::vec(owned_series(), 1..5),
        host in prop::option::of(host()),
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut batch = SeriesV1Batch::new(&mut buf).unwrap();
        for owned in &all {
            let tags = strs(&owned.tags);
            let series = SeriesV1 {
                metric: &owned.metric,
                metric_type: owned.metric_type,
                points: &owned.points,
                interval: owned.interval,
                host: host.as_deref(),
                tags: &tags,
            };
            batch.push(&series, Some(NOW)).unwrap();
        }
        let parsed = parse(batch.finish());
        let series = parsed["series"].as_array().unwrap();
        prop_assert_eq!(series.len(), all.len());
        for (item, owned) in series.iter().zip(&all) {
            prop_assert_eq!(&item["metric"], owned.metric.as_str());
            let type_name = match owned.metric_type {
                MetricType::Unspecified => None,
                MetricType::Count => Some("count"),
                MetricType::Rate => Some("rate"),
                MetricType::Gauge => Some("gauge"),
            };
            prop_assert_eq!(item["type"].as_str(), type_name);
            prop_assert_eq!(item["interval"].as_i64(), owned.interval);
            prop_assert_eq!(item["host"].as_str(), host.as_deref());
            prop_assert_eq!(json_tags(&item["tags"]), owned.tags.clone());
            let pairs = item["points"].as_array().unwrap();
            prop_assert_eq!(pairs.len(), owned.points.len());
            for (pair, point) in pairs.iter().zip(&owned.points) {
                prop_assert_eq!(pair[0].as_i64(), Some(point.timestamp));
                prop_assert_eq!(pair[1].as_f64(), Some(point.value));
            }
        }
    }

    #[test]
    fn full_series_batch_stays_a_valid_payload(
        all in prop::collection::vec(owned_series(), 1..12),
        size in 0usize..700,
    ) {
        let mut buf = vec![0u8; size];
        let Ok(mut batch) = SeriesBatch::new(&mut buf) else {
            let empty_payload_len = br#"{"series":[]}"#.len();
            prop_assert!(size < empty_payload_len);
            return Ok(());
        };
        let mut accepted: Vec<&OwnedSeries> = Vec::new();
        for owned in &all {
            let was_empty = batch.is_empty();
            match push_series(&mut batch, owned) {
                Ok(()) => accepted.push(owned),
                Err(PushError::Full) => prop_assert!(!was_empty),
                Err(PushError::TooLarge) => prop_assert!(was_empty),
                Err(PushError::Invalid(error)) => panic!("valid series refused: {error:?}"),
            }
            let parsed = parse(batch.as_payload());
            let series = parsed["series"].as_array().unwrap();
            prop_assert_eq!(series.len(), accepted.len());
            prop_assert_eq!(batch.len(), accepted.len());
            for (parsed, owned) in series.iter().zip(&accepted) {
                assert_series_eq(parsed, owned);
            }
            prop_assert!(batch.as_payload().len() <= size);
        }
    }

    #[test]
    fn arbitrary_series_input_never_panics_nor_breaks_the_payload(
        metric in nasty_string(20),
        tag in nasty_string(10),
        unit in nasty_string(6),
        resource in nasty_string(8),
        timestamp in any::<i64>(),
        value in any::<f64>(),
        now in prop::option::of(any::<i64>()),
        interval in prop::option::of(any::<i64>()),
        size in 0usize..300,
    ) {
        let mut buf = vec![0u8; size];
        if let Ok(mut batch) = SeriesBatch::new(&mut buf) {
            let points = [Point { timestamp, value }];
            let tags = [tag.as_str()];
            let resources = [Resource::host(&resource)];
            let mut series = Series::new(&metric, MetricType::Gauge, &points)
                .with_tags(&tags)
                .with_resources(&resources)
                .with_unit(&unit);
            series.interval = interval;
            let result = batch.push(&series, now);
            let parsed = parse(batch.as_payload());
            let count = parsed["series"].as_array().unwrap().len();
            prop_assert_eq!(count, usize::from(result.is_ok()));
            if result.is_ok() {
                prop_assert_eq!(&parsed["series"][0]["metric"], metric.as_str());
                prop_assert_eq!(&parsed["series"][0]["tags"][0], tag.as_str());
                prop_assert_eq!(&parsed["series"][0]["unit"], unit.as_str());
                prop_assert_eq!(&parsed["series"][0]["resources"][0]["name"], resource.as_str());
            }
            if !value.is_finite() {
                prop_assert!(result.is_err(), "non-finite value accepted");
            }
        }
    }

    #[test]
    fn logs_round_trip_any_message_and_fill_small_buffers(
        entries in prop::collection::vec(
            (
                nasty_string(40),
                prop::option::of(label()),
                prop::collection::vec(valid_tag(), 0..4),
                prop::option::of(host()),
                prop::option::of(label()),
                prop::option::of(NOW * 1_000 - 3_600_000..NOW * 1_000),
            ),
            1..8,
        ),
        size in 2usize..600,
    ) {
        let mut buf = vec![0u8; size];
        let mut batch = LogBatch::new(&mut buf).unwrap();
        let mut accepted = Vec::new();
        for (message, source, tags, hostname, service, timestamp_ms) in &entries {
            let tag_refs = strs(tags);
            let entry = LogEntry {
                message,
                ddsource: source.as_deref(),
                ddtags: &tag_refs,
                hostname: hostname.as_deref(),
                service: service.as_deref(),
                status: Some(LogStatus::Warning),
                timestamp_ms: *timestamp_ms,
            };
            let was_empty = batch.is_empty();
            match batch.push(&entry, Some(NOW)) {
                Ok(()) => accepted.push((message, source, tags, hostname, service, timestamp_ms)),
                Err(PushError::Full) => prop_assert!(!was_empty),
                Err(PushError::TooLarge) => prop_assert!(was_empty),
                Err(PushError::Invalid(error)) => panic!("valid entry refused: {error:?}"),
            }
            let parsed = parse(batch.as_payload());
            let items = parsed.as_array().unwrap();
            prop_assert_eq!(items.len(), accepted.len());
            for (item, (message, source, tags, hostname, service, timestamp_ms)) in
                items.iter().zip(&accepted)
            {
                prop_assert_eq!(&item["message"], message.as_str());
                prop_assert_eq!(item["ddsource"].as_str(), source.as_deref());
                let joined = tags.join(",");
                prop_assert_eq!(item["ddtags"].as_str(), (!tags.is_empty()).then_some(joined.as_str()));
                prop_assert_eq!(item["hostname"].as_str(), hostname.as_deref());
                prop_assert_eq!(item["service"].as_str(), service.as_deref());
                prop_assert_eq!(&item["status"], "warning");
                prop_assert_eq!(item["timestamp"].as_i64(), **timestamp_ms);
            }
        }
    }

    #[test]
    fn checks_round_trip_and_fill_small_buffers(
        checks in prop::collection::vec(
            (
                metric_name(),
                host(),
                0u8..4,
                prop::option::of(NOW - 600..=NOW + 600),
                prop::option::of(nasty_string(30)),
                prop::collection::vec(valid_tag(), 0..3),
            ),
            1..8,
        ),
        size in 2usize..500,
    ) {
        let statuses = [CheckStatus::Ok, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown];
        let mut buf = vec![0u8; size];
        let mut batch = CheckBatch::new(&mut buf).unwrap();
        let mut accepted = Vec::new();
        for (name, host, status, timestamp, message, tags) in &checks {
            let tag_refs = strs(tags);
            let check = ServiceCheck {
                check: name,
                host_name: host,
                status: statuses[usize::from(*status)],
                timestamp: *timestamp,
                message: message.as_deref(),
                tags: &tag_refs,
            };
            let was_empty = batch.is_empty();
            match batch.push(&check, Some(NOW)) {
                Ok(()) => accepted.push((name, host, status, timestamp, message, tags)),
                Err(PushError::Full) => prop_assert!(!was_empty),
                Err(PushError::TooLarge) => prop_assert!(was_empty),
                Err(PushError::Invalid(error)) => panic!("valid check refused: {error:?}"),
            }
            let parsed = parse(batch.as_payload());
            let items = parsed.as_array().unwrap();
            prop_assert_eq!(items.len(), accepted.len());
            for (item, (name, host, status, timestamp, message, tags)) in items.iter().zip(&accepted) {
                prop_assert_eq!(&item["check"], name.as_str());
                prop_assert_eq!(&item["host_name"], host.as_str());
                prop_assert_eq!(item["status"].as_u64(), Some(u64::from(**status)));
                prop_assert_eq!(item["timestamp"].as_i64(), **timestamp);
                prop_assert_eq!(item["message"].as_str(), message.as_deref());
                // `tags` is required by the API: present even when empty.
                prop_assert!(item["tags"].is_array());
                prop_assert_eq!(&json_tags(&item["tags"]), *tags);
            }
        }
    }

    #[test]
    fn distributions_round_trip(
        metric in metric_name(),
        points in prop::collection::vec(
            (NOW - 3_600..=NOW + 600, prop::collection::vec(finite_f64(), 1..5)),
            1..4,
        ),
        host in prop::option::of(host()),
        tags in prop::collection::vec(valid_tag(), 0..3),
    ) {
        let views: Vec<DistributionPoint<'_>> = points
            .iter()
            .map(|(timestamp, values)| DistributionPoint::new(*timestamp, values))
            .collect();
        let tag_refs = strs(&tags);
        let mut series = DistributionSeries::new(&metric, &views).with_tags(&tag_refs);
        series.host = host.as_deref();
        let mut buf = vec![0u8; 16 * 1024];
        let mut batch = DistributionBatch::new(&mut buf).unwrap();
        batch.push(&series, Some(NOW)).unwrap();
        let parsed = parse(batch.finish());
        let item = &parsed["series"][0];
        prop_assert_eq!(&item["metric"], metric.as_str());
        prop_assert_eq!(&item["type"], "distribution");
        prop_assert_eq!(item["host"].as_str(), host.as_deref());
        prop_assert_eq!(json_tags(&item["tags"]), tags);
        let parsed_points = item["points"].as_array().unwrap();
        prop_assert_eq!(parsed_points.len(), points.len());
        for (pair, (timestamp, values)) in parsed_points.iter().zip(&points) {
            prop_assert_eq!(pair[0].as_i64(), Some(*timestamp));
            let parsed_values: Vec<f64> = pair[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            prop_assert_eq!(&parsed_values, values);
        }
    }

    #[test]
    fn events_round_trip_any_title_and_text(
        title in nasty_string(60),
        text in nasty_string(200),
        tags in prop::collection::vec(valid_tag(), 0..3),
        date in prop::option::of(NOW - 18 * 3_600..=NOW + 2 * 3_600),
        key in prop::option::of("[a-z0-9_\"\\\\]{1,100}"),
        size in 0usize..2_000,
    ) {
        let tag_refs = strs(&tags);
        let mut event = Event::new(&title, &text)
            .with_tags(&tag_refs)
            .with_priority(Priority::Low)
            .with_alert_type(AlertType::UserUpdate);
        event.date_happened = date;
        event.aggregation_key = key.as_deref();
        let mut buf = vec![0u8; size];
        match event.encode(Some(NOW), &mut buf) {
            Ok(body) => {
                prop_assert!(!title.is_empty());
                let parsed = parse(body);
                prop_assert_eq!(&parsed["title"], title.as_str());
                prop_assert_eq!(&parsed["text"], text.as_str());
                prop_assert_eq!(json_tags(&parsed["tags"]), tags);
                prop_assert_eq!(parsed["date_happened"].as_i64(), date);
                prop_assert_eq!(parsed["aggregation_key"].as_str(), key.as_deref());
                prop_assert_eq!(&parsed["priority"], "low");
                prop_assert_eq!(&parsed["alert_type"], "user_update");
            }
            Err(ddlink_core::events::EventError::EmptyTitle) => prop_assert!(title.is_empty()),
            Err(ddlink_core::events::EventError::BufferTooSmall) => {
                // The same event fits a large buffer: only the size was the problem.
                let mut big = vec![0u8; 64 * 1024];
                prop_assert!(event.encode(Some(NOW), &mut big).is_ok());
            }
            Err(other) => panic!("valid event refused: {other:?}"),
        }
    }

    #[test]
    fn arbitrary_event_log_and_check_input_never_panics(
        a in nasty_string(30),
        b in nasty_string(30),
        timestamp in any::<i64>(),
        now in prop::option::of(any::<i64>()),
        size in 0usize..200,
    ) {
        let tags = [b.as_str()];
        let mut buf = vec![0u8; size];
        let event = Event::new(&a, &b)
            .with_host(&b)
            .with_tags(&tags)
            .with_date_happened(timestamp)
            .with_aggregation_key(&b)
            .with_source_type_name(&a)
            .with_device_name(&b);
        if let Ok(body) = event.encode(now, &mut buf) {
            parse(body);
        }

        let entry = LogEntry::new(&a)
            .with_source(&b)
            .with_tags(&tags)
            .with_hostname(&b)
            .with_service(&a)
            .with_timestamp_ms(timestamp);
        if let Ok(mut batch) = LogBatch::new(&mut buf) {
            let result = batch.push(&entry, now);
            let parsed = parse(batch.as_payload());
            prop_assert_eq!(parsed.as_array().unwrap().len(), usize::from(result.is_ok()));
        }

        let check = ServiceCheck::new(&a, &b, CheckStatus::Critical)
            .with_tags(&tags)
            .with_message(&a)
            .with_timestamp(timestamp);
        if let Ok(mut batch) = CheckBatch::new(&mut buf) {
            let result = batch.push(&check, now);
            let parsed = parse(batch.as_payload());
            prop_assert_eq!(parsed.as_array().unwrap().len(), usize::from(result.is_ok()));
        }

        let values = [f64::from_bits(timestamp as u64)];
        let points = [DistributionPoint::new(timestamp, &values)];
        let distribution = DistributionSeries::new(&a, &points).with_host(&b).with_tags(&tags);
        if let Ok(mut batch) = DistributionBatch::new(&mut buf) {
            let result = batch.push(&distribution, now);
            let parsed = parse(batch.as_payload());
            prop_assert_eq!(parsed["series"].as_array().unwrap().len(), usize::from(result.is_ok()));
        }
    }
}

#[test]
fn log_batch_stops_at_one_thousand_entries() {
    let mut buf = vec![0u8; 64 * 1024];
    let mut batch = LogBatch::new(&mut buf).unwrap();
    let entry = LogEntry::new("x");
    for _ in 0..ddlink_core::logs::LOGS_MAX_ENTRIES {
        batch.push(&entry, None).unwrap();
    }
    assert_eq!(batch.push(&entry, None), Err(PushError::Full));
    assert_eq!(parse(batch.finish()).as_array().unwrap().len(), 1_000);
}

#[test]
fn log_entry_over_one_megabyte_is_refused_and_rolled_back() {
    let mut buf = vec![0u8; 2_000_000];
    let mut batch = LogBatch::new(&mut buf).unwrap();
    batch.push(&LogEntry::new("first"), None).unwrap();
    let huge = "a".repeat(ddlink_core::logs::LOG_MAX_ENTRY_BYTES);
    assert_eq!(
        batch.push(&LogEntry::new(&huge), None),
        Err(PushError::Invalid(
            ddlink_core::logs::LogError::EntryTooLarge
        ))
    );
    let parsed = parse(batch.as_payload());
    assert_eq!(parsed, serde_json::json!([{"message": "first"}]));
}

#[test]
fn non_finite_values_are_refused_not_sent_as_null() {
    let mut buf = [0u8; 256];
    let mut batch = SeriesBatch::new(&mut buf).unwrap();
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let points = [Point::new(NOW, value)];
        let series = Series::new("a.b", MetricType::Gauge, &points);
        assert_eq!(
            batch.push(&series, Some(NOW)),
            Err(PushError::Invalid(
                ddlink_core::metrics::MetricError::NonFiniteValue
            ))
        );
    }
    assert_eq!(batch.finish(), br#"{"series":[]}"#);
}

#[test]
fn point_time_window_is_one_hour_back_ten_minutes_ahead() {
    use ddlink_core::intake::TimeError;
    use ddlink_core::metrics::MetricError;
    let mut buf = [0u8; 256];
    let mut batch = SeriesBatch::new(&mut buf).unwrap();
    let cases = [
        (NOW - 3_600, Ok(())),
        (NOW - 3_601, Err(MetricError::Timestamp(TimeError::TooOld))),
        (NOW + 600, Ok(())),
        (
            NOW + 601,
            Err(MetricError::Timestamp(TimeError::TooFarInFuture)),
        ),
    ];
    for (timestamp, expected) in cases {
        let points = [Point::new(timestamp, 1.0)];
        let series = Series::new("a.b", MetricType::Gauge, &points);
        assert_eq!(
            batch.push(&series, Some(NOW)),
            expected.map_err(PushError::Invalid)
        );
    }
    assert_eq!(batch.len(), 2);
}
