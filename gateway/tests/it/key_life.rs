//! The key's life as the gateway sees it, with a scripted Datadog: a refused refresh token
//! makes the connection `uninstalled`, a 403 from `GET /api/v1/validate` makes it
//! `key_revoked`; devices then get no key, transient failures change nothing, and reconnecting
//! makes it active again (a new key bumps `key_version`). Runs on SQLite, and on PostgreSQL
//! when `DDLINK_TEST_POSTGRES_URL` is set.

use ddlink_core::site::{Region, Site};
use ddlink_gateway::connections::{OrgInfo, Saved};
use ddlink_gateway::http_client::TransportError;
use ddlink_gateway::provision::fleets::{self, FleetSpec};
use ddlink_gateway::provision::store::ProvisionStore;
use ddlink_gateway::store::ConnectionState;
use ddlink_gateway::tenants::TenantId;
use ddlink_gateway::upkeep::{self, Validation};
use secrecy::ExposeSecret as _;

use crate::router::Harness;
use crate::tenants::{backends, created, finish, harness, tokens};

const ORG: &str = "org-keylife";
const FLEET: &str = "plant";
const FIRST_KEY: &str = "1111aaaa1111aaaa1111aaaa1111aaaa";
const SECOND_KEY: &str = "2222bbbb2222bbbb2222bbbb2222bbbb";
const JSON: &str = "application/json";

/// Stores the tile flow's result for the default tenant (as the callback does).
async fn connect(h: &Harness, key: Option<&str>) -> Saved {
    let state = h.gateway.state();
    let org = OrgInfo {
        org_id: Some(ORG.to_owned()),
        org_name: "Keylife Org".to_owned(),
    };
    let created = key.map(created);
    state
        .connections
        .save_authorized(
            &TenantId::default_tenant(),
            &org,
            &Site::from(Region::Eu1),
            "https://app.datadoghq.eu",
            &tokens(),
            created.as_ref(),
        )
        .await
        .unwrap()
}

async fn connection_state(h: &Harness) -> (ConnectionState, i64) {
    let record = h
        .gateway
        .state()
        .store
        .connection(&TenantId::default_tenant(), ORG)
        .await
        .unwrap()
        .unwrap();
    (record.state, record.key_version)
}

/// The key devices of the fleet would get, if any.
async fn device_key(h: &Harness) -> Option<String> {
    h.gateway
        .state()
        .connections
        .device_api_key(&TenantId::default_tenant(), FLEET)
        .await
        .unwrap()
        .map(|(_, key)| key.expose_secret().to_owned())
}

async fn last_event(h: &Harness) -> String {
    h.gateway
        .state()
        .store
        .recent_events(&TenantId::default_tenant(), 1)
        .await
        .unwrap()[0]
        .kind
        .as_str()
        .to_owned()
}

async fn gauge(h: &Harness, state: &str) -> u64 {
    let metrics = h.get("/metrics", None).await.body;
    let prefix = format!("ddlink_connections{{state=\"{state}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no gauge for {state}: {metrics}"))
        .parse()
        .unwrap()
}

async fn validate(h: &Harness) -> Validation {
    upkeep::validate_connection(h.gateway.state(), &TenantId::default_tenant(), ORG)
        .await
        .unwrap()
}

/// A connected org with a fleet bound to it.
async fn connected(h: &Harness) {
    assert!(matches!(
        connect(h, Some(FIRST_KEY)).await,
        Saved::Stored(_)
    ));
    let state = h.gateway.state();
    let spec = FleetSpec {
        tenant: &TenantId::default_tenant(),
        name: FLEET,
        auto_approve: true,
        connection_id: Some(ORG),
    };
    fleets::create(
        &ProvisionStore::new(state.db.clone()),
        &state.keys,
        &spec,
        state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(device_key(h).await.as_deref(), Some(FIRST_KEY));
}

#[tokio::test]
async fn a_revoked_key_is_detected_transient_failures_are_not_and_reconnecting_brings_a_new_key() {
    for backend in backends() {
        let (h, schema) = harness(backend).await;
        connected(&h).await;
        assert_eq!(gauge(&h, "active").await, 1);
        for state in ["uninstalled", "key_revoked", "disconnected"] {
            assert_eq!(gauge(&h, state).await, 0, "{backend:?} {state}");
        }

        // Datadog down or unreachable: nothing changes.
        h.transport.answer(
            "/api/v1/validate",
            503,
            JSON,
            r#"{"errors":["Service Unavailable"]}"#,
        );
        assert_eq!(validate(&h).await, Validation::Inconclusive);
        h.transport.fail(
            "/api/v1/validate",
            TransportError::Timeout {
                host: "api.datadoghq.eu".into(),
            },
        );
        assert_eq!(validate(&h).await, Validation::Inconclusive);
        assert_eq!(connection_state(&h).await, (ConnectionState::Active, 1));
        assert_eq!(device_key(&h).await.as_deref(), Some(FIRST_KEY));

        h.transport
            .answer("/api/v1/validate", 200, JSON, r#"{"valid":true}"#);
        assert_eq!(validate(&h).await, Validation::Valid);
        let sent = h.transport.seen();
        let check = sent.last().unwrap();
        assert_eq!(check.uri, "https://api.datadoghq.eu/api/v1/validate");
        assert_eq!(check.headers["dd-api-key"], FIRST_KEY);

        // The user revoked the key on Datadog's API Keys page.
        h.transport
            .answer("/api/v1/validate", 403, JSON, r#"{"errors":["Forbidden"]}"#);
        assert_eq!(validate(&h).await, Validation::KeyRevoked);
        assert_eq!(connection_state(&h).await, (ConnectionState::KeyRevoked, 1));
        assert_eq!(device_key(&h).await, None, "devices get no revoked key");
        assert_eq!(last_event(&h).await, "key_revoked");
        assert_eq!(
            (gauge(&h, "active").await, gauge(&h, "key_revoked").await),
            (0, 1)
        );
        let requests = h.transport.seen().len();
        assert_eq!(validate(&h).await, Validation::NotActive);
        assert_eq!(h.transport.seen().len(), requests, "not asked again");
        let cookie = h.login().await;
        let page = h.get("/", Some(&cookie)).await.body;
        assert!(page.contains("key revoked"), "{page}");
        assert!(
            page.contains("OAuth Client API Key") && page.contains("page first, then reconnect"),
            "{page}"
        );

        // Reconnecting while Datadog still holds another key (409): nothing is stored.
        assert!(matches!(connect(&h, None).await, Saved::NoKey));
        assert_eq!(connection_state(&h).await, (ConnectionState::KeyRevoked, 1));
        // Once that key is revoked too, Datadog creates a new one.
        assert!(matches!(
            connect(&h, Some(SECOND_KEY)).await,
            Saved::Stored(_)
        ));
        assert_eq!(connection_state(&h).await, (ConnectionState::Active, 2));
        assert_eq!(device_key(&h).await.as_deref(), Some(SECOND_KEY));
        assert_eq!(gauge(&h, "active").await, 1);
        finish(h, schema).await;
    }
}

#[tokio::test]
async fn a_refused_refresh_token_means_uninstalled_and_reconnecting_keeps_the_key() {
    for backend in backends() {
        let (h, schema) = harness(backend).await;
        connected(&h).await;
        let state = h.gateway.state();
        state.clock.advance(3500);

        h.transport.answer(
            "/oauth2/v1/token",
            502,
            "text/html",
            "<html>bad gateway</html>",
        );
        let report = upkeep::refresh_due(state, "test").await.unwrap();
        assert_eq!((report.failed, report.uninstalled), (1, 0));
        assert_eq!(connection_state(&h).await, (ConnectionState::Active, 1));

        h.transport.answer(
            "/oauth2/v1/token",
            400,
            JSON,
            r#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#,
        );
        let report = upkeep::refresh_due(state, "test").await.unwrap();
        assert_eq!(report.uninstalled, 1, "{backend:?}");
        assert_eq!(
            connection_state(&h).await,
            (ConnectionState::Uninstalled, 1)
        );
        assert_eq!(device_key(&h).await, None);
        assert_eq!(last_event(&h).await, "uninstalled");
        assert_eq!(gauge(&h, "uninstalled").await, 1);
        assert_eq!(validate(&h).await, Validation::NotActive);
        let cookie = h.login().await;
        let page = h.get("/", Some(&cookie)).await.body;
        assert!(page.contains("reconnect from the Datadog tile"), "{page}");

        // The uninstall left the key at Datadog: the reconnect gets 409 and keeps it.
        assert!(matches!(connect(&h, None).await, Saved::Stored(_)));
        assert_eq!(connection_state(&h).await, (ConnectionState::Active, 1));
        assert_eq!(device_key(&h).await.as_deref(), Some(FIRST_KEY));
        finish(h, schema).await;
    }
}
