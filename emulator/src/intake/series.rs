//! Metrics: `POST /api/v2/series`, `POST /api/v1/series`, `POST /api/v1/distribution_points`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::rules::{Fields, check_metric_name, check_point_time};
use super::{ErrorStyle, IntakeSpec, accept, error, respond};
use crate::clock::lock;
use crate::decoding::ContentEncoding;
use crate::keys::Sender;
use crate::received::{DistributionRecord, Point, SeriesEndpoint, SeriesRecord};
use crate::state::AppState;

const V2: IntakeSpec = IntakeSpec {
    style: ErrorStyle::Json,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Deflate,
        ContentEncoding::Gzip,
        ContentEncoding::Zstd1,
    ],
    max_body: 512_000,
    max_decoded: 5_242_880,
    missing_key_status: StatusCode::FORBIDDEN,
};

const V1: IntakeSpec = IntakeSpec {
    style: ErrorStyle::TextJson,
    encodings: &[
        ContentEncoding::Identity,
        ContentEncoding::Deflate,
        ContentEncoding::Gzip,
    ],
    max_body: 3_200_000,
    max_decoded: 62_914_560,
    missing_key_status: StatusCode::FORBIDDEN,
};

/// No limit is documented; the v1 series limits are assumed (as Vector and Saluki do).
const DISTRIBUTION: IntakeSpec = IntakeSpec {
    encodings: &[ContentEncoding::Identity, ContentEncoding::Deflate],
    ..V1
};

/// v1's answer, byte for byte as recorded (note the space).
const V1_ACCEPTED: &str = r#"{"status": "ok"}"#;

/// v1 endpoints answer unparseable JSON in plain text, as Datadog does.
pub(super) fn not_expected_format(e: &serde_json::Error) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!("Payload is not in the expected format: {e}"),
    )
}

pub(super) async fn submit_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let accepted = match accept(&state, &headers, query.as_deref(), body, &V2).await {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let is_protobuf = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-protobuf"));
    if is_protobuf {
        return error(
            V2.style,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type application/x-protobuf: the public API takes JSON",
        );
    }
    let payload: Value = match serde_json::from_slice(&accepted.body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                V2.style,
                StatusCode::BAD_REQUEST,
                &format!("Payload is not in the expected format: {e}"),
            );
        }
    };
    match parse_v2(&payload, &accepted.sender, accepted.now) {
        Ok(records) => {
            lock(&state.received).series.extend(records);
            respond(StatusCode::ACCEPTED, "application/json", r#"{"errors":[]}"#)
        }
        Err(message) => error(V2.style, StatusCode::BAD_REQUEST, &message),
    }
}

const V2_TYPES: [&str; 4] = ["unspecified", "count", "rate", "gauge"];

fn parse_v2(payload: &Value, sender: &Sender, now: i64) -> Result<Vec<SeriesRecord>, String> {
    let root = Fields::of(payload, "$")?;
    let series = root.required("series", Value::as_array, "an array")?;
    let mut records = Vec::with_capacity(series.len());
    for (i, item) in series.iter().enumerate() {
        let s = Fields::of(item, format!("$.series[{i}]"))?;
        let metric = s.string("metric")?;
        check_metric_name(metric).map_err(|e| format!("{}: {e}", s.at("metric")))?;
        let type_index = s.opt_int("type")?.unwrap_or(0);
        let metric_type = usize::try_from(type_index)
            .ok()
            .and_then(|t| V2_TYPES.get(t))
            .ok_or_else(|| format!("{}: must be one of 0, 1, 2, 3", s.at("type")))?;
        let mut host = None;
        if let Some(resources) = s.optional("resources", Value::as_array, "an array")? {
            for (r, resource) in resources.iter().enumerate() {
                let res = Fields::of(resource, format!("{}[{r}]", s.at("resources")))?;
                if res.opt_string("type")? == Some("host") {
                    host = res.opt_string("name")?.map(str::to_owned);
                }
            }
        }
        let points = s.required("points", Value::as_array, "an array")?;
        let mut parsed = Vec::with_capacity(points.len());
        for (p, point) in points.iter().enumerate() {
            let pt = Fields::of(point, format!("{}[{p}]", s.at("points")))?;
            let timestamp = pt.opt_int("timestamp")?.unwrap_or(now);
            let value = pt.required("value", Value::as_f64, "a number")?;
            check_point_time(metric, timestamp, now)
                .map_err(|e| format!("{}: {e}", pt.at("timestamp")))?;
            parsed.push(Point { timestamp, value });
        }
        records.push(SeriesRecord {
            api_key_id: sender.api_key_id.clone(),
            org_id: sender.org_id.clone(),
            endpoint: SeriesEndpoint::V2,
            metric: metric.to_owned(),
            metric_type: (*metric_type).to_owned(),
            interval: s.opt_int("interval")?,
            tags: s.tags("tags")?,
            host,
            unit: s.opt_string("unit")?.map(str::to_owned),
            points: parsed,
            received_at: now,
        });
    }
    Ok(records)
}

pub(super) async fn submit_v1(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let accepted = match accept(&state, &headers, query.as_deref(), body, &V1).await {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let payload: Value = match serde_json::from_slice(&accepted.body) {
        Ok(v) => v,
        Err(e) => return not_expected_format(&e),
    };
    match parse_v1(&payload, &accepted.sender, accepted.now) {
        Ok(records) => {
            lock(&state.received).series.extend(records);
            respond(StatusCode::ACCEPTED, "text/json", V1_ACCEPTED)
        }
        Err(message) => error(V1.style, StatusCode::BAD_REQUEST, &message),
    }
}

/// A v1 `[timestamp, value]` pair's timestamp (seconds, possibly fractional).
fn v1_timestamp(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|t| t.is_finite()).map(|t| t as i64))
}

fn parse_v1(payload: &Value, sender: &Sender, now: i64) -> Result<Vec<SeriesRecord>, String> {
    let root = Fields::of(payload, "$")?;
    // Datadog answers 202 and keeps nothing when `series` is missing (observed): so do we.
    let Some(series) = root.optional("series", Value::as_array, "an array")? else {
        return Ok(Vec::new());
    };
    let mut records = Vec::with_capacity(series.len());
    for (i, item) in series.iter().enumerate() {
        let s = Fields::of(item, format!("$.series[{i}]"))?;
        let metric = s.string("metric")?;
        check_metric_name(metric).map_err(|e| format!("{}: {e}", s.at("metric")))?;
        let metric_type = match s.opt_string("type")?.unwrap_or("") {
            "" => "unspecified",
            t @ ("count" | "gauge" | "rate") => t,
            _ => {
                return Err(format!(
                    "{}: must be one of \"\", \"count\", \"gauge\", \"rate\"",
                    s.at("type")
                ));
            }
        };
        let points = s.required("points", Value::as_array, "an array")?;
        let mut parsed = Vec::with_capacity(points.len());
        for (p, point) in points.iter().enumerate() {
            let at = format!("{}[{p}]", s.at("points"));
            let pair = point
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| format!("{at}: expected [timestamp, value]"))?;
            let (Some(ts), Some(value)) = (pair.first(), pair.get(1)) else {
                return Err(format!("{at}: expected [timestamp, value]"));
            };
            let timestamp =
                v1_timestamp(ts).ok_or_else(|| format!("{at}[0]: expected a number"))?;
            check_point_time(metric, timestamp, now).map_err(|e| format!("{at}: {e}"))?;
            if value.is_null() {
                continue; // `null` values are allowed and carry no point.
            }
            let value = value
                .as_f64()
                .ok_or_else(|| format!("{at}[1]: expected a number or null"))?;
            parsed.push(Point { timestamp, value });
        }
        records.push(SeriesRecord {
            api_key_id: sender.api_key_id.clone(),
            org_id: sender.org_id.clone(),
            endpoint: SeriesEndpoint::V1,
            metric: metric.to_owned(),
            metric_type: metric_type.to_owned(),
            interval: s.opt_int("interval")?,
            tags: s.tags("tags")?,
            host: s.opt_string("host")?.map(str::to_owned),
            unit: None,
            points: parsed,
            received_at: now,
        });
    }
    Ok(records)
}

pub(super) async fn submit_distribution(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let accepted = match accept(&state, &headers, query.as_deref(), body, &DISTRIBUTION).await {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let payload: Value = match serde_json::from_slice(&accepted.body) {
        Ok(v) => v,
        Err(e) => return not_expected_format(&e),
    };
    match parse_distribution(&payload, &accepted.sender, accepted.now) {
        Ok(records) => {
            lock(&state.received).distributions.extend(records);
            respond(StatusCode::ACCEPTED, "text/json", V1_ACCEPTED)
        }
        Err(message) => error(DISTRIBUTION.style, StatusCode::BAD_REQUEST, &message),
    }
}

fn parse_distribution(
    payload: &Value,
    sender: &Sender,
    now: i64,
) -> Result<Vec<DistributionRecord>, String> {
    let root = Fields::of(payload, "$")?;
    let series = root.required("series", Value::as_array, "an array")?;
    let mut records = Vec::with_capacity(series.len());
    for (i, item) in series.iter().enumerate() {
        let s = Fields::of(item, format!("$.series[{i}]"))?;
        let metric = s.string("metric")?;
        check_metric_name(metric).map_err(|e| format!("{}: {e}", s.at("metric")))?;
        if s.opt_string("type")?.is_some_and(|t| t != "distribution") {
            return Err(format!("{}: must be \"distribution\"", s.at("type")));
        }
        let points = s.required("points", Value::as_array, "an array")?;
        let mut parsed = Vec::with_capacity(points.len());
        for (p, point) in points.iter().enumerate() {
            let at = format!("{}[{p}]", s.at("points"));
            let shape = || format!("{at}: expected [timestamp, [values]]");
            let pair = point
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(shape)?;
            let timestamp = pair.first().and_then(v1_timestamp).ok_or_else(shape)?;
            let values = pair.get(1).and_then(Value::as_array).ok_or_else(shape)?;
            let values: Vec<f64> = values
                .iter()
                .map(Value::as_f64)
                .collect::<Option<_>>()
                .ok_or_else(shape)?;
            check_point_time(metric, timestamp, now).map_err(|e| format!("{at}: {e}"))?;
            parsed.push((timestamp, values));
        }
        records.push(DistributionRecord {
            api_key_id: sender.api_key_id.clone(),
            org_id: sender.org_id.clone(),
            metric: metric.to_owned(),
            tags: s.tags("tags")?,
            host: s.opt_string("host")?.map(str::to_owned),
            points: parsed,
            received_at: now,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(json: &str, now: i64) -> Result<Vec<SeriesRecord>, String> {
        parse_v2(
            &serde_json::from_str(json).unwrap(),
            &Sender::for_tests(),
            now,
        )
    }

    #[test]
    fn v2_reads_the_recorded_shape() {
        let records = v2(
            r#"{"series":[{"metric":"system.load.1","points":[{"timestamp":1657662336,"value":0.7}],"resources":[{"name":"dummyhost","type":"host"}],"type":0}]}"#,
            1_657_662_336,
        )
        .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].host.as_deref(), Some("dummyhost"));
        assert_eq!(records[0].metric_type, "unspecified");
        assert_eq!(
            records[0].points,
            vec![Point {
                timestamp: 1_657_662_336,
                value: 0.7
            }]
        );
    }

    #[test]
    fn v2_errors_name_the_field() {
        let err = v2(
            r#"{"series":[{"metric":"m","points":[{"timestamp":1,"value":1}]}]}"#,
            10_000,
        )
        .unwrap_err();
        assert!(err.starts_with("$.series[0].points[0].timestamp:"), "{err}");
        assert!(err.contains("1 hour in the past"), "{err}");
        let err = v2(r#"{"series":[{"metric":"m","points":[{"value":"x"}]}]}"#, 0).unwrap_err();
        assert_eq!(err, "$.series[0].points[0].value: expected a number");
        let err = v2(r#"{"series":[{"metric":"m","type":7,"points":[]}]}"#, 0).unwrap_err();
        assert!(err.contains("$.series[0].type"), "{err}");
        assert!(v2(r#"{}"#, 0).unwrap_err().contains("$.series: required"));
        assert!(v2(r#"[]"#, 0).unwrap_err().contains("expected an object"));
    }

    #[test]
    fn v1_skips_null_values_and_accepts_missing_series() {
        let payload = serde_json::json!({"series":[{"metric":"m","points":[[100.5, null],[100, 2.5]],"type":"rate","interval":10}]});
        let records = parse_v1(&payload, &Sender::for_tests(), 100).unwrap();
        assert_eq!(
            records[0].points,
            vec![Point {
                timestamp: 100,
                value: 2.5
            }]
        );
        assert_eq!(records[0].interval, Some(10));
        assert!(
            parse_v1(&serde_json::json!({}), &Sender::for_tests(), 0)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_v1(
                &serde_json::json!({"series":[{"metric":"m","points":[[1]]}]}),
                &Sender::for_tests(),
                0
            )
            .is_err()
        );
    }

    #[test]
    fn distribution_points_carry_value_lists() {
        let payload = serde_json::json!({"series":[{"host":"h","metric":"system.load.1","points":[[1636629071,[1.0,2.0]]],"tags":["environment:test"],"type":"distribution"}]});
        let records = parse_distribution(&payload, &Sender::for_tests(), 1_636_629_071).unwrap();
        assert_eq!(records[0].points, vec![(1_636_629_071, vec![1.0, 2.0])]);
        let bad = serde_json::json!({"series":[{"metric":"m","points":[[1,["x"]]]}]});
        assert!(parse_distribution(&bad, &Sender::for_tests(), 1).is_err());
    }
}
