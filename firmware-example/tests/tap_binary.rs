//! The simulator binary on embassy-net over a real kernel TAP interface (`--tap`): the device
//! resolves `gateway.localhost` and the intake host through a DNS responder on the host side of
//! the TAP, provisions, and every sampled point reaches the intake once.
//!
//! Gated by `DDLINK_TEST_TAP=1` (creating an interface needs root or `CAP_NET_ADMIN` and
//! `/dev/net/tun`; CI runs as root and sets it). With the switch set, a failure to create the
//! interface fails the test.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ddlink_firmware_example::sim::dns;
use support::gateway::{Handout, device_secret_hex, gateway_on};
use support::{Script, http_server_on};

/// A TAP interface with the host at `.1` of a /24, deleted on drop.
struct Tap {
    name: String,
}

impl Tap {
    fn create(name: &str, host: Ipv4Addr) -> Tap {
        let tap = Tap { name: name.into() };
        let address = format!("{host}/24");
        for args in [
            vec!["tuntap", "add", "dev", name, "mode", "tap"],
            vec!["addr", "add", address.as_str(), "dev", name],
            vec!["link", "set", name, "up"],
        ] {
            let status = Command::new("ip")
                .args(&args)
                .status()
                .expect("running ip (iproute2)");
            assert!(
                status.success(),
                "DDLINK_TEST_TAP=1 but `ip {}` failed (needs root or CAP_NET_ADMIN)",
                args.join(" ")
            );
        }
        tap
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
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

#[test]
fn device_over_a_tap_interface_delivers_every_point() {
    if std::env::var("DDLINK_TEST_TAP").as_deref() != Ok("1") {
        eprintln!("TAP test not run: set DDLINK_TEST_TAP=1 as root (CI does)");
        return;
    }
    // A subnet and name of this process's own, so concurrent runs do not collide.
    let pid = std::process::id();
    let subnet = u8::try_from(pid % 200).unwrap() + 20;
    let host = Ipv4Addr::new(10, 124, subnet, 1);
    let tap = Tap::create(&format!("ddlk{}", pid % 100_000), host);
    let _dns = DnsResponder::start(host);
    let intake = http_server_on(host, Script(vec![(202, r#"{"errors":[]}"#)]));
    let gateway = gateway_on(
        host,
        Handout {
            api_key: "cccccccccccccccccccccccccccccccc".into(),
            key_version: 1,
            site_domain: format!("datadoghq.localhost:{}", intake.port()),
        },
    );

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
            &tap.name,
            "--tap-address",
            &format!("10.124.{subnet}.2/24"),
            "--tap-gateway",
            &host.to_string(),
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
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
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
    let received = support::series_points(&intake.received());
    assert_eq!(received, sent, "every point once, over the TAP");
    assert_eq!(gateway.approvals(), 1);
}
