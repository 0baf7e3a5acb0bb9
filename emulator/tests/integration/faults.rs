//! Injected faults: statuses with rate-limit headers, delays, dropped connections; the
//! clock stamped on every answer.

use std::time::{Duration, UNIX_EPOCH};

use ddlink_emulator::{EmulatorConfig, FaultAction, FaultSpec, RateLimit};
use reqwest::Method;

use crate::common::{self, API_KEY};

fn validate(
    client: &reqwest::Client,
    handle: &ddlink_emulator::EmulatorHandle,
) -> reqwest::RequestBuilder {
    client
        .get(format!("{}/api/v1/validate", handle.api_url()))
        .header("DD-API-KEY", API_KEY)
}

#[tokio::test]
async fn status_faults_apply_count_times_with_rate_limit_headers() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    handle.inject_fault(FaultSpec {
        path: "/api/v1/validate".into(),
        count: 2,
        action: FaultAction::Status {
            status: 429,
            body: None,
            rate_limit: Some(RateLimit {
                limit: 100,
                period: 60,
                remaining: 0,
                reset: 17,
                name: Some("submit".into()),
            }),
        },
    });
    for _ in 0..2 {
        let limited = validate(&client, &handle).send().await.expect("answered");
        assert_eq!(limited.status(), 429);
        let header = |name: &str| {
            limited
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        assert_eq!(header("x-ratelimit-reset").as_deref(), Some("17"));
        assert_eq!(header("x-ratelimit-limit").as_deref(), Some("100"));
        assert_eq!(header("x-ratelimit-period").as_deref(), Some("60"));
        assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(header("x-ratelimit-name").as_deref(), Some("submit"));
        assert_eq!(
            limited.text().await.expect("body"),
            r#"{"errors":["Too Many Requests"]}"#
        );
    }
    assert_eq!(
        validate(&client, &handle)
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );

    // Over HTTP, as JSON, for another path; other paths are unaffected.
    let added = common::test_api(&client, &handle, Method::POST, "faults")
        .json(&serde_json::json!({"path":"/api/v2/series","action":{"kind":"status","status":503}}))
        .send()
        .await
        .expect("answered");
    assert_eq!(added.status(), 201);
    assert_eq!(
        validate(&client, &handle)
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );
    let series = client
        .post(format!("{}/api/v2/series", handle.api_url()))
        .header("DD-API-KEY", API_KEY)
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(series.status(), 503);
    let faulted: Vec<_> = handle
        .requests()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 3);
}

#[tokio::test]
async fn drop_and_delay_faults() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    handle.inject_fault(FaultSpec {
        path: "*".into(),
        count: 1,
        action: FaultAction::Drop,
    });
    let dropped = validate(&client, &handle).send().await;
    assert!(
        dropped.is_err(),
        "the connection is closed without an answer"
    );
    assert_eq!(
        validate(&client, &handle)
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );

    handle.inject_fault(FaultSpec {
        path: "/api/v1/validate".into(),
        count: 1,
        action: FaultAction::Delay { millis: 2000 },
    });
    let timed_out = validate(&client, &handle)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        timed_out
            .expect_err("the delay outlasts the client timeout")
            .is_timeout()
    );
    handle.inject_fault(FaultSpec {
        path: "/api/v1/validate".into(),
        count: 1,
        action: FaultAction::Delay { millis: 50 },
    });
    assert_eq!(
        validate(&client, &handle)
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );
    handle.inject_fault(FaultSpec::status("/api/v1/validate", 5, 500));
    handle.clear_faults();
    assert_eq!(
        validate(&client, &handle)
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );
}

#[tokio::test]
async fn date_header_follows_the_emulator_clock() {
    let frozen = UNIX_EPOCH + Duration::from_secs(1_657_662_336);
    let handle = common::start(EmulatorConfig {
        frozen_clock: Some(frozen),
        ..common::config("http://127.0.0.1:9")
    })
    .await;
    let client = common::client(&handle);
    let date = |r: &reqwest::Response| {
        httpdate::parse_http_date(r.headers()["date"].to_str().expect("ascii")).expect("date")
    };
    let response = validate(&client, &handle).send().await.expect("answered");
    assert_eq!(date(&response), frozen);
    let advanced: serde_json::Value =
        common::test_api(&client, &handle, Method::POST, "clock/advance")
            .json(&serde_json::json!({"seconds": 90}))
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("JSON");
    assert_eq!(advanced["unix"], 1_657_662_426);
    let response = validate(&client, &handle).send().await.expect("answered");
    assert_eq!(date(&response), frozen + Duration::from_secs(90));
}

#[tokio::test]
async fn test_api_manages_keys() {
    let handle = common::start(EmulatorConfig::default()).await;
    let client = common::client(&handle);
    let created = common::test_api(&client, &handle, Method::POST, "keys")
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), 201);
    let key: serde_json::Value = created.json().await.expect("JSON");
    let (id, value) = (
        key["id"].as_str().expect("id"),
        key["key"].as_str().expect("key"),
    );
    let check = || {
        client
            .get(format!("{}/api/v1/validate", handle.api_url()))
            .header("DD-API-KEY", value)
            .send()
    };
    assert_eq!(check().await.expect("answered").status(), 200);
    let revoked = common::test_api(&client, &handle, Method::POST, &format!("keys/{id}/revoke"))
        .send()
        .await
        .expect("answered");
    assert_eq!(revoked.status(), 204);
    assert_eq!(check().await.expect("answered").status(), 403);
    let unknown = common::test_api(&client, &handle, Method::POST, "keys/nope/revoke")
        .send()
        .await
        .expect("answered");
    assert_eq!(unknown.status(), 404);
    let keys: serde_json::Value = common::test_api_get(&client, &handle, "keys").await;
    assert_eq!(keys[0]["revoked"], true);
}
