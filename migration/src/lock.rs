//! One database-wide lock around every schema change, so any number of
//! processes may migrate at once (the migration Jobs of two releases,
//! replicas with `AUTO_MIGRATE=true`, two api processes on one SQLite file):
//! one migrates, the others wait for it and then find nothing left to do.
//!
//! - PostgreSQL: a session-level advisory lock ([`POSTGRES_LOCK_KEY`]) held
//!   by a connection of its own, outside the pool, for as long as the
//!   migration runs. Advisory locks belong to one database, so databases on
//!   one server do not wait for each other. A process that dies loses its
//!   session and with it the lock.
//! - SQLite: an OS file lock (`flock`, through `std::fs::File::lock`) on
//!   [`sqlite_lock_path`], beside the database file. Not `BEGIN EXCLUSIVE`:
//!   that would run every migration inside one transaction on the api's
//!   single connection, and a process waiting for it gets "database is
//!   locked" after the busy timeout (5 s) instead of waiting as long as the
//!   other one migrates. The OS drops a file lock when its process dies.
//!   The holder removes the file before it unlocks, so none is left in the
//!   working directory: a process that waited on the removed file finds,
//!   once it holds the lock, that the path no longer names that file, and
//!   starts over on the path (which a third process may have created and
//!   locked meanwhile; then it waits for that one). A file left by a
//!   process that died is locked and removed by the next migrator.
//!   In-memory databases are seen by one process only and take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::sqlx::{self, Connection as _, PgConnection};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DbErr, RuntimeErr, Statement,
};

/// The advisory lock key every migrator of this service takes ("todo_mig"
/// in ASCII).
pub const POSTGRES_LOCK_KEY: i64 = 0x746f_646f_5f6d_6967;

/// How often a waiting process says again that it waits.
const WAIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How often a waiting process tries the SQLite lock file again. Polled, not
/// blocked on: a blocking `flock` would sit on a thread that an api stopping
/// while it waits cannot take back.
const FILE_LOCK_POLL: Duration = Duration::from_millis(100);

/// The lock file of the SQLite database at `database`: `<database>.migrate.lock`.
pub fn sqlite_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".migrate.lock");
    PathBuf::from(name)
}

/// Held while the schema changes; [`MigrationLock::release`] gives it back.
/// Dropped without that, the lock goes too (the session closes, the file is
/// closed).
#[must_use = "the lock is released when this is dropped"]
pub struct MigrationLock {
    held: Held,
}

enum Held {
    Postgres(PgConnection),
    File(File, PathBuf),
    InMemory,
}

impl MigrationLock {
    /// Takes the lock, waiting for as long as another process holds it (and
    /// saying so in the log). Cancel-safe: dropping the future stops waiting.
    pub async fn acquire(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let held = match &db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Held::Postgres(lock_postgres(db.get_postgres_connection_pool()).await?)
            }
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => match sqlite_file(db).await? {
                Some(database) => {
                    let path = sqlite_lock_path(&database);
                    Held::File(lock_file(&path).await?, path)
                }
                None => Held::InMemory,
            },
            _ => {
                return Err(DbErr::Migration(
                    "the migration lock needs a PostgreSQL or SQLite connection".into(),
                ));
            }
        };
        Ok(Self { held })
    }

    /// Gives the lock back. A failure is logged, not returned: the lock goes
    /// with the session (or the file handle) all the same.
    pub async fn release(self) {
        match self.held {
            Held::Postgres(mut conn) => {
                let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
                    .bind(POSTGRES_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await;
                match unlocked {
                    Ok(true) => {}
                    // The session was replaced under us (a reconnect would
                    // not hold the lock): the migration ran unprotected for a
                    // while, which is worth knowing.
                    Ok(false) => tracing::warn!("the migration lock was lost while migrating"),
                    Err(err) => {
                        tracing::warn!(error = %err, "releasing the migration lock failed")
                    }
                }
                let _ = conn.close().await;
            }
            Held::File(file, path) => {
                // Removed while still locked: whoever waits on it starts over.
                if cfg!(unix)
                    && let Err(err) = std::fs::remove_file(&path)
                    && err.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(error = %err, lock = %path.display(),
                        "removing the migration lock file failed");
                }
                if let Err(err) = file.unlock() {
                    tracing::warn!(error = %err, "releasing the migration lock file failed");
                }
            }
            Held::InMemory => {}
        }
    }
}

/// Runs `change` under the migration lock.
pub async fn with_lock<T>(
    db: &DatabaseConnection,
    change: impl AsyncFnOnce(&DatabaseConnection) -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    let lock = MigrationLock::acquire(db).await?;
    let result = change(db).await;
    lock.release().await;
    result
}

async fn lock_postgres(pool: &sqlx::PgPool) -> Result<PgConnection, DbErr> {
    // Not from the pool: the lock must be taken and given back on the same
    // session, and the pool keeps every connection for the migrations (even
    // with DB_MAX_CONNECTIONS=1).
    let options = (*pool.connect_options())
        .clone()
        .application_name("todo migration lock");
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(sqlx_err)?;
    // Waiting for the other migrator is the point: no server or role default
    // may end the wait, nor end this idle session (and the lock with it)
    // while the migrations run on other connections. Only the settings this
    // server knows (idle_session_timeout is PostgreSQL 14+).
    sqlx::query(
        "SELECT set_config(name, '0', false) FROM pg_settings \
         WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_session_timeout')",
    )
    .execute(&mut conn)
    .await
    .map_err(sqlx_err)?;
    let locked = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(POSTGRES_LOCK_KEY)
        .fetch_one(&mut conn)
        .await
        .map_err(sqlx_err)?;
    if !locked {
        let lock = format!("pg_advisory_lock({POSTGRES_LOCK_KEY})");
        // Blocks in the server, which queues the waiters and wakes the next
        // one as soon as the lock is free.
        wait_logging(&lock, async {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(POSTGRES_LOCK_KEY)
                .execute(&mut conn)
                .await
                .map(drop)
                .map_err(sqlx_err)
        })
        .await?;
    }
    Ok(conn)
}

/// The file of the SQLite database as SQLite opened it (an absolute path, so
/// every process finds the same lock file), or `None` when it lives in memory.
async fn sqlite_file(db: &DatabaseConnection) -> Result<Option<PathBuf>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await?;
    let file: Option<String> = match row {
        Some(row) => row.try_get("", "file")?,
        None => None,
    };
    Ok(file.filter(|f| !f.is_empty()).map(PathBuf::from))
}

/// Locks the file at `path`, created if missing; waits while another
/// process holds it. Once locked, the path must still name the same file
/// (the holder before us may have removed it, see the module docs): else
/// it starts over.
async fn lock_file(path: &Path) -> Result<File, DbErr> {
    loop {
        let file = lock_opened(path).await?;
        if still_at(&file, path) {
            return Ok(file);
        }
        drop(file);
    }
}

/// Whether `path` still names `file` (the same device and inode).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

async fn lock_opened(path: &Path) -> Result<File, DbErr> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|err| file_err(path, &err))?;
    let try_lock = |file: &File| match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(err)) => Err(file_err(path, &err)),
    };
    if !try_lock(&file)? {
        wait_logging(&path.display().to_string(), async {
            while !try_lock(&file)? {
                tokio::time::sleep(FILE_LOCK_POLL).await;
            }
            Ok(())
        })
        .await?;
    }
    Ok(file)
}

/// Waits for `locked`, logging that (and every [`WAIT_LOG_INTERVAL`] that
/// it still) waits.
async fn wait_logging(
    lock: &str,
    locked: impl Future<Output = Result<(), DbErr>>,
) -> Result<(), DbErr> {
    let started = Instant::now();
    tracing::info!(lock, "waiting for another process to finish migrating");
    let mut still = tokio::time::interval_at(
        tokio::time::Instant::now() + WAIT_LOG_INTERVAL,
        WAIT_LOG_INTERVAL,
    );
    tokio::pin!(locked);
    loop {
        tokio::select! {
            result = &mut locked => break result?,
            _ = still.tick() => tracing::info!(
                lock,
                waited_secs = started.elapsed().as_secs(),
                "still waiting for another process to finish migrating"
            ),
        }
    }
    tracing::info!(
        lock,
        waited_ms = started.elapsed().as_millis() as u64,
        "migration lock acquired"
    );
    Ok(())
}

fn sqlx_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(err.into()))
}

fn file_err(path: &Path, err: &std::io::Error) -> DbErr {
    DbErr::Migration(format!(
        "could not lock the migration lock file {}: {err}",
        path.display()
    ))
}
