//! The event log in the database: written in the writing transaction, read
//! in id order.
//!
//! Why a reader never passes an event that can still commit: on PostgreSQL,
//! ids come from a sequence when the row is inserted, not when it commits,
//! so "everything after id N" would skip a slower transaction that commits
//! later with a smaller id. Every writer therefore inserts its events last,
//! under a transaction-scoped advisory lock that it holds until its commit
//! is visible: ids are handed out in commit order, and at any moment only
//! the lock holder has uncommitted ids, all above every committed one. (A
//! rolled-back writer leaves a hole in the ids, never a late arrival.) On
//! SQLite the one pooled connection serialises writers the same way.

use chrono::{DateTime, Utc};
use entity::task_event::{self, EventKind};
use entity::{task, task_event_log};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
    prelude::Uuid,
};

use crate::error::AppResult;

/// The channel PostgreSQL notifies when events commit.
pub const CHANNEL: &str = "task_events";
/// Held from the events' insert to the commit (see the module docs).
const SEQUENCE_LOCK: i64 = 7_316_002;

/// One change of a task, as a write records it.
#[derive(Debug, Clone)]
pub enum Change {
    Created(task::Model),
    Updated(task::Model),
    Deleted { id: Uuid, version: i32 },
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub kind: EventKind,
    pub task_id: Uuid,
    /// Only this owner's subscriptions hear of it.
    pub owner_id: String,
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    /// The task as committed; `None` for deletions.
    pub task: Option<task::Model>,
}

/// Records `owner`'s `changes` in the writing transaction `txn`; call it
/// last, right before the commit (it takes the sequence lock).
pub async fn record(txn: &impl ConnectionTrait, owner: &str, changes: &[Change]) -> AppResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let postgres = txn.get_database_backend() == DbBackend::Postgres;
    if postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SEQUENCE_LOCK})"))
            .await?;
    }
    let at = crate::service::now();
    let rows = changes
        .iter()
        .map(|change| row(change, owner, at))
        .collect::<Result<Vec<_>, _>>()?;
    task_event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    if postgres {
        // Delivered at commit, to every replica's listener; the rows, not
        // the payload, are what replicas read.
        txn.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    Ok(())
}

fn row(change: &Change, owner: &str, at: DateTime<Utc>) -> Result<task_event::ActiveModel, DbErr> {
    let (kind, task_id, version, snapshot) = match change {
        Change::Created(task) => (EventKind::Created, task.id, task.version, Some(task)),
        Change::Updated(task) => (EventKind::Updated, task.id, task.version, Some(task)),
        Change::Deleted { id, version } => (EventKind::Deleted, *id, *version, None),
    };
    let snapshot = snapshot
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| DbErr::Custom(format!("serialising a task for the event log: {e}")))?;
    Ok(task_event::ActiveModel {
        id: NotSet,
        task_id: Set(task_id),
        owner_id: Set(owner.to_owned()),
        kind: Set(kind),
        version: Set(version),
        occurred_at: Set(at),
        snapshot: Set(snapshot),
    })
}

/// Up to `limit` events after `cursor`, oldest first.
pub async fn read_after(
    db: &impl ConnectionTrait,
    cursor: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let rows = task_event::Entity::find()
        .filter(task_event::Column::Id.gt(cursor))
        .order_by_asc(task_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().map(event).collect()
}

fn event(row: task_event::Model) -> AppResult<Event> {
    let task = row
        .snapshot
        .as_deref()
        .map(serde_json::from_str::<task::Model>)
        .transpose()
        .map_err(|e| DbErr::Custom(format!("event {} has a bad snapshot: {e}", row.id)))?;
    Ok(Event {
        id: row.id,
        kind: row.kind,
        task_id: row.task_id,
        owner_id: row.owner_id,
        version: row.version,
        occurred_at: row.occurred_at,
        task,
    })
}

/// The newest event's id (0 for an empty log).
pub async fn last_id(db: &impl ConnectionTrait) -> AppResult<i64> {
    let newest = task_event::Entity::find()
        .order_by_desc(task_event::Column::Id)
        .one(db)
        .await?;
    Ok(newest.map_or(0, |e| e.id))
}

/// Every event up to this id has been deleted by retention.
pub async fn pruned_through(db: &impl ConnectionTrait) -> AppResult<i64> {
    let state = task_event_log::Entity::find_by_id(1i16).one(db).await?;
    Ok(state.map_or(0, |s| s.pruned_through))
}

/// Deletes the oldest events that happened before `cutoff`, at most `batch`
/// of them; returns how many. The watermark moves in the same transaction,
/// so a reader either still finds an event or knows its cursor expired.
pub async fn prune(
    db: &DatabaseConnection,
    row_level_security: bool,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> AppResult<u64> {
    let txn = db.begin().await?;
    if row_level_security {
        crate::service::set_every_owner(&txn).await?;
    }
    let oldest = task_event::Entity::find()
        .order_by_asc(task_event::Column::Id)
        .limit(batch)
        .all(&txn)
        .await?;
    // Only a prefix in id order, so what is left is always a suffix.
    let Some(through) = oldest
        .iter()
        .take_while(|e| e.occurred_at < cutoff)
        .map(|e| e.id)
        .last()
    else {
        return Ok(0);
    };
    let deleted = task_event::Entity::delete_many()
        .filter(task_event::Column::Id.lte(through))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.execute(
        &Query::update()
            .table(task_event_log::Entity)
            .value(task_event_log::Column::PrunedThrough, through)
            .and_where(Expr::col(task_event_log::Column::Id).eq(1i16))
            .and_where(Expr::col(task_event_log::Column::PrunedThrough).lt(through))
            .to_owned(),
    )
    .await?;
    txn.commit().await?;
    Ok(deleted)
}
