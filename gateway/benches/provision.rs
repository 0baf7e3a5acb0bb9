//! Load generator for device provisioning: many concurrent simulated devices doing challenge +
//! provision against a gateway on loopback (SQLite), and, in the same run, the same client
//! against a trivial axum handler (two requests per "provision") as the ceiling.
//!
//! `cargo bench -p ddlink-gateway --bench provision` (options: `-- --devices 64 --seconds 10`).
//! Prints provisions per second, p50/p99 latency of a whole provision, and the ratio to the
//! ceiling. Traffic stays on 127.0.0.1 and every loop is bounded in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use ddlink_core::provision::{
    ChallengeReply, DeviceIdentity, DeviceSecret, ProvisionExchange, ProvisionOutcome,
    read_challenge_response,
};
use ddlink_core::site::{Region, SandboxPolicy, Site};
use ddlink_gateway::Gateway;
use ddlink_gateway::clock::Clock;
use ddlink_gateway::config::{AdminCredential, Config, MasterKeySource, SitePolicy, Timings};
use ddlink_gateway::connections::OrgInfo;
use ddlink_gateway::datadog::{CreatedKey, Tokens};
use ddlink_gateway::provision::fleets;
use ddlink_gateway::provision::store::ProvisionStore;
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};
use ddlink_gateway::tenants::TenantId;
use secrecy::SecretString;

struct Options {
    devices: usize,
    seconds: u64,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    Options {
        devices: usize::try_from(value("--devices", 64)).unwrap_or(64),
        seconds: value("--seconds", 10),
    }
}

/// What one run measured.
struct Run {
    operations: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

/// Runs `devices` tasks, each repeating `operation` until `duration` is over.
async fn drive<F, Fut>(devices: usize, duration: Duration, operation: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for device in 0..devices {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let began = Instant::now();
                operation(device).await;
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("device task"));
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Run {
        operations: latencies.len(),
        elapsed,
        latencies,
    }
}

fn client(devices: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(devices)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn ceiling(options: &Options) -> Run {
    let app = Router::new()
        .route("/v1/provision/challenge", post(|| async { "{}" }))
        .route("/v1/provision", post(|| async { "{}" }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = client(options.devices);
    let run = drive(
        options.devices,
        Duration::from_secs(options.seconds),
        move |_| {
            let http = http.clone();
            let base = base.clone();
            async move {
                for path in ["/v1/provision/challenge", "/v1/provision"] {
                    let reply = http
                        .post(format!("{base}{path}"))
                        .body("{}")
                        .send()
                        .await
                        .expect("ceiling request");
                    assert!(reply.status().is_success());
                    reply.bytes().await.expect("ceiling body");
                }
            }
        },
    )
    .await;
    server.abort();
    run
}

struct Device {
    id: String,
    secret: DeviceSecret,
}

async fn gateway_run(options: &Options, dir: &std::path::Path) -> Run {
    let config = Config {
        public_url: url::Url::parse("http://127.0.0.1:1/").expect("url"),
        database: DbOptions::new(sqlite_url_for_path(&dir.join("ddlink.db"))),
        client_id: "bench".into(),
        client_secret: SecretString::from("bench-secret".to_owned()),
        scopes: vec!["api_keys_write".into()],
        master_key: MasterKeySource::FileOrGenerate(dir.join("master.key")),
        previous_master_keys: Vec::new(),
        admin: AdminCredential::Token(SecretString::from("bench-admin-token-000000".to_owned())),
        sites: SitePolicy::all_regions(),
        // All simulated devices share 127.0.0.1.
        timings: Timings {
            provisioning: ddlink_gateway::provision::limiter::ProvisionLimits::shared_address(),
            ..Timings::default()
        },
        resolve: Vec::new(),
        tile_url: None,
        clock: Clock::system(),
    };
    let gateway = Gateway::start(config).await.expect("gateway start");
    let state = gateway.state().clone();
    let store = ProvisionStore::new(state.db.clone());
    let tenant = TenantId::default_tenant();
    let spec = fleets::FleetSpec {
        tenant: &tenant,
        name: "bench",
        auto_approve: true,
        connection_id: None,
    };
    let fleet = fleets::create(&store, &state.keys, &spec, state.clock.now())
        .await
        .expect("fleet");
    let tokens = Tokens {
        access_token: SecretString::from("bench-access".to_owned()),
        refresh_token: Some(SecretString::from("bench-refresh".to_owned())),
        expires_in_secs: 3600,
    };
    let key = CreatedKey {
        key: SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
        id: "bench-key".into(),
        last4: "cdef".into(),
    };
    let org = OrgInfo {
        org_id: Some("bench-org".into()),
        org_name: "Bench".into(),
    };
    state
        .connections
        .save_authorized(
            &tenant,
            &org,
            &Site::from(Region::Us1),
            "https://app.datadoghq.com",
            &tokens,
            Some(&key),
        )
        .await
        .expect("connection");
    store
        .bind_fleet(&tenant, "bench", Some("bench-org"))
        .await
        .expect("binding the fleet");
    let devices: Arc<Vec<Device>> = Arc::new(
        (0..options.devices)
            .map(|n| {
                let id = format!("bench-{n:04}");
                let secret = fleet.device_secret(&id).expect("secret");
                Device { id, secret }
            })
            .collect(),
    );

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));
    let http = client(options.devices);
    let run = drive(
        options.devices,
        Duration::from_secs(options.seconds),
        move |n| {
            let http = http.clone();
            let base = base.clone();
            let devices = devices.clone();
            async move {
                let device = &devices[n];
                let identity =
                    DeviceIdentity::new("bench", &device.id, &device.secret).expect("identity");
                let mut body = [0u8; 512];
                let len = identity
                    .write_challenge_request(&mut body)
                    .expect("challenge body");
                let reply = http
                    .post(format!("{base}/v1/provision/challenge"))
                    .body(body[..len].to_vec())
                    .send()
                    .await
                    .expect("challenge");
                let status = reply.status().as_u16();
                let reply = reply.bytes().await.expect("challenge body");
                let Ok(ChallengeReply::Issued(challenge)) = read_challenge_response(status, &reply)
                else {
                    panic!("challenge refused: {status}");
                };
                let mut nonce = [0u8; 16];
                getrandom::fill(&mut nonce).expect("nonce");
                let exchange = ProvisionExchange::new(identity, &challenge, nonce);
                let len = exchange.write_request(&mut body).expect("provision body");
                let reply = http
                    .post(format!("{base}/v1/provision"))
                    .body(body[..len].to_vec())
                    .send()
                    .await
                    .expect("provision");
                let status = reply.status().as_u16();
                let reply = reply.bytes().await.expect("provision body");
                let outcome = exchange.read_response(status, &reply, SandboxPolicy::Deny);
                assert!(
                    matches!(outcome, Ok(ProvisionOutcome::Approved(_))),
                    "provision failed: {status}"
                );
            }
        },
    )
    .await;
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
    run
}

fn report(name: &str, run: &Run) {
    println!(
        "{name:<28} {:>8.0} /s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} in {:.1} s)",
        run.per_second(),
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.operations,
        run.elapsed.as_secs_f64(),
    );
}

fn main() {
    // reqwest is built without a default TLS provider (plain HTTP here, but the client needs one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        println!(
            "provisioning load: {} concurrent devices, {} s per run, loopback, SQLite",
            options.devices, options.seconds
        );
        let ceiling = ceiling(&options).await;
        report("ceiling (2 trivial requests)", &ceiling);
        let gateway = gateway_run(&options, dir.path()).await;
        report("gateway challenge+provision", &gateway);
        println!(
            "ratio to ceiling: {:.2}",
            gateway.per_second() / ceiling.per_second()
        );
    });
}
