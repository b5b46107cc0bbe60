//! Reminders: when a task's `remind_at` comes, one `REMINDER_DUE` event for
//! it, on every replica's subscriptions and every event sink.
//!
//! Durable and exactly once without a timer per task: the reminders still
//! to fire are rows (`remind_at` set, `reminded_at` not, task not done) in a
//! partial index. Every replica polls it; one statement marks a batch of
//! due ones fired and returns them, and their events are recorded in the
//! same transaction. So a reminder fires exactly when its mark commits,
//! whichever replica took it: on PostgreSQL, `FOR UPDATE SKIP LOCKED` lets
//! replicas share a burst instead of waiting for each other, and a replica
//! killed mid-batch leaves its rows unmarked for the next poll. A reminder
//! that came due while no replica ran fires on the first poll of the first
//! that starts, marked late.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use entity::task;
use metrics::{counter, histogram};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult};
use tokio_util::sync::CancellationToken;

use super::{Store, now, set_every_owner};
use crate::error::AppResult;
use crate::events::{self, Change};

/// Reminders fired per transaction: a burst of due ones goes out in a few
/// commits, and no transaction holds many row locks for long.
const BATCH: u64 = 500;

/// When reminders are looked for, and when one counts as late.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReminderSettings {
    /// How often each replica looks for reminders that came due, in
    /// seconds (fractions allowed): how late a reminder fires at most while
    /// a replica runs.
    #[arg(long = "reminders-poll-interval", env = "REMINDERS_POLL_INTERVAL",
          value_name = "REMINDERS_POLL_INTERVAL", default_value = "0.25",
          value_parser = crate::config::values::parse_secs)]
    pub(crate) poll_interval: Duration,
    /// A reminder fired more than this many seconds after its time is
    /// marked late (`TaskEvent.late`): it came due while no replica ran.
    #[arg(long = "reminders-late-after", env = "REMINDERS_LATE_AFTER",
          value_name = "REMINDERS_LATE_AFTER", default_value = "60",
          value_parser = crate::config::values::parse_secs)]
    pub(crate) late_after: Duration,
}

/// Polls for due reminders on this replica until `shutdown`.
pub(crate) fn spawn(store: Store, settings: ReminderSettings, shutdown: &CancellationToken) {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let late_after = TimeDelta::from_std(settings.late_after).unwrap_or(TimeDelta::MAX);
        loop {
            let fired = fire_due(&store, late_after, BATCH).await;
            match fired {
                // More may be due right now: no pause.
                Ok(n) if n as u64 == BATCH => {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "firing due reminders failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(settings.poll_interval) => {}
            }
        }
    });
}

/// Fires up to `limit` reminders that are due now, each once, and returns
/// how many. Runs across owners, as the event log's own readers do.
pub(crate) async fn fire_due(store: &Store, late_after: TimeDelta, limit: u64) -> AppResult<usize> {
    let at = now();
    let backend = store.db.get_database_backend();
    let rls = store.row_level_security && backend == DbBackend::Postgres;
    // Most polls find nothing: one indexed read, no transaction (and on
    // SQLite no write lock). Under row-level security only the
    // transaction that names every owner can see the rows.
    if !rls && !any_due(&store.db, at).await? {
        return Ok(0);
    }
    let txn = sea_orm::TransactionTrait::begin(&store.db).await?;
    if rls {
        set_every_owner(&txn).await?;
    }
    let mut due = due(at);
    due.limit(limit);
    if backend == DbBackend::Postgres {
        // Concurrent pollers skip each other's rows rather than wait for them.
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mark = Query::update()
        .table(task::Entity)
        .value(task::Column::RemindedAt, at)
        .and_where(Expr::cust(migration::PENDING_REMINDERS))
        .and_where(Expr::col(task::Column::Id).in_subquery(due))
        .returning_all()
        .to_owned();
    let rows = txn.query_all(&mark).await?;
    if rows.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let mut fired = rows
        .iter()
        .map(|row| task::Model::from_query_result(row, ""))
        .collect::<Result<Vec<_>, _>>()?;
    // Their events in the order they came due, each owner's in one insert.
    fired.sort_by(|a, b| {
        (a.owner_id.as_str(), a.remind_at, a.id).cmp(&(b.owner_id.as_str(), b.remind_at, b.id))
    });
    for owned in fired.chunk_by(|a, b| a.owner_id == b.owner_id) {
        let Some(owner) = owned.first().map(|t| t.owner_id.as_str()) else {
            continue;
        };
        let changes: Vec<Change> = owned
            .iter()
            .map(|task| Change::ReminderDue {
                task: task.clone(),
                late: lateness(task.remind_at, at) > late_after,
            })
            .collect();
        events::record(&txn, owner, &changes).await?;
    }
    events::commit(txn, &store.wake).await?;
    for task in &fired {
        let lateness = lateness(task.remind_at, at);
        let late = if lateness > late_after {
            "true"
        } else {
            "false"
        };
        counter!(crate::metrics::REMINDERS_FIRED, "late" => late).increment(1);
        histogram!(crate::metrics::REMINDERS_LATENESS).record(lateness.as_seconds_f64().max(0.0));
    }
    Ok(fired.len())
}

/// The pending reminders due at `at`, the longest due first.
fn due(at: DateTime<Utc>) -> SelectStatement {
    Query::select()
        .column(task::Column::Id)
        .from(task::Entity)
        .and_where(Expr::cust(migration::PENDING_REMINDERS))
        .and_where(Expr::col(task::Column::RemindAt).lte(at))
        .order_by(task::Column::RemindAt, Order::Asc)
        .to_owned()
}

async fn any_due(db: &impl ConnectionTrait, at: DateTime<Utc>) -> AppResult<bool> {
    let mut first = due(at);
    first.limit(1);
    Ok(db.query_one(&first).await?.is_some())
}

fn lateness(remind_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> TimeDelta {
    remind_at.map_or(TimeDelta::zero(), |due| at - due)
}
