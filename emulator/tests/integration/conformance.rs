//! Every recorded Datadog interaction replayed against the emulator (clock frozen at the
//! recording time): same status, same content type, same body — byte for byte where the
//! body has no server-generated ids, field by field where it has.

use std::path::PathBuf;
use std::time::SystemTime;

use ddlink_emulator::EmulatorConfig;
use serde_json::Value;

use crate::common::{self, API_KEY};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadog-recordings")
}

/// Recordings whose request carried no API key (the recorded answer says so).
const WITHOUT_KEY: &[&str] = &["rust-v1-validate-403.json"];

struct Recording {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
    content_type: String,
    response_body: String,
    recorded_at: SystemTime,
}

fn load(path: &PathBuf) -> Recording {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let cassette: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let interactions = cassette["http_interactions"]
        .as_array()
        .expect("interactions");
    assert_eq!(
        interactions.len(),
        1,
        "{}: one interaction per fixture",
        path.display()
    );
    let i = &interactions[0];
    let req = &i["request"];
    let resp = &i["response"];
    let headers = req["headers"]
        .as_object()
        .expect("request headers")
        .iter()
        .map(|(k, v)| (k.clone(), v[0].as_str().expect("header value").to_owned()))
        .collect();
    Recording {
        method: req["method"].as_str().expect("method").to_uppercase(),
        uri: req["uri"].as_str().expect("uri").to_owned(),
        headers,
        body: req["body"]["string"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        status: u16::try_from(resp["status"]["code"].as_u64().expect("status"))
            .expect("u16 status"),
        content_type: resp["headers"]["Content-Type"][0]
            .as_str()
            .expect("content type")
            .to_owned(),
        response_body: resp["body"]["string"]
            .as_str()
            .expect("response body")
            .to_owned(),
        recorded_at: httpdate::parse_http_date(i["recorded_at"].as_str().expect("recorded_at"))
            .expect("HTTP date"),
    }
}

/// Maps `https://<prefix>.datadoghq.com/path` onto the emulator's host of the same prefix.
fn emulator_url(handle: &ddlink_emulator::EmulatorHandle, uri: &str) -> String {
    let rest = uri.strip_prefix("https://").expect("https recording");
    let (host, path) = rest.split_once('/').expect("path");
    let prefix = host
        .strip_suffix(".datadoghq.com")
        .expect("a datadoghq.com host");
    format!("{}/{path}", handle.url_for_host(prefix))
}

/// Checks the server-generated fields of a body against their expected shapes, then
/// replaces them with the recorded values so that the rest compares exactly.
fn normalize(file: &str, got: &mut Value, expected: &Value, recorded_unix: i64) {
    if file.starts_with("rust-v1-events-post") && got.get("event").is_some() {
        let event = got["event"].as_object_mut().expect("event object");
        let id_str = event["id_str"].as_str().expect("id_str").to_owned();
        assert_eq!(id_str.len(), 19, "{file}: 19-digit id_str");
        let id = event["id"].as_u64().expect("numeric id");
        assert_eq!(
            id as f64,
            id_str.parse::<f64>().expect("numeric id_str"),
            "{file}: id is id_str rounded"
        );
        // Through a double: at most 17 significant digits, so a 19-digit id ends in "00".
        assert_eq!(
            id % 100,
            0,
            "{file}: id printed through a double like Datadog's"
        );
        let url = event["url"].as_str().expect("url");
        assert!(
            url.ends_with(&format!("/event/event?id={id_str}")),
            "{file}: {url}"
        );
        let date = event["date_happened"].as_i64().expect("date_happened");
        assert!(
            (date - recorded_unix).abs() <= 1,
            "{file}: date_happened {date} is the emulator's now"
        );
        for field in ["id", "id_str", "url", "date_happened"] {
            event.insert(field.into(), expected["event"][field].clone());
        }
    }
    if file == "rust-v2-events-post-202.json" {
        let evt = &mut got["data"]["attributes"]["attributes"]["evt"];
        let id = evt["id"].as_str().expect("evt.id").to_owned();
        let uid = evt["uid"].as_str().expect("evt.uid").to_owned();
        assert!(
            id.len() == 19 && id.bytes().all(|b| b.is_ascii_digit()),
            "{file}: evt.id {id}"
        );
        assert_eq!(uid.len(), 24, "{file}: evt.uid");
        *evt = expected["data"]["attributes"]["attributes"]["evt"].clone();
        let link = got["links"]["self"].as_str().expect("links.self");
        assert!(
            link.ends_with(&format!("/event/event?uid={uid}")),
            "{file}: {link}"
        );
        got["links"]["self"] = expected["links"]["self"].clone();
    }
}

/// Bodies containing generated ids are compared after normalisation; all others byte for byte.
fn has_generated_ids(file: &str, status: u16) -> bool {
    status / 100 == 2
        && (file.starts_with("rust-v1-events-post") || file.starts_with("rust-v2-events-post"))
}

#[tokio::test]
async fn every_recording_replays_identically() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12, "all twelve recordings are present");
    for path in files {
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let rec = load(&path);
        let config = EmulatorConfig {
            api_keys: vec![API_KEY.into()],
            frozen_clock: Some(rec.recorded_at),
            ..EmulatorConfig::default()
        };
        let handle = common::start(config).await;
        let client = common::client(&handle);
        let method = reqwest::Method::from_bytes(rec.method.as_bytes()).expect("method");
        let mut request = client.request(method, emulator_url(&handle, &rec.uri));
        for (name, value) in &rec.headers {
            request = request.header(name, value);
        }
        if !WITHOUT_KEY.contains(&file.as_str()) {
            request = request.header("DD-API-KEY", API_KEY);
        }
        if !rec.body.is_empty() {
            request = request.body(rec.body.clone());
        }
        let response = request.send().await.expect("request answered");
        assert_eq!(response.status().as_u16(), rec.status, "{file}: status");
        assert_eq!(
            common::content_type(&response),
            rec.content_type,
            "{file}: content type"
        );
        let text = response.text().await.expect("body");
        if has_generated_ids(&file, rec.status) {
            let expected: Value = serde_json::from_str(&rec.response_body).expect("recorded JSON");
            let mut got: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{file}: JSON body: {e}: {text}"));
            let recorded_unix = i64::try_from(
                rec.recorded_at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .expect("after epoch")
                    .as_secs(),
            )
            .expect("fits");
            normalize(&file, &mut got, &expected, recorded_unix);
            assert_eq!(got, expected, "{file}: body");
        } else {
            assert_eq!(text, rec.response_body, "{file}: body bytes");
        }
        // Accepted payloads are visible, attributed to the key that sent them.
        if rec.status / 100 == 2 && rec.method == "POST" {
            let key_id = handle.api_keys()[0].id.clone();
            let attributed = handle
                .received_series()
                .iter()
                .all(|s| s.api_key_id == key_id)
                && handle
                    .received_events()
                    .iter()
                    .all(|e| e.api_key_id == key_id)
                && handle
                    .received_logs()
                    .iter()
                    .all(|l| l.api_key_id == key_id)
                && handle
                    .received_checks()
                    .iter()
                    .all(|c| c.api_key_id == key_id);
            let count = handle.received_series().len()
                + handle.received_events().len()
                + handle.received_logs().len()
                + handle.received_checks().len();
            assert!(
                attributed && count == 1,
                "{file}: one record, attributed to the sending key"
            );
        }
        handle.shutdown().await;
    }
}
