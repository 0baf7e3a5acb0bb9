//! `ddlink-gateway` binary: parses the command line, sets up logging, and runs the library.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use ddlink_gateway::cli::{self, Cli, Command};
use ddlink_gateway::config::layering;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ddlink_gateway::run_binary(dispatch(cli.command))
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let resolved = layering::resolve(&args)?;
            let listener = tokio::net::TcpListener::bind(resolved.listen)
                .await
                .with_context(|| format!("binding {}", resolved.listen))?;
            tracing::info!(addr = %listener.local_addr()?, onboarding = %resolved.config.onboarding_url(), "gateway listening");
            ddlink_gateway::run(resolved.config, listener, ddlink_gateway::shutdown_signal()).await
        }
        Command::CheckConfig(args) => {
            let resolved = layering::resolve(&args)?;
            print!("{}", layering::describe(&resolved));
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
    }
}
