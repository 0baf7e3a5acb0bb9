//! Desktop simulator for the example firmware, on embassy (`platform-std` executor,
//! `embassy-time` std driver).
//!
//! By default the device uses the host's sockets (no root). `--tap IFACE` runs it on embassy-net
//! over an existing TAP interface instead (create it once as root, e.g.
//! `ip tuntap add name tap99 mode tap user $USER; ip addr add 192.168.69.1/24 dev tap99;
//! ip link set tap99 up`). Ends with
//! `summary: devices=N provisioned=N points_sent=X points_accepted=Y lost=Z`.
//!
//! `--sandbox [--devices N] [--duration S]` instead starts the whole sandbox world (emulator,
//! gateway, headless consent, fleet, HTTPS intake) and N devices on the in-process network.

use std::process::ExitCode;

use clap::Parser;
use ddlink_firmware_example::device::DEFAULT_FLUSH_INTERVAL_MS;
use ddlink_firmware_example::sim::os::os_stack;
use ddlink_firmware_example::sim::runner::{SimDevice, Summary, run_device};
use embassy_executor::Executor;

#[derive(Debug, Clone, Parser)]
#[command(about = "Simulated ddlink device: provisions from a gateway and reports telemetry")]
struct Args {
    /// Gateway URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    gateway: String,
    /// Fleet name.
    #[arg(long)]
    fleet: String,
    /// Device id.
    #[arg(long = "device-id")]
    device_id: String,
    /// Factory device secret (64 hex digits, from `ddlink-gateway device-secret`).
    #[arg(
        long = "device-secret",
        env = "DDLINK_DEVICE_SECRET",
        hide_env_values = true
    )]
    device_secret: String,
    /// CA certificate (PEM or DER) the intake's chain must end at; repeat it to trust several
    /// (e.g. the old and the new root during a rotation). Without it the device speaks plain
    /// HTTP, which only a sandbox (`*.localhost`) site accepts.
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
    /// Sampling interval in seconds.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// How often collected samples are sent, in seconds.
    #[arg(long, default_value_t = DEFAULT_FLUSH_INTERVAL_MS / 1_000)]
    flush_interval: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Run on embassy-net over this TAP interface instead of the host's sockets.
    #[arg(long)]
    tap: Option<String>,
    /// The device's address on the TAP network (CIDR).
    #[arg(long, default_value = "192.168.69.2/24")]
    tap_address: String,
    /// The TAP network's router and DNS server (the host side of the TAP).
    #[arg(long, default_value = "192.168.69.1")]
    tap_gateway: std::net::Ipv4Addr,
}

fn main() -> ExitCode {
    // `--sandbox` starts the whole world in this process (see `sim::world::cli`).
    if std::env::args().any(|arg| arg == "--sandbox") {
        return ddlink_firmware_example::sim::world::cli::main();
    }
    let args = Args::parse();
    let trust_anchors = match args.ca.iter().map(|path| read_ca(path)).collect() {
        Ok(anchors) => anchors,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let params = SimDevice {
        gateway_url: args.gateway.clone(),
        fleet: args.fleet.clone(),
        device_id: args.device_id.clone(),
        device_secret_hex: args.device_secret.clone(),
        trust_anchors,
        interval_ms: args.interval.saturating_mul(1_000),
        flush_interval_ms: args.flush_interval.saturating_mul(1_000),
        duration_ms: args.duration.saturating_mul(1_000),
        drain_ms: 30_000,
        reprovision_every_ms: 600_000,
    };
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    executor.run(move |spawner| match simulator(args, params) {
        Ok(token) => spawner.spawn(token),
        Err(error) => {
            eprintln!("error: cannot start the simulator task: {error:?}");
            std::process::exit(2);
        }
    })
}

#[embassy_executor::task]
async fn simulator(args: Args, params: SimDevice) {
    let result = match &args.tap {
        None => {
            let stack = os_stack();
            run_device(&stack, &stack, &params).await
        }
        Some(interface) => match tap::run(interface, &args, &params).await {
            Ok(result) => result,
            Err(message) => {
                eprintln!("error: {message}");
                std::process::exit(2);
            }
        },
    };
    match result {
        Ok(report) => {
            let mut summary = Summary::default();
            summary.add(&report);
            println!(
                "device {}: provisioned={} key_version={:?} points sampled={} queued={} accepted={} dropped={} in_flight={} uploader={:?}",
                params.device_id,
                report.provisioned,
                report.key_version,
                report.points.sampled,
                report.points.queued,
                report.points.accepted,
                report.points.dropped,
                report.points.in_flight(),
                report.uploader,
            );
            println!("{summary}");
            std::process::exit(if summary.provisioned == summary.devices {
                0
            } else {
                1
            });
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    }
}

/// Reads a CA certificate: DER as is, PEM decoded.
fn read_ca(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let Some(body) = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
    else {
        return Ok(bytes);
    };
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|_| format!("{} is not a valid PEM certificate", path.display()))
}

mod tap {
    //! embassy-net over a TAP interface.

    use ddlink_firmware_example::device::DeviceReport;
    use ddlink_firmware_example::sim::netsim::{DEVICE_TCP_BUFFER, DEVICE_TCP_CONNECTIONS};
    use ddlink_firmware_example::sim::runner::{SimDevice, SimError, run_device};
    use embassy_futures::select::{Either, select};
    use embassy_net::dns::DnsSocket;
    use embassy_net::tcp::client::{TcpClient, TcpClientState};
    use embassy_net::{Config, Ipv4Cidr, StackResources, StaticConfigV4};
    use embassy_net_tuntap::TunTapDevice;

    use super::Args;

    pub async fn run(
        interface: &str,
        args: &Args,
        params: &SimDevice,
    ) -> Result<Result<DeviceReport, SimError>, String> {
        let device = TunTapDevice::new(interface)
            .map_err(|e| format!("cannot open TAP interface {interface}: {e}"))?;
        let address: Ipv4Cidr = args
            .tap_address
            .parse()
            .map_err(|_| format!("--tap-address {} is not an IPv4 CIDR", args.tap_address))?;
        let mut dns_servers = heapless::Vec::new();
        let _ = dns_servers.push(args.tap_gateway);
        let config = Config::ipv4_static(StaticConfigV4 {
            address,
            gateway: Some(args.tap_gateway),
            dns_servers,
        });
        let mut resources = StackResources::<{ DEVICE_TCP_CONNECTIONS + 2 }>::new();
        let seed = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        let (stack, mut runner) = embassy_net::new(device, config, &mut resources, seed);
        let state =
            TcpClientState::<DEVICE_TCP_CONNECTIONS, DEVICE_TCP_BUFFER, DEVICE_TCP_BUFFER>::new();
        let tcp = TcpClient::new(stack, &state);
        let dns = DnsSocket::new(stack);
        let app = async {
            stack.wait_config_up().await;
            run_device(&tcp, &dns, params).await
        };
        match select(app, runner.run()).await {
            Either::First(result) => Ok(result),
            Either::Second(never) => match never {},
        }
    }
}
