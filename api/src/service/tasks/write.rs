//! Changing tasks: validation, then every change in one transaction, with
//! optimistic versions; each transaction records its events before it
//! commits (`Store::commit`), so no change is ever made without them.
//!
//! Longer than most files here on purpose: each public function is one
//! change a client can make (create, move, update, mark done, delete,
//! link), and they share one shape (turns, version checks, retries,
//! events) that reads best side by side; their parts live in `validate.rs`,
//! `rows.rs`, `tree.rs`, `occurrence.rs` and `positions/`.

use chrono::{DateTime, Utc};
use entity::{Priority, task, task_category};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, prelude::Uuid};
use std::collections::HashMap;

use super::occurrence::{
    completes_series_step, create_occurrence, next_occurrence, starts_new_series,
};
use super::positions::{self, Place};
use super::recurrence;
use super::requests::{MarkedDone, NewTask, TaskPatch, Updated};
use super::rows::{
    active, bump, ensure_categories_exist, ensure_task_exists, find_own, link_categories,
    write_first,
};
use super::tree::{ensure_not_descendant, take_turns_with_structure_changes, with_descendants};
use super::validate::{
    canonical_zone, validate_dates, validate_description, validate_year, zone_of,
};
use crate::error::{AppError, AppResult};
use crate::events::Change;
use crate::service::{Scoped, now, to_stored_precision, unique};

/// How often an update without `expectedVersion` re-reads and retries when a
/// concurrent writer got there first.
const MAX_UPDATE_ATTEMPTS: usize = 8;

pub async fn create(scope: &Scoped<'_>, new: NewTask) -> AppResult<task::Model> {
    let description = validate_description(&new.description)?;
    let start_at = new.start_at.map(to_stored_precision);
    let due_at = new.due_at.map(to_stored_precision);
    validate_dates(start_at, due_at)?;
    let remind_at = new.remind_at.map(to_stored_precision);
    validate_year("remindAt", remind_at)?;
    let time_zone = canonical_zone(new.time_zone.as_deref())?;
    let rule = new
        .recurrence
        .as_deref()
        .map(recurrence::normalize_rule)
        .transpose()?;
    let series_start = rule.as_ref().and(due_at);
    recurrence::validate(rule.as_deref(), zone_of(&time_zone), series_start, due_at)?;
    let category_ids = unique(new.category_ids);

    let owner = scope.owner();
    let txn = scope.begin().await?;
    write_first(&txn).await?;
    if let Some(parent) = new.parent_id {
        take_turns_with_structure_changes(&txn).await?;
        ensure_task_exists(&txn, owner, parent, "parentId").await?;
    }
    ensure_categories_exist(&txn, owner, &category_ids).await?;
    let place = Place::of(new.before, new.after)?;
    let at = now();
    let id = Uuid::now_v7();
    let placed = match place {
        Place::End => positions::append(&txn, owner, new.parent_id, id, at).await?,
        place => positions::place(&txn, owner, new.parent_id, None, place, at).await?,
    };
    let model = task::Model {
        id,
        owner_id: owner.to_owned(),
        description,
        priority: new.priority.unwrap_or(Priority::None),
        start_at,
        due_at,
        done: false,
        completed_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
        parent_id: new.parent_id,
        recurrence: rule,
        time_zone,
        series_start,
        next_occurrence_id: None,
        remind_at,
        reminded_at: None,
        position: placed.key,
    };
    task::Entity::insert(active(&model))
        .exec_without_returning(&txn)
        .await?;
    link_categories(&txn, owner, model.id, &category_ids).await?;
    let mut changes = vec![Change::Created(model.clone())];
    fold_rekeyed(&mut changes, placed.rekeyed);
    scope.commit(txn, &changes).await?;
    Ok(model)
}

/// Places a task right before or right after a sibling (at most one of
/// `before` and `after`; neither: the end of its list). Writes the moved
/// task only (one UPDATED event), unless its list's keys had grown so long
/// that the list is compacted, each re-keyed sibling with its own event.
pub async fn move_task(
    scope: &Scoped<'_>,
    id: Uuid,
    before: Option<Uuid>,
    after: Option<Uuid>,
) -> AppResult<task::Model> {
    let owner = scope.owner();
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let txn = scope.begin().await?;
        write_first(&txn).await?;
        let current = find_own(&txn, owner, id)
            .await?
            .ok_or_else(|| AppError::not_found_in("Task", "id"))?;
        let place = Place::of(before, after)?;
        let at = now();
        let placed = positions::place(&txn, owner, current.parent_id, Some(id), place, at).await?;
        let next = task::Model {
            position: placed.key,
            updated_at: at,
            version: current.version + 1,
            ..current.clone()
        };
        if bump(&txn, &current, &next).await? {
            let mut changes = vec![Change::Updated(next.clone())];
            fold_rekeyed(&mut changes, placed.rekeyed);
            scope.commit(txn, &changes).await?;
            return Ok(next);
        }
        // Changed (or moved to another list) between our read and our write.
        txn.rollback().await?;
    }
    Err(AppError::conflict(
        Some("id"),
        "the task is being changed by others too often; try again",
    ))
}

/// Folds the tasks a compaction gave new keys into a change's events: a
/// task the change already records takes its newer state (still one event),
/// any other sibling gets an UPDATED event of its own.
fn fold_rekeyed(changes: &mut Vec<Change>, rekeyed: Vec<task::Model>) {
    for task in rekeyed {
        let recorded = changes.iter_mut().find_map(|c| match c {
            Change::Updated(m) | Change::Created(m) if m.id == task.id => Some(c),
            _ => None,
        });
        match recorded {
            Some(Change::Updated(m)) => *m = task,
            // Created in this transaction: created with its final key.
            Some(Change::Created(m)) => m.position = task.position,
            _ => changes.push(Change::Updated(task)),
        }
    }
}

/// The state `changes` leave task `id` in, if they record it.
fn recorded(changes: &[Change], id: Uuid) -> Option<&task::Model> {
    changes.iter().find_map(|c| match c {
        Change::Updated(m) | Change::Created(m) if m.id == id => Some(m),
        _ => None,
    })
}

pub async fn update(scope: &Scoped<'_>, id: Uuid, patch: TaskPatch) -> AppResult<Updated> {
    let description = patch
        .description
        .as_deref()
        .map(validate_description)
        .transpose()?;
    let rule = patch
        .recurrence
        .as_ref()
        .map(|r| r.as_deref().map(recurrence::normalize_rule).transpose())
        .transpose()?;
    let time_zone = patch
        .time_zone
        .as_ref()
        .map(|z| canonical_zone(z.as_deref()))
        .transpose()?;
    let remind_at = patch.remind_at.map(|r| r.map(to_stored_precision));
    if let Some(remind_at) = remind_at {
        validate_year("remindAt", remind_at)?;
    }
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let txn = scope.begin().await?;
        let current = find_own(&txn, scope.owner(), id)
            .await?
            .ok_or_else(|| AppError::not_found_in("Task", "id"))?;
        if let Some(expected) = patch.expected_version
            && expected != current.version
        {
            return Err(stale(expected, current.version));
        }
        let mut next = current.clone();
        if let Some(d) = &description {
            next.description = d.clone();
        }
        if let Some(p) = patch.priority {
            next.priority = p;
        }
        if let Some(s) = patch.start_at {
            next.start_at = s.map(to_stored_precision);
        }
        if let Some(d) = patch.due_at {
            next.due_at = d.map(to_stored_precision);
        }
        validate_dates(next.start_at, next.due_at)?;
        if let Some(remind_at) = remind_at
            && remind_at != current.remind_at
        {
            next.remind_at = remind_at;
            next.reminded_at = None;
        }
        if let Some(rule) = &rule {
            next.recurrence = rule.clone();
        }
        if let Some(zone) = &time_zone {
            next.time_zone = zone.clone();
        }
        if next.recurrence.is_none() {
            next.series_start = None;
        } else if starts_new_series(&current, &next) {
            next.series_start = next.due_at;
            next.next_occurrence_id = None;
            recurrence::validate(
                next.recurrence.as_deref(),
                zone_of(&next.time_zone),
                next.series_start,
                next.due_at,
            )?;
        }
        let at = now();
        if patch.done == Some(true) && !current.done && next.recurrence.is_some() {
            // Before the row's lock, as every change of the tree takes them.
            take_turns_with_structure_changes(&txn).await?;
        }
        if let Some(done) = patch.done {
            apply_done(&mut next, done, at);
        }
        let mut rekeyed = Vec::new();
        if let Some(parent) = patch.parent_id
            && parent != current.parent_id
        {
            take_turns_with_structure_changes(&txn).await?;
            if let Some(parent) = parent {
                ensure_task_exists(&txn, scope.owner(), parent, "parentId").await?;
                ensure_not_descendant(&txn, id, parent).await?;
            }
            next.parent_id = parent;
            // The end of its new list.
            let placed =
                positions::place(&txn, scope.owner(), parent, Some(id), Place::End, at).await?;
            next.position = placed.key;
            rekeyed = placed.rekeyed;
        }
        next.updated_at = at;
        next.version = current.version + 1;
        let planned = if completes_series_step(&current, &next) {
            next_occurrence(&next, at)?
        } else {
            None
        };
        if let Some(planned) = &planned {
            next.next_occurrence_id = Some(planned.id);
            // Before the row's lock: the next occurrence joins its list.
            positions::lock_list(&txn, scope.owner(), next.parent_id).await?;
        }
        if bump(&txn, &current, &next).await? {
            let (created, occurrence_rekeyed) = match planned {
                Some(planned) => create_occurrence(&txn, &next, planned).await?,
                None => (Vec::new(), Vec::new()),
            };
            let mut changes = vec![Change::Updated(next.clone())];
            changes.extend(created.iter().cloned().map(Change::Created));
            fold_rekeyed(&mut changes, rekeyed);
            fold_rekeyed(&mut changes, occurrence_rekeyed);
            let task = recorded(&changes, id).cloned().unwrap_or(next);
            let next_occurrence = created
                .first()
                .and_then(|c| recorded(&changes, c.id))
                .cloned();
            scope.commit(txn, &changes).await?;
            return Ok(Updated {
                task,
                next_occurrence,
            });
        }
        // Someone changed the task between our read and our write.
        txn.rollback().await?;
        if let Some(expected) = patch.expected_version {
            let actual = super::read::find(scope, id)
                .await?
                .map_or(expected + 1, |t| t.version);
            return Err(stale(expected, actual));
        }
    }
    Err(AppError::conflict(
        Some("id"),
        "the task is being changed by others too often; try again",
    ))
}

fn stale(expected: i32, actual: i32) -> AppError {
    AppError::conflict(
        Some("expectedVersion"),
        format!("the task is at version {actual}, not {expected}: it was changed by someone else"),
    )
}

fn apply_done(task: &mut task::Model, done: bool, at: DateTime<Utc>) {
    if done && !task.done {
        task.completed_at = Some(at);
    } else if !done {
        task.completed_at = None;
    }
    task.done = done;
}

/// Deletes a task with its sub-tasks; returns every deleted id.
pub async fn delete(scope: &Scoped<'_>, id: Uuid) -> AppResult<Vec<Uuid>> {
    let txn = scope.begin().await?;
    take_turns_with_structure_changes(&txn).await?;
    ensure_task_exists(&txn, scope.owner(), id, "id").await?;
    let ids = with_descendants(&txn, scope.owner(), &[id]).await?;
    let changes = delete_ids(&txn, scope.owner(), &ids).await?;
    scope.commit(txn, &changes).await?;
    Ok(ids)
}

/// Deletes the tasks and says so: one deletion each, one past the version
/// each had. The rows are locked first (PostgreSQL), so no update slips in
/// between reading a version and deleting its row.
async fn delete_ids<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    ids: &[Uuid],
) -> AppResult<Vec<Change>> {
    let mut versions: HashMap<Uuid, i32> = task::Entity::find()
        .filter(task::Column::OwnerId.eq(owner))
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .lock_exclusive()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.version))
        .collect();
    // Children first is not needed (links and sub-tasks cascade), but deleting
    // the whole set explicitly does not depend on the backend's FK settings.
    task::Entity::delete_many()
        .filter(task::Column::OwnerId.eq(owner))
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| {
            versions.remove(id).map(|version| Change::Deleted {
                id: *id,
                version: version + 1,
            })
        })
        .collect())
}

/// Deletes every done task (with its sub-tasks, done or not).
pub async fn delete_completed(scope: &Scoped<'_>) -> AppResult<Vec<Uuid>> {
    let owner = scope.owner();
    let txn = scope.begin().await?;
    take_turns_with_structure_changes(&txn).await?;
    let done: Vec<Uuid> = task::Entity::find()
        .filter(task::Column::OwnerId.eq(owner))
        .filter(task::Column::Done.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let ids = with_descendants(&txn, owner, &done).await?;
    let changes = delete_ids(&txn, owner, &ids).await?;
    scope.commit(txn, &changes).await?;
    Ok(ids)
}

/// Marks tasks done or not done, all or none; returns them in request order,
/// with the next occurrences of the recurring tasks it completed.
pub async fn set_done(scope: &Scoped<'_>, ids: Vec<Uuid>, done: bool) -> AppResult<MarkedDone> {
    let ids = unique(ids);
    let txn = scope.begin().await?;
    let mut found = task::Entity::find()
        .filter(task::Column::OwnerId.eq(scope.owner()))
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect::<HashMap<_, _>>();
    if found
        .values()
        .any(|t| done && !t.done && t.recurrence.is_some())
    {
        // Before the rows' locks, as every change of the tree takes them.
        take_turns_with_structure_changes(&txn).await?;
        // And the lists the next occurrences join.
        let lists = found
            .values()
            .filter(|t| !t.done && t.recurrence.is_some() && t.next_occurrence_id.is_none())
            .map(|t| t.parent_id)
            .collect();
        positions::lock_lists(&txn, scope.owner(), lists).await?;
    }
    let at = now();
    let mut next = HashMap::with_capacity(ids.len());
    // Rows are written in id order: two batches over overlapping sets then
    // lock them in the same order and never deadlock.
    let mut in_lock_order = ids.clone();
    in_lock_order.sort_unstable();
    for id in &in_lock_order {
        let current = found
            .remove(id)
            .ok_or_else(|| AppError::not_found_in("Task", "ids"))?;
        let mut changed = current.clone();
        apply_done(&mut changed, done, at);
        changed.updated_at = at;
        changed.version = current.version + 1;
        let planned = if completes_series_step(&current, &changed) {
            next_occurrence(&changed, at)?
        } else {
            None
        };
        if let Some(planned) = &planned {
            changed.next_occurrence_id = Some(planned.id);
        }
        if !bump(&txn, &current, &changed).await? {
            return Err(AppError::conflict(
                Some("ids"),
                "a task was changed concurrently; try again",
            ));
        }
        next.insert(*id, (planned, changed));
    }
    let mut tasks = Vec::with_capacity(ids.len());
    let mut occurrence_ids = Vec::new();
    let mut changes = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some((planned, task)) = next.remove(id) else {
            continue;
        };
        changes.push(Change::Updated(task.clone()));
        if let Some(planned) = planned {
            let (created, mut rekeyed) = create_occurrence(&txn, &task, planned).await?;
            changes.extend(created.iter().cloned().map(Change::Created));
            occurrence_ids.extend(created.first().map(|c| c.id));
            // A task of this batch still to be recorded takes its new key.
            rekeyed.retain(|r| match next.get_mut(&r.id) {
                Some((_, later)) => {
                    *later = r.clone();
                    false
                }
                None => true,
            });
            fold_rekeyed(&mut changes, rekeyed);
        }
        tasks.push(task.id);
    }
    let tasks = tasks
        .iter()
        .filter_map(|id| recorded(&changes, *id).cloned())
        .collect();
    let next_occurrences = occurrence_ids
        .iter()
        .filter_map(|id| recorded(&changes, *id).cloned())
        .collect();
    scope.commit(txn, &changes).await?;
    Ok(MarkedDone {
        tasks,
        next_occurrences,
    })
}

/// Adds (or removes) category links of a task; the task's version moves on.
pub async fn change_categories(
    scope: &Scoped<'_>,
    task_id: Uuid,
    category_ids: Vec<Uuid>,
    add: bool,
) -> AppResult<task::Model> {
    let category_ids = unique(category_ids);
    let owner = scope.owner();
    let txn = scope.begin().await?;
    let current = find_own(&txn, owner, task_id)
        .await?
        .ok_or_else(|| AppError::not_found_in("Task", "taskId"))?;
    ensure_categories_exist(&txn, owner, &category_ids).await?;
    if add {
        link_categories(&txn, owner, task_id, &category_ids).await?;
    } else if !category_ids.is_empty() {
        task_category::Entity::delete_many()
            .filter(task_category::Column::OwnerId.eq(owner))
            .filter(task_category::Column::TaskId.eq(task_id))
            .filter(task_category::Column::CategoryId.is_in(category_ids.iter().copied()))
            .exec(&txn)
            .await?;
    }
    let mut next = current.clone();
    next.updated_at = now();
    next.version = current.version + 1;
    if !bump(&txn, &current, &next).await? {
        return Err(AppError::conflict(
            Some("taskId"),
            "the task was changed concurrently; try again",
        ));
    }
    scope.commit(txn, &[Change::Updated(next.clone())]).await?;
    Ok(next)
}
