//! `ddlink-sandbox`: the Datadog emulator and a gateway pointed at it, in this process. A crate
//! of its own so the production gateway never links the emulator.
//!
//! The gateway accepts only the emulator's `*.localhost` domain, keeps SQLite in the state
//! directory (or uses [`SandboxOptions::database`]), and writes `sandbox.json` (`gateway_url`, `emulator_url`, `emulator_token`,
//! `tile_url`, `admin_token`, `domain`, `fleet`, `fleet_key_hex`, `tenants`; mode 0600).
//!
//! [`SandboxOptions::tenants`] tenants, each with its own emulated Datadog org and an
//! auto-approving fleet bound to it: the first is the gateway's `default` tenant (the operator's,
//! signed in with the admin token), fleet `demo`, org "Sandbox Org" on `app.`; tenant `i ≥ 2` is
//! `tenant-<i>` with its own admin, fleet `demo-<i>` and org "Tenant `<i>` Org" on the
//! emulator host `tenant-<i>.`. The top-level `admin_token` is the operator's, `fleet` and
//! `fleet_key_hex` the first tenant's. [`SandboxHandle::connect`] completes the consent headlessly: it
//! signs in to the gateway, then the emulator's headless browser goes from the org's tile
//! through the onboarding URL, the consent page and Authorize to the gateway's callback.
//!
//! The gateway validates every connection every [`VALIDATE_INTERVAL`] (2 s), refreshing its
//! token as part of the check: uninstalling the integration from the emulator's tile or
//! revoking its key on the emulator's API Keys page shows on the admin page within seconds.
//!
//! The emulator listens on loopback whatever the gateway's address: its pages and APIs are
//! for this machine only, and its `/_emulator/` test API (which hands out full API keys)
//! needs the random bearer token generated here, `emulator_token` in `sandbox.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use ddlink_core::site::Site;
use ddlink_emulator::{Decision, Emulator, EmulatorConfig, EmulatorHandle, OAuthClient, OrgConfig};
use ddlink_gateway::clock::Clock;
use ddlink_gateway::config::{AdminCredential, Config, MasterKeySource, SitePolicy, Timings};
use ddlink_gateway::crypto::random_token;
use ddlink_gateway::provision::fleets;
use ddlink_gateway::provision::limiter::ProvisionLimits;
use ddlink_gateway::provision::store::ProvisionStore;
use ddlink_gateway::state::AppState;
pub use ddlink_gateway::store::DbOptions;
use ddlink_gateway::store::sqlite_url_for_path;
use ddlink_gateway::tenants::{self, TenantId};
use ddlink_gateway::{Gateway, create_private_dir, write_private_file};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The first tenant's device fleet (auto-approve); its key is in `sandbox.json`. Further
/// tenants' fleets are `demo-<i>`.
pub const SANDBOX_FLEET: &str = "demo";

/// Where the sandbox listens and keeps its files.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Gateway address (`127.0.0.1:0` picks a free port). The emulator always listens on
    /// `127.0.0.1` (a free port), even when this is `0.0.0.0`.
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// How many tenants, each with its own org and fleet (at least 1).
    pub tenants: usize,
    /// The gateway's database; `None` keeps SQLite in the state directory.
    pub database: Option<DbOptions>,
    /// The lease of the sandbox fleets' devices, in seconds; `None`: the gateway's default
    /// (one day). A short one shows a decision (an uninstall, a revoked device) reaching every
    /// device within it.
    pub fleet_lease_secs: Option<u32>,
}

/// One tenant of the sandbox: its emulated org, its fleet, and how its admin signs in.
#[derive(Debug, Clone)]
pub struct SandboxTenant {
    pub id: TenantId,
    /// The tenant admin's user name; `None` for the first tenant, whose admin is the operator
    /// (the admin token alone).
    pub admin_user: Option<String>,
    /// The admin's password (the operator's admin token for the first tenant).
    pub admin_token: SecretString,
    /// Its auto-approving fleet, bound to its org's connection once connected.
    pub fleet: String,
    pub fleet_key_hex: SecretString,
    /// The emulated Datadog org only this tenant connects.
    pub org: OrgConfig,
}

#[derive(Serialize)]
struct TenantManifest<'a> {
    name: &'a str,
    /// Empty for the operator.
    admin_user: &'a str,
    admin_token: &'a str,
    fleet: &'a str,
    fleet_key_hex: &'a str,
    org_name: &'a str,
    org_id: &'a str,
}

#[derive(Serialize)]
struct Manifest<'a> {
    gateway_url: &'a str,
    emulator_url: &'a str,
    /// Bearer token of the emulator's `/_emulator/` test API.
    emulator_token: &'a str,
    tile_url: &'a str,
    admin_token: &'a str,
    domain: &'a str,
    /// Device provisioning: the auto-approving fleet and its key, for simulated factories.
    fleet: &'a str,
    fleet_key_hex: &'a str,
    tenants: Vec<TenantManifest<'a>>,
}

/// A running sandbox world.
#[derive(Debug)]
pub struct SandboxHandle {
    gateway_url: url::Url,
    /// The gateway's OAuth client as registered in the emulator.
    client_id: String,
    tile_url: String,
    manifest_path: PathBuf,
    admin_token: SecretString,
    tenants: Vec<SandboxTenant>,
    state: AppState,
    emulator: EmulatorHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// How often the sandbox gateway validates every connection: its key with
/// `GET /api/v1/validate`, its authorisation with a refresh (see
/// `ddlink_gateway::config::Timings::validate_refreshes`), so an uninstall or a revoked key
/// is seen within a few seconds.
pub const VALIDATE_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the emulator (with this gateway registered as its OAuth client) and the gateway,
/// validating every [`VALIDATE_INTERVAL`].
pub async fn start(options: SandboxOptions) -> anyhow::Result<SandboxHandle> {
    start_validating_every(options, VALIDATE_INTERVAL).await
}

/// [`start`] with another validation interval (tests that count refreshes or validations
/// themselves pass a long one: the first pass runs at start, before anything is connected).
pub async fn start_validating_every(
    options: SandboxOptions,
    validate_interval: Duration,
) -> anyhow::Result<SandboxHandle> {
    ensure!(
        options.tenants >= 1,
        "the sandbox needs at least one tenant"
    );
    create_private_dir(&options.state_dir)
        .with_context(|| format!("creating {}", options.state_dir.display()))?;
    let gateway_listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let gateway_addr = gateway_listener.local_addr()?;
    let emulator_listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("binding the emulator to 127.0.0.1")?;
    let emulator_addr = emulator_listener.local_addr()?;

    let gateway_url = url::Url::parse(&format!(
        "http://{}/",
        loopback_if_unspecified(gateway_addr)
    ))?;
    let onboarding_url = gateway_url.join("oauth/onboard")?;
    let redirect_uri = gateway_url.join("oauth/callback")?;
    let client_id = format!("ddlink-sandbox-{}", random_token(6)?);
    let oauth_client_id = client_id.clone();
    let client_secret = SecretString::from(random_token(32)?);
    let mut orgs = vec![OrgConfig::default()];
    orgs.extend(
        (2..=options.tenants).map(|i| OrgConfig::new(format!("Tenant {i} Org"), tenant_name(i))),
    );
    let emulator = Emulator::start(
        EmulatorConfig {
            clients: vec![OAuthClient::new(
                client_id.clone(),
                client_secret.expose_secret().to_owned(),
                redirect_uri.as_str(),
                onboarding_url.as_str(),
            )],
            test_api_token: Some(random_token(32)?),
            orgs: orgs.clone(),
            ..EmulatorConfig::default()
        },
        emulator_listener,
    )
    .await
    .map_err(|e| anyhow::anyhow!("starting the emulator: {e}"))?;

    let site =
        Site::sandbox(emulator.domain()).map_err(|e| anyhow::anyhow!("emulator domain: {e}"))?;
    let resolve = emulator
        .host_names()
        .into_iter()
        .map(|host| (host, emulator_addr))
        .collect();
    let tile_url = format!("{}/tile", emulator.app_url());
    let admin_token = SecretString::from(random_token(24)?);
    let config = Config {
        public_url: gateway_url.clone(),
        database: options.database.clone().unwrap_or_else(|| {
            DbOptions::new(sqlite_url_for_path(&options.state_dir.join("ddlink.db")))
        }),
        client_id,
        client_secret,
        scopes: vec!["api_keys_write".to_owned()],
        master_key: MasterKeySource::FileOrGenerate(options.state_dir.join("master.key")),
        previous_master_keys: Vec::new(),
        admin: AdminCredential::Token(admin_token.clone()),
        sites: SitePolicy::Sandbox(site),
        // Simulated devices all come from loopback: per-address provisioning limits would
        // throttle a whole simulated fleet as one client.
        timings: Timings {
            provisioning: ProvisionLimits::shared_address(),
            validate_interval,
            validate_refreshes: true,
            ..Timings::default()
        },
        resolve,
        tile_url: url::Url::parse(&tile_url).ok(),
        clock: Clock::system(),
    };
    let gateway = Gateway::start(config).await?;
    let state = gateway.state().clone();
    let mut sandbox_tenants = Vec::new();
    for (i, org) in (1..).zip(orgs) {
        let (id, admin_user, admin_password, fleet) = if i == 1 {
            let fleet = SANDBOX_FLEET.to_owned();
            (TenantId::default_tenant(), None, admin_token.clone(), fleet)
        } else {
            let admin = tenants::create_with_admin(&state, &tenant_name(i))
                .await
                .with_context(|| format!("creating tenant {i}"))?;
            (
                admin.tenant,
                Some(admin.user),
                admin.password,
                format!("demo-{i}"),
            )
        };
        let lease_secs = options
            .fleet_lease_secs
            .unwrap_or(fleets::DEFAULT_LEASE_SECS);
        let fleet_key_hex = create_fleet(&state, &id, &fleet, lease_secs).await?;
        sandbox_tenants.push(SandboxTenant {
            id,
            admin_user,
            admin_token: admin_password,
            fleet,
            fleet_key_hex,
            org,
        });
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(gateway.serve(gateway_listener, async move {
        let _ = stopped.await;
    }));

    let manifest_path = options.state_dir.join("sandbox.json");
    let manifest = Manifest {
        gateway_url: gateway_url.as_str(),
        emulator_url: &emulator.base_url(),
        emulator_token: emulator.test_api_token(),
        tile_url: &tile_url,
        admin_token: admin_token.expose_secret(),
        domain: emulator.domain(),
        fleet: SANDBOX_FLEET,
        fleet_key_hex: sandbox_tenants[0].fleet_key_hex.expose_secret(),
        tenants: sandbox_tenants
            .iter()
            .map(|t| TenantManifest {
                name: t.id.as_str(),
                admin_user: t.admin_user.as_deref().unwrap_or_default(),
                admin_token: t.admin_token.expose_secret(),
                fleet: &t.fleet,
                fleet_key_hex: t.fleet_key_hex.expose_secret(),
                org_name: &t.org.name,
                org_id: &t.org.id,
            })
            .collect(),
    };
    write_private_file(&manifest_path, &serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    tracing::info!(gateway = %gateway_url, tile = %tile_url, "sandbox running");
    Ok(SandboxHandle {
        gateway_url,
        client_id: oauth_client_id,
        tile_url,
        manifest_path,
        admin_token,
        tenants: sandbox_tenants,
        state,
        emulator,
        stop: Some(stop),
        task: Some(task),
    })
}

/// The gateway tenant (and emulator subdomain) of tenant `i ≥ 2`.
fn tenant_name(i: usize) -> String {
    format!("tenant-{i}")
}

/// Creates an auto-approving, not yet bound fleet of `tenant`; returns its key in hex.
async fn create_fleet(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
    lease_secs: u32,
) -> anyhow::Result<SecretString> {
    let fleet = fleets::ensure(
        &ProvisionStore::new(state.db.clone()),
        &state.keys,
        &fleets::FleetSpec {
            tenant,
            name,
            auto_approve: true,
            connection_id: None,
        },
        lease_secs,
        state.clock.now(),
    )
    .await
    .with_context(|| format!("creating the sandbox fleet {name}"))?;
    Ok(SecretString::from(
        fleet
            .key()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ))
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

impl SandboxHandle {
    pub fn gateway_url(&self) -> &url::Url {
        &self.gateway_url
    }

    /// The gateway's OAuth client id, as registered in the emulator (its tile's button).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The emulator's address for its `/_emulator/` test API (`http://127.0.0.1:<port>`; the
    /// token is [`EmulatorHandle::test_api_token`]).
    pub fn emulator_url(&self) -> String {
        self.emulator.base_url()
    }

    /// The emulator's integration tile (Connect Accounts).
    pub fn tile_url(&self) -> &str {
        &self.tile_url
    }

    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    pub fn admin_token(&self) -> &SecretString {
        &self.admin_token
    }

    /// The first tenant's device fleet (`demo`, auto-approve).
    pub fn fleet(&self) -> &str {
        &self.tenants[0].fleet
    }

    /// The first tenant's fleet key in hex: simulated factories derive device secrets from it.
    pub fn fleet_key_hex(&self) -> &SecretString {
        &self.tenants[0].fleet_key_hex
    }

    /// Every tenant, the operator's `default` first.
    pub fn tenants(&self) -> &[SandboxTenant] {
        &self.tenants
    }

    /// The running gateway's state (store, connections, keys, clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn emulator(&self) -> &EmulatorHandle {
        &self.emulator
    }

    /// Moves both the gateway's and the emulator's clocks forward.
    pub fn advance_clocks(&self, by: Duration) {
        self.emulator.advance_clock(by);
        self.state
            .clock
            .advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX));
    }

    /// Runs the whole consent flow over HTTP without a browser for every tenant: its admin
    /// signed in to the gateway, its org's user on the tile. Then binds the tenant's fleet to
    /// the connection, as an admin would on the admin page, and checks its key is stored.
    pub async fn connect(&self) -> anyhow::Result<()> {
        for tenant in &self.tenants {
            self.connect_tenant(tenant)
                .await
                .with_context(|| format!("tenant {}", tenant.id.as_str()))?;
        }
        Ok(())
    }

    async fn connect_tenant(&self, tenant: &SandboxTenant) -> anyhow::Result<()> {
        let cookie = self
            .sign_in(tenant.admin_user.as_deref(), &tenant.admin_token)
            .await?;
        let browser = self
            .emulator
            .headless_browser(&tenant.org.id, Some(cookie))?;
        let callback = browser
            .consent(&self.client_id, Decision::Authorize)
            .await?;
        ensure!(
            callback.starts_with(self.gateway_url.as_str()),
            "consent redirected somewhere else"
        );
        let finished = browser.get(&callback).await?;
        if !(200..300).contains(&finished.status) {
            bail!("the gateway's callback answered {}", finished.status);
        }
        let connection = self
            .state
            .connections
            .statuses(&tenant.id)
            .await?
            .into_iter()
            .find(|c| c.state == "active")
            .context("callback succeeded but no connection is stored")?;
        ProvisionStore::new(self.state.db.clone())
            .bind_fleet(&tenant.id, &tenant.fleet, Some(&connection.id))
            .await?;
        let connected = self
            .state
            .connections
            .device_api_key(&tenant.id, &tenant.fleet)
            .await?
            .is_some();
        ensure!(connected, "callback succeeded but no API key is stored");
        Ok(())
    }

    /// Signs in to the gateway (as the operator without `user`); returns the session cookie
    /// (`name=value`) a browser would then hold.
    async fn sign_in(&self, user: Option<&str>, password: &SecretString) -> anyhow::Result<String> {
        // reqwest is built without a bundled crypto provider (an error: one is installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        let response = client
            .post(self.gateway_url.join("login")?)
            .form(&[
                ("user", user.unwrap_or_default()),
                ("password", password.expose_secret()),
                ("next", "/"),
            ])
            .send()
            .await?;
        ensure!(
            response.status().is_redirection(),
            "login answered {}",
            response.status()
        );
        let cookie = response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("login set no session cookie")?;
        Ok(cookie.to_owned())
    }

    /// Stops the gateway (and its background tasks) and the emulator.
    pub async fn shutdown(self) {
        let Self {
            stop,
            task,
            emulator,
            ..
        } = self;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(task) = task
            && let Ok(Err(error)) = task.await
        {
            tracing::warn!(%error, "sandbox gateway stopped with an error");
        }
        emulator.shutdown().await;
    }
}
