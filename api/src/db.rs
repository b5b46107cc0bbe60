//! Database connection: pool settings per backend, waiting for the database at
//! start, and making sure the schema is current.

use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::{Config, redact};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not reach the database at {url} within {waited:?}: {source}")]
    Unreachable {
        url: String,
        waited: Duration,
        #[source]
        source: DbErr,
    },
    #[error(
        "the database schema is behind: {pending} migration(s) pending. \
         Run `migration up` (with Docker: `docker compose run --rm migration up`) \
         or start the api with AUTO_MIGRATE=true"
    )]
    SchemaBehind { pending: usize },
    #[error("migrating the database failed: {0}")]
    Migration(#[source] DbErr),
}

pub fn connect_options(config: &Config) -> ConnectOptions {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .connect_timeout(Duration::from_secs(5))
        // A request waiting longer than this for a connection fails fast with
        // SERVICE_UNAVAILABLE instead of piling up.
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if config.is_sqlite() {
        // One writer at a time is how SQLite works; a single connection turns
        // "database is locked" races into an orderly queue.
        options
            .max_connections(config.db_max_connections.unwrap_or(1))
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
    } else {
        options.max_connections(config.db_max_connections.unwrap_or(10));
    }
    options
}

/// Connects, retrying with exponential backoff until `db_connect_timeout`.
pub async fn connect_with_retry(config: &Config) -> Result<DatabaseConnection, StartupError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    loop {
        match Database::connect(connect_options(config)).await {
            Ok(db) => {
                if attempt > 1 {
                    tracing::info!(attempt, "database reachable");
                }
                return Ok(db);
            }
            Err(source) => {
                let waited = started.elapsed();
                if waited + delay > config.db_connect_timeout {
                    return Err(StartupError::Unreachable {
                        url: redact(&config.database_url),
                        waited,
                        source,
                    });
                }
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %source,
                    "database not reachable yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    }
}

/// SQLite (the embedded default) and `AUTO_MIGRATE=true` migrate at start;
/// otherwise a schema that is behind stops the start with a clear message.
pub async fn prepare_schema(db: &DatabaseConnection, config: &Config) -> Result<(), StartupError> {
    if db.get_database_backend() == DbBackend::Sqlite || config.auto_migrate {
        Migrator::up(db, None)
            .await
            .map_err(StartupError::Migration)?;
        return Ok(());
    }
    let pending = pending_migrations(db)
        .await
        .map_err(StartupError::Migration)?;
    if pending > 0 {
        return Err(StartupError::SchemaBehind { pending });
    }
    Ok(())
}

pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}

/// Ready means: the database answers and its schema is current.
pub async fn is_ready(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok() && matches!(pending_migrations(db).await, Ok(0))
}
