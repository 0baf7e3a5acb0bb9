//! Replays the recorded Datadog interactions through the `http` module: each recorded request
//! must match one `Endpoint` (method, path and host), and each recorded response head must parse
//! and classify as the status demands.

use std::fs;
use std::path::{Path, PathBuf};

use ddlink_core::http::{BodyType, DropReason, Endpoint, Outcome, ResponseHead, classify};
use ddlink_core::site::{Region, Site};
use serde_json::Value;

fn recordings() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = ["datadog-recordings", "http-recordings"]
        .iter()
        .flat_map(|dir| {
            let dir = root.join(dir);
            fs::read_dir(&dir)
                .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
                .map(|entry| entry.expect("directory entry").path())
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The endpoint a recorded request used, checked against the US1 hosts it was recorded on.
fn endpoint_of(request: &Value) -> Endpoint {
    let uri = request["uri"].as_str().expect("uri");
    let method = request["method"]
        .as_str()
        .expect("method")
        .to_ascii_uppercase();
    let rest = uri.strip_prefix("https://").expect("https uri");
    let (host, path) = rest.split_at(rest.find('/').expect("path"));
    let path = path.split('?').next().unwrap_or(path);
    let site = Site::from(Region::Us1);
    Endpoint::ALL
        .into_iter()
        .find(|endpoint| {
            endpoint.path() == path
                && endpoint.method().as_str() == method
                && endpoint.host(&site).as_str() == host
        })
        .unwrap_or_else(|| panic!("no endpoint for {method} {uri}"))
}

fn raw_head(response: &Value, recorded_at: &str) -> String {
    let status = &response["status"];
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {recorded_at}\r\n",
        status["code"],
        status["message"].as_str().expect("reason")
    );
    for (name, values) in response["headers"].as_object().expect("headers") {
        for value in values.as_array().expect("header values") {
            head.push_str(&format!("{name}: {}\r\n", value.as_str().expect("value")));
        }
    }
    head.push_str("\r\n");
    head.push_str(response["body"]["string"].as_str().expect("body"));
    head
}

#[test]
fn recorded_interactions_parse_and_classify() {
    let files = recordings();
    assert!(
        files.len() >= 9,
        "expected the intake and validate recordings, found {files:?}"
    );
    let mut endpoints_seen = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("readable recording");
        let cassette: Value = serde_json::from_str(&text).expect("valid JSON");
        for interaction in cassette["http_interactions"]
            .as_array()
            .expect("interactions")
        {
            let name = file.display();
            let endpoint = endpoint_of(&interaction["request"]);
            endpoints_seen.push(endpoint);
            let recorded_at = interaction["recorded_at"].as_str().expect("recorded_at");
            let raw = raw_head(&interaction["response"], recorded_at);
            let (head, used) = ResponseHead::parse(raw.as_bytes()).expect("response head parses");
            let expected_body = interaction["response"]["body"]["string"]
                .as_str()
                .expect("body");
            assert_eq!(&raw[used..], expected_body, "{name}");
            assert!(
                head.headers.date.is_some(),
                "{name}: Date {recorded_at:?} not understood"
            );
            let recorded_type = interaction["response"]["headers"]["Content-Type"][0]
                .as_str()
                .expect("recorded Content-Type");
            // Datadog answers `text/json` on check_run and `text/plain` (with a JSON body) for
            // some v1 event errors: error bodies are not always labelled JSON.
            let expected_type = match recorded_type {
                "application/json" | "text/json" => BodyType::Json,
                "text/plain; charset=utf-8" => BodyType::Text,
                other => panic!("{name}: unexpected Content-Type {other:?}"),
            };
            assert_eq!(head.headers.body_type, Some(expected_type), "{name}");
            let expected = match head.status {
                200..=299 => Outcome::Accepted,
                403 => Outcome::Reprovision,
                400 => Outcome::Drop {
                    reason: DropReason::BadRequest,
                },
                other => panic!("{name}: no expectation for status {other}"),
            };
            assert_eq!(classify(head.status, &head.headers), expected, "{name}");
        }
    }
    for endpoint in [
        Endpoint::SeriesV2,
        Endpoint::SeriesV1,
        Endpoint::EventsV1,
        Endpoint::LogsV2,
        Endpoint::CheckRunV1,
        Endpoint::ValidateV1,
    ] {
        assert!(
            endpoints_seen.contains(&endpoint),
            "no recording exercises {endpoint:?}"
        );
    }
}
