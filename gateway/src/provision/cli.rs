//! `ddlink-gateway fleet create|bind|list` and `ddlink-gateway device-secret` (the factory step).
//!
//! They open the same database and master key as `serve` (same flags, environment and file).

use std::fmt::Write as _;

use clap::{Args, Subcommand};

use super::fleets::{self, FleetSpec};
use super::store::ProvisionStore;
use crate::Gateway;
use crate::config::layering::{ServeArgs, resolve};
use crate::tenants::{self, DEFAULT_TENANT, TenantId};

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create a fleet with a new random fleet key (stored encrypted).
    Create {
        /// Fleet name, `[a-z0-9._-]{1,64}`, unique across tenants; devices send it as `fleet`.
        name: String,
        /// The tenant the fleet belongs to.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Bind the fleet to this connection of the tenant (see `tenant list`); its devices
        /// get that organisation's key. Without it the fleet is unbound until bound.
        #[arg(long)]
        connection: Option<String>,
        /// Approve devices of this fleet on their first valid contact.
        #[arg(long)]
        auto_approve: bool,
        /// Seconds a device may use the key from each provisioning answer, 10 to 2592000 (30
        /// days); it renews at about 80 % and stops sending when the lease ends unrenewed.
        #[arg(long, default_value_t = u64::from(fleets::DEFAULT_LEASE_SECS))]
        lease_secs: u64,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Bind a fleet to one of its tenant's connections, or unbind it.
    Bind {
        name: String,
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// A connection id of the tenant (see `tenant list`).
        #[arg(long, required_unless_present = "unbind", conflicts_with = "unbind")]
        connection: Option<String>,
        /// Leave the fleet unbound: its devices get `not_connected`.
        #[arg(long)]
        unbind: bool,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// List a tenant's fleets (never their keys).
    List {
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
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

/// The gateway for a command that only reads: nothing is migrated, re-sealed or written.
async fn open_read_only(settings: &ServeArgs) -> anyhow::Result<Gateway> {
    Gateway::open_read_only(resolve(settings)?.config).await
}

/// The gateway, the named tenant and the provisioning store (close the database when done).
async fn open_tenant(
    settings: &ServeArgs,
    tenant: &str,
) -> anyhow::Result<(Gateway, TenantId, ProvisionStore)> {
    let gateway = open(settings).await?;
    let state = gateway.state();
    let tenant = match tenants::find(state, tenant).await {
        Ok(tenant) => tenant,
        Err(error) => {
            state.db.close().await;
            return Err(error.into());
        }
    };
    let store = ProvisionStore::new(state.db.clone());
    Ok((gateway, tenant, store))
}

/// Runs a `fleet` subcommand; returns what to print.
pub async fn run_fleet(command: &FleetCommand) -> anyhow::Result<String> {
    match command {
        FleetCommand::Create {
            name,
            tenant,
            connection,
            auto_approve,
            lease_secs,
            settings,
        } => {
            // Checked before the database is opened: a typo should not need a running store.
            let lease_secs = fleets::lease_secs(*lease_secs)?;
            let (gateway, tenant, store) = open_tenant(settings, tenant).await?;
            let state = gateway.state();
            let spec = FleetSpec {
                tenant: &tenant,
                name,
                auto_approve: *auto_approve,
                connection_id: connection.as_deref(),
            };
            let created =
                fleets::create_leased(&store, &state.keys, &spec, lease_secs, state.clock.now())
                    .await;
            state.db.close().await;
            created?;
            let approval = if *auto_approve {
                "automatic"
            } else {
                "by an admin"
            };
            let binding = connection.as_deref().unwrap_or("none");
            Ok(format!(
                "fleet `{name}` of tenant `{tenant}` created (approval: {approval}; connection: {binding}; lease: {lease_secs} s)\n"
            ))
        }
        FleetCommand::Bind {
            name,
            tenant,
            connection,
            unbind: _,
            settings,
        } => {
            let (gateway, tenant, store) = open_tenant(settings, tenant).await?;
            let bound = fleets::bind(&store, &tenant, name, connection.as_deref()).await;
            gateway.state().db.close().await;
            bound?;
            Ok(match connection {
                Some(connection) => format!("fleet `{name}` bound to connection `{connection}`\n"),
                None => format!("fleet `{name}` unbound\n"),
            })
        }
        FleetCommand::List { tenant, settings } => {
            let gateway = open_read_only(settings).await?;
            let state = gateway.state();
            let status = match tenants::find(state, tenant).await {
                Ok(tenant) => super::admin::status(&state.provisioning.store, &tenant)
                    .await
                    .map_err(anyhow::Error::from),
                Err(error) => Err(error.into()),
            };
            state.db.close().await;
            let status = status?;
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
                let connection = fleet.connection_id.as_deref().unwrap_or("unbound");
                let _ = writeln!(
                    out,
                    "{}\t{approval}\t{devices} devices\t{connection}\tlease {} s",
                    fleet.name, fleet.lease_secs
                );
            }
            Ok(out)
        }
    }
}

/// Derives the device secret; returns the hex line to print.
pub async fn run_device_secret(args: &DeviceSecretArgs) -> anyhow::Result<String> {
    let gateway = open_read_only(&args.settings).await?;
    let state = gateway.state();
    let store = ProvisionStore::new(state.db.clone());
    let fleet = fleets::load(&store, &state.keys, &args.fleet).await;
    state.db.close().await;
    let fleet = fleet?;
    let secret = fleet.device_secret(&args.device_id)?;
    let hex: String = secret
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{hex}\n"))
}
