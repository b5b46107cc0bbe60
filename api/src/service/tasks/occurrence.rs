//! Completing a recurring task: whether a change completes a step of its
//! series, the next occurrence, and writing it with its sub-tasks' copies
//! (one level) right after the completed task.

use chrono::{DateTime, Utc};
use entity::{task, task_category};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, prelude::Uuid};

use super::positions::{self, Place};
use super::recurrence;
use super::rows::{active, link_categories};
use super::validate::{validate_dates, validate_year, zone_of};
use crate::error::AppResult;
use crate::service::to_stored_precision;

/// Whether `next` begins a new series: its rule, zone or due date changed
/// (or it had none). COUNT and UNTIL then count from its due date.
pub(super) fn starts_new_series(current: &task::Model, next: &task::Model) -> bool {
    next.recurrence.is_some()
        && (next.recurrence != current.recurrence
            || next.time_zone != current.time_zone
            || next.due_at != current.due_at
            || current.series_start.is_none())
}

/// Whether marking `current` done (as `next`) completes a recurring task
/// that has not yet created its next occurrence.
pub(super) fn completes_series_step(current: &task::Model, next: &task::Model) -> bool {
    next.done && !current.done && next.recurrence.is_some() && next.next_occurrence_id.is_none()
}

/// The next occurrence of `done`, a recurring task being completed, if its
/// series has one more: the first occurrence strictly after its `due_at`.
/// It keeps the description, priority, rule, zone, series and parent;
/// `start_at` and `remind_at` move as far as `due_at`.
pub(super) fn next_occurrence(
    done: &task::Model,
    at: DateTime<Utc>,
) -> AppResult<Option<task::Model>> {
    let (Some(rule), Some(due)) = (done.recurrence.as_deref(), done.due_at) else {
        return Ok(None);
    };
    let start = done.series_start.unwrap_or(due);
    let Some(next_due) = recurrence::next_after(rule, zone_of(&done.time_zone), start, due)? else {
        return Ok(None);
    };
    let next_due = to_stored_precision(next_due);
    let shift = next_due - due;
    let next = task::Model {
        id: Uuid::now_v7(),
        start_at: done.start_at.map(|s| s + shift),
        due_at: Some(next_due),
        remind_at: done.remind_at.map(|r| r + shift),
        reminded_at: None,
        done: false,
        completed_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
        series_start: Some(start),
        next_occurrence_id: None,
        ..done.clone()
    };
    validate_dates(next.start_at, next.due_at)?;
    validate_year("remindAt", next.remind_at)?;
    Ok(Some(next))
}

/// Writes `next`, the next occurrence of `done`, with `done`'s categories,
/// and copies `done`'s direct sub-tasks under it (one level, not done,
/// dates and reminders moved as far as the due date, categories kept,
/// without a recurrence of their own, in the same order). `next` goes right after
/// `done` in its list. Returns `next` first, then the copies, and the
/// siblings re-keyed if placing `next` compacted the list. The caller holds
/// the structure lock (`take_turns_with_structure_changes`) and `done`'s
/// list's (`positions::lock_list`).
pub(super) async fn create_occurrence<C: ConnectionTrait>(
    db: &C,
    done: &task::Model,
    next: task::Model,
) -> AppResult<(Vec<task::Model>, Vec<task::Model>)> {
    let (Some(due), Some(next_due)) = (done.due_at, next.due_at) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let shift = next_due - due;
    let at = next.created_at;
    let owner = done.owner_id.as_str();
    let placed =
        positions::place(db, owner, done.parent_id, None, Place::After(done.id), at).await?;
    let next = task::Model {
        position: placed.key,
        ..next
    };
    let subtasks = task::Entity::find()
        .filter(task::Column::OwnerId.eq(owner))
        .filter(task::Column::ParentId.eq(done.id))
        .order_by_asc(task::Column::Id)
        .all(db)
        .await?;
    let mut created = vec![next.clone()];
    let mut copied = vec![(done.id, next.id)];
    for sub in subtasks {
        let start_at = sub.start_at.map(|s| s + shift);
        let due_at = sub.due_at.map(|d| d + shift);
        validate_dates(start_at, due_at)?;
        let remind_at = sub.remind_at.map(|r| r + shift);
        validate_year("remindAt", remind_at)?;
        let id = Uuid::now_v7();
        copied.push((sub.id, id));
        created.push(task::Model {
            id,
            start_at,
            due_at,
            remind_at,
            reminded_at: None,
            done: false,
            completed_at: None,
            created_at: at,
            updated_at: at,
            version: 1,
            parent_id: Some(next.id),
            recurrence: None,
            time_zone: None,
            series_start: None,
            next_occurrence_id: None,
            ..sub.clone()
        });
    }
    // Parents first: the sub-task copies point at the next occurrence.
    task::Entity::insert_many(created.iter().map(active))
        .exec_without_returning(db)
        .await?;
    for (from, to) in copied {
        copy_categories(db, owner, from, to).await?;
    }
    Ok((created, placed.rekeyed))
}

/// Links `to` to the categories of `from`.
pub(super) async fn copy_categories<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    from: Uuid,
    to: Uuid,
) -> AppResult<()> {
    let categories: Vec<Uuid> = task_category::Entity::find()
        .filter(task_category::Column::OwnerId.eq(owner))
        .filter(task_category::Column::TaskId.eq(from))
        .order_by_asc(task_category::Column::CategoryId)
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.category_id)
        .collect();
    link_categories(db, owner, to, &categories).await
}
