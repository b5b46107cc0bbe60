//! Database connection: pool settings per backend, waiting for the database at
//! start, and making sure the schema is current.

use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait, SearchLanguage, with_search_language};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
};

use crate::StartupError;
use crate::config::{Config, redact};

/// How long a request waits for a PostgreSQL connection before it fails with
/// SERVICE_UNAVAILABLE. This bound is also what "fail fast" means when the
/// database goes away: the pool then retries a refused connection until this
/// deadline (sqlx treats a refused connection as "starting up"), so a shorter
/// bound answers sooner. 2 s still leaves a local or same-region database
/// ample time to accept a new connection (tens of milliseconds) and lets a
/// burst queue for a free connection; a request that waits longer than that
/// for a connection is better shed so the client can retry.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// SQLite cannot go away like a server; its single connection is how writes
/// queue, so a burst may wait longer.
pub(crate) const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle at least this long is pinged before use.
pub(crate) const PING_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(1);

pub(crate) fn connect_options(config: &Config) -> ConnectOptions {
    let mut options = ConnectOptions::new(config.database_url.expose().to_owned());
    options
        // sqlx pings every connection as it goes back to the pool; one that
        // sat idle since is pinged again as it leaves the pool: connections
        // broken by a database restart are dropped and replaced there, so the
        // pool recovers by itself once the database is back. A busy pool
        // skips that second round trip on every statement.
        .test_before_acquire_if_idle_for(PING_IDLE_CONNECTIONS_AFTER)
        .sqlx_logging(false);
    if config.is_sqlite() {
        // One writer at a time is how SQLite works; a single connection turns
        // "database is locked" races into an orderly queue.
        options
            .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
            .max_connections(config.db_max_connections.unwrap_or(1))
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .create_if_missing(true)
                    // Statistics for the query planner, which nothing else
                    // gathers: without them SQLite walks a list's order index
                    // for a `parentId` page through a million tasks. At open,
                    // tables whose size changed much since are analysed (with
                    // a bounded effort); at close, what the queries used.
                    .pragma("optimize", "0x10002")
                    .optimize_on_close(true, None)
            });
    } else {
        options
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .max_connections(config.db_max_connections.unwrap_or(10));
    }
    options
}

/// Connects and readies the schema as `api serve` does, for the commands
/// that use the database without serving (`api seed`).
pub(crate) async fn open(config: &Config) -> Result<DatabaseConnection, StartupError> {
    let db = connect_with_retry(config).await?;
    prepare(&db, config).await?;
    Ok(db)
}

/// Once connected: the schema current (or refused, see [`prepare_schema`])
/// and row-level security as configured.
pub(crate) async fn prepare(db: &DatabaseConnection, config: &Config) -> Result<(), StartupError> {
    if config.db_row_level_security {
        // Before anything is migrated: a role the policies do not bind.
        check_role_is_bound_by_policies(db).await?;
    }
    prepare_schema(db, config).await?;
    prepare_row_level_security(db, config.db_row_level_security).await
}

/// Connects, retrying with exponential backoff until `db_connect_timeout`.
/// Cancel-safe: dropping the future stops the attempts.
pub async fn connect_with_retry(config: &Config) -> Result<DatabaseConnection, StartupError> {
    let url = redact(config.database_url.expose());
    let deadline = config.db_connect_timeout;
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    tracing::info!(
        database = %url,
        timeout_secs = deadline.as_secs_f64(),
        "connecting to the database"
    );
    loop {
        // One attempt never outlasts the deadline (the pool itself retries a
        // refused connection for up to its acquire timeout).
        let remaining = deadline.saturating_sub(started.elapsed());
        let result = match tokio::time::timeout(remaining, attempt_connect(config)).await {
            Ok(result) => result,
            Err(_) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        };
        let source = match result {
            Ok(db) => {
                tracing::info!(
                    database = %url,
                    attempt,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "database connected"
                );
                return Ok(db);
            }
            Err(source) => source,
        };
        let waited = started.elapsed();
        if waited + delay >= deadline {
            return Err(StartupError::Unreachable {
                url,
                waited,
                source,
            });
        }
        tracing::warn!(
            database = %url,
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            gives_up_in_secs = deadline.saturating_sub(waited).as_secs(),
            error = %source,
            "database not reachable yet; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        attempt += 1;
    }
}

async fn attempt_connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    if !config.is_sqlite() {
        // One plain connection first: it fails at once with the real cause
        // (refused, authentication, unknown database), where the pool retries
        // a refused connection until its acquire timeout and reports only that.
        use sea_orm::sqlx::Connection;
        let probe = sea_orm::sqlx::postgres::PgConnection::connect(config.database_url.expose())
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
        let _ = probe.close().await;
    }
    Database::connect(connect_options(config)).await
}

/// SQLite (the embedded default) and `AUTO_MIGRATE=true` migrate at start;
/// otherwise a schema that is behind stops the start with a clear message.
/// Migrating takes the migration lock (as `migration up` does), so replicas
/// and migration Jobs starting together apply each migration once: the
/// others wait for it (`/readyz` answers 503 meanwhile).
pub(crate) async fn prepare_schema(
    db: &DatabaseConnection,
    config: &Config,
) -> Result<(), StartupError> {
    let language = &config.search_language;
    let sqlite = db.get_database_backend() == DbBackend::Sqlite;
    if sqlite {
        language
            .sqlite_tokenizer()
            .map_err(StartupError::SearchLanguage)?;
    }
    if sqlite || config.auto_migrate {
        with_search_language(language.clone(), migration::up_locked(db, None))
            .await
            .map_err(StartupError::Migration)?;
    } else {
        let pending = pending_migrations(db)
            .await
            .map_err(StartupError::Migration)?;
        if pending > 0 {
            return Err(StartupError::SchemaBehind { pending });
        }
    }
    tracing::info!("database schema is current");
    check_search_language(db, language).await
}

/// The search index was built in the language the migration was given; a
/// query stemmed in another would silently miss, so a different
/// `SEARCH_LANGUAGE` stops the start and says how to reconcile the two.
async fn check_search_language(
    db: &DatabaseConnection,
    configured: &SearchLanguage,
) -> Result<(), StartupError> {
    use sea_orm::ConnectionTrait;
    let failed = |e: DbErr| StartupError::SearchLanguage(format!("{configured}: {e}"));
    let (stored, same) = if db.get_database_backend() == DbBackend::Postgres {
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT task_search_config()::text AS stored, \
                 task_search_config() = $1::regconfig AS same",
                [configured.as_str().into()],
            ))
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(DbErr::RecordNotFound("task_search_config()".into())))?;
        let stored: String = row.try_get("", "stored").map_err(failed)?;
        let same: bool = row.try_get("", "same").map_err(failed)?;
        (stored, same)
    } else {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT sql FROM sqlite_master WHERE name = 'tasks_fts'",
            ))
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(DbErr::RecordNotFound("tasks_fts".into())))?;
        let sql: String = row.try_get("", "sql").map_err(failed)?;
        let stored = SearchLanguage::of_sqlite_table(&sql);
        let same = stored.sqlite_tokenizer() == configured.sqlite_tokenizer();
        (stored.to_string(), same)
    };
    if !same {
        return Err(StartupError::SearchLanguage(format!(
            "it is {configured}, but the search index was built in {stored} when the \
             migration ran. Set SEARCH_LANGUAGE={stored} (for the api and `migration` \
             alike), or rebuild the index in {configured}: `migration down` to before \
             m20261202_000002_task_search, then `migration up` with \
             SEARCH_LANGUAGE={configured}"
        )));
    }
    tracing::info!(language = %stored, "task search language");
    Ok(())
}

pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}

/// Ready means: the database answers and its schema is current.
pub(crate) async fn is_ready(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok() && matches!(pending_migrations(db).await, Ok(0))
}

/// PostgreSQL lets superusers and `BYPASSRLS` roles pass every policy (FORCE
/// or not): with such a role, `DB_ROW_LEVEL_SECURITY=true` would promise a
/// protection that is not there, so the start stops and says what to do.
pub(crate) async fn check_role_is_bound_by_policies(
    db: &DatabaseConnection,
) -> Result<(), StartupError> {
    use sea_orm::ConnectionTrait;
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let failed = |e: DbErr| StartupError::RowLevelSecurity(format!("cannot read the role: {e}"));
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text AS role, rolsuper, rolbypassrls \
             FROM pg_roles WHERE rolname = current_user",
        ))
        .await
        .map_err(failed)?
        .ok_or_else(|| failed(DbErr::RecordNotFound("current_user in pg_roles".into())))?;
    let role: String = row.try_get("", "role").map_err(failed)?;
    let superuser: bool = row.try_get("", "rolsuper").map_err(failed)?;
    let bypass: bool = row.try_get("", "rolbypassrls").map_err(failed)?;
    let what = match (superuser, bypass) {
        (true, _) => "a superuser",
        (false, true) => "a BYPASSRLS role",
        (false, false) => return Ok(()),
    };
    Err(StartupError::RowLevelSecurity(format!(
        "the api connects as \"{role}\", {what}, which PostgreSQL lets pass every \
         row-level security policy: the policies would protect nothing. Connect as a \
         login role that owns the database and is NOSUPERUSER NOBYPASSRLS (e.g. CREATE \
         ROLE todo LOGIN NOSUPERUSER NOBYPASSRLS; ALTER DATABASE ... OWNER TO todo), \
         run `migration up` as that role, and set DATABASE_URL to it"
    )))
}

/// Row-level security as configured: on with `DB_ROW_LEVEL_SECURITY=true`
/// (the migration created the policies; enabling them needs the tables'
/// owner). Off, the api refuses a database that has it on, where every
/// query would silently find nothing.
pub(crate) async fn prepare_row_level_security(
    db: &DatabaseConnection,
    enabled: bool,
) -> Result<(), StartupError> {
    use sea_orm::ConnectionTrait;
    let failed = |what: &str, e: DbErr| StartupError::RowLevelSecurity(format!("{what}: {e}"));
    if db.get_database_backend() != DbBackend::Postgres {
        return if enabled {
            Err(StartupError::RowLevelSecurity(
                "row-level security needs PostgreSQL".into(),
            ))
        } else {
            Ok(())
        };
    }
    if enabled {
        for table in migration::OWNED_TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY"
            ))
            .await
            .map_err(|e| {
                failed(
                    "enabling it needs the database user that owns the tables",
                    e,
                )
            })?;
        }
        tracing::info!("row-level security on: every statement names its owner");
        return Ok(());
    }
    let tables = migration::OWNED_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let on = db
        .query_all_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT relname FROM pg_class WHERE relrowsecurity AND relname IN ({tables})"),
        ))
        .await
        .map_err(|e| failed("cannot read pg_class", e))?;
    if !on.is_empty() {
        return Err(StartupError::RowLevelSecurity(
            "the database has row-level security on (another replica started with \
             DB_ROW_LEVEL_SECURITY=true): set it here too, or turn it off on the tables \
             (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY)"
                .into(),
        ));
    }
    Ok(())
}
