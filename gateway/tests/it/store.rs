//! The store suite: every test runs on SQLite, and on PostgreSQL when
//! `DDLINK_TEST_POSTGRES_URL` is set (each test in its own schema, so runs can share a database).

use std::future::Future;

use ddlink_gateway::crypto::{KeyRing, MasterKey, SealContext};
use ddlink_gateway::reseal_all;
use ddlink_gateway::store::{
    ConnectionRecord, ConnectionState, Db, DbOptions, EventKind, PendingAuthorization,
    SEALED_COLUMNS, Store, StoreError, TokenUpdate,
};
use ddlink_gateway::tenants::TenantId;

/// Runs `test` against a fresh SQLite store and, if configured, a fresh PostgreSQL schema.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::connect(&crate::common::sqlite_db(dir.path()))
        .await
        .unwrap();
    test(Store::new(sqlite.clone())).await;
    sqlite.close().await;

    if let Ok(url) = std::env::var("DDLINK_TEST_POSTGRES_URL") {
        let schema = crate::common::pg_schema::fresh("gw_test");
        let db = Db::connect(&DbOptions {
            schema: Some(schema.clone()),
            ..DbOptions::new(url.clone())
        })
        .await
        .unwrap_or_else(|e| {
            panic!("DDLINK_TEST_POSTGRES_URL is set but PostgreSQL is unusable: {e}")
        });
        test(Store::new(db.clone())).await;
        crate::common::pg_schema::drop(db.pool(), &schema).await;
        db.close().await;
    }
}

/// The tenant every single-tenant store test works in.
fn t() -> TenantId {
    TenantId::default_tenant()
}

fn connection(id: &str, now: i64) -> ConnectionRecord {
    ConnectionRecord {
        id: id.into(),
        org_id: id.into(),
        org_name: "Acme".into(),
        domain: "datadoghq.eu".into(),
        site: "https://app.datadoghq.eu".into(),
        state: ConnectionState::Active,
        sealed_access_token: Some(vec![1, 2, 3]),
        sealed_refresh_token: Some(vec![4, 5, 6]),
        access_expires_at: now + 3600,
        sealed_api_key: Some(vec![7, 8, 9]),
        api_key_id: Some("kid".into()),
        api_key_last4: Some("abcd".into()),
        key_version: 1,
        key_valid: None,
        key_checked_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn pending(hash: &str, expires_at: i64) -> PendingAuthorization {
    PendingAuthorization {
        state_hash: hash.into(),
        sealed_verifier: vec![0, 1, 2, 255],
        site: "https://acme.datadoghq.eu".into(),
        domain: "datadoghq.eu".into(),
        session_hash: "s".into(),
        created_at: expires_at - 600,
        expires_at,
    }
}

#[tokio::test]
async fn pending_authorizations_are_single_use_and_expire() {
    on_each_backend(|store| async move {
        store
            .put_pending_authorization(&pending("a", 1600))
            .await
            .unwrap();
        store
            .put_pending_authorization(&pending("b", 1600))
            .await
            .unwrap();
        assert!(
            store
                .put_pending_authorization(&pending("a", 1600))
                .await
                .is_err(),
            "duplicate state"
        );
        assert_eq!(
            store.take_pending_authorization("a", 1000).await.unwrap(),
            Some(pending("a", 1600))
        );
        assert_eq!(
            store.take_pending_authorization("a", 1000).await.unwrap(),
            None
        );
        assert_eq!(
            store.take_pending_authorization("b", 1600).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            store.take_pending_authorization("b", 0).await.unwrap(),
            None,
            "expired take removed it"
        );
        store
            .put_pending_authorization(&pending("c", 50))
            .await
            .unwrap();
        assert_eq!(store.purge_expired(100).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn connections_round_trip_update_and_wipe() {
    on_each_backend(|store| async move {
        let record = connection("org-1", 1000);
        store.upsert_connection(&t(), &record).await.unwrap();
        assert_eq!(
            store.connection(&t(), "org-1").await.unwrap(),
            Some(record.clone())
        );
        assert_eq!(store.connection(&t(), "nope").await.unwrap(), None);

        let renamed = ConnectionRecord {
            org_name: "Acme 2".into(),
            key_version: 2,
            updated_at: 1001,
            ..record.clone()
        };
        store.upsert_connection(&t(), &renamed).await.unwrap();
        store
            .upsert_connection(&t(), &connection("org-2", 2000))
            .await
            .unwrap();
        let all = store.connections(&t()).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], renamed);

        // A refresh without rotation keeps the stored refresh token.
        assert!(store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap());
        let update = TokenUpdate {
            sealed_access_token: vec![10],
            sealed_refresh_token: None,
            access_expires_at: 9000,
        };
        assert!(
            store
                .update_tokens(&t(), "org-1", "gw-a", &update, 1100)
                .await
                .unwrap()
        );
        let after = store.connection(&t(), "org-1").await.unwrap().unwrap();
        assert_eq!(after.sealed_access_token, Some(vec![10]));
        assert_eq!(after.sealed_refresh_token, Some(vec![4, 5, 6]));
        assert_eq!(after.access_expires_at, 9000);
        let rotated = TokenUpdate {
            sealed_refresh_token: Some(vec![11]),
            ..update
        };
        assert!(
            store
                .update_tokens(&t(), "org-1", "gw-a", &rotated, 1200)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .connection(&t(), "org-1")
                .await
                .unwrap()
                .unwrap()
                .sealed_refresh_token,
            Some(vec![11])
        );

        // A state change is conditional on the connection as it was read: once its tokens
        // were rotated (a refresh or a reconnect), a check based on the old read writes nothing.
        let stale = after;
        assert!(
            !store
                .set_connection_state(&t(), &stale, ConnectionState::Uninstalled, 1300)
                .await
                .unwrap(),
            "a state change based on an outdated read must not win"
        );
        let current = store.connection(&t(), "org-1").await.unwrap().unwrap();
        assert_eq!(current.state, ConnectionState::Active);
        let bumped = ConnectionRecord {
            key_version: current.key_version + 1,
            ..current.clone()
        };
        assert!(
            !store
                .set_connection_state(&t(), &bumped, ConnectionState::KeyRevoked, 1300)
                .await
                .unwrap(),
            "a state change for another key version must not win"
        );
        assert!(
            store
                .set_connection_state(&t(), &current, ConnectionState::Uninstalled, 1300)
                .await
                .unwrap()
        );
        store
            .record_key_check(&t(), "org-1", false, 1400)
            .await
            .unwrap();
        let flagged = store.connection(&t(), "org-1").await.unwrap().unwrap();
        assert_eq!(flagged.state, ConnectionState::Uninstalled);
        assert_eq!(
            (flagged.key_valid, flagged.key_checked_at),
            (Some(false), Some(1400))
        );
        for state in ConnectionState::ALL {
            let writes = store.connection_writes();
            let seen = store.connection(&t(), "org-1").await.unwrap().unwrap();
            assert!(
                store
                    .set_connection_state(&t(), &seen, state, 1450)
                    .await
                    .unwrap()
            );
            assert!(
                store.connection_writes() > writes,
                "a state write must invalidate caches of connection data"
            );
            let read = store.connection(&t(), "org-1").await.unwrap().unwrap();
            assert_eq!(read.state, state, "stored and read back");
        }

        store.wipe_connection(&t(), "org-1", 1500).await.unwrap();
        let wiped = store.connection(&t(), "org-1").await.unwrap().unwrap();
        assert_eq!(wiped.state, ConnectionState::Disconnected);
        assert_eq!(
            (
                wiped.sealed_access_token,
                wiped.sealed_refresh_token,
                wiped.sealed_api_key
            ),
            (None, None, None)
        );
        assert_eq!(
            wiped.api_key_last4.as_deref(),
            Some("abcd"),
            "metadata kept for the record"
        );
    })
    .await;
}

#[tokio::test]
async fn row_lease_has_one_owner_until_it_expires_or_is_released() {
    on_each_backend(|store| async move {
        store
            .upsert_connection(&t(), &connection("org-1", 0))
            .await
            .unwrap();
        assert!(store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap());
        assert!(!store.try_lease(&t(), "org-1", "gw-b", 60).await.unwrap());
        assert!(
            store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap(),
            "owner may extend"
        );
        // A lease of 0 s has expired by the database's clock at once.
        assert!(store.try_lease(&t(), "org-1", "gw-a", 0).await.unwrap());
        assert!(
            store.try_lease(&t(), "org-1", "gw-b", 60).await.unwrap(),
            "expired lease is taken over"
        );
        store.release_lease(&t(), "org-1", "gw-a").await.unwrap();
        assert!(
            !store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap(),
            "only the owner releases"
        );
        store.release_lease(&t(), "org-1", "gw-b").await.unwrap();
        assert!(store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap());
        assert!(!store.try_lease(&t(), "missing", "gw-a", 60).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn concurrent_lease_attempts_have_exactly_one_winner() {
    on_each_backend(|store| async move {
        store
            .upsert_connection(&t(), &connection("org-1", 0))
            .await
            .unwrap();
        let attempts = (0..8).map(|i| {
            let store = store.clone();
            async move {
                store
                    .try_lease(&t(), "org-1", &format!("gw-{i}"), 60)
                    .await
                    .unwrap()
            }
        });
        let results = futures_join_all(attempts).await;
        assert_eq!(results.iter().filter(|won| **won).count(), 1, "{results:?}");
    })
    .await;
}

async fn futures_join_all<F: Future<Output = bool> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<bool> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test]
async fn admin_credential_sessions_and_events() {
    on_each_backend(|store| async move {
        assert_eq!(store.admin_password_hash().await.unwrap(), None);
        assert!(store.init_admin_password_hash("h1", 1).await.unwrap());
        assert!(
            !store.init_admin_password_hash("h2", 2).await.unwrap(),
            "first run only once"
        );
        assert_eq!(
            store.admin_password_hash().await.unwrap().as_deref(),
            Some("h1")
        );
        store.replace_admin_password_hash("h3", 3).await.unwrap();
        assert_eq!(
            store.admin_password_hash().await.unwrap().as_deref(),
            Some("h3")
        );

        store
            .create_session("s1", "operator", 100, 200)
            .await
            .unwrap();
        let operator = store.session_user("s1", 150).await.unwrap().unwrap();
        assert_eq!(
            (operator.name.as_str(), operator.operator),
            ("operator", true)
        );
        assert_eq!(operator.tenant, t());
        assert!(store.session_user("s1", 200).await.unwrap().is_none());
        assert!(store.session_user("s2", 150).await.unwrap().is_none());
        store.delete_session("s1").await.unwrap();
        assert!(store.session_user("s1", 150).await.unwrap().is_none());
        // A tenant admin's session is the admin's; a new operator credential leaves it alone.
        let acme = TenantId::parse("acme").unwrap();
        assert!(store.create_tenant(&acme, 1).await.unwrap());
        assert!(
            store
                .create_user(&acme, "alice", "h-alice", 1)
                .await
                .unwrap()
        );
        assert!(
            !store
                .create_user(&t(), "alice", "h-other", 1)
                .await
                .unwrap(),
            "names are unique"
        );
        assert_eq!(
            store.user_password_hash("alice").await.unwrap(),
            Some((acme.clone(), "h-alice".to_owned()))
        );
        assert_eq!(store.user_password_hash("operator").await.unwrap(), None);
        store
            .create_session("s-op", "operator", 100, 200)
            .await
            .unwrap();
        store
            .create_session("s-alice", "alice", 100, 200)
            .await
            .unwrap();
        store.replace_admin_password_hash("h4", 4).await.unwrap();
        assert!(store.session_user("s-op", 150).await.unwrap().is_none());
        let alice = store.session_user("s-alice", 150).await.unwrap().unwrap();
        assert_eq!(
            (alice.name.as_str(), alice.operator, alice.tenant),
            ("alice", false, acme)
        );

        for i in 0..5 {
            store
                .record_event(&t(), i, EventKind::Device, &format!("event {i}"))
                .await
                .unwrap();
        }
        let recent = store.recent_events(&t(), 3).await.unwrap();
        let messages: Vec<_> = recent.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["event 4", "event 3", "event 2"]);
    })
    .await;
}

#[tokio::test]
async fn unknown_states_and_kinds_in_the_database_are_a_clear_error() {
    on_each_backend(|store| async move {
        store.upsert_connection(&t(), &connection("c1", 100)).await.unwrap();
        sqlx::query("UPDATE connections SET state = 'frozen' WHERE id = 'c1'")
            .execute(store.db().pool())
            .await
            .unwrap();
        let error = store.connection(&t(), "c1").await.unwrap_err();
        assert!(
            matches!(error, StoreError::Corrupt { table: "connections", column: "state" }),
            "{error}"
        );
        sqlx::query(
            "INSERT INTO gateway_events (tenant_id, at, kind, message) VALUES ($1, 1, 'mystery', 'm')",
        )
        .bind(t().as_str())
        .execute(store.db().pool())
        .await
        .unwrap();
        let error = store.recent_events(&t(), 5).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Corrupt { table: "gateway_events", column: "kind" }),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn key_rotation_reseals_every_secret_and_refuses_unknown_keys() {
    on_each_backend(|store| async move {
        let (old_key, old_text) = MasterKey::generate().unwrap();
        let old = KeyRing::new(old_key, Vec::new());
        let mut record = connection("org-1", 0);
        let ctx = |col| SealContext::new("connections", col, "org-1");
        record.sealed_access_token = Some(old.seal(&ctx("access_token"), b"access").unwrap());
        record.sealed_refresh_token = Some(old.seal(&ctx("refresh_token"), b"refresh").unwrap());
        record.sealed_api_key = Some(old.seal(&ctx("api_key"), b"apikey").unwrap());
        store.upsert_connection(&t(), &record).await.unwrap();

        let rotated = KeyRing::new(
            MasterKey::generate().unwrap().0,
            vec![MasterKey::from_base64(&old_text).unwrap()],
        );
        assert_eq!(
            reseal_all(&store, &rotated, SEALED_COLUMNS).await.unwrap(),
            3
        );
        assert_eq!(
            reseal_all(&store, &rotated, SEALED_COLUMNS).await.unwrap(),
            0,
            "idempotent"
        );
        let after = store.connection(&t(), "org-1").await.unwrap().unwrap();
        for (column, blob, plain) in [
            (
                "access_token",
                after.sealed_access_token.unwrap(),
                &b"access"[..],
            ),
            (
                "refresh_token",
                after.sealed_refresh_token.unwrap(),
                b"refresh",
            ),
            ("api_key", after.sealed_api_key.unwrap(), b"apikey"),
        ] {
            assert_eq!(KeyRing::key_id_of(&blob).unwrap(), rotated.active_key_id());
            assert_eq!(&*rotated.open(&ctx(column), &blob).unwrap(), plain);
        }

        let stranger = KeyRing::new(MasterKey::generate().unwrap().0, Vec::new());
        assert!(reseal_all(&store, &stranger, SEALED_COLUMNS).await.is_err());
        // A concurrent change wins over a stale re-seal.
        let column = &SEALED_COLUMNS[1];
        assert!(
            !store
                .replace_sealed_value(column, "org-1", b"stale", b"new")
                .await
                .unwrap()
        );
    })
    .await;
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

#[tokio::test]
async fn postgresql_speaks_tls_when_the_url_asks_and_verifies_the_server() {
    let Ok(url) = std::env::var("DDLINK_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL TLS test not run: set DDLINK_TEST_POSTGRES_URL (CI does)");
        return;
    };
    let schema = crate::common::pg_schema::fresh("gw_tls");
    let db = Db::connect(&DbOptions {
        schema: Some(schema.clone()),
        ..DbOptions::new(with_param(&url, "sslmode=require"))
    })
    .await
    .unwrap_or_else(|e| {
        panic!("PostgreSQL with sslmode=require failed (does the server have ssl = on?): {e}")
    });
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(encrypted, "sslmode=require gave a plaintext session");
    crate::common::pg_schema::drop(db.pool(), &schema).await;
    db.close().await;

    // The test server's certificate is self-signed: full verification must refuse it.
    let refused = Db::connect(&DbOptions::new(with_param(&url, "sslmode=verify-full"))).await;
    assert!(
        refused.is_err(),
        "verify-full accepted a certificate no trusted CA signed"
    );
}

#[tokio::test]
async fn a_remote_postgresql_without_tls_is_refused_before_connecting() {
    // `.invalid` never resolves: the refusal must come from the policy, not from the network.
    let error = Db::connect(&DbOptions::new(
        "postgres://gateway:hunter2@db.example.invalid/ddlink",
    ))
    .await
    .unwrap_err();
    let shown = error.to_string();
    assert!(shown.contains("sslmode=verify-full"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn the_device_key_is_reused_briefly_and_local_writes_show_at_once() {
    use ddlink_core::site::{Region, Site};
    use ddlink_gateway::clock::Clock;
    use ddlink_gateway::connections::{Connections, DEVICE_KEY_CACHE, OrgInfo};
    use ddlink_gateway::datadog::{CreatedKey, Tokens};
    use ddlink_gateway::provision::fleets::{self, FleetSpec};
    use ddlink_gateway::provision::store::ProvisionStore;
    use secrecy::{ExposeSecret as _, SecretString};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let options = crate::common::sqlite_db(dir.path());
    let keys = Arc::new(KeyRing::new(MasterKey::generate().unwrap().0, Vec::new()));
    let ring = keys.clone();
    // Two gateway instances on one database: each has its own store and cache.
    let here = Connections::new(
        Store::new(Db::connect(&options).await.unwrap()),
        keys.clone(),
        Clock::system(),
    );
    let elsewhere = Connections::new(
        Store::new(Db::connect(&options).await.unwrap()),
        keys,
        Clock::system(),
    );
    let org = OrgInfo {
        org_id: Some("org-1".into()),
        org_name: "Acme".into(),
    };
    let tokens = Tokens {
        access_token: SecretString::from("at".to_owned()),
        refresh_token: Some(SecretString::from("rt".to_owned())),
        expires_in_secs: 3600,
    };
    let key = |text: &str| CreatedKey {
        key: SecretString::from(text.to_owned()),
        id: format!("id-{text}"),
        last4: text[text.len() - 4..].to_owned(),
    };
    let site = Site::from(Region::Eu1);
    let origin = "https://app.datadoghq.eu";
    let version_and_key = |value: Option<(ConnectionRecord, SecretString)>| {
        value.map(|(record, key)| (record.key_version, key.expose_secret().to_owned()))
    };

    here.save_authorized(&t(), &org, &site, origin, &tokens, Some(&key("aaaa1111")))
        .await
        .unwrap();
    let fleets = ProvisionStore::new(Db::connect(&options).await.unwrap());
    let spec = FleetSpec {
        tenant: &t(),
        name: "plant",
        auto_approve: true,
        connection_id: Some("org-1"),
    };
    fleets::create(&fleets, &ring, &spec, 0).await.unwrap();
    assert_eq!(
        version_and_key(here.device_api_key(&t(), "plant").await.unwrap()),
        Some((1, "aaaa1111".into()))
    );
    // A reconnect through this instance is seen at once.
    here.save_authorized(&t(), &org, &site, origin, &tokens, Some(&key("bbbb2222")))
        .await
        .unwrap();
    assert_eq!(
        version_and_key(here.device_api_key(&t(), "plant").await.unwrap()),
        Some((2, "bbbb2222".into()))
    );
    // One made by another instance is seen once the cache period has passed, not before.
    elsewhere
        .save_authorized(&t(), &org, &site, origin, &tokens, Some(&key("cccc3333")))
        .await
        .unwrap();
    assert_eq!(
        version_and_key(here.device_api_key(&t(), "plant").await.unwrap()),
        Some((2, "bbbb2222".into())),
        "the cached answer is reused"
    );
    tokio::time::sleep(DEVICE_KEY_CACHE + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        version_and_key(here.device_api_key(&t(), "plant").await.unwrap()),
        Some((3, "cccc3333".into()))
    );
}

/// Lease expiry is reckoned by the database's clock (instances pass no time of their own, so
/// a skewed instance cannot see a held lease as expired), and token writes need the lease.
#[tokio::test]
async fn leases_use_the_database_clock_and_guard_token_writes() {
    on_each_backend(|store| async move {
        store
            .upsert_connection(&t(), &connection("org-1", 0))
            .await
            .unwrap();
        let update = |access: u8| TokenUpdate {
            sealed_access_token: vec![access],
            sealed_refresh_token: Some(vec![access]),
            access_expires_at: 9000,
        };
        let access_token = || async {
            store
                .connection(&t(), "org-1")
                .await
                .unwrap()
                .unwrap()
                .sealed_access_token
        };
        assert!(store.try_lease(&t(), "org-1", "gw-a", 60).await.unwrap());
        assert!(!store.try_lease(&t(), "org-1", "gw-b", 60).await.unwrap());
        assert!(
            !store
                .update_tokens(&t(), "org-1", "gw-b", &update(20), 100)
                .await
                .unwrap(),
            "a write without the lease"
        );
        assert_eq!(access_token().await, Some(vec![1, 2, 3]));
        assert!(
            store
                .update_tokens(&t(), "org-1", "gw-a", &update(21), 100)
                .await
                .unwrap()
        );
        assert_eq!(access_token().await, Some(vec![21]));
        // gw-a's lease lapses (0 s): its late write is refused, whoever holds the row next.
        assert!(store.try_lease(&t(), "org-1", "gw-a", 0).await.unwrap());
        assert!(
            !store
                .update_tokens(&t(), "org-1", "gw-a", &update(22), 100)
                .await
                .unwrap(),
            "a write after the lease expired"
        );
        assert!(store.try_lease(&t(), "org-1", "gw-b", 60).await.unwrap());
        assert!(
            !store
                .update_tokens(&t(), "org-1", "gw-a", &update(23), 100)
                .await
                .unwrap()
        );
        assert_eq!(access_token().await, Some(vec![21]));
    })
    .await;
}

/// Below the web layer: a function given tenant B's id neither reads nor writes A's rows.
#[tokio::test]
async fn tenant_scoped_functions_never_reach_another_tenants_rows() {
    use ddlink_gateway::store::ConnectionWrite;
    on_each_backend(|store| async move {
        let a = TenantId::parse("acme").unwrap();
        let b = TenantId::parse("globex").unwrap();
        assert!(store.create_tenant(&a, 1).await.unwrap());
        assert!(store.create_tenant(&b, 1).await.unwrap());
        assert!(!store.create_tenant(&b, 2).await.unwrap(), "exists");
        let record = connection("org-a", 1000);
        assert_eq!(
            store.upsert_connection(&a, &record).await.unwrap(),
            ConnectionWrite::Written
        );
        assert_eq!(
            store.connection_owner("org-a").await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(store.connection(&b, "org-a").await.unwrap(), None);
        assert!(store.connections(&b).await.unwrap().is_empty());

        // B cannot take the organisation over, nor change any field of it.
        let hijack = ConnectionRecord {
            sealed_api_key: Some(vec![66]),
            ..record.clone()
        };
        assert_eq!(
            store.upsert_connection(&b, &hijack).await.unwrap(),
            ConnectionWrite::OtherTenant
        );
        assert!(!store.try_lease(&b, "org-a", "gw-b", 60).await.unwrap());
        assert!(store.try_lease(&a, "org-a", "gw-a", 60).await.unwrap());
        let update = TokenUpdate {
            sealed_access_token: vec![66],
            sealed_refresh_token: None,
            access_expires_at: 1,
        };
        assert!(
            !store
                .update_tokens(&b, "org-a", "gw-a", &update, 1)
                .await
                .unwrap()
        );
        store.release_lease(&b, "org-a", "gw-a").await.unwrap();
        assert!(
            !store.try_lease(&a, "org-a", "gw-other", 60).await.unwrap(),
            "B's release left A's lease alone"
        );
        assert!(
            !store
                .set_connection_state(&b, &record, ConnectionState::Uninstalled, 2)
                .await
                .unwrap()
        );
        store.record_key_check(&b, "org-a", false, 2).await.unwrap();
        store.wipe_connection(&b, "org-a", 2).await.unwrap();
        assert_eq!(
            store.connection(&a, "org-a").await.unwrap(),
            Some(record),
            "untouched by every call made with B's id"
        );

        store
            .record_event(&a, 1, EventKind::Connected, "a's")
            .await
            .unwrap();
        store
            .record_event(&b, 2, EventKind::Connected, "b's")
            .await
            .unwrap();
        let messages = |events: Vec<ddlink_gateway::store::GatewayEvent>| {
            events.into_iter().map(|e| e.message).collect::<Vec<_>>()
        };
        assert_eq!(
            messages(store.recent_events(&a, 10).await.unwrap()),
            ["a's"]
        );
        assert_eq!(
            messages(store.recent_events(&b, 10).await.unwrap()),
            ["b's"]
        );
    })
    .await;
}
