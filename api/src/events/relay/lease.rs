//! One publisher per sink across replicas: on PostgreSQL, a session-level
//! advisory lock held on a connection of the publisher's own. A replica
//! that dies takes its session, and the lock, with it; one that hangs
//! stops sending the heartbeat, and the server ends its idle session after
//! [`IDLE_TIMEOUT`]. Either way another replica, trying every second,
//! takes over within about ten seconds. SQLite serves one process: its
//! relay always leads.

use std::time::Duration;

use tokio::time::Instant;

use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::{PgConnection, PgPool};
use sea_orm::sqlx::{self, Connection};

/// How often the leader proves it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A session quiet this long is ended by the server (a hung leader): far
/// longer than the heartbeat and the one-second tries that keep a live
/// replica's session busy.
const IDLE_TIMEOUT: &str = "6s";
/// The advisory lock keys of the relay's leases: this, plus the sink's.
const LEASE_BASE: i64 = 7_316_100;

pub struct Lease {
    /// `None` on SQLite: one process, nobody to share with.
    postgres: Option<Postgres>,
    /// When the lease last proved alive.
    beat_at: Instant,
}

struct Postgres {
    pool: PgPool,
    key: i64,
    session: Option<PgConnection>,
    held: bool,
}

impl Lease {
    pub fn new(db: &DatabaseConnection, sink: &str) -> Self {
        let postgres =
            (db.get_database_backend() == sea_orm::DbBackend::Postgres).then(|| Postgres {
                pool: db.get_postgres_connection_pool().clone(),
                key: LEASE_BASE + key(sink),
                session: None,
                held: false,
            });
        Self {
            postgres,
            beat_at: Instant::now(),
        }
    }

    /// Whether this replica now holds the lease (taking it if it is free).
    pub async fn take(&mut self) -> sqlx::Result<bool> {
        self.beat_at = Instant::now();
        let Some(pg) = &mut self.postgres else {
            return Ok(true);
        };
        if pg.held {
            return Ok(true);
        }
        let connection = match &mut pg.session {
            Some(connection) => connection,
            None => pg.session.insert(open_session(&pg.pool).await?),
        };
        let taken = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(pg.key)
            .fetch_one(connection)
            .await;
        match taken {
            Ok(taken) => {
                pg.held = taken;
                Ok(taken)
            }
            Err(err) => {
                pg.session = None;
                Err(err)
            }
        }
    }

    /// When the next heartbeat is due.
    pub fn next_beat(&self) -> Instant {
        self.beat_at + HEARTBEAT
    }

    /// The heartbeat: whether the lease is still ours. False once its
    /// session failed (the server released the lock with it).
    pub async fn alive(&mut self) -> bool {
        self.beat_at = Instant::now();
        let Some(pg) = &mut self.postgres else {
            return true;
        };
        let Some(connection) = &mut pg.session else {
            return false;
        };
        if sqlx::query("SELECT 1").execute(connection).await.is_ok() {
            true
        } else {
            pg.session = None;
            pg.held = false;
            false
        }
    }

    /// Gives the lease up (closing its session releases the lock).
    pub async fn release(&mut self) {
        if let Some(pg) = &mut self.postgres {
            pg.held = false;
            if let Some(connection) = pg.session.take() {
                let _ = connection.close().await;
            }
        }
    }
}

/// A session of its own for holding a lease (a session advisory lock): the
/// server ends it, and the lock with it, after [`IDLE_TIMEOUT`] without a
/// statement, so a hung holder gives the lease up as a dead one does. The
/// sequencer's lease is held the same way.
pub(in crate::events) async fn open_session(pool: &PgPool) -> sqlx::Result<PgConnection> {
    let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
    sqlx::query("SELECT set_config('idle_session_timeout', $1, false)")
        .bind(IDLE_TIMEOUT)
        .execute(&mut connection)
        .await?;
    Ok(connection)
}

fn key(sink: &str) -> i64 {
    match sink {
        "nats" => 1,
        "redis" => 2,
        "amqp" => 3,
        "webhook" => 4,
        other => 100 + other.bytes().map(i64::from).sum::<i64>(),
    }
}
