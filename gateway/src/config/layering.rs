//! Settings for `serve`, `check-config` and the commands that open the store, and how they become
//! a [`Config`]: flags > `DDLINK_*` environment > TOML file > defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::{
    AdminCredential, Config, ConfigError, FileConfig, MasterKeySource, SitePolicy, Timings,
    parse_allowed_domains, parse_public_url,
};
use crate::clock::Clock;
use crate::server::ServeLimits;
use crate::store::DbOptions;

/// Settings for `serve` and `check-config`. Secrets are read only from the environment
/// (`DDLINK_CLIENT_SECRET`, `DDLINK_MASTER_KEY`) or from files.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "DDLINK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DDLINK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// URL users reach the gateway at, e.g. `https://gateway.example.com`.
    #[arg(long, env = "DDLINK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// `sqlite:PATH` or `postgres://…` [default: SQLite file in the state directory].
    #[arg(long, env = "DDLINK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the SQLite database (in `db/`), generated master key and first-run admin token.
    #[arg(long, env = "DDLINK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// OAuth client ID from Datadog's Developer Platform.
    #[arg(long, env = "DDLINK_CLIENT_ID")]
    pub client_id: Option<String>,
    /// File holding the OAuth client secret (alternative: DDLINK_CLIENT_SECRET).
    #[arg(long, env = "DDLINK_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// File holding the base64 master key (alternative: DDLINK_MASTER_KEY).
    #[arg(long, env = "DDLINK_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Comma-separated Datadog domains to accept [default: all nine].
    #[arg(long, env = "DDLINK_ALLOWED_DOMAINS", value_delimiter = ',')]
    pub allowed_domains: Option<Vec<String>>,
    /// Seconds between checks of every connection's API key with Datadog [default: 600].
    #[arg(long, env = "DDLINK_VALIDATE_INTERVAL_SECS")]
    pub validate_interval_secs: Option<u64>,
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

fn read_secret_file(
    path: &std::path::Path,
    name: &'static str,
) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(SecretString::from(text.trim().to_owned()))
}

/// Default SQLite database: `<state_dir>/db/ddlink.db`, in a directory of its own.
const DEFAULT_DB_DIR: &str = "db";
const DEFAULT_DB_FILE: &str = "ddlink.db";
/// A generated master key: `<state_dir>/master.key`, outside the database's directory.
const GENERATED_KEY_FILE: &str = "master.key";

/// Earlier versions kept the database next to `master.key` in the state directory; starting
/// with a new empty database beside it would look like lost data, so say what to move.
fn refuse_old_layout(state_dir: &std::path::Path) -> Result<(), ConfigError> {
    let old = state_dir.join(DEFAULT_DB_FILE);
    if old.exists() {
        return Err(ConfigError::Invalid {
            name: "state_dir",
            reason: format!(
                "{} is from an earlier layout: move it (and any {DEFAULT_DB_FILE}-wal / -shm files) \
                 into {}, keeping master.key where it is",
                old.display(),
                state_dir.join(DEFAULT_DB_DIR).display()
            ),
        });
    }
    Ok(())
}

/// The resolved configuration plus the listen address.
#[derive(Debug)]
pub struct Resolved {
    pub config: Config,
    pub listen: SocketAddr,
}

/// Merges flags/env (`args`) over the TOML file over defaults.
pub fn resolve(args: &ServeArgs) -> Result<Resolved, ConfigError> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let state_dir = args
        .state_dir
        .clone()
        .or(file.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from("ddlink-state"));
    let public_url = parse_public_url(
        args.public_url
            .as_deref()
            .or(file.public_url.as_deref())
            .ok_or(ConfigError::Missing("public_url"))?,
    )?;
    let client_id = args
        .client_id
        .clone()
        .or(file.client_id.clone())
        .ok_or(ConfigError::Missing("client_id"))?;
    let client_secret = match env_secret("DDLINK_CLIENT_SECRET") {
        Some(secret) => secret,
        None => read_secret_file(
            args.client_secret_file
                .as_deref()
                .or(file.client_secret_file.as_deref())
                .ok_or(ConfigError::Missing(
                    "client secret (DDLINK_CLIENT_SECRET or client_secret_file)",
                ))?,
            "client_secret_file",
        )?,
    };
    let (database_url, default_sqlite) =
        match args.database_url.clone().or(file.database_url.clone()) {
            Some(url) => (url, None),
            None => {
                refuse_old_layout(&state_dir)?;
                let path = state_dir.join(DEFAULT_DB_DIR).join(DEFAULT_DB_FILE);
                (crate::store::sqlite_url_for_path(&path), Some(path))
            }
        };
    if database_url.starts_with("postgres") {
        crate::store::check_postgres_url(
            &database_url,
            &crate::store::PgEnvironment::from_process(),
        )
        .map_err(|e| ConfigError::Invalid {
            name: "database_url",
            reason: e.to_string(),
        })?;
    }
    let master_key = if let Some(value) = env_secret("DDLINK_MASTER_KEY") {
        MasterKeySource::Value(value)
    } else if let Some(path) = args
        .master_key_file
        .clone()
        .or(file.master_key_file.clone())
    {
        MasterKeySource::File(path)
    } else if let Some(db_path) =
        default_sqlite.or_else(|| crate::store::sqlite_path(&database_url))
    {
        // Generated next to the state, never in the database's own directory: a copy of that
        // directory (a backup) must not carry the key that opens it.
        let key = state_dir.join(GENERATED_KEY_FILE);
        if db_path.parent().and_then(|d| std::path::absolute(d).ok())
            == std::path::absolute(&state_dir).ok()
        {
            return Err(ConfigError::Invalid {
                name: "master_key_file",
                reason: format!(
                    "the generated key {} would sit in the database's directory; set master_key_file \
                     (or DDLINK_MASTER_KEY) to a path outside it, or move the database into a \
                     subdirectory",
                    key.display()
                ),
            });
        }
        MasterKeySource::FileOrGenerate(key)
    } else {
        // Several PostgreSQL-backed instances must share one key: never invent one.
        return Err(ConfigError::Missing(
            "master key (DDLINK_MASTER_KEY or master_key_file) for PostgreSQL",
        ));
    };
    let sites = match args
        .allowed_domains
        .as_ref()
        .or(file.allowed_domains.as_ref())
    {
        Some(domains) => parse_allowed_domains(domains)?,
        None => SitePolicy::all_regions(),
    };
    let admin = match std::env::var("DDLINK_ADMIN_PASSWORD_HASH")
        .ok()
        .or(file.admin_password_hash.clone())
    {
        Some(hash) => AdminCredential::PasswordHash(hash),
        None => AdminCredential::FirstRunTokenFile(state_dir.join("admin-token")),
    };
    let defaults = Timings::default();
    let secs = |v: Option<u64>, d: std::time::Duration| v.map_or(d, std::time::Duration::from_secs);
    let timings = Timings {
        refresh_margin: secs(file.timings.refresh_margin_secs, defaults.refresh_margin),
        refresh_check: secs(file.timings.refresh_check_secs, defaults.refresh_check),
        validate_interval: positive_secs(
            "timings.validate_interval_secs",
            args.validate_interval_secs
                .or(file.timings.validate_interval_secs),
            defaults.validate_interval,
        )?,
        serve: ServeLimits {
            header_read_timeout: positive_secs(
                "timings.header_read_timeout_secs",
                file.timings.header_read_timeout_secs,
                defaults.serve.header_read_timeout,
            )?,
            body_timeout: positive_secs(
                "timings.body_timeout_secs",
                file.timings.body_timeout_secs,
                defaults.serve.body_timeout,
            )?,
            shutdown_grace: positive_secs(
                "timings.shutdown_grace_secs",
                file.timings.shutdown_grace_secs,
                defaults.serve.shutdown_grace,
            )?,
        },
        ..defaults
    };
    let config = Config {
        public_url,
        database: DbOptions::new(database_url),
        client_id,
        client_secret,
        scopes: file
            .scopes
            .clone()
            .unwrap_or_else(|| vec!["api_keys_write".to_owned()]),
        master_key,
        previous_master_keys: file.previous_master_key_files.clone(),
        admin,
        sites,
        timings,
        resolve: Vec::new(),
        tile_url: None,
        clock: Clock::system(),
    };
    Ok(Resolved { config, listen })
}

/// What `check-config` prints.
pub fn describe(resolved: &Resolved) -> String {
    let config = &resolved.config;
    let domains: Vec<String> = config
        .sites
        .sites()
        .iter()
        .map(|s| s.domain().to_owned())
        .collect();
    format!(
        "configuration OK\n\
         Register these in Datadog's Developer Platform (OAuth client):\n\
         \x20 onboarding URL: {}\n\
         \x20 redirect URI:   {}\n\
         \x20 scopes:         {}\n\
         listen:           {}\n\
         database:         {}\n\
         accepted domains: {}\n",
        config.onboarding_url(),
        config.redirect_uri(),
        config.scopes.join(" "),
        resolved.listen,
        config.database.url.split(':').next().unwrap_or(""),
        domains.join(", "),
    )
}

/// A limit in whole seconds that must not be zero (zero would refuse every client at once).
fn positive_secs(
    name: &'static str,
    value: Option<u64>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ConfigError::Invalid {
            name,
            reason: "must be at least 1 second".into(),
        }),
        Some(secs) => Ok(std::time::Duration::from_secs(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            config,
            listen: None,
            public_url: None,
            database_url: None,
            state_dir: None,
            client_id: Some("flag-client".into()),
            client_secret_file: None,
            master_key_file: None,
            allowed_domains: None,
            validate_interval_secs: None,
        }
    }

    #[test]
    fn the_validate_interval_comes_from_the_flag_then_the_file_and_is_never_zero() {
        let dir = tempfile::tempdir().unwrap();
        let interval = |args: &ServeArgs| resolve(args).map(|r| r.config.timings.validate_interval);
        assert_eq!(
            interval(&args_in(dir.path())).unwrap(),
            std::time::Duration::from_secs(600)
        );
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, "[timings]\nvalidate_interval_secs = 120\n").unwrap();
        let from_file = ServeArgs {
            config: Some(file),
            ..args_in(dir.path())
        };
        assert_eq!(
            interval(&from_file).unwrap(),
            std::time::Duration::from_secs(120)
        );
        let flag = ServeArgs {
            validate_interval_secs: Some(30),
            ..from_file
        };
        assert_eq!(interval(&flag).unwrap(), std::time::Duration::from_secs(30));
        let zero = ServeArgs {
            validate_interval_secs: Some(0),
            ..args_in(dir.path())
        };
        let error = interval(&zero).unwrap_err().to_string();
        assert!(error.contains("validate_interval_secs"), "{error}");
    }

    #[test]
    fn flags_override_the_file_and_urls_are_derived() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            format!(
                "public_url = \"https://gw.example.com\"\nclient_id = \"file-client\"\nclient_secret_file = \"{}\"\n\
                 state_dir = \"{}\"\nallowed_domains = [\"datadoghq.eu\"]\n",
                secret.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let resolved = resolve(&args(Some(path))).unwrap();
        assert_eq!(resolved.config.client_id, "flag-client");
        assert_eq!(
            resolved.config.redirect_uri().as_str(),
            "https://gw.example.com/oauth/callback"
        );
        assert!(matches!(
            resolved.config.master_key,
            MasterKeySource::FileOrGenerate(_)
        ));
        let text = describe(&resolved);
        assert!(
            text.contains("onboarding URL: https://gw.example.com/oauth/onboard"),
            "{text}"
        );
        assert!(text.contains("accepted domains: datadoghq.eu"), "{text}");
        assert!(!text.contains("s3cret"));
        assert!(!format!("{:?}", resolved.config).contains("s3cret"));
    }

    fn args_in(state_dir: &std::path::Path) -> ServeArgs {
        let secret = state_dir.join("client-secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        ServeArgs {
            public_url: Some("https://gw.example.com".into()),
            state_dir: Some(state_dir.to_owned()),
            client_secret_file: Some(secret),
            ..args(None)
        }
    }

    #[test]
    fn the_generated_master_key_stays_out_of_the_database_directory() {
        let dir = tempfile::tempdir().unwrap();
        let resolved = resolve(&args_in(dir.path())).unwrap();
        assert_eq!(
            crate::store::sqlite_path(&resolved.config.database.url).unwrap(),
            dir.path().join("db").join("ddlink.db")
        );
        assert!(matches!(
            &resolved.config.master_key,
            MasterKeySource::FileOrGenerate(key) if *key == dir.path().join("master.key")
        ));

        // An explicit SQLite file elsewhere: the key still goes to the state directory.
        let elsewhere = tempfile::tempdir().unwrap();
        let db = elsewhere.path().join("gw.db");
        let explicit = ServeArgs {
            database_url: Some(crate::store::sqlite_url_for_path(&db)),
            ..args_in(dir.path())
        };
        assert!(matches!(
            &resolve(&explicit).unwrap().config.master_key,
            MasterKeySource::FileOrGenerate(key) if *key == dir.path().join("master.key")
        ));

        // An explicit SQLite file in the state directory itself would share it with the key.
        let beside = ServeArgs {
            database_url: Some(crate::store::sqlite_url_for_path(&dir.path().join("gw.db"))),
            ..args_in(dir.path())
        };
        let err = resolve(&beside).unwrap_err().to_string();
        assert!(err.contains("database's directory"), "{err}");
        let with_key = ServeArgs {
            master_key_file: Some(elsewhere.path().join("master.key")),
            ..beside
        };
        assert!(resolve(&with_key).is_ok());
    }

    #[test]
    fn a_database_in_the_old_layout_is_refused_with_what_to_move() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ddlink.db"), "").unwrap();
        let err = resolve(&args_in(dir.path())).unwrap_err().to_string();
        assert!(err.contains("earlier layout"), "{err}");
        assert!(
            err.contains(&dir.path().join("db").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn missing_public_url_is_reported_by_name() {
        let err = resolve(&args(None)).unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
    }
}
