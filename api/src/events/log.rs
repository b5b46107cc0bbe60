//! The event log in the database: written in the writing transaction, read
//! in position order.
//!
//! Why a reader never passes an event that can still commit: an event's
//! place in the log (its row in `task_event_positions`) is not its id, which
//! PostgreSQL hands out at insert, when a slower transaction may still
//! commit later with a smaller one. Writers insert their events, queue
//! their ids in `task_events_pending` in the same statement, and take no
//! lock; one sequencer per database ([`super::sequencer`]) gives committed
//! events the next positions, a batch per transaction, above every position
//! before. Readers follow positions only, so an event still uncommitted when
//! a batch was numbered simply gets a later position, never one a reader
//! has passed. A task's events arrive in version order: its next change
//! waits for the row lock its previous one held until commit, so it is
//! inserted (a larger id) and visible after it, and a batch is numbered in
//! id order. On SQLite, whose one connection serialises writers, a write
//! numbers its own events (position = id) before it commits.

use chrono::{DateTime, Utc};
use entity::task_event::{self, EventKind};
use entity::{task, task_event_log, task_event_position as positions};
use sea_orm::sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait, Select, SelectTwo, Statement,
    TransactionTrait,
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
    let mut insert = task_event::Entity::insert_many(rows).into_query();
    if txn.get_database_backend() == DbBackend::Postgres {
        // One statement: the events, and their ids queued for the sequencer.
        let (events, values) = insert
            .returning_col(task_event::Column::Id)
            .build(PostgresQueryBuilder);
        let sql = format!(
            "WITH logged AS ({events}) \
             INSERT INTO task_events_pending (event_id) SELECT id FROM logged"
        );
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
        return Ok(());
    }
    txn.execute(&insert).await?;
    // The only writer: its ids follow every numbered one.
    txn.execute_unprepared(
        "INSERT INTO task_event_positions (position, event_id, owner_id) \
         SELECT id, id, owner_id FROM task_events \
         WHERE id > (SELECT COALESCE(MAX(position), 0) FROM task_event_positions)",
    )
    .await?;
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
        late: Set(late),
    })
}

/// Numbered events: positions with their events.
fn numbered() -> SelectTwo<positions::Entity, task_event::Entity> {
    positioned(positions::Entity::find()).select_also(task_event::Entity)
}

fn positioned(select: Select<positions::Entity>) -> Select<positions::Entity> {
    select.join(JoinType::InnerJoin, positions::Relation::Event.def())
}

/// Up to `limit` events after position `cursor`, in log order.
pub async fn read_after(
    db: &impl ConnectionTrait,
    cursor: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let rows = numbered()
        .filter(positions::Column::Position.gt(cursor))
        .order_by_asc(positions::Column::Position)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().filter_map(event).collect()
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
/// uses the positions' index on `(owner_id, position)`.
pub async fn read_owner_after(
    db: &impl ConnectionTrait,
    owner: &str,
    cursor: i64,
    through: i64,
    filter: &EventFilter,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let mut query = numbered()
        .filter(positions::Column::OwnerId.eq(owner))
        .filter(positions::Column::Position.gt(cursor))
        .filter(positions::Column::Position.lte(through));
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
            DbBackend::Postgres => "(task_events.snapshot::jsonb ->> 'parent_id') = $1",
            _ => "json_extract(task_events.snapshot, '$.parent_id') = ?",
        };
        query = query.filter(Expr::cust_with_values(
            parent_of_snapshot,
            [parent.hyphenated().to_string()],
        ));
    }
    let rows = query
        .order_by_asc(positions::Column::Position)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().filter_map(event).collect()
}

/// The event at a position; `None` if the join found none (it is inner, so
/// never in practice).
fn event((at, row): (positions::Model, Option<task_event::Model>)) -> Option<AppResult<Event>> {
    row.map(|row| event_at(at.position, row))
}

fn event_at(position: i64, row: task_event::Model) -> AppResult<Event> {
    let task = row
        .snapshot
        .as_deref()
        .map(serde_json::from_str::<task::Model>)
        .transpose()
        .map_err(|e| DbErr::Custom(format!("event {} has a bad snapshot: {e}", row.id)))?;
    Ok(Event {
        position,
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
    let newest: Option<Option<i64>> = positions::Entity::find()
        .select_only()
        .column_as(positions::Column::Position.max(), "position")
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
    let oldest: Option<DateTime<Utc>> = positioned(positions::Entity::find())
        .select_only()
        .column(task_event::Column::OccurredAt)
        .filter(positions::Column::Position.gt(position))
        .order_by_asc(positions::Column::Position)
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
    let oldest: Vec<(i64, i64, DateTime<Utc>)> = positioned(positions::Entity::find())
        .select_only()
        .column(positions::Column::Position)
        .column(positions::Column::EventId)
        .column(task_event::Column::OccurredAt)
        .order_by_asc(positions::Column::Position)
        .limit(batch)
        .into_tuple()
        .all(&txn)
        .await?;
    // Only a prefix in log order, so what is left is always a suffix.
    let pruned: Vec<(i64, i64)> = oldest
        .into_iter()
        .take_while(|(at, _, occurred)| {
            *occurred < cutoff && held_through.is_none_or(|held| *at <= held)
        })
        .map(|(at, event, _)| (at, event))
        .collect();
    let Some(&(through, _)) = pruned.last() else {
        return Ok(0);
    };
    let deleted = task_event::Entity::delete_many()
        .filter(task_event::Column::Id.is_in(pruned.iter().map(|(_, event)| *event)))
        .exec(&txn)
        .await?
        .rows_affected;
    positions::Entity::delete_many()
        .filter(positions::Column::Position.lte(through))
        .exec(&txn)
        .await?;
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
