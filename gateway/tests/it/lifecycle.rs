//! Starting and stopping: `run` on port 0 with graceful shutdown, first-run admin token,
//! and the whole gateway on PostgreSQL when `DDLINK_TEST_POSTGRES_URL` is set.

use std::time::Duration;

use ddlink_gateway::config::{AdminCredential, Config};
use ddlink_gateway::server::ServeLimits;
use ddlink_gateway::store::DbOptions;
use ddlink_gateway::{Gateway, run};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common;

/// A gateway serving on a loopback port until its stop sender fires.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &std::path::Path, limits: Option<ServeLimits>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config: Config = common::config(dir, &format!("http://{addr}"));
    if let Some(limits) = limits {
        config.timings.serve = limits;
    }
    let server = tokio::spawn(run(config, listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..50 {
        if let Ok(response) = client.get(format!("http://{addr}/healthz")).send().await {
            healthy = response.status() == reqwest::StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "gateway did not answer /healthz");
    Running { addr, stop, server }
}

/// Reads until the server closes the connection (or 5 s pass); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {received:?}"
    );
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn run_serves_until_the_shutdown_future_completes() {
    let dir = tempfile::tempdir().unwrap();
    let Running { addr, stop, server } = start(dir.path(), None).await;
    let client = reqwest::Client::new();
    stop.send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "run did not stop cleanly: {finished:?}"
    );
    assert!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn slow_request_heads_and_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(1),
    };
    let running = start(dir.path(), Some(limits)).await;

    let mut head = TcpStream::connect(running.addr).await.unwrap();
    head.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut head).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    let mut body = TcpStream::connect(running.addr).await.unwrap();
    body.write_all(
        b"POST /v1/provision/challenge HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n\
          Content-Length: 60\r\nConnection: close\r\n\r\n{\"fleet\":",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut body).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("unreadable body"), "{answer}");

    running.stop.send(()).unwrap();
    running.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_waits_only_the_grace_period_for_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(1),
    };
    let running = start(dir.path(), Some(limits)).await;
    // A request whose body never finishes stays in flight.
    let mut stuck = TcpStream::connect(running.addr).await.unwrap();
    stuck
        .write_all(b"POST /v1/provision HTTP/1.1\r\nHost: gw\r\nContent-Length: 60\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.stop.send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(5), running.server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "shutdown waited for a stuck request: {finished:?}"
    );
    let answer = read_to_close(&mut stuck).await;
    assert!(!answer.contains("200"), "{answer}");
}

#[tokio::test]
async fn first_run_writes_an_owner_only_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("state").join("admin-token");
    let mut config = common::config(dir.path(), "https://gw.example.com");
    config.admin = AdminCredential::FirstRunTokenFile(token_file.clone());
    let gateway = Gateway::start(config.clone()).await.unwrap();
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(gateway.admin_token().unwrap()),
        token.trim()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        ddlink_gateway::web::session::verify_password(
            gateway.state(),
            token.trim().to_owned().into()
        )
        .await
        .unwrap()
    );
    gateway.state().db.close().await;
    drop(gateway);
    // A second start keeps the credential and does not rewrite the file.
    let again = Gateway::start(config).await.unwrap();
    assert!(again.admin_token().is_none());
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
}

#[tokio::test]
async fn the_gateway_runs_on_postgresql_when_configured() {
    let Ok(url) = std::env::var("DDLINK_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL part not run: set DDLINK_TEST_POSTGRES_URL (CI does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = common::pg_schema::fresh("gw_life");
    let mut config = common::config(dir.path(), "https://gw.example.com");
    config.database = DbOptions {
        schema: Some(schema.clone()),
        ..DbOptions::new(url)
    };
    let gateway = Gateway::start(config).await.unwrap();
    let state = gateway.state();
    assert_eq!(state.db.backend(), ddlink_gateway::store::Backend::Postgres);
    assert!(state.store.admin_password_hash().await.unwrap().is_some());
    assert!(
        ddlink_gateway::web::session::verify_password(state, common::ADMIN_TOKEN.to_owned().into())
            .await
            .unwrap()
    );
    common::pg_schema::drop(state.db.pool(), &schema).await;
    state.db.close().await;
}

#[tokio::test]
async fn restarting_with_a_new_master_key_reseals_stored_secrets() {
    use ddlink_gateway::config::MasterKeySource;
    use ddlink_gateway::crypto::{KeyRing, MasterKey, SealContext};
    use ddlink_gateway::store::PendingAuthorization;

    let dir = tempfile::tempdir().unwrap();
    let old_key_file = dir.path().join("old.key");
    let old_key = MasterKey::load_or_create_file(&old_key_file).unwrap();
    let mut config = common::config(dir.path(), "https://gw.example.com");
    config.master_key = MasterKeySource::File(old_key_file.clone());
    let gateway = Gateway::start(config.clone()).await.unwrap();
    let ctx = SealContext::new("oauth_states", "pkce_verifier", "h1");
    let sealed = gateway.state().keys.seal(&ctx, b"verifier").unwrap();
    let now = gateway.state().clock.now();
    gateway
        .state()
        .store
        .put_pending_authorization(&PendingAuthorization {
            state_hash: "h1".into(),
            sealed_verifier: sealed,
            site: "https://app.datadoghq.eu".into(),
            domain: "datadoghq.eu".into(),
            session_hash: "s".into(),
            created_at: now,
            expires_at: now + 600,
        })
        .await
        .unwrap();
    gateway.state().db.close().await;
    drop(gateway);

    let (new_key, new_text) = MasterKey::generate().unwrap();
    config.master_key = MasterKeySource::Value(new_text);
    // Without the old key the gateway refuses to start: it could not read its secrets.
    assert!(Gateway::start(config.clone()).await.is_err());
    config.previous_master_keys = vec![old_key_file];
    let gateway = Gateway::start(config).await.unwrap();
    let pending = gateway
        .state()
        .store
        .take_pending_authorization("h1", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        KeyRing::key_id_of(&pending.sealed_verifier).unwrap(),
        new_key.id()
    );
    assert_ne!(new_key.id(), old_key.id());
    assert_eq!(
        &*gateway
            .state()
            .keys
            .open(&ctx, &pending.sealed_verifier)
            .unwrap(),
        b"verifier"
    );
}

/// The session named by a `Set-Cookie` value, as a request would present it.
fn cookie_headers(set_cookie: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let pair = set_cookie.split(';').next().unwrap();
    headers.insert(http::header::COOKIE, pair.parse().unwrap());
    headers
}

#[tokio::test]
async fn changing_the_admin_credential_signs_out_every_session() {
    use ddlink_gateway::web::session::{create_session, current_session, hash_password};
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), "https://gw.example.com");
    let first = Gateway::start(config.clone()).await.unwrap();
    let (_, cookie) = create_session(first.state(), ddlink_gateway::tenants::User::operator())
        .await
        .unwrap();
    let headers = cookie_headers(&cookie);
    assert!(
        current_session(first.state(), &headers)
            .await
            .unwrap()
            .is_some()
    );
    first.state().db.close().await;

    // The same credential again (a restart): the session survives.
    let same = Gateway::start(config.clone()).await.unwrap();
    assert!(
        current_session(same.state(), &headers)
            .await
            .unwrap()
            .is_some(),
        "a restart with the same credential kept the session"
    );
    same.state().db.close().await;

    // A new token: every session is gone.
    config.admin = AdminCredential::Token("a-rotated-admin-token-98765".to_owned().into());
    let rotated = Gateway::start(config.clone()).await.unwrap();
    assert!(
        current_session(rotated.state(), &headers)
            .await
            .unwrap()
            .is_none(),
        "a session outlived the credential change"
    );
    let (_, cookie) = create_session(rotated.state(), ddlink_gateway::tenants::User::operator())
        .await
        .unwrap();
    let headers = cookie_headers(&cookie);
    rotated.state().db.close().await;

    // A new password hash from the configuration: the same.
    config.admin = AdminCredential::PasswordHash(hash_password("a new admin password").unwrap());
    let rehashed = Gateway::start(config).await.unwrap();
    assert!(
        current_session(rehashed.state(), &headers)
            .await
            .unwrap()
            .is_none()
    );
    rehashed.state().db.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_state_directory_others_can_write_or_own_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    for mode in [0o770, 0o707, 0o777] {
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = ddlink_gateway::create_private_dir(&state).unwrap_err();
        assert!(err.to_string().contains("writable"), "{mode:o}: {err}");
        let mut config = common::config(&state, "https://gw.example.com");
        config.master_key =
            ddlink_gateway::config::MasterKeySource::FileOrGenerate(state.join("master.key"));
        let err = Gateway::start(config).await.unwrap_err();
        assert!(format!("{err:#}").contains("writable"), "{err:#}");
    }
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    ddlink_gateway::create_private_dir(&state).unwrap();

    // Owned by another user: as root, hand it to `nobody`; otherwise `/` is someone else's.
    let foreign = if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
        state.clone()
    } else {
        std::path::PathBuf::from("/")
    };
    let err = ddlink_gateway::create_private_dir(&foreign).unwrap_err();
    assert!(err.to_string().contains("owned by"), "{err}");
}

#[cfg(unix)]
#[test]
fn secret_files_refuse_symlinks_and_get_owner_only_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();

    // A link planted where the admin token goes is not followed.
    let token = dir.path().join("admin-token");
    std::os::unix::fs::symlink(&target, &token).unwrap();
    assert!(ddlink_gateway::write_private_file(&token, "secret").is_err());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");

    // Nor where a generated master key is read from or created.
    let key = dir.path().join("master.key");
    std::os::unix::fs::symlink(&target, &key).unwrap();
    assert!(ddlink_gateway::crypto::MasterKey::load_or_create_file(&key).is_err());
    let dangling = dir.path().join("dangling.key");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    assert!(ddlink_gateway::crypto::MasterKey::load_or_create_file(&dangling).is_err());
    assert!(!dir.path().join("nowhere").exists());

    // An existing file with a loose mode is tightened when rewritten.
    let loose = dir.path().join("loose");
    std::fs::write(&loose, "old").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    ddlink_gateway::write_private_file(&loose, "new").unwrap();
    let mode = std::fs::metadata(&loose).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&loose).unwrap(), "new\n");
}
