//! The simulator binary on embassy-net over a real kernel TAP interface (`--tap`): the device
//! resolves `gateway.localhost` and the intake host through a DNS responder on the host side of
//! the TAP, provisions, and every sampled point reaches the intake once.
//!
//! Everything runs in a network namespace the test creates for itself (`unshare(CLONE_NEWNET)`
//! on a dedicated thread): the TAP, its address `10.124.0.1/24`, the servers and the simulator
//! process. Nothing is added to the machine's own namespace, which the test checks with `ip`
//! before, during and after the run, and the kernel deletes the namespace with the TAP when the
//! test ends, even if it fails.
//!
//! Gated by `DDLINK_TEST_TAP=1` (a namespace and an interface need root, or `CAP_SYS_ADMIN` and
//! `CAP_NET_ADMIN`, and `/dev/net/tun`; CI runs as root and sets it). With the switch set, a
//! failure to create either fails the test.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use ddlink_firmware_example::sim::dns;
use nix::sched::{CloneFlags, unshare};
use support::gateway::{Handout, device_secret_hex, gateway_on};
use support::{Script, http_server_on};

/// The host end of the TAP link, inside the test's own network namespace.
const HOST_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 124, 0, 1);
/// The TAP interface, named so that its absence from the machine's namespace can be checked.
const TAP_NAME: &str = "ddlink-tap0";

/// Runs `ip ARGS` (iproute2) in the calling thread's network namespace.
fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (iproute2)")
}

/// Runs `ip ARGS`, failing the test if it fails.
fn ip_ok(args: &[&str]) {
    let output = ip(args);
    assert!(
        output.status.success(),
        "DDLINK_TEST_TAP=1 but `ip {}` failed (needs root or CAP_NET_ADMIN): {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every interface and address of the calling thread's network namespace, as `ip` lists them.
fn interfaces_and_addresses() -> String {
    [ip(&["-o", "link", "show"]), ip(&["-o", "addr", "show"])]
        .iter()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .collect()
}

/// Asserts that the calling thread's namespace has neither the TAP nor its address.
fn assert_nothing_of_the_test_in(namespace: &str) {
    let listed = interfaces_and_addresses();
    assert!(
        !listed.contains(TAP_NAME) && !listed.contains(&HOST_ADDRESS.to_string()),
        "the TAP test leaked into the {namespace} network namespace:\n{listed}"
    );
}

/// Starts `body` on a thread of its own in a fresh network namespace with `lo` up.
///
/// `unshare(CLONE_NEWNET)` moves only the calling thread; everything `body` creates from it
/// (sockets, threads, child processes such as `ip` and the simulator) lives in the namespace,
/// which the kernel deletes with everything in it (the TAP included) once the last of them ends.
fn spawn_in_fresh_network_namespace<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        if let Err(error) = unshare(CloneFlags::CLONE_NEWNET) {
            panic!("DDLINK_TEST_TAP=1 but unshare(CLONE_NEWNET) failed (needs root): {error}");
        }
        ip_ok(&["link", "set", "lo", "up"]);
        body()
    })
}

/// Answers `*.localhost` A queries with `host` on `host:53` until dropped.
struct DnsResponder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsResponder {
    fn start(host: Ipv4Addr) -> DnsResponder {
        let socket = UdpSocket::bind((host, 53)).expect("binding the DNS responder on port 53");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let running = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while !running.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                if let Some(reply) = dns::respond(&buffer[..len], "localhost", host) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        DnsResponder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the run inside the namespace produced.
struct TapRun {
    output: std::process::Output,
    points_received: u64,
    approvals: u32,
}

/// In the namespace: the TAP, the DNS responder, intake and gateway stand-ins on the host end,
/// and the simulator binary on embassy-net over the TAP. Tells `created` once the TAP is up.
fn run_device_over_tap(created: mpsc::Sender<()>) -> TapRun {
    let address = format!("{HOST_ADDRESS}/24");
    ip_ok(&["tuntap", "add", "dev", TAP_NAME, "mode", "tap"]);
    ip_ok(&["addr", "add", address.as_str(), "dev", TAP_NAME]);
    ip_ok(&["link", "set", TAP_NAME, "up"]);
    let _dns = DnsResponder::start(HOST_ADDRESS);
    let intake = http_server_on(HOST_ADDRESS, Script(vec![(202, r#"{"errors":[]}"#)]));
    let gateway = gateway_on(
        HOST_ADDRESS,
        Handout {
            api_key: "cccccccccccccccccccccccccccccccc".into(),
            key_version: 1,
            site_domain: format!("datadoghq.localhost:{}", intake.port()),
        },
    );
    created.send(()).expect("the test thread waits");

    let mut child = Command::new(env!("CARGO_BIN_EXE_ddlink-firmware-example"))
        .args([
            "--gateway",
            &format!("http://gateway.localhost:{}", gateway.addr.port()),
            "--fleet",
            "acme",
            "--device-id",
            "tap-1",
            "--device-secret",
            &device_secret_hex("acme", "tap-1"),
            "--interval",
            "1",
            "--duration",
            "4",
            "--tap",
            TAP_NAME,
            "--tap-address",
            "10.124.0.2/24",
            "--tap-gateway",
            &HOST_ADDRESS.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the simulator binary");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    TapRun {
        output: child.wait_with_output().unwrap(),
        points_received: support::series_points(&intake.received()),
        approvals: gateway.approvals(),
    }
}

#[test]
fn device_over_a_tap_interface_delivers_every_point() {
    if std::env::var("DDLINK_TEST_TAP").as_deref() != Ok("1") {
        eprintln!("TAP test not run: set DDLINK_TEST_TAP=1 as root (CI does)");
        return;
    }
    assert_nothing_of_the_test_in("machine's (before the test)");
    let (created, tap_is_up) = mpsc::channel();
    let namespace = spawn_in_fresh_network_namespace(move || run_device_over_tap(created));
    // While the device runs over the TAP, this thread (still in the machine's namespace) sees
    // neither the interface nor its address.
    if tap_is_up.recv().is_ok() {
        assert_nothing_of_the_test_in("machine's (during the test)");
    }
    let run = namespace
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_nothing_of_the_test_in("machine's (after the test)");

    let stdout = String::from_utf8_lossy(&run.output.stdout);
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    assert!(
        run.output.status.success(),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        run.output.status
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary line\n{stdout}\n{stderr}"));
    let field = |name: &str| -> u64 {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {summary}"))
    };
    assert_eq!(field("provisioned"), 1, "{stdout}");
    assert_eq!(field("lost"), 0, "{stdout}");
    let sent = field("points_sent");
    assert!(sent >= 9, "{stdout}");
    assert_eq!(run.points_received, sent, "every point once, over the TAP");
    assert_eq!(run.approvals, 1);
}
