//! The event log in the database: written in the writing transaction, read
//! in position order.
//!
//! Why a reader never passes an event that can still commit: an event's
//! place in the log (`position`) is not its id, which PostgreSQL hands out
//! at insert, when a slower transaction may still commit later with a
//! smaller one. Writers insert their events unnumbered and take no lock; one
//! sequencer per database ([`super::sequencer`]) numbers committed events,
//! a batch per transaction, above every position before. Readers follow
//! positions only, so an event still uncommitted when a batch was numbered
//! simply gets a later position, never one a reader has passed. A task's
//! events arrive in version order: its next change waits for the row lock
//! its previous one held until commit, so it is inserted (a larger id) and
//! visible after it, and a batch is numbered in id order. On SQLite, whose
//! one connection serialises writers, a write numbers its own events
//! (position = id) before it commits.

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

/// The channel the sequencer notifies when it numbered a batch: every
/// replica's tail reads the new events.
pub const CHANNEL: &str = "task_events";
/// The channel a replica notifies after its writes committed, when another
/// replica runs the sequencer.
pub const PENDING_CHANNEL: &str = "task_events_pending";

/// One change of a task, as a write records it.
#[derive(Debug, Clone)]
pub enum Change {
    Created(task::Model),
    Updated(task::Model),
    Deleted {
        id: Uuid,
        version: i32,
    },
    /// The task's reminder came due; `late` when well after its time.
    ReminderDue {
        task: task::Model,
        late: bool,
    },
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the log (what cursors name).
    pub position: i64,
    pub kind: EventKind,
    pub task_id: Uuid,
    /// Only this owner's subscriptions hear of it.
    pub owner_id: String,
    pub version: i32,
    pub occurred_at: DateTime<Utc>,
    /// The task as committed; `None` for deletions.
    pub task: Option<task::Model>,
    /// For a fired reminder: whether it fired late.
    pub late: Option<bool>,
}

/// Records `owner`'s `changes` in the writing transaction `txn`.
pub async fn record(txn: &impl ConnectionTrait, owner: &str, changes: &[Change]) -> AppResult<()> {
    if changes.is_empty() || cfg!(feature = "bench-unlogged") {
        return Ok(());
    }
    let at = crate::store::now();
    let rows = changes
        .iter()
        .map(|change| row(change, owner, at))
        .collect::<Result<Vec<_>, _>>()?;
    task_event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    if txn.get_database_backend() == DbBackend::Sqlite {
        // The only writer: its ids follow every committed one.
        txn.execute_unprepared("UPDATE task_events SET position = id WHERE position IS NULL")
            .await?;
    }
    Ok(())
}

fn row(change: &Change, owner: &str, at: DateTime<Utc>) -> Result<task_event::ActiveModel, DbErr> {
    let (kind, task_id, version, snapshot, late) = match change {
        Change::Created(task) => (EventKind::Created, task.id, task.version, Some(task), None),
        Change::Updated(task) => (EventKind::Updated, task.id, task.version, Some(task), None),
        Change::Deleted { id, version } => (EventKind::Deleted, *id, *version, None, None),
        Change::ReminderDue { task, late } => (
            EventKind::ReminderDue,
            task.id,
            task.version,
            Some(task),
            Some(*late),
        ),
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
        position: NotSet,
        late: Set(late),
    })
}

/// Up to `limit` events after position `cursor`, in log order.
pub async fn read_after(
    db: &impl ConnectionTrait,
    cursor: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let rows = task_event::Entity::find()
        .filter(task_event::Column::Position.gt(cursor))
        .order_by_asc(task_event::Column::Position)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().map(event).collect()
}

/// Which of an owner's events a page holds; every given condition must
/// hold (an empty list matches nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub kinds: Option<Vec<EventKind>>,
    pub task_ids: Option<Vec<Uuid>>,
    /// Only events of direct sub-tasks of this task (deletions carry no
    /// snapshot, so no parent).
    pub parent_id: Option<Uuid>,
}

/// Up to `limit` of `owner`'s events matching `filter` with
/// `cursor < position <= through`, in log order. Only numbered events, and
/// none past `through` (the head a reader has seen: the log is gap-free up
/// to it). The owner and the filter are conditions of the statement, which
/// uses the index on `(owner_id, position)`.
pub async fn read_owner_after(
    db: &impl ConnectionTrait,
    owner: &str,
    cursor: i64,
    through: i64,
    filter: &EventFilter,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let mut query = task_event::Entity::find()
        .filter(task_event::Column::OwnerId.eq(owner))
        .filter(task_event::Column::Position.is_not_null())
        .filter(task_event::Column::Position.gt(cursor))
        .filter(task_event::Column::Position.lte(through));
    if let Some(kinds) = &filter.kinds {
        query = query.filter(task_event::Column::Kind.is_in(kinds.iter().copied()));
    }
    if let Some(ids) = &filter.task_ids {
        query = query.filter(task_event::Column::TaskId.is_in(ids.iter().copied()));
    }
    if let Some(parent) = filter.parent_id {
        // The snapshot is the task as JSON (serde's form: a hyphenated,
        // lower-case uuid). sea-query's placeholder is each backend's own.
        let parent_of_snapshot = match db.get_database_backend() {
            DbBackend::Postgres => "(snapshot::jsonb ->> 'parent_id') = $1",
            _ => "json_extract(snapshot, '$.parent_id') = ?",
        };
        query = query.filter(Expr::cust_with_values(
            parent_of_snapshot,
            [parent.hyphenated().to_string()],
        ));
    }
    let rows = query
        .order_by_asc(task_event::Column::Position)
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
        position: row.position.unwrap_or_default(),
        kind: row.kind,
        task_id: row.task_id,
        owner_id: row.owner_id,
        version: row.version,
        occurred_at: row.occurred_at,
        task,
        late: row.late,
    })
}

/// The newest event's position (0 for an empty log).
pub async fn last_position(db: &impl ConnectionTrait) -> AppResult<i64> {
    let newest: Option<Option<i64>> = task_event::Entity::find()
        .select_only()
        .column_as(task_event::Column::Position.max(), "position")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// When the first event after `position` happened; `None` when there is
/// none yet.
pub async fn oldest_after(
    db: &impl ConnectionTrait,
    position: i64,
) -> AppResult<Option<DateTime<Utc>>> {
    let oldest: Option<DateTime<Utc>> = task_event::Entity::find()
        .select_only()
        .column(task_event::Column::OccurredAt)
        .filter(task_event::Column::Position.gt(position))
        .order_by_asc(task_event::Column::Position)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(oldest)
}

/// Every event up to this position has been deleted by retention.
pub async fn pruned_through(db: &impl ConnectionTrait) -> AppResult<i64> {
    let state = task_event_log::Entity::find_by_id(1i16).one(db).await?;
    Ok(state.map_or(0, |s| s.pruned_through))
}

/// Deletes the oldest events that happened before `cutoff`, at most `batch`
/// of them and none past `held_through` (what an event sink still has to
/// publish); returns how many. The watermark moves in the same
/// transaction, so a reader either still finds an event or knows its
/// cursor expired.
pub async fn prune(
    db: &DatabaseConnection,
    row_level_security: bool,
    cutoff: DateTime<Utc>,
    held_through: Option<i64>,
    batch: u64,
) -> AppResult<u64> {
    let txn = db.begin().await?;
    if row_level_security {
        crate::store::set_every_owner(&txn).await?;
    }
    let oldest = task_event::Entity::find()
        .filter(task_event::Column::Position.is_not_null())
        .order_by_asc(task_event::Column::Position)
        .limit(batch)
        .all(&txn)
        .await?;
    // Only a prefix in log order, so what is left is always a suffix.
    let Some(through) = oldest
        .iter()
        .take_while(|e| e.occurred_at < cutoff)
        .filter_map(|e| e.position)
        .take_while(|position| held_through.is_none_or(|held| *position <= held))
        .last()
    else {
        return Ok(0);
    };
    let deleted = task_event::Entity::delete_many()
        .filter(task_event::Column::Position.lte(through))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Snapshots written before recurring tasks, reminders and manual order
    /// have none of their fields: they still read, as tasks without a
    /// recurrence or a reminder (and with an empty key).
    #[test]
    fn snapshots_from_before_recurrence_and_reminders_still_read() {
        let at = chrono::Utc::now();
        let task = task::Model {
            id: sea_orm::prelude::Uuid::now_v7(),
            owner_id: "someone".into(),
            description: "Old".into(),
            priority: entity::Priority::Low,
            start_at: None,
            due_at: Some(at),
            done: false,
            completed_at: None,
            created_at: at,
            updated_at: at,
            version: 3,
            parent_id: None,
            recurrence: None,
            time_zone: None,
            series_start: None,
            next_occurrence_id: None,
            remind_at: None,
            reminded_at: None,
            position: String::new(),
        };
        let mut json = serde_json::to_value(&task).unwrap();
        let fields = json.as_object_mut().unwrap();
        for new in [
            "recurrence",
            "time_zone",
            "series_start",
            "next_occurrence_id",
            "remind_at",
            "reminded_at",
            "position",
        ] {
            assert!(fields.remove(new).is_some(), "{new}");
        }
        let old: task::Model = serde_json::from_value(json).unwrap();
        assert_eq!(old, task);
    }
}
