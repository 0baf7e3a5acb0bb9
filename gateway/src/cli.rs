//! Command line: `serve`, `check-config`, `hash-password`, `fleet`, `tenant` and
//! `device-secret`. The settings every command shares, and how they become a
//! [`crate::config::Config`], are in [`crate::config::layering`].

use clap::{Parser, Subcommand};

use crate::config::layering::{ServeArgs, resolve};

#[derive(Debug, Parser)]
#[command(
    name = "ddlink-gateway",
    version,
    about = "ddlink edge gateway: Datadog OAuth, API key, devices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gateway.
    Serve(ServeArgs),
    /// Validate the configuration and print the URLs to register in Datadog's Developer Platform.
    CheckConfig(ServeArgs),
    /// Print the Argon2id hash of a password read from standard input (for `admin_password_hash`).
    HashPassword,
    /// Manage device fleets (`create NAME [--auto-approve]`, `list`).
    Fleet {
        #[command(subcommand)]
        command: crate::provision::cli::FleetCommand,
    },
    /// Manage tenants (`create NAME`, `invite NAME`, `list`).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Print a device's secret in hex, for flashing at the factory.
    DeviceSecret(crate::provision::cli::DeviceSecretArgs),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print a one-time invite URL for its first admin.
    Create {
        /// Tenant name, `[a-z0-9._-]{1,64}`.
        name: String,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Print another one-time invite URL for an admin of the tenant.
    Invite {
        name: String,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// List tenants with their connections (ids for `fleet bind`) and device counts.
    List {
        #[command(flatten)]
        settings: ServeArgs,
    },
}

/// Runs a `tenant` subcommand; returns what to print.
pub async fn run_tenant(command: &TenantCommand) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let settings = match command {
        TenantCommand::Create { settings, .. }
        | TenantCommand::Invite { settings, .. }
        | TenantCommand::List { settings } => settings,
    };
    let config = resolve(settings)?.config;
    let gateway = match command {
        TenantCommand::List { .. } => crate::Gateway::open_read_only(config).await?,
        _ => crate::Gateway::start(config).await?,
    };
    let state = gateway.state();
    let out = match command {
        TenantCommand::Create { name, .. } => {
            let tenant = crate::tenants::create(state, name).await?;
            let url = crate::tenants::create_invite(state, &tenant).await?;
            format!(
                "tenant `{tenant}` created\ninvite for its first admin (single use, valid {} days):\n{url}\n",
                crate::tenants::INVITE_TTL_SECS / 86_400
            )
        }
        TenantCommand::Invite { name, .. } => {
            let tenant = crate::tenants::find(state, name).await?;
            let url = crate::tenants::create_invite(state, &tenant).await?;
            format!("{url}\n")
        }
        TenantCommand::List { .. } => {
            let mut out = String::new();
            for health in crate::tenants::health(state).await? {
                let _ = writeln!(
                    out,
                    "{}\t{} fleets\t{} devices",
                    health.tenant, health.fleets, health.devices
                );
                for c in state.connections.statuses(&health.tenant).await? {
                    let _ = writeln!(
                        out,
                        "  connection {}\t{} ({})\t{}",
                        c.id,
                        c.org_name,
                        c.domain,
                        c.state.as_str()
                    );
                }
            }
            out
        }
    };
    state.db.close().await;
    Ok(out)
}
