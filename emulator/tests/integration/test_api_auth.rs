//! The `/_emulator/` test API hands out full API keys: it answers only requests that carry
//! `Authorization: Bearer <token>`, and tells the others nothing.

use std::time::Duration;

use ddlink_emulator::{Emulator, EmulatorConfig};
use reqwest::Method;

use crate::common::{self, API_KEY};

/// Every way of presenting a wrong token or none.
fn wrong_authorizations(token: &str) -> Vec<Option<String>> {
    let mut flipped = token.to_owned().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    vec![
        None,
        Some(String::new()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some(format!(
            "Bearer {}",
            String::from_utf8(flipped).expect("ASCII")
        )),
        Some(format!("Bearer {token}x")),
        Some(format!("Bearer {}", &token[..token.len() - 1])),
        Some(format!("Basic {token}")),
        Some(token.to_owned()),
        Some(format!("Bearer  {token}")),
    ]
}

#[tokio::test]
async fn test_api_without_the_token_answers_401_and_nothing_else() {
    let handle = common::start(common::config("http://127.0.0.1:9")).await;
    let client = common::client(&handle);
    let token = handle.test_api_token().to_owned();
    assert!(
        token.len() >= 32,
        "a generated token is long: {}",
        token.len()
    );
    let keys_before = handle.api_keys().len();
    let clock_before = handle.now();
    for authorization in wrong_authorizations(&token) {
        for (method, path) in [
            (Method::GET, "keys"),
            (Method::POST, "keys"),
            (Method::GET, "received/series"),
            (Method::GET, "connections"),
            (Method::POST, "clock/advance"),
            (Method::DELETE, "faults"),
            (Method::GET, "no-such-endpoint"),
        ] {
            let mut request = client
                .request(
                    method.clone(),
                    format!("{}/_emulator/{path}", handle.base_url()),
                )
                .json(&serde_json::json!({"seconds": 3600}));
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.expect("answered");
            assert_eq!(
                response.status(),
                401,
                "{method} {path} with {authorization:?}"
            );
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body = response.text().await.expect("body");
            assert!(!body.contains(API_KEY), "{body}");
            assert!(!body.contains(&token), "{body}");
        }
    }
    // Nothing was created, advanced or read.
    assert_eq!(handle.api_keys().len(), keys_before);
    assert!(
        handle
            .now()
            .duration_since(clock_before)
            .expect("monotonic")
            < Duration::from_secs(600),
        "the clock was not advanced"
    );

    // The same requests with the token work.
    let keys: serde_json::Value = common::test_api_get(&client, &handle, "keys").await;
    assert_eq!(keys[0]["key"], API_KEY);
    let created = common::test_api(&client, &handle, Method::POST, "keys")
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), 201);
    assert_eq!(handle.api_keys().len(), keys_before + 1);
}

#[tokio::test]
async fn a_configured_token_is_used_and_a_weak_one_is_refused() {
    let token = "configured-test-api-token-0123456789";
    let mut config = common::config("http://127.0.0.1:9");
    config.test_api_token = Some(token.to_owned());
    assert!(
        !format!("{config:?}").contains(token),
        "Debug hides the token"
    );
    let handle = common::start(config).await;
    assert_eq!(handle.test_api_token(), token);
    let client = common::client(&handle);
    let answered = client
        .get(format!("{}/_emulator/clock", handle.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    assert_eq!(answered.status(), 200);
    handle.shutdown().await;

    for weak in ["short", "sixteen chars ok", "sixteen-chars-ok\n"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let config = EmulatorConfig {
            test_api_token: Some(weak.to_owned()),
            ..EmulatorConfig::default()
        };
        let refused = Emulator::start(config, listener).await;
        assert!(refused.is_err(), "{weak:?} accepted");
    }
}
