//! The sequencer: one per PostgreSQL database numbers committed events.
//!
//! Writers only insert their events (see [`super::log`]); the replica that
//! holds the lease, a session-level advisory lock on a connection of its
//! own, gives every committed, unnumbered event the next position, a batch
//! per transaction in id order, and notifies every replica's tail once per
//! batch. The numbering runs on the lease's own session, so it stops the
//! moment the lease is lost: two replicas never number at once. Every other
//! replica tries to take the lease each second (a dead leader's session
//! ends with its process, and a hung one's after six silent seconds, and
//! with it the lock), and meanwhile announces
//! its own commits to the leader on [`log::PENDING_CHANNEL`], one
//! notification for any number of commits. Under a steady write load
//! nobody needs to announce: after a pass that numbered events the leader
//! keeps looking every [`GATHER`] for [`BUSY`], and a replica that heard it
//! number within [`QUIET`] leaves its commits to that (each announcement is
//! a transaction of its own, with its WAL flush and the database's
//! notification lock).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnection, PgPool};
use sea_orm::sqlx::{self, Connection};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use super::log;

/// The advisory lock whose holder numbers the log.
const LEASE: i64 = 7_316_003;
/// Events numbered per transaction.
const BATCH: i64 = 1000;
/// How often a replica without the lease tries to take it: how long events
/// wait at most after their sequencer's replica died.
const TAKEOVER: Duration = Duration::from_secs(1);
/// How often the leader looks for unnumbered events on its own (a missed
/// announcement).
const POLL: Duration = Duration::from_secs(1);
/// Under load, at most one numbering pass this often: what commits in
/// between is numbered together, so a busy log costs a transaction (and a
/// wake-up of every subscriber) per interval instead of per commit. The
/// first commit after a quiet spell is numbered at once.
const GATHER: Duration = Duration::from_millis(10);
/// How long after its last numbered event the leader keeps looking for
/// more every [`GATHER`] without being told (an empty look is one read of a
/// partial index, with no transaction).
const BUSY: Duration = Duration::from_secs(1);
/// A replica that heard the leader number within this long does not
/// announce its commits: the leader looks anyway. Far inside [`BUSY`], so a
/// late notification still finds the leader looking; were it later still,
/// the commits would wait for [`POLL`], never longer.
const QUIET: Duration = Duration::from_millis(100);

/// Runs this replica's part until `shutdown`: leading when it holds the
/// lease, announcing its commits while another replica does.
pub fn spawn(hub: &Arc<Hub>, shutdown: &CancellationToken) {
    let pool = hub.db().get_postgres_connection_pool().clone();
    tokio::spawn(run(hub.clone(), pool, shutdown.clone()));
}

async fn run(hub: Arc<Hub>, pool: PgPool, shutdown: CancellationToken) {
    let mut session: Option<PgConnection> = None;
    let mut tries = interval(TAKEOVER);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = hub.commits().woken() => {
                if !hub.numbering_heard_within(QUIET) {
                    announce(&pool).await;
                }
            }
            _ = tries.tick() => {
                match try_lease(&pool, &mut session).await {
                    Ok(true) => {
                        let Some(lease) = session.take() else { continue };
                        session = lead(&hub, lease, &shutdown).await;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::debug!(error = %err, "cannot try the sequencer lease; retrying");
                        session = None;
                    }
                }
            }
        }
    }
    if let Some(session) = session {
        let _ = session.close().await;
    }
}

fn interval(period: Duration) -> Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Tells the leader that events of ours wait for numbers. Lost, it costs
/// at most the leader's [`POLL`].
async fn announce(pool: &PgPool) {
    let notified = sqlx::query("SELECT pg_notify($1, '')")
        .bind(log::PENDING_CHANNEL)
        .execute(pool)
        .await;
    if let Err(err) = notified {
        tracing::debug!(error = %err, "cannot announce commits to the sequencer");
    }
}

/// Whether this replica now holds the lease, on `session` (opened if need be).
async fn try_lease(pool: &PgPool, session: &mut Option<PgConnection>) -> sqlx::Result<bool> {
    let connection = match session {
        Some(connection) => connection,
        // A hung leader stops polling; the server then ends its silent
        // session, and the lock with it, so another replica takes over.
        None => session.insert(super::relay::lease::open_session(pool).await?),
    };
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEASE)
        .fetch_one(connection)
        .await
}

/// Numbers events until shutdown (the session is handed back, still
/// holding the lease, to be closed) or until the session fails (`None`: the
/// lease went with it).
async fn lead(
    hub: &Hub,
    mut lease: PgConnection,
    shutdown: &CancellationToken,
) -> Option<PgConnection> {
    tracing::info!("this replica numbers the event log (sequencer lease taken)");
    if hub.row_level_security() {
        // The lease's session reads and numbers every owner's events.
        let every_owner = sqlx::query("SELECT set_config('app.owner_id', $1, false)")
            .bind(crate::store::EVERY_OWNER)
            .execute(&mut lease)
            .await;
        if let Err(err) = every_owner {
            tracing::warn!(error = %err, "the sequencer cannot name every owner; retrying");
            return None;
        }
    }
    // Every numbered event leaves a dead version behind until vacuum (a
    // hundred thousand in a minute of heavy writes). An ordered scan of
    // the unnumbered events' partial index marks them dead as it passes,
    // so the next look skips them; the bitmap scan the planner may choose
    // instead visits every one of them on every look (measured: 6-12 ms a
    // look against 0.3 ms, at 100k dead versions). Only the lease's own
    // session is set so.
    if let Err(err) = sqlx::query("SET enable_bitmapscan = off")
        .execute(&mut lease)
        .await
    {
        tracing::warn!(error = %err, "the sequencer cannot set up its session; retrying");
        return None;
    }
    let mut poll = interval(POLL);
    let mut numbered_at: Option<Instant> = None;
    loop {
        if let Some(at) = numbered_at {
            tokio::select! {
                () = shutdown.cancelled() => return Some(lease),
                () = tokio::time::sleep_until(at + GATHER) => {}
            }
        }
        loop {
            match number(&mut lease).await {
                Ok(numbered) => {
                    if numbered > 0 {
                        numbered_at = Some(Instant::now());
                        hub.wake().wake();
                    }
                    if numbered < BATCH as u64 {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err,
                        "numbering events failed; the sequencer lease is given up and retried");
                    return None;
                }
            }
        }
        let busy = numbered_at.is_some_and(|at| at.elapsed() < BUSY);
        tokio::select! {
            () = shutdown.cancelled() => return Some(lease),
            () = hub.commits().woken() => {}
            () = hub.announced().woken() => {}
            _ = poll.tick() => {}
            () = tokio::time::sleep(GATHER), if busy => {}
        }
    }
}

/// Gives the next positions to up to [`BATCH`] committed, unnumbered events
/// in id order, in one statement that also notifies every tail; returns
/// how many it numbered.
async fn number(lease: &mut PgConnection) -> sqlx::Result<u64> {
    // The ids first, then the update by primary key: one statement with the
    // select inside let the planner rescan it for every row of the table
    // (seconds of CPU per batch once statistics were stale). Read outside
    // the transaction: only the lease's holder numbers, and a look that
    // finds nothing then costs one read and no transaction.
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM task_events WHERE position IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&mut *lease)
    .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // One statement, so one round trip and its own transaction: take the
    // next positions (the log row's lock keeps them in order), give them to
    // the batch in id order, and wake every tail at commit. The counter
    // moves past every position handed out, even one whose row vanished.
    let numbered: i64 = sqlx::query_scalar(
        "WITH log AS ( \
             UPDATE task_event_log \
             SET positioned_through = positioned_through + cardinality($1::bigint[]) \
             WHERE id = 1 \
             RETURNING positioned_through - cardinality($1::bigint[]) AS base), \
         numbered AS ( \
             UPDATE task_events e SET position = log.base + b.n \
             FROM log, unnest($1::bigint[]) WITH ORDINALITY AS b(id, n) \
             WHERE e.id = b.id \
             RETURNING 1) \
         SELECT count(*) FROM numbered, (SELECT pg_notify($2, '')) AS woken",
    )
    .bind(&ids)
    .bind(log::CHANNEL)
    .fetch_one(&mut *lease)
    .await?;
    let numbered = numbered as u64;
    Ok(numbered)
}
