//! Malformed, oversized, misencoded and misaddressed requests get a clear 4xx — never a
//! panic, a hang or a silently kept payload.

use std::io::Write as _;
use std::time::Duration;

use ddlink_emulator::EmulatorConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{self, API_KEY, content_type};

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("compress");
    enc.finish().expect("compress")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("compress");
    enc.finish().expect("compress")
}

fn now(handle: &ddlink_emulator::EmulatorHandle) -> u64 {
    handle
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs()
}

fn series_v2(ts: u64) -> Vec<u8> {
    serde_json::json!({"series":[{"metric":"a.b","points":[{"timestamp":ts,"value":1.0}]}]})
        .to_string()
        .into_bytes()
}

struct Case {
    path: &'static str,
    host: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    content_type: &'static str,
    contains: &'static str,
}

async fn check(client: &reqwest::Client, handle: &ddlink_emulator::EmulatorHandle, case: Case) {
    let mut request = client
        .post(format!("{}{}", handle.url_for_host(case.host), case.path))
        .header("DD-API-KEY", API_KEY)
        .header("Content-Type", "application/json")
        .body(case.body);
    if let Some(encoding) = case.encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let ct = content_type(&response);
    let text = response.text().await.expect("body");
    assert_eq!(
        status, case.status,
        "{} {:?}: {text}",
        case.path, case.encoding
    );
    assert_eq!(
        ct, case.content_type,
        "{} {:?}: {text}",
        case.path, case.encoding
    );
    assert!(
        text.contains(case.contains),
        "{}: {text:?} should contain {:?}",
        case.path,
        case.contains
    );
}

#[tokio::test]
async fn malformed_and_misencoded_payloads_are_rejected_clearly() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    let ts = now(&handle);
    let good = series_v2(ts);
    let mut truncated = zlib(&good);
    truncated.truncate(truncated.len() - 3);
    let mut raw_deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw_deflate.write_all(&good).expect("compress");
    let zstd =
        ruzstd::encoding::compress_to_vec(&good[..], ruzstd::encoding::CompressionLevel::Fastest);
    let json = "application/json";
    let text_json = "text/json";
    let plain = "text/plain; charset=utf-8";
    let cases = vec![
        // Every supported encoding is accepted.
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("deflate"),
            body: zlib(&good),
            status: 202,
            content_type: json,
            contains: r#"{"errors":[]}"#,
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("gzip"),
            body: gzip(&good),
            status: 202,
            content_type: json,
            contains: r#"{"errors":[]}"#,
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("zstd1"),
            body: zstd.clone(),
            status: 202,
            content_type: json,
            contains: r#"{"errors":[]}"#,
        },
        // Malformed JSON.
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: None,
            body: b"{\"series\":[".to_vec(),
            status: 400,
            content_type: json,
            contains: "Payload is not in the expected format",
        },
        Case {
            path: "/api/v1/series",
            host: "api",
            encoding: None,
            body: b"[\"metric\": 1]".to_vec(),
            status: 400,
            content_type: plain,
            contains: "Payload is not in the expected format",
        },
        Case {
            path: "/api/v1/check_run",
            host: "api",
            encoding: None,
            body: b"{".to_vec(),
            status: 400,
            content_type: plain,
            contains: "Payload is not in the expected format",
        },
        Case {
            path: "/api/v1/events",
            host: "api",
            encoding: None,
            body: b"nope".to_vec(),
            status: 400,
            content_type: plain,
            contains: "errors",
        },
        Case {
            path: "/api/v2/logs",
            host: "http-intake.logs",
            encoding: None,
            body: b"[{\"message\":".to_vec(),
            status: 400,
            content_type: json,
            contains: "Malformed payload",
        },
        Case {
            path: "/api/v2/events",
            host: "event-management-intake",
            encoding: None,
            body: b"{}".to_vec(),
            status: 400,
            content_type: json,
            contains: "JSON validation failed at $",
        },
        // Schema and time rules.
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: None,
            body: series_v2(ts - 3601),
            status: 400,
            content_type: json,
            contains: "more than 1 hour in the past",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: None,
            // A minute past the limit: `ts` was read when the cases were built, and the emulator's
            // clock keeps running while the earlier cases are sent (seconds on a loaded machine).
            body: series_v2(ts + 660),
            status: 400,
            content_type: json,
            contains: "more than 10 minutes in the future",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: None,
            body: br#"{"series":[{"metric":"9bad","points":[]}]}"#.to_vec(),
            status: 400,
            content_type: json,
            contains: "must start with a letter",
        },
        Case {
            path: "/api/v1/series",
            host: "api",
            encoding: None,
            body: br#"{"series":[{"metric":"m","points":[],"tags":["env:"]}]}"#.to_vec(),
            status: 400,
            content_type: text_json,
            contains: "must not end with",
        },
        Case {
            path: "/api/v1/check_run",
            host: "api",
            encoding: None,
            body: br#"[{"check":"c","host_name":"h","status":9,"tags":[]}]"#.to_vec(),
            status: 400,
            content_type: text_json,
            contains: "$[0].status",
        },
        // Encodings an endpoint does not take, unknown ones, broken streams.
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("br"),
            body: good.clone(),
            status: 415,
            content_type: json,
            contains: "Unsupported Content-Encoding: br",
        },
        Case {
            path: "/api/v1/series",
            host: "api",
            encoding: Some("zstd1"),
            body: zstd,
            status: 415,
            content_type: text_json,
            contains: "zstd1",
        },
        Case {
            path: "/api/v1/distribution_points",
            host: "api",
            encoding: Some("gzip"),
            body: gzip(&good),
            status: 415,
            content_type: text_json,
            contains: "gzip",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("deflate"),
            body: truncated.clone(),
            status: 400,
            content_type: json,
            contains: "truncated",
        },
        Case {
            path: "/api/v2/logs",
            host: "http-intake.logs",
            encoding: Some("deflate"),
            body: truncated,
            status: 400,
            content_type: json,
            contains: "Failed to decompress",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("deflate"),
            body: raw_deflate.finish().expect("compress"),
            status: 400,
            content_type: json,
            contains: "invalid zlib stream",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("gzip"),
            body: good.clone(),
            status: 400,
            content_type: json,
            contains: "Failed to decompress",
        },
        // Size limits: on the wire and after decoding.
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: None,
            body: vec![b' '; 512_001],
            status: 413,
            content_type: json,
            contains: "Payload too large",
        },
        Case {
            path: "/api/v2/series",
            host: "api",
            encoding: Some("deflate"),
            body: zlib(&vec![b' '; 5_242_880]),
            status: 413,
            content_type: json,
            contains: "Decompressed payload too large",
        },
        Case {
            path: "/api/v2/logs",
            host: "http-intake.logs",
            encoding: None,
            body: serde_json::to_vec(&vec![serde_json::json!({"message":"m"}); 1001])
                .expect("json"),
            status: 400,
            content_type: json,
            contains: "Too many log entries",
        },
    ];
    for case in cases {
        check(&client, &handle, case).await;
    }
    // Only the three accepted payloads were kept.
    assert_eq!(handle.received_series().len(), 3);
    assert!(
        handle.received_logs().is_empty()
            && handle.received_checks().is_empty()
            && handle.received_events().is_empty()
    );
}

#[tokio::test]
async fn keys_are_enforced_on_every_intake_endpoint() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    let revoked = handle.create_api_key();
    assert!(handle.revoke_api_key(&revoked.id));
    for (host, path, missing_status, missing_body) in [
        (
            "api",
            "/api/v2/series",
            403,
            r#"{"errors":["API key required"]}"#,
        ),
        (
            "api",
            "/api/v1/series",
            403,
            r#"{"errors":["API key required"]}"#,
        ),
        (
            "api",
            "/api/v1/check_run",
            403,
            r#"{"errors":["API key required"]}"#,
        ),
        (
            "api",
            "/api/v1/events",
            403,
            r#"{"errors":["API key required"]}"#,
        ),
        (
            "api",
            "/api/v1/distribution_points",
            403,
            r#"{"errors":["API key required"]}"#,
        ),
        ("http-intake.logs", "/api/v2/logs", 401, "API key required"),
        (
            "event-management-intake",
            "/api/v2/events",
            403,
            "API key required",
        ),
    ] {
        let url = format!("{}{path}", handle.url_for_host(host));
        let missing = client.post(&url).body("{}").send().await.expect("answered");
        assert_eq!(missing.status(), missing_status, "{path}");
        assert!(
            missing.text().await.expect("body").contains(missing_body),
            "{path}"
        );
        for key in ["not-a-key", revoked.key.as_str()] {
            let bad = client
                .post(&url)
                .header("DD-API-KEY", key)
                .body("{}")
                .send()
                .await
                .expect("answered");
            assert_eq!(bad.status(), 403, "{path}");
            assert!(
                bad.text().await.expect("body").contains("Forbidden"),
                "{path}"
            );
        }
    }
    // The deprecated query parameter works like the header.
    let validate = format!("{}/api/v1/validate?api_key={API_KEY}", handle.api_url());
    let response = client.get(&validate).send().await.expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), r#"{"valid":true}"#);
}

#[tokio::test]
async fn unknown_hosts_and_paths_are_refused() {
    let handle = common::start(EmulatorConfig::default()).await;
    let client = common::client(&handle);
    let foreign = client
        .get(format!("{}/api/v1/validate", handle.base_url()))
        .header("Host", "api.datadoghq.com")
        .send()
        .await
        .expect("answered");
    assert_eq!(foreign.status(), 421);
    let text = foreign.text().await.expect("body");
    assert!(
        text.contains("api.datadoghq.com") && text.contains(handle.domain()),
        "{text}"
    );
    let nested = client
        .get(format!("{}/", handle.base_url()))
        .header("Host", format!("a.b.{}", handle.domain()))
        .send()
        .await
        .expect("answered");
    assert_eq!(nested.status(), 421);
    let missing = client
        .get(format!("{}/api/v9/nothing", handle.api_url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.text().await.expect("body"),
        r#"{"errors":["Not found"]}"#
    );
    // App pages are not served on the API host and vice versa.
    assert_eq!(
        client
            .get(format!("{}/tile", handle.api_url()))
            .send()
            .await
            .expect("answered")
            .status(),
        404
    );
    let wrong = client
        .post(format!("{}/api/v2/series", handle.app_url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status(), 404);
    // The test API answers on any host (with its token), including the bare address.
    let requests: Value = common::test_api_get(&client, &handle, "requests").await;
    let statuses: Vec<u64> = requests
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, vec![421, 421, 404, 404, 404]);
}

async fn raw_exchange(handle: &ddlink_emulator::EmulatorHandle, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(handle.local_addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers or closes instead of hanging")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn broken_http_never_hangs() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let domain = handle.domain().to_owned();
    let no_host = raw_exchange(&handle, b"GET /api/v1/validate HTTP/1.1\r\n\r\n").await;
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    let garbage = raw_exchange(&handle, b"\x16\x03\x01garbage\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    // A body shorter than its Content-Length, then end of stream.
    let short = format!(
        "POST /api/v2/series HTTP/1.1\r\nHost: api.{domain}\r\nDD-API-KEY: {API_KEY}\r\nContent-Length: 100\r\n\r\n{{\"series\""
    );
    let answer = raw_exchange(&handle, short.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(handle.received_series().is_empty());
    // The emulator still serves afterwards.
    let ok = raw_exchange(
        &handle,
        format!("GET /api/v1/validate HTTP/1.1\r\nHost: api.{domain}\r\nDD-API-KEY: {API_KEY}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}
