//! Wiring: open the store and key ring, set up the admin credential, build the state, serve
//! HTTP and run background upkeep until shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AdminCredential, Config, MasterKeySource};
use crate::connections::Connections;
use crate::crypto::{CryptoError, KeyRing, MasterKey, SealContext, random_token};
use crate::datadog::{ClientCredentials, Datadog};
use crate::http_client::{AllowList, Outbound, ReqwestTransport, Transport};
use crate::metrics::Metrics;
use crate::provision::key_checks::KeyCheckReceiver;
use crate::provision::{self, Provisioning, ProvisioningParts};
use crate::state::AppState;
use crate::store::{Db, SEALED_COLUMNS, SealedColumn, Store};
use crate::web::login_guard::LoginGuard;
use crate::web::session::{hash_password, password_matches};
use crate::{upkeep, web};

/// A started (not yet serving) gateway.
#[derive(Debug)]
pub struct Gateway {
    state: AppState,
    admin_token: Option<SecretString>,
}

impl Gateway {
    /// Opens everything with the production HTTP transport.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let transport =
            ReqwestTransport::new(&config.resolve).context("building the HTTP client")?;
        Self::start_with_transport(config, Arc::new(transport)).await
    }

    /// Opens everything with the given transport (tests pass doubles here).
    pub async fn start_with_transport(
        config: Config,
        transport: Arc<dyn Transport>,
    ) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database)
            .await
            .context("opening the database")?;
        let store = Store::new(db.clone());
        let keys = Arc::new(
            load_key_ring(&config, KeyFile::LoadOrCreate).context("loading the master key")?,
        );
        let columns: Vec<SealedColumn> = SEALED_COLUMNS
            .iter()
            .chain([&provision::SEALED_COLUMN])
            .copied()
            .collect();
        let resealed = reseal_all(&store, &keys, &columns)
            .await
            .context("re-sealing secrets under the active master key")?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                key = keys.active_key_id(),
                "secrets re-sealed under the active master key"
            );
        }
        let admin_token = setup_admin(&store, &config)
            .await
            .context("setting up the admin credential")?;
        Self::assemble(config, transport, db, store, keys, admin_token)
    }

    /// Opens an existing, migrated database and the existing master key for a command that
    /// only reads (`fleet list`, `tenant list`, `device-secret`): no migration, no re-sealing,
    /// no admin credential written, no key file created. Its state must not serve traffic.
    pub async fn open_read_only(config: Config) -> anyhow::Result<Self> {
        let transport =
            ReqwestTransport::new(&config.resolve).context("building the HTTP client")?;
        let db = Db::open_existing(&config.database)
            .await
            .context("opening the database")?;
        let keys = match load_key_ring(&config, KeyFile::Existing) {
            Ok(keys) => Arc::new(keys),
            Err(error) => {
                db.close().await;
                return Err(anyhow::Error::new(error).context("loading the master key"));
            }
        };
        let store = Store::new(db.clone());
        Self::assemble(config, Arc::new(transport), db, store, keys, None)
    }

    fn assemble(
        config: Config,
        transport: Arc<dyn Transport>,
        db: Db,
        store: Store,
        keys: Arc<KeyRing>,
        admin_token: Option<SecretString>,
    ) -> anyhow::Result<Self> {
        let mut allow = AllowList::new();
        for site in config.sites.sites() {
            let scheme = if site.is_sandbox() { "http" } else { "https" };
            allow.allow(scheme, site.api_host().as_str());
        }
        let datadog = Datadog::new(
            Outbound::new(transport, allow),
            ClientCredentials {
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                redirect_uri: config.redirect_uri(),
                scopes: config.scopes.clone(),
            },
        );
        let clock = config.clock.clone();
        let connections = Connections::new(store.clone(), keys.clone(), clock.clone());
        let metrics = Arc::new(Metrics::default());
        let provisioning = Arc::new(Provisioning::new(ProvisioningParts {
            db: db.clone(),
            limits: config.timings.provisioning,
            keys: keys.clone(),
            connections: connections.clone(),
            events: store.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
        }));
        let state = AppState {
            connections,
            config: Arc::new(config),
            store,
            db,
            keys,
            datadog,
            metrics,
            login_guard: Arc::new(LoginGuard::default()),
            clock,
            provisioning,
            instance_id: Arc::new(random_token(12)?),
        };
        Ok(Self { state, admin_token })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The admin token created by this start (first run, or the sandbox), if any.
    pub fn admin_token(&self) -> Option<&SecretString> {
        self.admin_token.as_ref()
    }

    pub fn router(&self) -> axum::Router {
        web::router(self.state.clone())
    }

    /// One upkeep round: refresh due tokens, purge expired rows.
    pub async fn upkeep_once(&self) -> anyhow::Result<upkeep::PassReport> {
        let report = upkeep::refresh_due(&self.state, &self.state.instance_id).await?;
        self.state
            .store
            .purge_expired(self.state.clock.now())
            .await?;
        Ok(report)
    }

    /// Serves until `shutdown` completes, then stops background tasks and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let gateway = Arc::new(self);
        {
            let gateway = gateway.clone();
            let cancel = cancel.clone();
            tracker.spawn(async move { gateway.upkeep_loop(cancel).await });
        }
        {
            let gateway = gateway.clone();
            let cancel = cancel.clone();
            tracker.spawn(async move { gateway.validate_loop(cancel).await });
        }
        let stop = cancel.clone();
        crate::server::serve(
            listener,
            gateway.router(),
            gateway.state.config.timings.serve,
            async move {
                tokio::select! {
                    () = shutdown => {}
                    () = stop.cancelled() => {}
                }
            },
        )
        .await;
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
        gateway.state.db.close().await;
        tracing::info!("gateway stopped");
        Ok(())
    }

    async fn upkeep_loop(&self, cancel: CancellationToken) {
        let mut interval = tokio::time::interval(self.state.config.timings.refresh_check);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = interval.tick() => {}
            }
            // An upkeep round is not interrupted half-way: leases and token writes stay consistent.
            if let Err(error) = self.upkeep_once().await {
                self.state.metrics.error("upkeep");
                tracing::warn!(error = %error, "upkeep round failed");
            }
        }
    }
}

impl Gateway {
    /// Validates every active connection every `validate_interval` (the first pass at start),
    /// and a connection at once when a device of its fleet reports that Datadog refused its
    /// key, until shutdown.
    async fn validate_loop(&self, cancel: CancellationToken) {
        let mut interval = tokio::time::interval(self.state.config.timings.validate_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reports = self.state.provisioning.take_key_check_receiver();
        if reports.is_none() {
            tracing::warn!(
                "device key reports are received elsewhere; validating on schedule only"
            );
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = interval.tick() => {}
                requested = next_key_check(&mut reports) => {
                    match requested {
                        Some(connection_id) => self.validate_reported(&connection_id).await,
                        // Provisioning is gone (shutting down): schedule only.
                        None => reports = None,
                    }
                    continue;
                }
            }
            // A pass is not interrupted half-way, like an upkeep round.
            match upkeep::validate_all(&self.state).await {
                Ok(report) if report.key_revoked + report.uninstalled > 0 => {
                    tracing::info!(?report, "validation pass found unusable connections");
                }
                Ok(_) => {}
                Err(error) => {
                    self.state.metrics.error("validate");
                    tracing::warn!(error = %error, "validation pass failed");
                }
            }
        }
    }
}

impl Gateway {
    /// Checks the key of a connection a device reported as refused by Datadog.
    async fn validate_reported(&self, connection_id: &str) {
        let checked = match self.state.store.connection_owner(connection_id).await {
            Ok(Some(tenant)) => upkeep::validate_connection(&self.state, &tenant, connection_id)
                .await
                .map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        match checked {
            Ok(outcome) => {
                tracing::info!(
                    connection = connection_id,
                    ?outcome,
                    "key checked after a device's report"
                );
            }
            Err(error) => {
                self.state.metrics.error("validate");
                tracing::warn!(connection = connection_id, error = %error, "key check after a device's report failed");
            }
        }
    }
}

/// The next requested key check; pending for ever without a receiver.
async fn next_key_check(reports: &mut Option<KeyCheckReceiver>) -> Option<String> {
    match reports {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Opens the store, serves on `listener` until `shutdown`, and stops background work.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Gateway::start(config)
        .await?
        .serve(listener, shutdown)
        .await
}

/// Whether a missing master key file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFile {
    LoadOrCreate,
    Existing,
}

fn load_key_ring(config: &Config, key_file: KeyFile) -> Result<KeyRing, CryptoError> {
    let active = match &config.master_key {
        MasterKeySource::Value(text) => MasterKey::from_base64(text)?,
        MasterKeySource::File(path) => MasterKey::read_file(path)?,
        MasterKeySource::FileOrGenerate(path) if key_file == KeyFile::Existing => {
            MasterKey::read_file(path)?
        }
        MasterKeySource::FileOrGenerate(path) => {
            if let Some(dir) = path.parent() {
                create_private_dir(dir).map_err(|source| CryptoError::KeyFile {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            MasterKey::load_or_create_file(path)?
        }
    };
    let previous = config
        .previous_master_keys
        .iter()
        .map(|p| MasterKey::read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(active, previous))
}

/// Creates a directory readable by its owner only (it holds the database and secret files),
/// or checks an existing one: it must be a directory of this user that neither group nor others
/// can write to (they could otherwise replace the database or plant links where secrets are
/// written).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match std::fs::metadata(dir) {
        Ok(meta) => check_private_dir(dir, &meta),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir)
        }
        Err(error) => Err(error),
    }
}

fn check_private_dir(dir: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::NotADirectory,
            format!("{} is not a directory", dir.display()),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "state directory {} is owned by uid {}, not by this user (uid {me}); use a directory of your own",
                    dir.display(),
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "state directory {} is group- or world-writable (mode {:o}); run `chmod go-w` on it",
                    dir.display(),
                    meta.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Re-seals every value not sealed under the active key. Fails if a value needs a key that
/// is not configured (the gateway must not start without being able to read its secrets).
pub async fn reseal_all(
    store: &Store,
    keys: &KeyRing,
    columns: &[SealedColumn],
) -> anyhow::Result<u64> {
    let mut count = 0;
    for column in columns {
        for (row_id, blob) in store.sealed_values(column).await? {
            if !keys.needs_reseal(&blob)? {
                continue;
            }
            let ctx = SealContext::new(column.table, column.column, &row_id);
            let new = keys.reseal(&ctx, &blob)?;
            if store
                .replace_sealed_value(column, &row_id, &blob, &new)
                .await?
            {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Applies the configured admin credential; returns a token created now (to hand to the operator).
/// A credential that differs from the stored one replaces it and signs out every session.
async fn setup_admin(store: &Store, config: &Config) -> anyhow::Result<Option<SecretString>> {
    let now = config.clock.now();
    let stored = store.admin_password_hash().await?;
    match &config.admin {
        AdminCredential::PasswordHash(hash) => {
            argon2::PasswordHash::new(hash)
                .map_err(|_| anyhow::anyhow!("admin_password_hash is not an Argon2 PHC string"))?;
            if stored.as_deref() != Some(hash.as_str()) {
                store.replace_admin_password_hash(hash, now).await?;
            }
            Ok(None)
        }
        AdminCredential::Token(token) => {
            let unchanged = stored
                .as_deref()
                .is_some_and(|stored| password_matches(stored, token.expose_secret()));
            if !unchanged {
                let hash = hash_password(token.expose_secret())
                    .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
                store.replace_admin_password_hash(&hash, now).await?;
            }
            Ok(Some(token.clone()))
        }
        AdminCredential::FirstRunTokenFile(path) => {
            if stored.is_some() {
                return Ok(None);
            }
            let token = SecretString::from(random_token(24)?);
            let hash = hash_password(token.expose_secret())
                .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
            if !store.init_admin_password_hash(&hash, now).await? {
                return Ok(None); // another instance initialised it first
            }
            write_private_file(path, token.expose_secret()).with_context(|| {
                format!("writing the first-run admin token to {}", path.display())
            })?;
            tracing::warn!(path = %path.display(), "first run: admin token written to this file (mode 0600)");
            Ok(Some(token))
        }
    }
}

/// Writes `text` to a new or truncated file with mode 0600 (an existing file's mode is set too).
/// A symbolic link at `path` is refused rather than followed.
pub fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
