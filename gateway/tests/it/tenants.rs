//! Tenants: carrying a single-organisation database over, binding the tile flow to the
//! signed-in tenant, people, and isolation (tenant A never reaches tenant B's connections,
//! fleets, devices or key). The isolation tests run on SQLite, and on PostgreSQL when
//! `DDLINK_TEST_POSTGRES_URL` is set (a fresh schema per test).

use axum::body::Body;
use ddlink_core::provision::{
    ChallengeReply, DeviceIdentity, DeviceSecret, ProvisionExchange, ProvisionOutcome,
    read_challenge_response,
};
use ddlink_core::site::{Region, SandboxPolicy, Site};
use ddlink_gateway::connections::{OrgInfo, Saved};
use ddlink_gateway::crypto::{KeyRing, MasterKey, SealContext};
use ddlink_gateway::datadog::{CreatedKey, Tokens};
use ddlink_gateway::provision::fleets::{self, Fleet, FleetSpec};
use ddlink_gateway::provision::store::{DeviceState, ProvisionStore};
use ddlink_gateway::store::{ConnectionState, Db, DbOptions, Store};
use ddlink_gateway::tenants::{self, TenantAdmin, TenantId};
use http::{Request, StatusCode, header};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::common::{self, TOKEN_JSON};
use crate::router::{Harness, csrf_of, harness_on};

const KEY_A: &str = "aaaa0000aaaa0000aaaa0000aaaa0000";
const KEY_B: &str = "bbbb1111bbbb1111bbbb1111bbbb1111";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run on: SQLite, and PostgreSQL when configured.
pub(crate) fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("DDLINK_TEST_POSTGRES_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// Database options for a test, and the PostgreSQL schema to drop afterwards.
fn database(dir: &std::path::Path, backend: Backend) -> (DbOptions, Option<String>) {
    match backend {
        Backend::Sqlite => (common::sqlite_db(dir), None),
        Backend::Postgres => {
            let url = std::env::var("DDLINK_TEST_POSTGRES_URL").expect("checked by backends()");
            let schema = common::pg_schema::fresh("gw_tenant");
            (
                DbOptions {
                    schema: Some(schema.clone()),
                    ..DbOptions::new(url)
                },
                Some(schema),
            )
        }
    }
}

pub(crate) async fn harness(backend: Backend) -> (Harness, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (options, schema) = database(dir.path(), backend);
    (
        harness_on(dir, "https://gw.example.com", options).await,
        schema,
    )
}

pub(crate) async fn finish(h: Harness, schema: Option<String>) {
    let db = &h.gateway.state().db;
    if let Some(schema) = schema {
        common::pg_schema::drop(db.pool(), &schema).await;
    }
    db.close().await;
}

fn org(id: &str, name: &str) -> OrgInfo {
    OrgInfo {
        org_id: Some(id.to_owned()),
        org_name: name.to_owned(),
    }
}

pub(crate) fn tokens() -> Tokens {
    Tokens {
        access_token: SecretString::from("access-tenant-test".to_owned()),
        refresh_token: Some(SecretString::from("refresh-tenant-test".to_owned())),
        expires_in_secs: 3600,
    }
}

pub(crate) fn created(key: &str) -> CreatedKey {
    CreatedKey {
        key: SecretString::from(key.to_owned()),
        id: format!("id-{}", &key[..4]),
        last4: key[key.len() - 4..].to_owned(),
    }
}

/// Two tenants, each with an admin, a connection (made through the store, as the tile flow
/// would), and a fleet bound to it; plus one unbound fleet of tenant A.
struct TwoTenants {
    a: TenantAdmin,
    b: TenantAdmin,
    fleet_a: Fleet,
    fleet_b: Fleet,
    unbound_a: Fleet,
}

const ORG_A: &str = "org-aaaa";
const ORG_B: &str = "org-bbbb";

async fn two_tenants(h: &Harness) -> TwoTenants {
    let state = h.gateway.state();
    let a = tenants::create_with_admin(state, "acme").await.unwrap();
    let b = tenants::create_with_admin(state, "globex").await.unwrap();
    let eu = Site::from(Region::Eu1);
    for (admin, id, name, key) in [
        (&a, ORG_A, "Acme Org", KEY_A),
        (&b, ORG_B, "Globex Org", KEY_B),
    ] {
        let saved = state
            .connections
            .save_authorized(
                &admin.tenant,
                &org(id, name),
                &eu,
                "https://app.datadoghq.eu",
                &tokens(),
                Some(&created(key)),
            )
            .await
            .unwrap();
        assert!(matches!(saved, Saved::Stored(_)), "{saved:?}");
    }
    let store = ProvisionStore::new(state.db.clone());
    let fleet = |tenant: &TenantAdmin, name: &'static str, connection: Option<&'static str>| {
        let store = store.clone();
        let tenant = tenant.tenant.clone();
        async move {
            let spec = FleetSpec {
                tenant: &tenant,
                name,
                auto_approve: true,
                connection_id: connection,
            };
            fleets::create(&store, &state.keys, &spec, state.clock.now())
                .await
                .unwrap()
        }
    };
    let fleet_a = fleet(&a, "acme-plant", Some(ORG_A)).await;
    let fleet_b = fleet(&b, "globex-plant", Some(ORG_B)).await;
    let unbound_a = fleet(&a, "acme-spare", None).await;
    TwoTenants {
        a,
        b,
        fleet_a,
        fleet_b,
        unbound_a,
    }
}

async fn sign_in(h: &Harness, admin: &TenantAdmin) -> String {
    h.login_with(&format!(
        "user={}&password={}&next=%2F",
        admin.user,
        admin.password.expose_secret()
    ))
    .await
}

/// The CSRF token of a signed-in session (from its admin page).
async fn csrf(h: &Harness, cookie: &str) -> String {
    let page = h.get("/", Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    csrf_of(&page.body)
}

async fn post_json(h: &Harness, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let reply = h
        .send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    (reply.status.as_u16(), reply.body.into_bytes())
}

/// One device attempt (challenge, provision) through the router: the status and the device's
/// reading of the answer.
async fn provision(
    h: &Harness,
    fleet: &str,
    device_id: &str,
    secret: &DeviceSecret,
) -> (u16, Option<ProvisionOutcome>) {
    let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
    let mut body = [0u8; 256];
    let len = identity.write_challenge_request(&mut body).unwrap();
    let (status, reply) = post_json(h, "/v1/provision/challenge", body[..len].to_vec()).await;
    let ChallengeReply::Issued(challenge) = read_challenge_response(status, &reply).unwrap() else {
        panic!("no challenge: {status}");
    };
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    let identity = DeviceIdentity::new(fleet, device_id, secret).unwrap();
    let exchange = ProvisionExchange::new(identity, &challenge, nonce);
    let mut body = [0u8; 512];
    let len = exchange.write_request(&mut body).unwrap();
    let (status, reply) = post_json(h, "/v1/provision", body[..len].to_vec()).await;
    (
        status,
        exchange
            .read_response(status, &reply, SandboxPolicy::Deny)
            .ok(),
    )
}

fn api_key_of(outcome: Option<ProvisionOutcome>) -> String {
    match outcome {
        Some(ProvisionOutcome::Approved(provisioned)) => provisioned.api_key.as_str().to_owned(),
        other => panic!("expected a key, got {other:?}"),
    }
}

#[tokio::test]
async fn a_device_only_ever_gets_its_own_fleets_bound_key() {
    for backend in backends() {
        let (h, schema) = harness(backend).await;
        let world = two_tenants(&h).await;
        let secret_a = world.fleet_a.device_secret("pump-1").unwrap();
        let secret_b = world.fleet_b.device_secret("pump-1").unwrap();

        let (status, outcome) = provision(&h, "acme-plant", "pump-1", &secret_a).await;
        assert_eq!(status, 200, "{backend:?}");
        assert_eq!(api_key_of(outcome), KEY_A);
        let (_, outcome) = provision(&h, "globex-plant", "pump-1", &secret_b).await;
        assert_eq!(api_key_of(outcome), KEY_B);

        // A's device naming B's fleet (with the only secret it has) is refused.
        let (status, _) = provision(&h, "globex-plant", "pump-1", &secret_a).await;
        assert_eq!(status, 401, "{backend:?}");
        // Unbound: no key at all, however recently other connections changed.
        let spare = world.unbound_a.device_secret("pump-9").unwrap();
        let (status, _) = provision(&h, "acme-spare", "pump-9", &spare).await;
        assert_eq!(status, 409, "{backend:?}: unbound fleets are not_connected");

        // B refreshing (its connection written last) changes nothing for A's devices.
        let state = h.gateway.state();
        state
            .connections
            .save_authorized(
                &world.b.tenant,
                &org(ORG_B, "Globex Org"),
                &Site::from(Region::Eu1),
                "https://app.datadoghq.eu",
                &tokens(),
                None,
            )
            .await
            .unwrap();
        let (_, outcome) = provision(&h, "acme-plant", "pump-1", &secret_a).await;
        assert_eq!(api_key_of(outcome), KEY_A);

        // The store refuses to bind A's fleet to B's connection, and the hand-out ignores a
        // binding that crosses tenants.
        let store = ProvisionStore::new(state.db.clone());
        assert!(
            !store
                .bind_fleet(&world.a.tenant, "acme-plant", Some(ORG_B))
                .await
                .unwrap()
        );
        assert!(
            state
                .store
                .fleet_connection(&world.a.tenant, "globex-plant")
                .await
                .unwrap()
                .is_none()
        );
        // A connection that stops being usable means not_connected, not another key.
        let seen = state
            .store
            .connection(&world.a.tenant, ORG_A)
            .await
            .unwrap()
            .unwrap();
        assert!(
            state
                .store
                .set_connection_state(&world.a.tenant, &seen, ConnectionState::Uninstalled, 1)
                .await
                .unwrap()
        );
        let (status, _) = provision(&h, "acme-plant", "pump-1", &secret_a).await;
        assert_eq!(status, 409, "{backend:?}");
        finish(h, schema).await;
    }
}

#[tokio::test]
async fn a_tenant_session_gets_404_for_another_tenants_rows() {
    for backend in backends() {
        let (h, schema) = harness(backend).await;
        let world = two_tenants(&h).await;
        // A device of B's, so there is something of B's to approve or revoke.
        let secret_b = world.fleet_b.device_secret("dev-b").unwrap();
        provision(&h, "globex-plant", "dev-b", &secret_b).await;

        let cookie = sign_in(&h, &world.a).await;
        let csrf = csrf(&h, &cookie).await;
        let form = |extra: &str| format!("csrf={csrf}{extra}");
        for (path, body) in [
            (format!("/connections/{ORG_B}/disconnect"), form("")),
            ("/connections/org-guessed/disconnect".to_owned(), form("")),
            (
                "/provision/devices/globex-plant/dev-b/revoke".to_owned(),
                form(""),
            ),
            (
                "/provision/devices/globex-plant/dev-b/approve".to_owned(),
                form(""),
            ),
            (
                "/provision/fleets/globex-plant/bind".to_owned(),
                form(&format!("&connection={ORG_A}")),
            ),
            (
                "/provision/fleets/globex-plant/bind".to_owned(),
                form("&connection="),
            ),
            (
                "/provision/fleets/acme-plant/bind".to_owned(),
                form(&format!("&connection={ORG_B}")),
            ),
            (
                "/provision/fleets/bind-unbound".to_owned(),
                form(&format!("&connection={ORG_B}")),
            ),
        ] {
            let reply = h.post_form(&path, Some(&cookie), &body).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{backend:?} {path}");
        }
        // Nothing of B's changed.
        let state = h.gateway.state();
        let b_connection = state
            .store
            .connection(&world.b.tenant, ORG_B)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b_connection.state, ConnectionState::Active);
        let store = ProvisionStore::new(state.db.clone());
        let b_devices = store.devices(&world.b.tenant).await.unwrap();
        assert_eq!(b_devices.len(), 1);
        assert_eq!(b_devices[0].state, DeviceState::Approved);
        let b_fleet = store
            .fleet(&world.b.tenant, "globex-plant")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b_fleet.connection_id.as_deref(), Some(ORG_B));
        let a_fleet = store
            .fleet(&world.a.tenant, "acme-plant")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a_fleet.connection_id.as_deref(), Some(ORG_A));

        // A's own rows answer normally.
        let reply = h
            .post_form(
                "/provision/fleets/acme-plant/bind",
                Some(&cookie),
                &form(""),
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let reply = h
            .post_form(
                "/provision/fleets/bind-unbound",
                Some(&cookie),
                &form(&format!("&connection={ORG_A}")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let bound: Vec<_> = store
            .fleets(&world.a.tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.connection_id))
            .collect();
        assert_eq!(
            bound,
            [
                ("acme-plant".to_owned(), Some(ORG_A.to_owned())),
                ("acme-spare".to_owned(), Some(ORG_A.to_owned())),
            ]
        );

        // Pages and status show only A's data.
        let page = h.get("/", Some(&cookie)).await.body;
        assert!(
            page.contains("Acme Org") && page.contains("acme-plant"),
            "{page}"
        );
        for other in ["Globex", "globex-plant", "dev-b", "id=\"tenants\""] {
            assert!(!page.contains(other), "{backend:?}: {other} on A's page");
        }
        let status: Value =
            serde_json::from_str(&h.get("/api/status", Some(&cookie)).await.body).unwrap();
        assert_eq!(status["tenant"], "acme");
        assert_eq!(status["connections"].as_array().unwrap().len(), 1);
        assert_eq!(status["connections"][0]["org_name"], "Acme Org");
        assert_eq!(status["connections"][0]["id"], ORG_A);
        assert_eq!(status["fleets"][0]["connection_id"], ORG_A);
        assert_eq!(status["fleets"].as_array().unwrap().len(), 2);
        assert_eq!(status["devices"].as_array().unwrap().len(), 0);
        assert!(
            status.get("tenants").is_none(),
            "only the operator sees tenants"
        );
        finish(h, schema).await;
    }
}

#[tokio::test]
async fn the_operator_sees_every_tenants_health_and_no_secret() {
    let (h, schema) = harness(Backend::Sqlite).await;
    let world = two_tenants(&h).await;
    let state = h.gateway.state();
    state
        .store
        .record_event(
            &world.b.tenant,
            5,
            ddlink_gateway::store::EventKind::Uninstalled,
            "Globex Org on datadoghq.eu: reconnect",
        )
        .await
        .unwrap();
    let reply = h.status_with_admin_token().await;
    assert_eq!(reply.status, StatusCode::OK);
    for secret in [
        KEY_A,
        KEY_B,
        "access-tenant-test",
        "refresh-tenant-test",
        "0000",
        "1111",
    ] {
        assert!(!reply.body.contains(secret), "{secret} in {}", reply.body);
    }
    let status: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(status["tenant"], "default");
    let health = status["tenants"].as_array().unwrap();
    let names: Vec<_> = health
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "default", "globex"]);
    assert_eq!(health[0]["connections"][0]["state"], "active");
    assert_eq!(health[0]["fleets"], 2);
    assert_eq!(health[2]["last_problem"]["kind"], "uninstalled");
    // The operator's own page lists the tenants too.
    let cookie = h.login().await;
    let page = h.get("/", Some(&cookie)).await.body;
    assert!(
        page.contains("id=\"tenants\"") && page.contains("globex"),
        "{page}"
    );
    finish(h, schema).await;
}

#[tokio::test]
async fn the_tile_flow_connects_the_signed_in_tenant_and_never_takes_another_tenants_org() {
    let (h, schema) = harness(Backend::Sqlite).await;
    let state = h.gateway.state();
    let a = tenants::create_with_admin(state, "acme").await.unwrap();
    let b = tenants::create_with_admin(state, "globex").await.unwrap();
    let store = ProvisionStore::new(state.db.clone());
    let spec = FleetSpec {
        tenant: &a.tenant,
        name: "acme-plant",
        auto_approve: true,
        connection_id: None,
    };
    fleets::create(&store, &state.keys, &spec, 0).await.unwrap();
    let callback = |flow_state: &str| {
        format!(
            "/oauth/callback?code=c0de&state={flow_state}&domain=datadoghq.eu&dd_oid=0rg-shared&dd_org_name=Shared+Org"
        )
    };

    let cookie_a = sign_in(&h, &a).await;
    let flow = h.start_flow(&cookie_a, "https://app.datadoghq.eu").await;
    h.transport.answer_token_and_new_key();
    let reply = h.get(&callback(&flow), Some(&cookie_a)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        state.store.connection_owner("0rg-shared").await.unwrap(),
        Some(a.tenant.clone())
    );
    // After the first connection, A's page offers to bind its unbound fleet.
    let page = h.get("/", Some(&cookie_a)).await.body;
    assert!(
        page.contains("id=\"bind-unbound\"") && page.contains("Bind them to Shared Org"),
        "{page}"
    );

    // B completes a flow for the same organisation: refused before any token or key exists.
    let cookie_b = sign_in(&h, &b).await;
    let flow = h.start_flow(&cookie_b, "https://app.datadoghq.eu").await;
    let requests_before = h.transport.seen().len();
    let reply = h.get(&callback(&flow), Some(&cookie_b)).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.body.contains("connected to another account"),
        "{}",
        reply.body
    );
    assert_eq!(
        h.transport.seen().len(),
        requests_before,
        "no code exchange and no API key for another tenant's organisation"
    );
    assert!(state.store.connections(&b.tenant).await.unwrap().is_empty());
    let page = h.get("/", Some(&cookie_b)).await.body;
    assert!(!page.contains("Shared Org"), "{page}");

    // A reconnecting updates its own connection (Datadog answers 409: the key is kept).
    let flow = h.start_flow(&cookie_a, "https://app.datadoghq.eu").await;
    h.transport
        .answer("/oauth2/v1/token", 200, "application/json", TOKEN_JSON);
    h.transport.answer(
        "/api/v2/api_keys/marketplace",
        409,
        "application/json",
        r#"{"errors":["exists"]}"#,
    );
    let reply = h.get(&callback(&flow), Some(&cookie_a)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let connections = state.store.connections(&a.tenant).await.unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].api_key_last4.as_deref(), Some("cdef"));
    finish(h, schema).await;
}

#[tokio::test]
async fn invites_make_tenant_admins_once() {
    let (h, schema) = harness(Backend::Sqlite).await;
    let state = h.gateway.state();
    let tenant = tenants::create(state, "acme").await.unwrap();
    let url = tenants::create_invite(state, &tenant).await.unwrap();
    let path = url.path().to_owned();
    assert!(path.starts_with("/invite/"), "{url}");
    let token = path.trim_start_matches("/invite/");
    // Only the hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM invites")
        .fetch_all(state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, [ddlink_gateway::crypto::hash_token(token)]);

    let form = h.get(&path, None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("acme"));
    let short = h.post_form(&path, None, "user=alice&password=short").await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let taken = h
        .post_form(&path, None, "user=operator&password=a-long-enough-password")
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    let accepted = h
        .post_form(&path, None, "user=alice&password=a-long-enough-password")
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let again = h
        .post_form(&path, None, "user=bob&password=a-long-enough-password")
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "single use");
    assert_eq!(h.get(&path, None).await.status, StatusCode::NOT_FOUND);

    let cookie = h
        .login_with("user=alice&password=a-long-enough-password&next=%2F")
        .await;
    let page = h.get("/", Some(&cookie)).await.body;
    assert!(page.contains("tenant <code>acme</code>"), "{page}");
    // Alice invites a further admin of her own tenant.
    let csrf = csrf_of(&page);
    let invite = h
        .post_form("/invites", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(invite.status, StatusCode::OK);
    let link = invite
        .body
        .split("id=\"invite-url\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let second = url::Url::parse(&link).unwrap();
    let form = h.get(second.path(), None).await;
    assert!(form.body.contains("acme"), "{}", form.body);
    // A wrong password for a known user and an unknown user are both plain refusals.
    for body in [
        "user=alice&password=wrong-password-123",
        "user=nobody&password=wrong-password-123",
    ] {
        let reply = h.post_form("/login", None, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body}");
    }
    finish(h, schema).await;
}

/// The migrations from before tenants existed, copied into `dir`.
fn old_migrations(backend: Backend, dir: &std::path::Path) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        });
    let target = dir.join("old-migrations");
    std::fs::create_dir_all(&target).unwrap();
    for name in [
        "0001_gateway.sql",
        "0100_provision.sql",
        "0101_provision_challenge_device.sql",
    ] {
        std::fs::copy(source.join(name), target.join(name)).unwrap();
    }
    target
}

/// A pool on the test database with only the old migrations applied.
async fn old_database(
    backend: Backend,
    options: &DbOptions,
    dir: &std::path::Path,
) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = match backend {
        Backend::Sqlite => sqlx::AnyPool::connect(&format!("{}?mode=rwc", options.url))
            .await
            .unwrap(),
        Backend::Postgres => {
            let schema = options.schema.clone().unwrap();
            let setup = sqlx::AnyPool::connect(&options.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                .execute(&setup)
                .await
                .unwrap();
            setup.close().await;
            sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .after_connect(move |conn, _| {
                    let sql = format!("SET search_path TO \"{schema}\"");
                    Box::pin(async move {
                        sqlx::Executor::execute(conn, sqlx::AssertSqlSafe(sql)).await?;
                        Ok(())
                    })
                })
                .connect(&options.url)
                .await
                .unwrap()
        }
    };
    sqlx::migrate::Migrator::new(old_migrations(backend, dir))
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

#[tokio::test]
async fn a_single_org_database_is_carried_over_into_the_default_tenant() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (options, schema) = database(dir.path(), backend);
        let keys = KeyRing::new(MasterKey::generate().unwrap().0, Vec::new());
        let old = old_database(backend, &options, dir.path()).await;
        // Old-shape rows: the organisation devices were given the key of, an older
        // disconnected one, a fleet with a device, an event and a session.
        let seal = |column: &str, id: &str, value: &str| {
            keys.seal(
                &SealContext::new("connections", column, id),
                value.as_bytes(),
            )
            .unwrap()
        };
        for (id, state, key, updated_at) in [
            (
                "org-live",
                "active",
                Some(seal("api_key", "org-live", KEY_A)),
                200_i64,
            ),
            ("org-gone", "disconnected", None, 100),
        ] {
            sqlx::query(
                "INSERT INTO connections (id, org_id, org_name, domain, site, state, access_token, refresh_token, \
                     access_expires_at, api_key, api_key_id, api_key_last4, key_version, created_at, updated_at) \
                 VALUES ($1, $1, 'Old Org', 'datadoghq.eu', 'https://app.datadoghq.eu', $2, NULL, NULL, \
                     0, $3, 'kid', '0000', 3, 1, $4)",
            )
            .bind(id)
            .bind(state)
            .bind(key)
            .bind(updated_at)
            .execute(&old)
            .await
            .unwrap();
        }
        let fleet_key = keys
            .seal(
                &SealContext::new("provision_fleets", "fleet_key", "plant"),
                &[7u8; 32],
            )
            .unwrap();
        sqlx::query("INSERT INTO provision_fleets (name, fleet_key, auto_approve, created_at) VALUES ('plant', $1, 1, 1)")
            .bind(fleet_key)
            .execute(&old)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO provision_devices (fleet, device_id, state, first_seen, last_seen, key_version) \
             VALUES ('plant', 'pump-1', 'approved', 1, 2, 3)",
            "INSERT INTO gateway_events (at, kind, message) VALUES (5, 'connected', 'Old Org on datadoghq.eu')",
            "INSERT INTO admin_sessions (session_hash, created_at, expires_at) VALUES ('old-session', 1, 9999999999)",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&old)
                .await
                .unwrap();
        }
        old.close().await;

        let db = Db::connect(&options).await.unwrap();
        let store = Store::new(db.clone());
        let default = TenantId::default_tenant();
        assert_eq!(store.tenants().await.unwrap(), [TenantId::default_tenant()]);
        let connections = store.connections(&default).await.unwrap();
        assert_eq!(connections.len(), 2, "{backend:?}");
        assert_eq!(
            store.connection_owner("org-live").await.unwrap(),
            Some(default.clone())
        );
        let provisioning = ProvisionStore::new(db.clone());
        let fleet = provisioning
            .fleet(&default, "plant")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            fleet.connection_id.as_deref(),
            Some("org-live"),
            "{backend:?}"
        );
        let devices = provisioning.devices(&default).await.unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].state, DeviceState::Approved);
        let events = store.recent_events(&default, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        let user = store
            .session_user("old-session", 10)
            .await
            .unwrap()
            .unwrap();
        assert!(user.operator && user.tenant == default, "{user:?}");
        // And it keeps working: the fleet's devices get the same key as before.
        let connections_api = ddlink_gateway::connections::Connections::new(
            store.clone(),
            std::sync::Arc::new(keys),
            ddlink_gateway::clock::Clock::system(),
        );
        let (record, key) = connections_api
            .device_api_key(&default, "plant")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.id.as_str(), key.expose_secret()),
            ("org-live", KEY_A)
        );
        if let Some(schema) = schema {
            common::pg_schema::drop(db.pool(), &schema).await;
        }
        db.close().await;
    }
}

#[tokio::test]
async fn the_tenant_and_fleet_commands_create_invite_and_bind() {
    use ddlink_gateway::cli::{TenantCommand, run_tenant};
    use ddlink_gateway::config::layering::resolve;
    use ddlink_gateway::provision::cli::{FleetCommand, run_fleet};
    let dir = tempfile::tempdir().unwrap();
    let settings = || common::cli_settings::cli_settings(dir.path());
    let printed = run_tenant(&TenantCommand::Create {
        name: "acme".into(),
        settings: settings(),
    })
    .await
    .unwrap();
    assert!(
        printed.contains("tenant `acme` created")
            && printed.contains("http://127.0.0.1:8080/invite/"),
        "{printed}"
    );
    let again = run_tenant(&TenantCommand::Create {
        name: "acme".into(),
        settings: settings(),
    })
    .await
    .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");

    // A connection of acme's, stored as the tile flow would.
    let gateway = ddlink_gateway::Gateway::start(resolve(&settings()).unwrap().config)
        .await
        .unwrap();
    let acme = TenantId::parse("acme").unwrap();
    gateway
        .state()
        .connections
        .save_authorized(
            &acme,
            &org("org-cli", "Cli Org"),
            &Site::from(Region::Eu1),
            "https://app.datadoghq.eu",
            &tokens(),
            Some(&created(KEY_A)),
        )
        .await
        .unwrap();
    gateway.state().db.close().await;
    drop(gateway);

    let fleet = |command: FleetCommand| async move { run_fleet(&command).await };
    let printed = fleet(FleetCommand::Create {
        name: "acme-plant".into(),
        tenant: "acme".into(),
        connection: Some("org-cli".into()),
        auto_approve: false,
        lease_secs: 86_400,
        settings: settings(),
    })
    .await
    .unwrap();
    assert!(printed.contains("connection: org-cli"), "{printed}");
    // Another tenant's connection is not one to bind to.
    let refused = fleet(FleetCommand::Create {
        name: "default-plant".into(),
        tenant: "default".into(),
        connection: Some("org-cli".into()),
        auto_approve: false,
        lease_secs: 86_400,
        settings: settings(),
    })
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("no connection `org-cli`"),
        "{refused}"
    );
    let list = || FleetCommand::List {
        tenant: "acme".into(),
        settings: settings(),
    };
    fleet(FleetCommand::Bind {
        name: "acme-plant".into(),
        tenant: "acme".into(),
        connection: None,
        unbind: true,
        settings: settings(),
    })
    .await
    .unwrap();
    let listed = fleet(list()).await.unwrap();
    assert!(
        listed.contains("acme-plant\tmanual\t0 devices\tunbound"),
        "{listed}"
    );
    fleet(FleetCommand::Bind {
        name: "acme-plant".into(),
        tenant: "acme".into(),
        connection: Some("org-cli".into()),
        unbind: false,
        settings: settings(),
    })
    .await
    .unwrap();
    let listed = fleet(list()).await.unwrap();
    assert!(
        listed.contains("acme-plant\tmanual\t0 devices\torg-cli"),
        "{listed}"
    );
    let tenants = run_tenant(&TenantCommand::List {
        settings: settings(),
    })
    .await
    .unwrap();
    assert!(
        tenants.contains("acme\t1 fleets\t0 devices") && tenants.contains("connection org-cli"),
        "{tenants}"
    );
}

/// `fleet list`, `tenant list` and `device-secret` only read: on a state directory where the
/// gateway never ran they create nothing (no database, no master key, no admin token), and on a
/// database an older version migrated they refuse instead of migrating it.
#[tokio::test]
async fn read_only_commands_create_migrate_and_write_nothing() {
    use ddlink_gateway::cli::{TenantCommand, run_tenant};
    use ddlink_gateway::config::layering::resolve;
    use ddlink_gateway::provision::cli::{
        DeviceSecretArgs, FleetCommand, run_device_secret, run_fleet,
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = || common::cli_settings::cli_settings(dir.path());
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let list = || FleetCommand::List {
        tenant: "default".into(),
        settings: settings(),
    };
    let secret = || DeviceSecretArgs {
        fleet: "plant".into(),
        device_id: "d-1".into(),
        settings: settings(),
    };
    let errors = [
        run_fleet(&list()).await.unwrap_err(),
        run_tenant(&TenantCommand::List {
            settings: settings(),
        })
        .await
        .unwrap_err(),
        run_device_secret(&secret()).await.unwrap_err(),
    ];
    for error in &errors {
        let text = format!("{error:#}");
        assert!(
            text.contains("no database file") && text.contains("ddlink-gateway serve"),
            "{text}"
        );
    }
    assert_eq!(
        files(),
        ["client-secret"],
        "a read-only command created files"
    );

    // Migrated by this version, then one migration "unapplied" as an older version would
    // have left it: the read-only commands refuse and leave the database as it was.
    let gateway = ddlink_gateway::Gateway::start(resolve(&settings()).unwrap().config)
        .await
        .unwrap();
    let db = gateway.state().db.clone();
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(db.pool())
        .await
        .unwrap();
    let applied = || async {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        count
    };
    let before = applied().await;
    let created = files();
    for error in [
        run_fleet(&list()).await.unwrap_err(),
        run_device_secret(&secret()).await.unwrap_err(),
    ] {
        let text = format!("{error:#}");
        assert!(text.contains("lacks 1 migration(s)"), "{text}");
    }
    assert_eq!(applied().await, before, "a read-only command migrated");
    assert_eq!(files(), created);

    // Current again: the commands read.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         SELECT $1, 'restored', installed_on, success, checksum, execution_time FROM _sqlx_migrations \
         WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)",
    )
    .bind(newest)
    .execute(db.pool())
    .await
    .unwrap();
    db.close().await;
    drop(gateway);
    let listed = run_fleet(&list()).await.unwrap();
    assert_eq!(listed, "", "no fleets yet");
    let missing = run_device_secret(&secret()).await.unwrap_err();
    assert!(
        missing.to_string().contains("no fleet named `plant`"),
        "{missing}"
    );
}
