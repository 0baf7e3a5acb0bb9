//! End-to-end flows: the gateway and the Datadog emulator on loopback ports.

use ddlink_gateway::tenants::TenantId;
use std::time::Duration;

use ddlink_core::provision::{LastError, ProvisionOutcome};
use ddlink_core::site::SandboxPolicy;
use ddlink_emulator::{
    Decision, Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultSpec, HeadlessBrowser,
    OAuthClient,
};
use ddlink_gateway::store::ConnectionState;
use ddlink_gateway::{Gateway, upkeep};
use ddlink_sandbox::{SandboxHandle, SandboxOptions};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::common::{ADMIN_TOKEN, CLIENT_SECRET};
use crate::provision::provision;

async fn start_sandbox() -> (tempfile::TempDir, SandboxHandle) {
    start_sandbox_on("127.0.0.1:0").await
}

/// A sandbox whose background validation stays out of the way (these tests refresh and
/// validate themselves, and count what happened).
async fn start_sandbox_on(listen: &str) -> (tempfile::TempDir, SandboxHandle) {
    start_validating_every(listen, Duration::from_secs(3600)).await
}

async fn start_validating_every(
    listen: &str,
    interval: Duration,
) -> (tempfile::TempDir, SandboxHandle) {
    let dir = tempfile::tempdir().unwrap();
    let handle = ddlink_sandbox::start_validating_every(
        SandboxOptions {
            listen: listen.parse().unwrap(),
            state_dir: dir.path().join("state"),
            tenants: 1,
            database: None,
            fleet_lease_secs: None,
        },
        interval,
    )
    .await
    .unwrap();
    (dir, handle)
}

/// The admin's browser: signed in to the gateway (the gateway's business, done here), then the
/// emulator's headless browser as the first org's user, holding that session.
struct Browser {
    inner: HeadlessBrowser,
    client_id: String,
}

struct Page {
    status: StatusCode,
    body: String,
}

impl Browser {
    async fn new(
        emulator: &EmulatorHandle,
        gateway_url: &str,
        password: &str,
        client_id: &str,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = client
            .post(format!("{}/login", gateway_url.trim_end_matches('/')))
            .form(&[("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let cookie = login.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let org = &emulator.orgs()[0];
        Self {
            inner: emulator.headless_browser(&org.id, Some(cookie)).unwrap(),
            client_id: client_id.to_owned(),
        }
    }

    async fn get(&self, url: &str) -> Page {
        let page = self.inner.get(url).await.unwrap();
        Page {
            status: StatusCode::from_u16(page.status).unwrap(),
            body: page.body,
        }
    }

    /// Tile → onboarding URL → authorize page → decision; returns the redirect back to the
    /// gateway.
    async fn consent(&self, decision: Decision) -> String {
        self.inner.consent(&self.client_id, decision).await.unwrap()
    }

    async fn connect(&self) -> Page {
        let callback = self.consent(Decision::Authorize).await;
        self.get(&callback).await
    }
}

fn secret(s: &SecretString) -> String {
    s.expose_secret().to_owned()
}

#[tokio::test]
async fn sandbox_keeps_the_emulator_on_loopback_when_the_gateway_listens_everywhere() {
    let (_dir, world) = start_sandbox_on("0.0.0.0:0").await;
    let emulator = world.emulator().local_addr();
    assert_eq!(emulator.ip(), std::net::Ipv4Addr::LOCALHOST, "{emulator}");
    assert_eq!(
        world.emulator().base_url(),
        format!("http://127.0.0.1:{}", emulator.port())
    );
    // The consent flow still works: the gateway reaches the emulator over loopback.
    world.connect().await.unwrap();
    world.shutdown().await;
}

#[tokio::test]
async fn sandbox_happy_path_stores_the_key_encrypted_and_reports_status() {
    let (dir, world) = start_sandbox().await;
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world.manifest_path()).unwrap()).unwrap();
    assert_eq!(manifest["gateway_url"], world.gateway_url().as_str());
    assert_eq!(manifest["tile_url"], world.tile_url());
    assert_eq!(manifest["admin_token"], world.admin_token().expose_secret());
    assert!(
        manifest["emulator_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    // The emulator's test API (full API keys) answers only with the manifest's token.
    let token = manifest["emulator_token"].as_str().unwrap();
    assert_eq!(token, world.emulator().test_api_token());
    assert!(token.len() >= 32, "{}", token.len());
    let keys_url = format!(
        "{}/_emulator/keys",
        manifest["emulator_url"].as_str().unwrap()
    );
    let refused = reqwest::get(&keys_url).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let listed = reqwest::Client::new()
        .get(&keys_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    world.connect().await.unwrap();
    let keys = world.emulator().api_keys();
    assert_eq!(keys.len(), 1);
    let state = world.state();
    let (record, key) = state
        .connections
        .device_api_key(&TenantId::default_tenant(), world.fleet())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.expose_secret(), keys[0].key);
    assert_eq!(
        record.api_key_last4.as_deref(),
        Some(keys[0].last4.as_str())
    );
    assert_eq!(record.org_name, "Sandbox Org");
    assert_eq!(record.domain, world.emulator().domain());

    // The status API over HTTP with the admin token.
    let status: serde_json::Value = reqwest::Client::new()
        .get(world.gateway_url().join("api/status").unwrap())
        .bearer_auth(world.admin_token().expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = &status["connections"][0];
    assert_eq!(connection["org_name"], "Sandbox Org");
    assert_eq!(connection["domain"], world.emulator().domain());
    assert_eq!(connection["api_key_last4"], keys[0].last4);
    assert_eq!(connection["state"], "active");
    assert!(connection["token_expires_at"].as_i64().unwrap() > state.clock.now());
    let site = connection["site"].as_str().unwrap();
    assert!(
        site.starts_with("http://app.datadoghq.localhost:"),
        "{site}"
    );

    // No secret in the database files in plaintext.
    let access = secret(&state.connections.access_token(&record).unwrap());
    let refresh = secret(&state.connections.refresh_token(&record).unwrap());
    let db_dir = dir.path().join("state");
    let mut bytes = Vec::new();
    for name in ["ddlink.db", "ddlink.db-wal"] {
        if let Ok(b) = std::fs::read(db_dir.join(name)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096, "database files not found");
    for needle in [key.expose_secret(), access.as_str(), refresh.as_str()] {
        assert!(needle.len() >= 16);
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "a secret is stored in plaintext"
        );
    }
    world.shutdown().await;
}

#[tokio::test]
async fn tokens_are_refreshed_before_expiry_and_rotation_is_kept() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let state = world.state();
    let before = state
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()
        .remove(0);
    let old_refresh = secret(&state.connections.refresh_token(&before).unwrap());

    // Not due yet: nothing happens.
    let report = upkeep::refresh_due(state, "test").await.unwrap();
    assert_eq!(report.refreshed, 0);

    // The sandbox's own upkeep loop may win the lease for a due refresh; either way exactly one
    // refresh happens, so the assertions look at the outcome, not at who did it.
    world.advance_clocks(Duration::from_secs(3600 - 120));
    upkeep::refresh_due(state, "test").await.unwrap();
    let after = state
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()
        .remove(0);
    assert!(after.access_expires_at > before.access_expires_at);
    assert_ne!(
        secret(&state.connections.access_token(&after).unwrap()),
        secret(&state.connections.access_token(&before).unwrap())
    );
    assert_ne!(
        secret(&state.connections.refresh_token(&after).unwrap()),
        old_refresh,
        "rotated refresh token stored"
    );
    assert_eq!(world.emulator().connections()[0].refreshes, 1);

    // Past the old expiry the refreshed token is still good for another refresh.
    world.advance_clocks(Duration::from_secs(3600));
    upkeep::refresh_due(state, "test").await.unwrap();
    assert_eq!(world.emulator().connections()[0].refreshes, 2);
    assert_eq!(state.metrics.get("ddlink_token_refreshes_total", "ok"), 2);
    world.shutdown().await;
}

#[tokio::test]
async fn a_lease_held_by_another_instance_skips_the_refresh() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let state = world.state();
    let id = state
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()[0]
        .id
        .clone();
    world.advance_clocks(Duration::from_secs(3500));
    assert!(
        state
            .store
            .try_lease(&TenantId::default_tenant(), &id, "other-gateway", 60)
            .await
            .unwrap()
    );
    let report = upkeep::refresh_due(state, "this-gateway").await.unwrap();
    assert_eq!((report.refreshed, report.skipped), (0, 1));
    assert_eq!(world.emulator().connections()[0].refreshes, 0);
    world.shutdown().await;
}

#[tokio::test]
async fn invalid_grant_marks_uninstalled_and_reconnecting_keeps_the_key() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let state = world.state();
    let emulator_connection = world.emulator().connections()[0].id.clone();
    assert!(world.emulator().revoke_connection(&emulator_connection));
    world.advance_clocks(Duration::from_secs(3500));
    upkeep::refresh_due(state, "test").await.unwrap();
    assert_eq!(
        state
            .metrics
            .get("ddlink_token_refreshes_total", "invalid_grant"),
        1
    );
    let record = state
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(record.state, ConnectionState::Uninstalled);
    assert!(
        state
            .connections
            .device_api_key(&TenantId::default_tenant(), world.fleet())
            .await
            .unwrap()
            .is_none()
    );

    let browser = Browser::new(
        world.emulator(),
        world.gateway_url().as_str(),
        world.admin_token().expose_secret(),
        world.client_id(),
    )
    .await;
    let admin = browser.get(world.gateway_url().as_str()).await;
    assert!(
        admin.body.contains("reconnect from the Datadog tile"),
        "{}",
        admin.body
    );

    // Reconnecting: Datadog answers 409 for the key, the gateway keeps the one it stored.
    let page = browser.connect().await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("kept the key it stored earlier"),
        "{}",
        page.body
    );
    let (again, key) = state
        .connections
        .device_api_key(&TenantId::default_tenant(), world.fleet())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.state, ConnectionState::Active);
    assert_eq!(key.expose_secret(), world.emulator().api_keys()[0].key);
    assert_eq!(again.key_version, record.key_version);
    world.shutdown().await;
}

#[tokio::test]
async fn disconnect_revokes_and_wipes_then_409_explains_how_to_recover() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let state = world.state();
    let id = state
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()[0]
        .id
        .clone();
    assert!(
        upkeep::disconnect(state, &TenantId::default_tenant(), &id)
            .await
            .unwrap()
    );
    let wiped = state
        .store
        .connection(&TenantId::default_tenant(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(wiped.state, ConnectionState::Disconnected);
    assert!(wiped.sealed_api_key.is_none() && wiped.sealed_refresh_token.is_none());
    assert!(
        world.emulator().connections()[0].revoked,
        "tokens revoked at Datadog"
    );

    // The org still has the integration's key at Datadog: 409, with what to do.
    let browser = Browser::new(
        world.emulator(),
        world.gateway_url().as_str(),
        world.admin_token().expose_secret(),
        world.client_id(),
    )
    .await;
    let page = browser.connect().await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("OAuth Client API Key") && page.body.contains("Revoke"));
    assert!(page.body.contains("/organization-settings/api-keys"));

    // Following the advice (revoke the old key) and reconnecting works, with a new key version.
    let old_key = world.emulator().api_keys()[0].id.clone();
    assert!(world.emulator().revoke_api_key(&old_key));
    let page = browser.connect().await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (record, key) = state
        .connections
        .device_api_key(&TenantId::default_tenant(), world.fleet())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.key_version, 2);
    let live = world
        .emulator()
        .api_keys()
        .into_iter()
        .find(|k| !k.revoked)
        .unwrap();
    assert_eq!(key.expose_secret(), live.key);
    world.shutdown().await;
}

#[tokio::test]
async fn stored_keys_are_validated_and_a_revoked_key_is_flagged() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let state = world.state();
    let report = upkeep::validate_all(state).await.unwrap();
    assert_eq!((report.valid, report.checked()), (1, 1));
    let record = |state: &ddlink_gateway::state::AppState| {
        let state = state.clone();
        async move {
            state
                .store
                .connections(&TenantId::default_tenant())
                .await
                .unwrap()
                .remove(0)
        }
    };
    assert_eq!(record(state).await.key_valid, Some(true));
    let key_id = world.emulator().api_keys()[0].id.clone();
    world.emulator().revoke_api_key(&key_id);
    let report = upkeep::validate_all(state).await.unwrap();
    assert_eq!(report.key_revoked, 1);
    let revoked = record(state).await;
    assert_eq!(
        (revoked.state, revoked.key_valid),
        (ConnectionState::KeyRevoked, Some(false))
    );
    let events = state
        .store
        .recent_events(&TenantId::default_tenant(), 5)
        .await
        .unwrap();
    assert_eq!(events[0].kind, "key_revoked");
    assert_eq!(upkeep::validate_all(state).await.unwrap().checked(), 0);
    world.shutdown().await;
}

/// Polls the first tenant's connection until it is in `wanted`, for at most 10 s.
async fn wait_for_state(world: &SandboxHandle, wanted: ConnectionState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = world
            .state()
            .store
            .connections(&TenantId::default_tenant())
            .await
            .unwrap()[0]
            .state;
        if state == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {state:?} after 10 s, expected {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn key_version(world: &SandboxHandle) -> i64 {
    world
        .state()
        .store
        .connections(&TenantId::default_tenant())
        .await
        .unwrap()[0]
        .key_version
}

#[tokio::test]
async fn an_uninstall_mid_run_is_seen_within_seconds_and_a_reconnect_keeps_the_key() {
    let (_dir, world) =
        start_validating_every("127.0.0.1:0", ddlink_sandbox::VALIDATE_INTERVAL).await;
    world.connect().await.unwrap();
    let (key, version) = provision(&world, "kl-1").await.expect("connected");
    let org = world.tenants()[0].org.id.clone();
    assert_eq!(world.emulator().uninstall(&org, world.client_id()), Some(1));
    wait_for_state(&world, ConnectionState::Uninstalled).await;
    assert_eq!(provision(&world, "kl-1").await, None, "not_connected");
    let metrics = reqwest::get(world.gateway_url().join("metrics").unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ddlink_connections{state=\"uninstalled\"} 1"),
        "{metrics}"
    );

    // Reconnecting from the tile: Datadog still holds the key (409), the gateway keeps it.
    world.connect().await.unwrap();
    wait_for_state(&world, ConnectionState::Active).await;
    assert_eq!(key_version(&world).await, i64::from(version));
    assert_eq!(provision(&world, "kl-1").await, Some((key, version)));
    world.shutdown().await;
}

#[tokio::test]
async fn a_key_revoked_mid_run_is_seen_within_seconds_and_a_reconnect_brings_a_new_key() {
    let (_dir, world) =
        start_validating_every("127.0.0.1:0", ddlink_sandbox::VALIDATE_INTERVAL).await;
    world.connect().await.unwrap();
    let (first_key, version) = provision(&world, "kl-2").await.expect("connected");
    let key_id = world
        .emulator()
        .api_keys()
        .into_iter()
        .find(|k| k.key == first_key)
        .unwrap()
        .id;
    assert!(world.emulator().revoke_api_key(&key_id));
    wait_for_state(&world, ConnectionState::KeyRevoked).await;
    assert_eq!(provision(&world, "kl-2").await, None, "not_connected");

    world.connect().await.unwrap();
    wait_for_state(&world, ConnectionState::Active).await;
    let (new_key, new_version) = provision(&world, "kl-2").await.expect("connected again");
    assert_ne!(new_key, first_key);
    assert_eq!(new_version, version + 1);
    assert_eq!(key_version(&world).await, i64::from(new_version));
    world.shutdown().await;
}

/// No scheduled check comes in time here (the interval is an hour, and its first pass ran
/// before anything was connected): only the device's report can make the gateway look.
#[tokio::test]
async fn a_device_reporting_forbidden_makes_the_gateway_check_the_key_at_once() {
    let (_dir, world) = start_sandbox().await;
    world.connect().await.unwrap();
    let (key, _) = provision(&world, "kl-3").await.expect("connected");
    let key_id = world
        .emulator()
        .api_keys()
        .into_iter()
        .find(|k| k.key == key)
        .unwrap()
        .id;
    assert!(world.emulator().revoke_api_key(&key_id));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        world
            .state()
            .connections
            .statuses(&TenantId::default_tenant())
            .await
            .unwrap()[0]
            .state,
        ConnectionState::Active,
        "nothing checked the key before the report"
    );
    let reported = crate::common::provision_reporting(
        world.gateway_url(),
        world.fleet(),
        world.fleet_key_hex().expose_secret(),
        "kl-3",
        SandboxPolicy::Allow,
        Some(LastError::Forbidden),
    )
    .await;
    assert!(
        matches!(reported, Ok(ProvisionOutcome::Approved(_))),
        "the report itself is answered as usual"
    );
    wait_for_state(&world, ConnectionState::KeyRevoked).await;
    assert_eq!(provision(&world, "kl-3").await, None, "not_connected");
    world.shutdown().await;
}

#[tokio::test]
async fn tampered_callback_domain_makes_no_outbound_request() {
    let (_dir, world) = start_sandbox().await;
    let browser = Browser::new(
        world.emulator(),
        world.gateway_url().as_str(),
        world.admin_token().expose_secret(),
        world.client_id(),
    )
    .await;
    let callback = browser.consent(Decision::Authorize).await;
    let mut tampered = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "domain" {
                "datadoghq.com".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    assert!(pairs.iter().any(|(k, _)| k == "domain"), "{callback}");
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let tampered = tampered.to_string();
    let api_calls_before = world
        .emulator()
        .requests()
        .iter()
        .filter(|r| r.host.starts_with("api."))
        .count();
    let page = browser.get(&tampered).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let api_calls_after = world
        .emulator()
        .requests()
        .iter()
        .filter(|r| r.host.starts_with("api."))
        .count();
    assert_eq!(api_calls_before, api_calls_after);
    assert_eq!(world.state().datadog.outbound().requests_sent(), 0);
    // The state was consumed: the genuine callback cannot be replayed afterwards.
    assert_eq!(browser.get(&callback).await.status, StatusCode::BAD_REQUEST);
    world.shutdown().await;
}

#[tokio::test]
async fn denied_consent_and_injected_datadog_errors_show_advice() {
    let (_dir, world) = start_sandbox().await;
    let browser = Browser::new(
        world.emulator(),
        world.gateway_url().as_str(),
        world.admin_token().expose_secret(),
        world.client_id(),
    )
    .await;
    let denied = browser.get(&browser.consent(Decision::Deny).await).await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    assert!(denied.body.contains("not granted"), "{}", denied.body);

    let faults = [
        (
            "/oauth2/v1/token",
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid code or code verifier"}"#,
            "Invalid code or code verifier",
        ),
        (
            "/oauth2/v1/token",
            400,
            r#"{"error":"invalid_request","error_description":"Mismatching redirect URI"}"#,
            "Mismatching redirect URI",
        ),
        (
            "/api/v2/api_keys/marketplace",
            403,
            r#"{"errors":["Forbidden"]}"#,
            "api_keys_write",
        ),
    ];
    for (path, status, body, phrase) in faults {
        world.emulator().inject_fault(FaultSpec {
            path: path.into(),
            count: 1,
            action: FaultAction::Status {
                status,
                body: Some(body.into()),
                rate_limit: None,
            },
        });
        let page = browser.connect().await;
        assert!(page.status.is_client_error() || page.status.is_server_error());
        assert!(page.body.contains(phrase), "{path}: {}", page.body);
    }
    world.emulator().inject_fault(FaultSpec {
        path: "/oauth2/v1/token".into(),
        count: 1,
        action: FaultAction::Drop,
    });
    let page = browser.connect().await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(
        page.body.contains("Could not reach Datadog"),
        "{}",
        page.body
    );
    assert!(
        world
            .state()
            .store
            .connections(&TenantId::default_tenant())
            .await
            .unwrap()
            .is_empty()
    );
    world.shutdown().await;
}

/// A gateway configured with the wrong client secret or client id, against a real emulator.
async fn misconfigured(
    client_id: &str,
    client_secret: &str,
) -> (
    tempfile::TempDir,
    EmulatorHandle,
    Browser,
    tokio::task::JoinHandle<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("http://{}/", listener.local_addr().unwrap());
    let emulator = Emulator::start(
        EmulatorConfig {
            clients: vec![OAuthClient::new(
                "test-client",
                CLIENT_SECRET,
                format!("{gateway_url}oauth/callback"),
                format!("{gateway_url}oauth/onboard"),
            )],
            ..EmulatorConfig::default()
        },
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let mut config = crate::common::sandbox_config(dir.path(), &gateway_url, emulator.domain());
    config.client_id = client_id.into();
    config.client_secret = SecretString::from(client_secret.to_owned());
    config.resolve = emulator
        .host_names()
        .into_iter()
        .map(|h| (h, emulator.local_addr()))
        .collect();
    let gateway = Gateway::start(config).await.unwrap();
    let task = tokio::spawn(async move {
        gateway
            .serve(listener, std::future::pending())
            .await
            .unwrap();
    });
    let browser = Browser::new(&emulator, &gateway_url, ADMIN_TOKEN, "test-client").await;
    (dir, emulator, browser, task)
}

#[tokio::test]
async fn wrong_client_credentials_are_explained() {
    let (_dir, _emulator, browser, task) = misconfigured("test-client", "not-the-secret").await;
    let page = browser.connect().await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(
        page.body.contains("client credentials") || page.body.contains("Invalid client ID"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("not-the-secret"));
    task.abort();

    // An unknown client id never gets past Datadog's authorize page (Datadog shows the error).
    let (_dir, _emulator, browser, task) = misconfigured("unknown-client", CLIENT_SECRET).await;
    let refused = browser
        .inner
        .consent("test-client", Decision::Authorize)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("Invalid client_id parameter value"),
        "{refused}"
    );
    task.abort();
}
