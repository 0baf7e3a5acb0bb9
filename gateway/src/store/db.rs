//! Opening the database: one `AnyPool` for SQLite (file, WAL) or PostgreSQL, migrated at start
//! ([`Db::connect`]) or, for commands that only read, opened as it is ([`Db::open_existing`]).
//!
//! Other gateway modules (device provisioning) run their own runtime queries through
//! [`Db::pool`]; `$N` placeholders, `i64`, `String`, `Vec<u8>` and `Option`s of those work
//! on both backends.

use std::fmt;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, AssertSqlSafe, Executor as _};

use super::StoreError;
use super::transport::{PgEnvironment, check_postgres_url};

/// Which SQL dialect is behind the pool (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open the database.
#[derive(Clone)]
pub struct DbOptions {
    /// `sqlite:PATH` / `sqlite://PATH` (created if missing) or `postgres://…`.
    pub url: String,
    /// PostgreSQL only: a schema to create and use (`search_path`), e.g. one per test.
    pub schema: Option<String>,
    pub max_connections: u32,
}

impl fmt::Debug for DbOptions {
    // The URL may carry a password: show only the scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or("");
        f.debug_struct("DbOptions")
            .field("url", &format_args!("{scheme}:<redacted>"))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
        }
    }
}

/// A migrated connection pool and its backend.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects (creating a missing SQLite file or PostgreSQL schema), applies the backend's
    /// migrations, and returns the pool.
    pub async fn connect(options: &DbOptions) -> Result<Self, StoreError> {
        let db = Self::open(options, Opening::CreateAndMigrate).await?;
        match db.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&db.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&db.pool)
                    .await?
            }
        }
        Ok(db)
    }

    /// Opens a database this version of the gateway has already migrated, creating and
    /// changing nothing: for commands that only read (`fleet list`). A missing SQLite file is
    /// [`StoreError::NoDatabase`]; one that lacks a migration of this version is
    /// [`StoreError::NotMigrated`].
    pub async fn open_existing(options: &DbOptions) -> Result<Self, StoreError> {
        let db = Self::open(options, Opening::Existing).await?;
        let migrator = match db.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&db.pool)
                .await
            {
                Ok(applied) => applied,
                // No migration table: the gateway never started on this database.
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(error) => {
                    db.close().await;
                    return Err(error.into());
                }
            };
        let missing = migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count();
        if missing > 0 {
            db.close().await;
            return Err(StoreError::NotMigrated { missing });
        }
        Ok(db)
    }

    async fn open(options: &DbOptions, opening: Opening) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = backend_of(&options.url)?;
        let url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(&options.url);
                match (opening, path) {
                    (Opening::CreateAndMigrate, Some(path)) => {
                        if let Some(dir) = path.parent() {
                            crate::create_private_dir(dir)
                                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                        }
                    }
                    // Checked here: SQLite would answer a missing file with a bare "unable to
                    // open database file".
                    (Opening::Existing, Some(path)) if !path.exists() => {
                        return Err(StoreError::NoDatabase);
                    }
                    _ => {}
                }
                sqlite_url(&options.url, opening)
            }
            Backend::Postgres => {
                check_postgres_url(&options.url, &PgEnvironment::from_process())?;
                options.url.clone()
            }
        };
        let schema = match (backend, &options.schema) {
            (Backend::Postgres, Some(schema)) if opening == Opening::Existing => {
                if !valid_schema(schema) {
                    return Err(StoreError::UnsupportedUrl);
                }
                Some(schema.clone())
            }
            (Backend::Postgres, Some(schema)) => {
                if !valid_schema(schema) {
                    return Err(StoreError::UnsupportedUrl);
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await?;
                pool.execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
                )))
                .await?;
                pool.close().await;
                Some(schema.clone())
            }
            _ => None,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                let setup = match (backend, &schema) {
                    (Backend::Sqlite, _) => Some(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                            .to_owned(),
                    ),
                    (Backend::Postgres, Some(schema)) => {
                        Some(format!("SET search_path TO \"{schema}\""))
                    }
                    (Backend::Postgres, None) => None,
                };
                Box::pin(async move {
                    if let Some(sql) = setup {
                        conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SQL for the database server's current unix time in whole seconds. Times that several
    /// instances compare (row leases) come from here, never from an instance's own clock.
    pub fn now_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS BIGINT)",
            Backend::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether [`Db::open`] may create and migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    CreateAndMigrate,
    Existing,
}

/// A PostgreSQL schema name this module quotes into SQL: letters, digits and `_` only.
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Adds `mode=rwc` (create if missing), or `mode=rw` for an existing database, unless the URL
/// already chooses a mode.
fn sqlite_url(url: &str, opening: Opening) -> String {
    let mode = match opening {
        Opening::CreateAndMigrate => "rwc",
        Opening::Existing => "rw",
    };
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode={mode}")
    } else {
        format!("{url}?mode={mode}")
    }
}

/// The file path of a `sqlite:` URL (`None` for in-memory databases).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The SQLite URL for a database file path.
pub fn sqlite_url_for_path(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_url() {
        let options = DbOptions::new("postgres://user:hunter2@db/ddlink");
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres:<redacted>"));
    }

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        assert_eq!(backend_of("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://h/db").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://h/db").is_err());
        assert_eq!(
            sqlite_url("sqlite:///a.db", Opening::CreateAndMigrate),
            "sqlite:///a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite:///a.db", Opening::Existing),
            "sqlite:///a.db?mode=rw"
        );
    }
}
