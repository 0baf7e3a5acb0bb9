//! A flood of concurrent wrong admin logins against a real gateway on loopback.
//!
//! Its own test binary (one test) so that the process's peak memory (`VmHWM`) belongs to this
//! flood alone and not to other tests running in parallel threads.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

mod gateway_config;

use ddlink_gateway::Gateway;
use ddlink_gateway::config::Config;
use ddlink_gateway::store::{DbOptions, sqlite_url_for_path};

const ADMIN_TOKEN: &str = "flood-admin-token-0123456789";
/// Wrong logins sent at once.
const FLOOD: usize = 256;
/// Distinct source addresses they come from (127.0.1.1 …): a distributed guesser.
const ATTACKER_ADDRESSES: usize = 64;
/// Guesses the per-account back-off lets through before it starts delaying
/// (`web::login_guard::ACCOUNT_FREE_FAILURES`).
const MAX_VERIFIED_GUESSES: u64 = 20;
/// The flood may raise the process's peak resident memory by at most this much: two Argon2id
/// working areas of 19 MiB (one already exists after the warm-up) plus connection buffers.
/// Measured: about 30 MiB. Unbounded, 256 concurrent checks would need about 5 GiB.
const PEAK_RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;

fn config(dir: &std::path::Path, public_url: &str) -> Config {
    let database = DbOptions::new(sqlite_url_for_path(&dir.join("db").join("ddlink.db")));
    gateway_config::gateway_config(
        dir,
        public_url,
        database,
        ADMIN_TOKEN,
        "flood-client-secret",
    )
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Sum of one metric family's counters in the Prometheus text.
fn counter(metrics: &str, family: &str, outcome: &str) -> u64 {
    let prefix = format!("{family}{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_counted_bounded_and_leaves_the_gateway_usable() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let gateway = Gateway::start(config(dir.path(), &base)).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));
    let admin = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let login = |client: &reqwest::Client, password: &str| {
        client
            .post(format!("{base}/login"))
            .form(&[("password", password), ("next", "/")])
            .send()
    };

    // The attackers' clients exist before measuring (they are the test's, not the gateway's),
    // and one correct login warms up the allocator and thread pools.
    let attackers: Vec<reqwest::Client> = (0..ATTACKER_ADDRESSES)
        .map(|i| client_from(Ipv4Addr::new(127, 0, 1, u8::try_from(i + 1).unwrap())))
        .collect();
    let warm = login(&admin, ADMIN_TOKEN).await.unwrap();
    assert_eq!(warm.status(), reqwest::StatusCode::SEE_OTHER);
    let before = peak_rss_kib();
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let request = login(&attackers[i % ATTACKER_ADDRESSES], &format!("guess-{i}"));
            tokio::spawn(async move {
                let response = request.await.expect("flood request answered");
                let retry_after = response.headers().get("retry-after").cloned();
                (response.status(), retry_after)
            })
        })
        .collect();

    // The gateway stays responsive while the flood is being answered.
    let mut slowest_health = Duration::ZERO;
    while !flood.iter().all(tokio::task::JoinHandle::is_finished) {
        let started = Instant::now();
        let health = tokio::time::timeout(
            Duration::from_secs(2),
            admin.get(format!("{base}/healthz")).send(),
        )
        .await
        .expect("/healthz answered within 2 s during the flood")
        .unwrap();
        assert_eq!(health.status(), reqwest::StatusCode::OK);
        slowest_health = slowest_health.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for handle in flood {
        let (status, retry_after) = handle.await.unwrap();
        match status {
            reqwest::StatusCode::UNAUTHORIZED => {}
            reqwest::StatusCode::TOO_MANY_REQUESTS => {
                let secs: u64 = retry_after
                    .expect("429 carries Retry-After")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(secs >= 1, "Retry-After {secs}");
            }
            other => panic!("flood request answered {other}"),
        }
    }
    let growth = peak_rss_kib().saturating_sub(before);
    eprintln!(
        "peak RSS grew by {growth} KiB (bound {PEAK_RSS_GROWTH_BOUND_KIB} KiB); slowest /healthz {slowest_health:?}"
    );
    assert!(
        growth <= PEAK_RSS_GROWTH_BOUND_KIB,
        "peak RSS grew by {growth} KiB"
    );

    // Every wrong login counted as an attempt; only a few were actually checked.
    let metrics = admin
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let family = "ddlink_admin_logins_total";
    let verified = counter(&metrics, family, "failed");
    let refused = counter(&metrics, family, "rate_limited") + counter(&metrics, family, "busy");
    assert_eq!(verified + refused, FLOOD as u64, "{metrics}");
    eprintln!("{verified} of {FLOOD} guesses checked, {refused} refused unchecked");
    assert!(
        verified <= MAX_VERIFIED_GUESSES,
        "{verified} guesses were checked"
    );

    // The admin, from another address, gets in (after the account's back-off, if any).
    let mut signed_in = false;
    for _ in 0..5 {
        let response = login(&admin, ADMIN_TOKEN).await.unwrap();
        if response.status() == reqwest::StatusCode::SEE_OTHER {
            signed_in = true;
            break;
        }
        assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait <= 60, "the admin is asked to wait {wait} s");
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    assert!(signed_in, "the admin could not sign in after the flood");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
