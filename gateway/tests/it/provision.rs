//! Device provisioning end to end: a real gateway on a loopback port, and devices built from
//! `ddlink_core::provision` talking to it over HTTP. The backend-dependent tests run on SQLite
//! and, when `DDLINK_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh schema per test, dropped
//! afterwards, so concurrent runs on one database are safe).

use crate::common::{cli_settings, gateway_config, pg_schema};

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ddlink_core::provision::{
    ChallengeReply, DeviceIdentity, DeviceSecret, LastError, ProvisionError, ProvisionExchange,
    ProvisionOutcome, read_challenge_response,
};
use ddlink_core::site::{Region, SandboxPolicy, Site};
use ddlink_gateway::Gateway;
use ddlink_gateway::config::Config;
use ddlink_gateway::connections::{OrgInfo, Saved};
use ddlink_gateway::datadog::{CreatedKey, Tokens};
use ddlink_gateway::provision::fleets;
use ddlink_gateway::provision::key_checks::KeyCheckReceiver;
use ddlink_gateway::provision::store::{DeviceState, NewFleet, ProvisionStore};
use ddlink_gateway::state::AppState;
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};
use ddlink_gateway::tenants::TenantId;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;

const ADMIN_TOKEN: &str = "provision-admin-token-0123456789";
const API_KEY_V1: &str = "0123456789abcdef0123456789abcdef";
const API_KEY_V2: &str = "fedcba9876543210fedcba9876543210";
/// The connection [`World::connect`] stores (its `dd_oid`, lower case, is its id).
const CONNECTION_ID: &str = "org-provision";

/// The tenant of these tests' fleets and connection.
fn tenant() -> TenantId {
    TenantId::default_tenant()
}

/// A gateway serving on loopback, with its state and database.
struct World {
    base: String,
    state: AppState,
    store: ProvisionStore,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    schema: Option<(String, String)>,
    key_checks: std::sync::Mutex<Option<KeyCheckReceiver>>,
}

fn config(dir: &Path, database: DbOptions) -> Config {
    gateway_config::gateway_config(
        dir,
        "http://127.0.0.1:1/",
        database,
        ADMIN_TOKEN,
        "provision-test-secret",
    )
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl World {
    async fn start(backend: Backend) -> World {
        // reqwest is built without a default TLS provider; the client needs one even for HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let (database, schema) = match backend {
            Backend::Sqlite => (
                DbOptions::new(sqlite_url_for_path(&dir.path().join("ddlink.db"))),
                None,
            ),
            Backend::Postgres => {
                let url = std::env::var("DDLINK_TEST_POSTGRES_URL").expect("checked by the caller");
                let schema = pg_schema::fresh("prov");
                (
                    DbOptions {
                        schema: Some(schema.clone()),
                        ..DbOptions::new(url.clone())
                    },
                    Some((url, schema)),
                )
            }
        };
        let gateway = Gateway::start(config(dir.path(), database))
            .await
            .unwrap_or_else(|e| panic!("gateway start ({backend:?}): {e:#}"));
        let state = gateway.state().clone();
        // Taken before serving, so the gateway's validate task does not consume the reports
        // these tests inspect (nor reach out to the fake connection's real Datadog site).
        let key_checks = std::sync::Mutex::new(state.provisioning.take_key_check_receiver());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(listener, async move {
            let _ = stopped.await;
        }));
        World {
            base,
            store: ProvisionStore::new(state.db.clone()),
            state,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            stop: Some(stop),
            task: Some(task),
            schema,
            key_checks,
        }
    }

    /// The key-check requests device reports raised (once).
    fn key_checks(&self) -> KeyCheckReceiver {
        self.key_checks
            .lock()
            .unwrap()
            .take()
            .expect("the key-check receiver, taken before serving")
    }

    /// Stops the gateway and drops a PostgreSQL schema; hands back the state directory (so a
    /// test can still inspect its files).
    async fn finish(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some((url, schema)) = self.schema.take() {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            pg_schema::drop(&pool, &schema).await;
            pool.close().await;
        }
        self.dir
    }

    /// A fleet of the default tenant, bound to the test connection (once it exists).
    async fn fleet(&self, name: &str, auto_approve: bool) -> fleets::Fleet {
        let spec = fleets::FleetSpec {
            tenant: &tenant(),
            name,
            auto_approve,
            connection_id: None,
        };
        let fleet = fleets::create(&self.store, &self.state.keys, &spec, self.state.clock.now())
            .await
            .unwrap();
        // Binds nothing while the connection does not exist yet.
        self.store
            .bind_unbound_fleets(&tenant(), CONNECTION_ID)
            .await
            .unwrap();
        fleet
    }

    /// Stores a connection to EU1 whose API key is `key` (`key_version` increments per call).
    async fn connect(&self, key: &str) {
        let tokens = Tokens {
            access_token: SecretString::from("access-token-provision".to_owned()),
            refresh_token: Some(SecretString::from("refresh-token-provision".to_owned())),
            expires_in_secs: 3600,
        };
        let created = CreatedKey {
            key: SecretString::from(key.to_owned()),
            id: format!("id-{}", &key[..4]),
            last4: key[key.len() - 4..].to_owned(),
        };
        let org = OrgInfo {
            org_id: Some(CONNECTION_ID.into()),
            org_name: "Provision Org".into(),
        };
        let saved = self
            .state
            .connections
            .save_authorized(
                &tenant(),
                &org,
                &Site::from(Region::Eu1),
                "https://app.datadoghq.eu",
                &tokens,
                Some(&created),
            )
            .await
            .unwrap();
        assert!(matches!(saved, Saved::Stored(_)), "{saved:?}");
        // Fleets made before the connection existed are bound now, as an admin would.
        self.store
            .bind_unbound_fleets(&tenant(), CONNECTION_ID)
            .await
            .unwrap();
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Vec<u8>) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap().to_vec())
    }

    async fn challenge(
        &self,
        fleet: &str,
        device_id: &str,
        secret: &DeviceSecret,
    ) -> ddlink_core::provision::Challenge {
        let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
        let mut body = [0u8; 256];
        let len = identity.write_challenge_request(&mut body).unwrap();
        let (status, reply) = self
            .post("/v1/provision/challenge", body[..len].to_vec())
            .await;
        match read_challenge_response(status, &reply).unwrap() {
            ChallengeReply::Issued(challenge) => challenge,
            other => panic!("no challenge: {other:?}"),
        }
    }

    /// One complete device attempt (challenge, then provision with a fresh nonce): the raw
    /// answer and the device's reading of it.
    async fn attempt(&self, fleet: &str, device_id: &str, secret: &DeviceSecret) -> Attempt {
        self.attempt_reporting(fleet, device_id, secret, None).await
    }

    /// [`World::attempt`] with a `last_error` in the request.
    async fn attempt_reporting(
        &self,
        fleet: &str,
        device_id: &str,
        secret: &DeviceSecret,
        last_error: Option<LastError>,
    ) -> Attempt {
        let challenge = self.challenge(fleet, device_id, secret).await;
        let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
        let mut exchange = ProvisionExchange::new(identity, &challenge, fresh_nonce());
        if let Some(last_error) = last_error {
            exchange = exchange.with_last_error(last_error);
        }
        let mut body = [0u8; 512];
        let len = exchange.write_request(&mut body).unwrap();
        let (status, reply) = self.post("/v1/provision", body[..len].to_vec()).await;
        let outcome = exchange.read_response(status, &reply, SandboxPolicy::Deny);
        Attempt {
            status,
            body: reply,
            outcome,
        }
    }

    /// Step 2 only, for a given challenge and nonce: the raw answer.
    async fn provision_raw(
        &self,
        fleet: &str,
        device_id: &str,
        secret: &DeviceSecret,
        challenge: &ddlink_core::provision::Challenge,
        nonce: [u8; 16],
    ) -> (u16, Vec<u8>) {
        let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
        let exchange = ProvisionExchange::new(identity, challenge, nonce);
        let mut body = [0u8; 512];
        let len = exchange.write_request(&mut body).unwrap();
        self.post("/v1/provision", body[..len].to_vec()).await
    }

    async fn device(
        &self,
        fleet: &str,
        device_id: &str,
    ) -> ddlink_gateway::provision::store::DeviceRow {
        self.store
            .devices(&tenant())
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.fleet == fleet && d.device_id == device_id)
            .expect("device recorded")
    }
}

struct Attempt {
    status: u16,
    body: Vec<u8>,
    outcome: Result<ProvisionOutcome, ProvisionError>,
}

impl Attempt {
    fn approved(self) -> ddlink_core::provision::Provisioned {
        match self.outcome {
            Ok(ProvisionOutcome::Approved(provisioned)) => provisioned,
            other => panic!("expected approval, got {} {other:?}", self.status),
        }
    }
}

fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    nonce
}

/// Runs `test` on SQLite, then on PostgreSQL if `DDLINK_TEST_POSTGRES_URL` is set.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(World) -> Fut,
    Fut: std::future::Future<Output = World>,
{
    test(World::start(Backend::Sqlite).await)
        .await
        .finish()
        .await;
    if std::env::var("DDLINK_TEST_POSTGRES_URL").is_ok() {
        test(World::start(Backend::Postgres).await)
            .await
            .finish()
            .await;
    }
}

fn secret_for(fleet: &fleets::Fleet, device_id: &str) -> DeviceSecret {
    fleet.device_secret(device_id).unwrap()
}

#[tokio::test]
async fn pending_then_approved_then_new_key_version() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("plant-a", false).await;
        world.connect(API_KEY_V1).await;
        let secret = secret_for(&fleet, "pump-1");

        let first = world.attempt("plant-a", "pump-1", &secret).await;
        assert_eq!(first.status, 202);
        assert!(
            matches!(first.outcome, Ok(ProvisionOutcome::Pending)),
            "{:?}",
            first.outcome
        );
        let row = world.device("plant-a", "pump-1").await;
        assert_eq!(row.state, DeviceState::Pending);
        assert_eq!(row.key_version, None);
        assert_eq!(row.last_address.as_deref(), Some("127.0.0.1"));

        assert!(
            world
                .store
                .set_device_state(&tenant(), "plant-a", "pump-1", DeviceState::Approved)
                .await
                .unwrap()
        );
        let provisioned = world.attempt("plant-a", "pump-1", &secret).await.approved();
        assert_eq!(provisioned.api_key.as_str(), API_KEY_V1);
        assert_eq!(provisioned.key_version, 1);
        assert_eq!(provisioned.site, Site::from(Region::Eu1));
        assert_eq!(provisioned.api_host, "api.datadoghq.eu");
        assert_eq!(provisioned.logs_host, "http-intake.logs.datadoghq.eu");
        let now = u64::try_from(world.state.clock.now()).unwrap();
        assert!(
            provisioned.server_time.abs_diff(now) <= 5,
            "server_time is the gateway's clock"
        );
        assert_eq!(provisioned.lease_secs, fleets::DEFAULT_LEASE_SECS);
        let row = world.device("plant-a", "pump-1").await;
        assert_eq!(
            (row.state, row.key_version),
            (DeviceState::Approved, Some(1))
        );
        assert!(row.first_seen <= row.last_seen);

        // The connection's key changes (reconnect after a 409 / revoked key): version 2.
        world.connect(API_KEY_V2).await;
        let provisioned = world.attempt("plant-a", "pump-1", &secret).await.approved();
        assert_eq!(
            (provisioned.api_key.as_str(), provisioned.key_version),
            (API_KEY_V2, 2)
        );
        assert_eq!(world.device("plant-a", "pump-1").await.key_version, Some(2));
        world
    })
    .await;
}

#[tokio::test]
async fn revoked_and_not_connected() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("auto", true).await;
        let secret = secret_for(&fleet, "dev-1");
        // Auto-approved, but the gateway has no Datadog key yet.
        let attempt = world.attempt("auto", "dev-1", &secret).await;
        assert_eq!(attempt.status, 409);
        assert!(matches!(
            attempt.outcome,
            Ok(ProvisionOutcome::NotConnected)
        ));
        assert_eq!(
            world.device("auto", "dev-1").await.state,
            DeviceState::Approved
        );

        world.connect(API_KEY_V1).await;
        world.attempt("auto", "dev-1", &secret).await.approved();
        assert!(
            world
                .store
                .set_device_state(&tenant(), "auto", "dev-1", DeviceState::Revoked)
                .await
                .unwrap()
        );
        let attempt = world.attempt("auto", "dev-1", &secret).await;
        assert_eq!(attempt.status, 403);
        assert!(matches!(attempt.outcome, Ok(ProvisionOutcome::Revoked)));
        assert!(
            !attempt
                .body
                .windows(API_KEY_V1.len())
                .any(|w| w == API_KEY_V1.as_bytes())
        );
        world
    })
    .await;
}

#[tokio::test]
async fn refused_attempts_are_401_and_rate_limited() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("f", true).await;
        world.connect(API_KEY_V1).await;
        let secret = secret_for(&fleet, "dev-a");
        let wrong = DeviceSecret::from_bytes([7; 32]);

        // Forged MAC (a device that does not hold the secret).
        let challenge = world.challenge("f", "dev-a", &wrong).await;
        let (status, body) = world
            .provision_raw("f", "dev-a", &wrong, &challenge, fresh_nonce())
            .await;
        assert_eq!(
            (status, body.as_slice()),
            (401, br#"{"status":"unauthorized"}"#.as_slice())
        );

        // Replayed challenge: the first use succeeds, the second is refused.
        let challenge = world.challenge("f", "dev-a", &secret).await;
        let (status, _) = world
            .provision_raw("f", "dev-a", &secret, &challenge, fresh_nonce())
            .await;
        assert_eq!(status, 200);
        let (status, _) = world
            .provision_raw("f", "dev-a", &secret, &challenge, fresh_nonce())
            .await;
        assert_eq!(status, 401, "replayed challenge");

        // A challenge issued to another device of the fleet.
        let other = world
            .challenge("f", "dev-b", &secret_for(&fleet, "dev-b"))
            .await;
        let (status, _) = world
            .provision_raw("f", "dev-a", &secret, &other, fresh_nonce())
            .await;
        assert_eq!(status, 401, "challenge of another device");

        // An expired challenge.
        let challenge = world.challenge("f", "dev-a", &secret).await;
        world.state.clock.advance(61);
        let (status, _) = world
            .provision_raw("f", "dev-a", &secret, &challenge, fresh_nonce())
            .await;
        assert_eq!(status, 401, "expired challenge");

        // A challenge the gateway never issued.
        let invented = ddlink_core::provision::Challenge::from_bytes([3; 32], 60);
        let (status, _) = world
            .provision_raw("f", "dev-a", &secret, &invented, fresh_nonce())
            .await;
        assert_eq!(status, 401, "unknown challenge");

        // Ten wrong MACs over challenges issued to dev-a (one so far): wrong MACs for it are
        // then answered 429 with a Retry-After.
        for _ in 0..9 {
            let challenge = world.challenge("f", "dev-a", &wrong).await;
            let (status, _) = world
                .provision_raw("f", "dev-a", &wrong, &challenge, fresh_nonce())
                .await;
            assert_eq!(status, 401);
        }
        let attempt = world.attempt("f", "dev-a", &wrong).await;
        assert_eq!(attempt.status, 429);
        match attempt.outcome {
            Ok(ProvisionOutcome::RateLimited { retry_after_secs }) => {
                assert!((1..=60).contains(&retry_after_secs))
            }
            other => panic!("expected rate limiting, got {other:?}"),
        }
        // The device itself, whose MAC verifies, is not refused.
        world.attempt("f", "dev-a", &secret).await.approved();
        // Another device of the same fleet is not affected.
        world
            .attempt("f", "dev-b", &secret_for(&fleet, "dev-b"))
            .await
            .approved();
        world
    })
    .await;
}

/// A client whose requests come from another loopback address than the devices' 127.0.0.1.
fn client_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
        .build()
        .unwrap()
}

async fn post_with(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let response = client
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn challenge_body(fleet: &str, device_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"fleet": fleet, "device_id": device_id})).unwrap()
}

/// A step-2 body for `challenge` signed with `secret` (a forger's wrong one, say).
fn provision_body(
    fleet: &str,
    device_id: &str,
    secret: &DeviceSecret,
    challenge: &ddlink_core::provision::Challenge,
) -> Vec<u8> {
    let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
    let exchange = ProvisionExchange::new(identity, challenge, fresh_nonce());
    let mut body = [0u8; 512];
    let len = exchange.write_request(&mut body).unwrap();
    body[..len].to_vec()
}

#[tokio::test]
async fn junk_naming_a_device_does_not_lock_it_out() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("acme", true).await;
        world.connect(API_KEY_V1).await;
        let secret = secret_for(&fleet, "pump-7");
        let wrong = DeviceSecret::from_bytes([9; 32]);
        let attacker = client_from(66);
        let mut refused = 0;
        for i in 0..40u8 {
            // A challenge the gateway never issued, and a real one asked for the device.
            let invented = ddlink_core::provision::Challenge::from_bytes([i; 32], 60);
            let body = provision_body("acme", "pump-7", &wrong, &invented);
            let (status, _, _) = post_with(&attacker, &world.base, "/v1/provision", body).await;
            assert!(matches!(status, 401 | 429), "{status}");
            let (status, _, reply) = post_with(
                &attacker,
                &world.base,
                "/v1/provision/challenge",
                challenge_body("acme", "pump-7"),
            )
            .await;
            if let Ok(ChallengeReply::Issued(real)) = read_challenge_response(status, &reply) {
                let body = provision_body("acme", "pump-7", &wrong, &real);
                let (status, _, _) = post_with(&attacker, &world.base, "/v1/provision", body).await;
                assert!(matches!(status, 401 | 429), "{status}");
            } else {
                assert_eq!(status, 429, "challenge refused with {status}");
                refused += 1;
            }
        }
        // The device itself, from its own address, provisions at once.
        let provisioned = world.attempt("acme", "pump-7", &secret).await.approved();
        assert_eq!(provisioned.api_key.as_str(), API_KEY_V1);
        assert!(refused > 0, "one address got 40 challenges a minute");
        world
    })
    .await;
}

#[tokio::test]
async fn a_device_keeps_a_bounded_number_of_outstanding_challenges() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("bound", true).await;
        world.connect(API_KEY_V1).await;
        let secret = secret_for(&fleet, "dev-b");
        let mut first = None;
        for _ in 0..10 {
            let challenge = world.challenge("bound", "dev-b", &secret).await;
            first.get_or_insert(challenge);
        }
        let now = world.state.clock.now();
        let outstanding = world
            .store
            .outstanding_challenges("bound", "dev-b", now)
            .await
            .unwrap();
        assert_eq!(
            outstanding,
            i64::from(ddlink_gateway::provision::OUTSTANDING_PER_DEVICE)
        );
        // The oldest was replaced; a fresh one still works.
        let (status, _) = world
            .provision_raw("bound", "dev-b", &secret, &first.unwrap(), fresh_nonce())
            .await;
        assert_eq!(status, 401, "an evicted challenge");
        world.attempt("bound", "dev-b", &secret).await.approved();
        world
    })
    .await;
}

#[tokio::test]
async fn unknown_fleets_are_answered_like_known_ones() {
    let world = World::start(Backend::Sqlite).await;
    world.fleet("known", true).await;
    let client = reqwest::Client::new();
    let mut shapes = Vec::new();
    for fleet in ["known", "unknown"] {
        let (status, headers, reply) = post_with(
            &client,
            &world.base,
            "/v1/provision/challenge",
            challenge_body(fleet, "dev-1"),
        )
        .await;
        let json: Value = serde_json::from_slice(&reply).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut header_names: Vec<_> = headers.keys().map(|h| h.to_string()).collect();
        header_names.sort();
        let challenge = match read_challenge_response(status, &reply) {
            Ok(ChallengeReply::Issued(challenge)) => challenge,
            other => panic!("{fleet}: {status} {other:?}"),
        };
        // Step 2 with a MAC from a secret that is not the device's.
        let body = provision_body(
            fleet,
            "dev-1",
            &DeviceSecret::from_bytes([5; 32]),
            &challenge,
        );
        let (step2_status, _, step2_body) =
            post_with(&client, &world.base, "/v1/provision", body).await;
        shapes.push((
            status,
            keys,
            json["expires_in"].clone(),
            reply.len(),
            header_names,
            headers["content-length"].clone(),
            step2_status,
            step2_body,
        ));
    }
    assert_eq!(shapes[0], shapes[1], "known vs unknown fleet");
    assert_eq!(shapes[0].0, 200);
    assert_eq!(shapes[0].6, 401);
    world.finish().await;
}

#[tokio::test]
async fn tampered_answers_are_rejected_by_the_device() {
    let world = World::start(Backend::Sqlite).await;
    let fleet = world.fleet("t", true).await;
    world.connect(API_KEY_V1).await;
    let secret = secret_for(&fleet, "dev-t");
    type Edit = (&'static str, fn(&mut Value));
    let edits: [Edit; 5] = [
        ("sealed_key", |j| {
            let text = j["sealed_key"].as_str().unwrap().to_owned();
            let flipped = if text.starts_with('A') { 'B' } else { 'A' };
            j["sealed_key"] = format!("{flipped}{}", &text[1..]).into();
        }),
        ("site", |j| {
            j["site"] = "datadoghq.com".into();
            j["api_host"] = "api.datadoghq.com".into();
            j["logs_host"] = "http-intake.logs.datadoghq.com".into();
        }),
        ("server_time", |j| {
            j["server_time"] = (j["server_time"].as_u64().unwrap() + 3600).into()
        }),
        ("key_version", |j| j["key_version"] = 99.into()),
        ("api_host", |j| {
            j["api_host"] = "api.attacker.example".into()
        }),
    ];
    for (what, edit) in edits {
        let challenge = world.challenge("t", "dev-t", &secret).await;
        let nonce = fresh_nonce();
        let (status, body) = world
            .provision_raw("t", "dev-t", &secret, &challenge, nonce)
            .await;
        assert_eq!(status, 200);
        let mut json: Value = serde_json::from_slice(&body).unwrap();
        edit(&mut json);
        let identity = DeviceIdentity::new("t", "dev-t", &secret).unwrap();
        let exchange = ProvisionExchange::new(identity, &challenge, nonce);
        let result = exchange.read_response(200, json.to_string().as_bytes(), SandboxPolicy::Deny);
        assert!(
            matches!(
                result,
                Err(ProvisionError::AuthenticationFailed | ProvisionError::HostMismatch)
            ),
            "{what}: {result:?}"
        );
        // The untouched answer opens, so the failure above is the tampering.
        assert!(matches!(
            exchange.read_response(200, &body, SandboxPolicy::Deny),
            Ok(ProvisionOutcome::Approved(_))
        ));
    }
    world.finish().await;
}

#[tokio::test]
async fn malformed_and_oversize_requests_get_clear_4xx() {
    let world = World::start(Backend::Sqlite).await;
    world.fleet("m", true).await;
    let cases: [(&str, String, u16); 8] = [
        ("/v1/provision/challenge", "not json".into(), 400),
        ("/v1/provision/challenge", r#"{"fleet":"m"}"#.into(), 400),
        ("/v1/provision/challenge", r#"{"fleet":"M","device_id":"d"}"#.into(), 400),
        ("/v1/provision/challenge", r#"{"fleet":"m","device_id":"d","x":1}"#.into(), 400),
        ("/v1/provision/challenge", format!(r#"{{"fleet":"m","device_id":"{}"}}"#, "d".repeat(2000)), 413),
        ("/v1/provision", r#"{"fleet":"m","device_id":"d","challenge":"AA==","device_nonce":"AA==","mac":"AA=="}"#.into(), 400),
        ("/v1/provision", "[1,2,3]".into(), 400),
        ("/v1/provision", "{".repeat(100_000), 413),
    ];
    for (path, body, expected) in cases {
        let (status, reply) = world.post(path, body.clone()).await;
        assert_eq!(status, expected, "{path} {}", &body[..body.len().min(60)]);
        let json: Value =
            serde_json::from_slice(&reply).unwrap_or_else(|_| panic!("JSON error body for {path}"));
        assert_eq!(json["status"], "bad_request", "{json}");
    }
    world.finish().await;
}

/// Collects everything the gateway logs while a test runs on this thread.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `ddlink.db*` files in `dir` with their contents (a file removed meanwhile is skipped).
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ddlink.db"))
            && let Ok(content) = std::fs::read(&path)
        {
            files.push((path.display().to_string(), content));
        }
    }
    files
}

// Current-thread runtime: the gateway's tasks run on this thread, so the scoped subscriber
// sees their logs.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs_or_the_database_file() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let world = World::start(Backend::Sqlite).await;
    let fleet = world.fleet("s", false).await;
    world.connect(API_KEY_V1).await;
    let secret = secret_for(&fleet, "dev-s");
    assert_eq!(world.attempt("s", "dev-s", &secret).await.status, 202);
    world
        .store
        .set_device_state(&tenant(), "s", "dev-s", DeviceState::Approved)
        .await
        .unwrap();
    let approved = world.attempt("s", "dev-s", &secret).await;
    let body = approved.body.clone();
    approved.approved();
    let wrong = DeviceSecret::from_bytes([9; 32]);
    // Other tests hit the refusal's log call site on their threads, without a subscriber; make
    // sure its cached interest includes this thread's subscriber.
    tracing::callsite::rebuild_interest_cache();
    assert_eq!(world.attempt("s", "dev-s", &wrong).await.status, 401);

    let fleet_key = *fleet.key();
    let device_secret = *secret.expose_secret();
    let dir = world.dir.path().to_owned();
    // The database file plus its WAL while the gateway runs, and the file again after close.
    let mut files = database_files(&dir);
    let kept = world.finish().await;
    files.extend(database_files(kept.path()));

    let logged = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logged, b"provisioning refused"),
        "the refusal is logged"
    );
    assert!(
        files.iter().any(|(name, _)| name.ends_with("ddlink.db")),
        "database file found"
    );
    assert!(
        files
            .iter()
            .any(|(name, _)| name.ends_with("ddlink.db-wal")),
        "WAL file found"
    );
    let sealed = serde_json::from_slice::<Value>(&body).unwrap()["sealed_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets: [(&str, Vec<u8>); 6] = [
        ("api key", API_KEY_V1.as_bytes().to_vec()),
        ("fleet key", fleet_key.to_vec()),
        ("fleet key hex", hex(&fleet_key).into_bytes()),
        ("device secret", device_secret.to_vec()),
        ("device secret hex", hex(&device_secret).into_bytes()),
        ("sealed key as sent", sealed.into_bytes()),
    ];
    for (what, needle) in &secrets {
        assert!(!contains(&logged, needle), "{what} in the logs");
        for (name, content) in &files {
            assert!(!contains(content, needle), "{what} in {name}");
        }
    }
}

#[tokio::test]
async fn admin_approves_and_revokes_with_csrf_and_status_lists_devices() {
    let world = World::start(Backend::Sqlite).await;
    let fleet = world.fleet("adm", false).await;
    world.connect(API_KEY_V1).await;
    let secret = secret_for(&fleet, "dev-x");
    assert_eq!(world.attempt("adm", "dev-x", &secret).await.status, 202);

    let login = world
        .http
        .post(format!("{}/login", world.base))
        .form(&[("password", ADMIN_TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_redirection());
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = world
        .http
        .get(format!("{}/", world.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("adm/dev-x") && page.contains("/provision/devices/adm/dev-x/approve"),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field")
        .to_owned();

    let approve = format!("{}/provision/devices/adm/dev-x/approve", world.base);
    let refused = world
        .http
        .post(&approve)
        .header("cookie", &cookie)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "wrong CSRF token");
    assert_eq!(
        world.device("adm", "dev-x").await.state,
        DeviceState::Pending
    );
    let unknown = world
        .http
        .post(format!("{}/provision/devices/adm/dev-x/delete", world.base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "an action that does not exist");
    assert_eq!(
        world.device("adm", "dev-x").await.state,
        DeviceState::Pending
    );
    let done = world
        .http
        .post(&approve)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_redirection(), "{}", done.status());
    world.attempt("adm", "dev-x", &secret).await.approved();

    let status: Value = world
        .http
        .get(format!("{}/api/status", world.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["fleets"][0]["name"], "adm");
    assert_eq!(status["fleets"][0]["auto_approve"], false);
    assert_eq!(status["devices"][0]["device_id"], "dev-x");
    assert_eq!(status["devices"][0]["state"], "approved");
    assert_eq!(status["devices"][0]["key_version"], 1);
    assert!(!status.to_string().contains(API_KEY_V1));

    let revoke = format!("{}/provision/devices/adm/dev-x/revoke", world.base);
    let done = world
        .http
        .post(&revoke)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_redirection());
    assert_eq!(world.attempt("adm", "dev-x", &secret).await.status, 403);
    world.finish().await;
}

#[tokio::test]
async fn shared_vectors_match_the_gateway_derivation_and_the_cli() {
    let vectors: Value = serde_json::from_str(include_str!(
        "../../../core/tests/vectors/provision_v1.json"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = || cli_settings::cli_settings(dir.path());
    use ddlink_gateway::provision::cli::{
        DeviceSecretArgs, FleetCommand, run_device_secret, run_fleet,
    };
    let created = run_fleet(&FleetCommand::Create {
        name: "cli-fleet".into(),
        tenant: "default".into(),
        connection: None,
        auto_approve: true,
        lease_secs: 3_600,
        settings: settings(),
    })
    .await
    .unwrap();
    assert!(created.contains("cli-fleet"), "{created}");
    assert!(created.contains("lease: 3600 s"), "{created}");
    for lease_secs in [0, 9, 2_592_001, u64::from(u32::MAX) + 1] {
        let refused = run_fleet(&FleetCommand::Create {
            name: "bad-lease".into(),
            tenant: "default".into(),
            connection: None,
            auto_approve: true,
            lease_secs,
            settings: settings(),
        })
        .await
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("a lease must be 10 to 2592000 seconds"),
            "{lease_secs}: {refused}"
        );
    }

    // Store each vector's fleet key as a fleet, then ask the CLI for the device secret.
    let gateway = Gateway::start(
        ddlink_gateway::config::layering::resolve(&settings())
            .unwrap()
            .config,
    )
    .await
    .unwrap();
    let state = gateway.state().clone();
    let store = ProvisionStore::new(state.db.clone());
    for vector in vectors["vectors"].as_array().unwrap() {
        let input = &vector["inputs"];
        let fleet = input["fleet"].as_str().unwrap();
        let key_hex = input["fleet_key_hex"].as_str().unwrap();
        let key: Vec<u8> = (0..key_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap())
            .collect();
        let sealed = state
            .keys
            .seal(
                &ddlink_gateway::crypto::SealContext::new("provision_fleets", "fleet_key", fleet),
                &key,
            )
            .unwrap();
        let row = NewFleet {
            name: fleet,
            sealed_key: &sealed,
            auto_approve: false,
            connection_id: None,
            created_at: 0,
            lease_secs: u32::try_from(input["lease_secs"].as_u64().unwrap()).unwrap(),
        };
        assert!(store.insert_fleet(&tenant(), &row).await.unwrap());
    }
    state.db.close().await;
    drop(gateway);
    for vector in vectors["vectors"].as_array().unwrap() {
        let printed = run_device_secret(&DeviceSecretArgs {
            fleet: vector["inputs"]["fleet"].as_str().unwrap().into(),
            device_id: vector["inputs"]["device_id"].as_str().unwrap().into(),
            settings: settings(),
        })
        .await
        .unwrap();
        assert_eq!(
            printed.trim(),
            vector["outputs"]["device_secret_hex"].as_str().unwrap()
        );
    }
    let listed = run_fleet(&FleetCommand::List {
        tenant: "default".into(),
        settings: settings(),
    })
    .await
    .unwrap();
    assert!(
        listed.contains("cli-fleet\tauto-approve\t0 devices\tunbound\tlease 3600 s"),
        "{listed}"
    );
    assert!(!listed.contains("bad-lease"), "{listed}");
    assert!(listed.contains("acme-fleet\tmanual"), "{listed}");
    let unknown = run_device_secret(&DeviceSecretArgs {
        fleet: "missing".into(),
        device_id: "d".into(),
        settings: settings(),
    })
    .await
    .unwrap_err();
    assert!(
        unknown.to_string().contains("no fleet named `missing`"),
        "{unknown}"
    );
}

#[tokio::test]
async fn a_fleets_lease_is_in_every_approval() {
    on_each_backend(|world| async move {
        let spec = fleets::FleetSpec {
            tenant: &tenant(),
            name: "short",
            auto_approve: true,
            connection_id: None,
        };
        let fleet = fleets::create_leased(&world.store, &world.state.keys, &spec, 600, 0)
            .await
            .unwrap();
        world.connect(API_KEY_V1).await;
        let attempt = world
            .attempt("short", "dev-1", &secret_for(&fleet, "dev-1"))
            .await;
        let body: Value = serde_json::from_slice(&attempt.body).unwrap();
        assert_eq!(body["lease_secs"], 600);
        assert_eq!(attempt.approved().lease_secs, 600);
        let stored = world
            .store
            .fleet(&tenant(), "short")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.lease_secs, 600);
        for lease_secs in [9, 2_592_001] {
            let spec = fleets::FleetSpec {
                name: "refused",
                ..spec
            };
            let error =
                fleets::create_leased(&world.store, &world.state.keys, &spec, lease_secs, 0)
                    .await
                    .unwrap_err();
            assert!(
                matches!(error, fleets::FleetError::InvalidLease(_)),
                "{error}"
            );
        }
        assert!(
            world
                .store
                .fleet(&tenant(), "refused")
                .await
                .unwrap()
                .is_none()
        );
        world
    })
    .await;
}

#[tokio::test]
async fn a_forbidden_report_queues_one_key_check_of_the_fleets_connection() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("reporting", true).await;
        world.connect(API_KEY_V1).await;
        let mut checks = world.key_checks();
        assert!(world.state.provisioning.take_key_check_receiver().is_none(), "one receiver");

        // A plain renewal asks for nothing.
        world.attempt("reporting", "dev-1", &secret_for(&fleet, "dev-1")).await.approved();
        assert_eq!(checks.try_recv(), None);

        // Many devices report a 403 at once: one check is queued, and each gets its answer.
        for device in ["dev-1", "dev-2", "dev-3"] {
            let secret = secret_for(&fleet, device);
            let attempt = world
                .attempt_reporting("reporting", device, &secret, Some(LastError::Forbidden))
                .await;
            assert_eq!(attempt.approved().api_key.as_str(), API_KEY_V1);
        }
        assert_eq!(checks.try_recv().as_deref(), Some(CONNECTION_ID));
        assert_eq!(checks.try_recv(), None, "at most one request per connection");

        // Once taken, a new report queues a new check.
        let secret = secret_for(&fleet, "dev-1");
        world
            .attempt_reporting("reporting", "dev-1", &secret, Some(LastError::Forbidden))
            .await
            .approved();
        assert_eq!(checks.try_recv().as_deref(), Some(CONNECTION_ID));

        let events = world.state.store.recent_events(&tenant(), 50).await.unwrap();
        let reports = events
            .iter()
            .filter(|e| e.message.contains("reported that Datadog refused its key (forbidden)"))
            .count();
        assert_eq!(reports, 4, "every report is an event: {events:?}");
        assert!(
            events
                .iter()
                .any(|e| e.message == format!("reporting/dev-2 reported that Datadog refused its key (forbidden); a key check of connection {CONNECTION_ID} is already waiting")),
            "{events:?}"
        );
        world
    })
    .await;
}

#[tokio::test]
async fn a_report_must_be_known_and_is_covered_by_the_mac() {
    on_each_backend(|world| async move {
        let fleet = world.fleet("strict", true).await;
        world.connect(API_KEY_V1).await;
        let mut checks = world.key_checks();
        let secret = secret_for(&fleet, "dev-1");
        let challenge = world.challenge("strict", "dev-1", &secret).await;
        let identity = DeviceIdentity::new("strict", "dev-1", &secret).unwrap();
        // MAC'd without the report, sent with one: refused, and nothing is queued.
        let exchange = ProvisionExchange::new(identity, &challenge, fresh_nonce());
        let mut body = [0u8; 512];
        let len = exchange.write_request(&mut body).unwrap();
        let mut json: Value = serde_json::from_slice(&body[..len]).unwrap();
        json["last_error"] = "forbidden".into();
        let (status, _) = world.post("/v1/provision", json.to_string()).await;
        assert_eq!(status, 401);
        assert_eq!(checks.try_recv(), None);
        // A value this gateway does not know is a clear 400.
        json["last_error"] = "teapot".into();
        let (status, reply) = world.post("/v1/provision", json.to_string()).await;
        assert_eq!(status, 400);
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["error"], "last_error must be \"forbidden\"");
        world
    })
    .await;
}
