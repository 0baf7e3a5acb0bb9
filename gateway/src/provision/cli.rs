//! `ddlink-gateway fleet create|list` and `ddlink-gateway device-secret` (the factory step).
//!
//! They open the same database and master key as `serve` (same flags, environment and file).

use std::fmt::Write as _;

use clap::{Args, Subcommand};

use super::fleets;
use super::store::ProvisionStore;
use crate::Gateway;
use crate::cli::{ServeArgs, resolve};

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create a fleet with a new random fleet key (stored encrypted).
    Create {
        /// Fleet name, `[a-z0-9._-]{1,64}`; devices send it as `fleet`.
        name: String,
        /// Approve devices of this fleet on their first valid contact.
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// List fleets (never their keys).
    List {
        #[command(flatten)]
        settings: ServeArgs,
    },
}

/// `device-secret --fleet F --device-id D`: prints the device secret, in hex, for flashing.
#[derive(Debug, Args)]
pub struct DeviceSecretArgs {
    #[arg(long)]
    pub fleet: String,
    #[arg(long)]
    pub device_id: String,
    #[command(flatten)]
    pub settings: ServeArgs,
}

async fn open(settings: &ServeArgs) -> anyhow::Result<Gateway> {
    Gateway::start(resolve(settings)?.config).await
}

/// Runs a `fleet` subcommand; returns what to print.
pub async fn run_fleet(command: &FleetCommand) -> anyhow::Result<String> {
    match command {
        FleetCommand::Create {
            name,
            auto_approve,
            settings,
        } => {
            let gateway = open(settings).await?;
            let state = gateway.state();
            let store = ProvisionStore::new(state.db.clone());
            fleets::create(&store, &state.keys, name, *auto_approve, state.clock.now()).await?;
            state.db.close().await;
            let approval = if *auto_approve {
                "automatic"
            } else {
                "by an admin"
            };
            Ok(format!("fleet `{name}` created (approval: {approval})\n"))
        }
        FleetCommand::List { settings } => {
            let gateway = open(settings).await?;
            let status = super::admin::status(gateway.state()).await?;
            gateway.state().db.close().await;
            let mut out = String::new();
            for fleet in &status.fleets {
                let devices = status
                    .devices
                    .iter()
                    .filter(|d| d.fleet == fleet.name)
                    .count();
                let approval = if fleet.auto_approve {
                    "auto-approve"
                } else {
                    "manual"
                };
                let _ = writeln!(out, "{}\t{approval}\t{devices} devices", fleet.name);
            }
            Ok(out)
        }
    }
}

/// Derives the device secret; returns the hex line to print.
pub async fn run_device_secret(args: &DeviceSecretArgs) -> anyhow::Result<String> {
    let gateway = open(&args.settings).await?;
    let state = gateway.state();
    let store = ProvisionStore::new(state.db.clone());
    let fleet = fleets::load(&store, &state.keys, &args.fleet).await?;
    state.db.close().await;
    let secret = fleet.device_secret(&args.device_id)?;
    let hex: String = secret
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{hex}\n"))
}
