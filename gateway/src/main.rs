//! `ddlink-gateway` binary: parses the command line, sets up logging, and runs the library.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use ddlink_gateway::cli::{self, Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let resolved = cli::resolve(&args)?;
            let listener = tokio::net::TcpListener::bind(resolved.listen)
                .await
                .with_context(|| format!("binding {}", resolved.listen))?;
            tracing::info!(addr = %listener.local_addr()?, onboarding = %resolved.config.onboarding_url(), "gateway listening");
            ddlink_gateway::run(resolved.config, listener, shutdown_signal()).await
        }
        Command::CheckConfig(args) => {
            let resolved = cli::resolve(&args)?;
            print!("{}", cli::describe(&resolved));
            Ok(())
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.len() >= 12,
                "use a password of at least 12 characters"
            );
            let hash = ddlink_gateway::web::session::hash_password(password)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{hash}");
            Ok(())
        }
        Command::Fleet { command } => {
            print!(
                "{}",
                ddlink_gateway::provision::cli::run_fleet(&command).await?
            );
            Ok(())
        }
        Command::Tenant { command } => {
            print!("{}", cli::run_tenant(&command).await?);
            Ok(())
        }
        Command::DeviceSecret(args) => {
            print!(
                "{}",
                ddlink_gateway::provision::cli::run_device_secret(&args).await?
            );
            Ok(())
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => run_sandbox(args).await,
    }
}

#[cfg(feature = "sandbox")]
async fn run_sandbox(args: cli::SandboxArgs) -> anyhow::Result<()> {
    use ddlink_gateway::sandbox::{self, SandboxOptions};
    let handle = sandbox::start(SandboxOptions {
        listen: args.listen,
        state_dir: args.state_dir,
    })
    .await?;
    if args.connect {
        handle
            .connect()
            .await
            .context("completing the consent headlessly")?;
        println!("connected: the sandbox organisation's API key is stored (encrypted)");
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
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
