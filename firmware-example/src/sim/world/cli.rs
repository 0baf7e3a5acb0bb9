//! `ddlink-firmware-example --sandbox [--devices N] [--duration S] [--tenants T]`: builds the
//! [`World`], runs the devices on the embassy executor, streams progress, and ends with
//! `summary: devices=N provisioned=N points_sent=X points_accepted=Y lost=Z tls_sessions=S
//! wire_bytes_per_point=B misrouted=M` (exit status 0 only if every device provisioned, nothing
//! was lost and no point landed in another tenant's org), preceded by a `connections:` line
//! (requests per TLS session, points per series request).
//!
//! With `--board qemu-mps2-an386 [--board-image PATH]` the devices are the board image under
//! QEMU ([`super::super::qemu`]), and the summary is preceded by
//! `footprint: flash=F ram_static=R stack_peak=S heap=0` (bytes; the deepest stack of any board).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use embassy_executor::Executor;

use super::super::qemu::{BOARD_NAME, Footprint, default_image_path};
use super::{DeviceNetwork, IntakeTrust, World, WorldConfig};
use crate::device::DEFAULT_FLUSH_INTERVAL_MS;

#[derive(Debug, Clone, Parser)]
#[command(about = "The whole ddlink sandbox in one process: emulator, gateway, consent, devices")]
struct SandboxArgs {
    /// Selects this mode.
    #[arg(long)]
    sandbox: bool,
    /// Simulated devices.
    #[arg(long, default_value_t = 3)]
    devices: usize,
    /// Tenants of the gateway, each with its own emulated org and fleet; device `i` belongs to
    /// tenant `i % tenants`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    tenants: u16,
    /// How long the devices sample, in seconds (then they drain their queues).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Sampling interval in seconds.
    #[arg(long, default_value_t = 1)]
    interval: u64,
    /// How often devices send the samples they collected, in seconds (a board image uses the
    /// firmware's default, 10 s).
    #[arg(long, default_value_t = DEFAULT_FLUSH_INTERVAL_MS / 1_000)]
    flush_interval: u64,
    /// Use the host's sockets instead of the in-process embassy-net network.
    #[arg(long)]
    os_sockets: bool,
    /// Packet loss on the in-process network, per mille.
    #[arg(long, default_value_t = 0)]
    loss_per_mille: u16,
    /// Run the devices as this board's firmware image under QEMU (`qemu-mps2-an386`).
    #[arg(long, value_parser = [BOARD_NAME])]
    board: Option<String>,
    /// The board image (ELF) to run; built by the command in `firmware-example/README.md`.
    #[arg(long, default_value_os_t = default_image_path())]
    board_image: PathBuf,
}

/// Runs the sandbox mode (the process exits from here).
pub fn main() -> ExitCode {
    let args = SandboxArgs::parse();
    let mut config = WorldConfig::new(args.devices);
    config.tenants = usize::from(args.tenants);
    config.duration_ms = args.duration.saturating_mul(1_000);
    config.interval_ms = args.interval.max(1).saturating_mul(1_000);
    config.flush_interval_ms = args.flush_interval.max(1).saturating_mul(1_000);
    let footprint = match &args.board {
        Some(_) => match Footprint::of_image(&args.board_image) {
            Ok(footprint) => Some(footprint),
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    config.network = if args.board.is_some() {
        DeviceNetwork::QemuBoard {
            image: args.board_image.clone(),
            loss_per_mille: args.loss_per_mille,
        }
    } else if args.os_sockets {
        DeviceNetwork::OsSockets
    } else {
        DeviceNetwork::InProcess {
            loss_per_mille: args.loss_per_mille,
        }
    };
    config.trust = IntakeTrust::FrontCa;
    config.start_spread_ms = 1_000;
    let started = Instant::now();
    let world = match World::start(config) {
        Ok(world) => world,
        Err(error) => {
            eprintln!("error: cannot start the sandbox: {error:#}");
            return ExitCode::from(2);
        }
    };
    announce(&world);
    let world: &'static World = Box::leak(Box::new(world));
    world.runtime().spawn(progress(world, started));
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    executor.run(move |spawner| match devices_task(world, footprint) {
        Ok(token) => spawner.spawn(token),
        Err(error) => {
            eprintln!("error: cannot start the device task: {error:?}");
            std::process::exit(2);
        }
    })
}

fn announce(world: &World) {
    let sandbox = world.sandbox();
    let emulator = world.emulator();
    println!(
        "emulator: Datadog stand-in at {} (domain {})",
        emulator.base_url(),
        emulator.domain()
    );
    if let Some(front) = world.front() {
        println!(
            "intake: HTTPS on 127.0.0.1:{} (devices trust its CA; names {})",
            front.port(),
            emulator.host_names().join(", ")
        );
    }
    println!(
        "gateway: {} (state {})",
        sandbox.gateway_url(),
        sandbox.manifest_path().display()
    );
    println!("consent: connected headlessly (Connect Accounts → Authorize → callback → API key)");
    for tenant in sandbox.tenants() {
        println!(
            "tenant: {} org \"{}\" ({}) fleet {} (auto-approve)",
            tenant.id.as_str(),
            tenant.org.name,
            tenant.org.id,
            tenant.fleet,
        );
    }
    println!(
        "devices: {} across {} tenant(s), network: {}",
        world.config().devices,
        sandbox.tenants().len(),
        match world.config().network {
            DeviceNetwork::InProcess { .. } => "in-process embassy-net",
            DeviceNetwork::OsSockets => "host sockets",
            DeviceNetwork::QemuBoard { .. } => "board images under QEMU, each behind a router",
        }
    );
}

async fn progress(world: &'static World, started: Instant) {
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let emulator = world.emulator();
        let points: usize = emulator
            .received_series()
            .iter()
            .map(|s| s.points.len())
            .sum();
        let requests = emulator.requests();
        let intake = requests
            .iter()
            .filter(|r| r.path.starts_with("/api/"))
            .count();
        let front = world.front().map(|f| f.stats()).unwrap_or_default();
        println!(
            "progress: t={}s intake_requests={} points_received={} events={} checks={} logs={} tls_sessions={}",
            started.elapsed().as_secs(),
            intake,
            points,
            emulator.received_events().len(),
            emulator.received_checks().len(),
            emulator.received_logs().len(),
            front.forwarded,
        );
    }
}

#[embassy_executor::task]
async fn devices_task(world: &'static World, footprint: Option<Footprint>) {
    let runs = match world.run_devices().await {
        Ok(runs) => runs,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2);
        }
    };
    for run in &runs {
        let r = &run.report;
        println!(
            "device {} (org {}): provisioned={} key_version={:?} sampled={} accepted={} queued={} dropped={} boot_events={} heartbeats={} logs={} deflate_saved_bytes={} last_retry={:?} uploader={:?}",
            run.device_id,
            run.org_id,
            r.provisioned,
            r.key_version,
            r.points.sampled,
            r.points.accepted,
            r.points.in_flight(),
            r.points.dropped,
            r.boot_events,
            r.heartbeats,
            r.logs_submitted,
            r.deflate_saved_bytes,
            r.last_retry,
            r.uploader,
        );
    }
    let tally = world.tally(&runs);
    println!("{}", tally.details());
    println!("{}", connections_line(world, &tally));
    if let Some(footprint) = footprint {
        let stack_peak = runs.iter().filter_map(|r| r.stack_peak).max().unwrap_or(0);
        // No allocator in the image: the heap is zero by construction.
        println!(
            "footprint: flash={} ram_static={} stack_peak={stack_peak} heap=0",
            footprint.flash, footprint.ram_static
        );
    }
    println!("{tally}");
    std::process::exit(if tally.success() { 0 } else { 1 });
}

/// How well connections and batches were used: requests per TLS session and points per series
/// request (what the emulator received).
#[allow(clippy::cast_precision_loss, reason = "ratios for people to read")]
fn connections_line(world: &World, tally: &super::tally::Tally) -> String {
    let series_requests = world
        .emulator()
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/series" && r.status == 202)
        .count() as u64;
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.1}", a as f64 / b as f64)
        }
    };
    format!(
        "connections: requests={} tls_sessions={} requests_per_tls_session={} series_requests={series_requests} points_per_series_request={}",
        tally.requests,
        tally.tls_sessions,
        ratio(tally.requests, tally.tls_sessions),
        ratio(tally.points_received + tally.duplicates, series_requests),
    )
}
