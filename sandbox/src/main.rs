//! `ddlink-sandbox` binary: starts the emulator and a gateway pointed at it, optionally
//! completes the consent headlessly, writes `sandbox.json` and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use ddlink_sandbox::SandboxOptions;

/// Start a local Datadog emulator and a gateway connected to it.
#[derive(Debug, Parser)]
#[command(name = "ddlink-sandbox", version)]
struct Args {
    /// Gateway listen address (the emulator listens on 127.0.0.1, another port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for the sandbox's SQLite database, master key and sandbox.json.
    #[arg(long, default_value = "ddlink-sandbox")]
    state_dir: PathBuf,
    /// Complete the Datadog consent headlessly right away (for every tenant).
    #[arg(long)]
    connect: bool,
    /// Tenants, each with its own emulated Datadog org and fleet (`demo`, `demo-2`, …).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    tenants: u16,
    /// The gateway's database URL (`postgres://…`, or `sqlite:PATH`); by default SQLite in the
    /// state directory. Also `DDLINK_SANDBOX_DATABASE_URL`.
    #[arg(long, env = "DDLINK_SANDBOX_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// The sandbox fleets' device lease in seconds (10 to 2592000; by default one day).
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=2_592_000))]
    lease_secs: Option<u32>,
}

fn main() -> ExitCode {
    ddlink_gateway::run_binary(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let handle = ddlink_sandbox::start(SandboxOptions {
        listen: args.listen,
        state_dir: args.state_dir,
        tenants: usize::from(args.tenants),
        database: args.database.map(ddlink_sandbox::DbOptions::new),
        fleet_lease_secs: args.lease_secs,
    })
    .await?;
    if args.connect {
        handle
            .connect()
            .await
            .context("completing the consent headlessly")?;
        println!("connected: each sandbox organisation's API key is stored (encrypted)");
    }
    println!("gateway:   {}", handle.gateway_url());
    println!(
        "emulator:  {} (test API token: emulator_token in sandbox.json)",
        handle.emulator_url()
    );
    println!(
        "sandbox.json written to {}",
        handle.manifest_path().display()
    );
    println!(
        "Open the Datadog tile and click Connect Accounts: {}",
        handle.tile_url()
    );
    ddlink_gateway::shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}
