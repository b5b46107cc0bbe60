//! Changing tasks: validation, then every change in one transaction, with
//! optimistic versions; each transaction records its events before it
//! commits (`Store::commit`), so no change is ever made without them.

use chrono::{DateTime, Utc};
use entity::{Priority, category, task, task_category};
use sea_orm::sea_query::{
    CommonTableExpression, Expr, ExprTrait, OnConflict, Query, SelectStatement, UnionType,
    WithClause,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, prelude::Uuid,
};
use std::collections::HashMap;

use super::positions::{self, Place};
use super::recurrence::{self, DEFAULT_TIME_ZONE};
use super::requests::{MarkedDone, NewTask, TaskPatch, Updated};
use crate::error::{AppError, AppResult};
use crate::events::Change;
use crate::service::{Scoped, now, to_stored_precision, unique};

pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// How often an update without `expectedVersion` re-reads and retries when a
/// concurrent writer got there first.
const MAX_UPDATE_ATTEMPTS: usize = 8;

pub fn validate_description(description: &str) -> AppResult<String> {
    let trimmed = description.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(AppError::bad_input(
            "description",
            "description must not be empty",
        ));
    }
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(AppError::bad_input(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// RFC 3339, which clients parse our dates with, has four-digit years.
fn validate_year(field: &str, date: Option<DateTime<Utc>>) -> AppResult<()> {
    match date {
        Some(date) if !(1..=9999).contains(&chrono::Datelike::year(&date)) => {
            Err(AppError::bad_input(
                field,
                format!("{field} must be a date in the years 0001 to 9999"),
            ))
        }
        _ => Ok(()),
    }
}

fn validate_dates(start_at: Option<DateTime<Utc>>, due_at: Option<DateTime<Utc>>) -> AppResult<()> {
    validate_year("startAt", start_at)?;
    validate_year("dueAt", due_at)?;
    match (start_at, due_at) {
        (Some(start), Some(due)) if start > due => Err(AppError::bad_input(
            "startAt",
            "startAt must not be after dueAt",
        )),
        _ => Ok(()),
    }
}

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

fn active(m: &task::Model) -> task::ActiveModel {
    task::ActiveModel {
        id: Set(m.id),
        owner_id: Set(m.owner_id.clone()),
        description: Set(m.description.clone()),
        priority: Set(m.priority),
        start_at: Set(m.start_at),
        due_at: Set(m.due_at),
        done: Set(m.done),
        completed_at: Set(m.completed_at),
        created_at: Set(m.created_at),
        updated_at: Set(m.updated_at),
        version: Set(m.version),
        parent_id: Set(m.parent_id),
        recurrence: Set(m.recurrence.clone()),
        time_zone: Set(m.time_zone.clone()),
        series_start: Set(m.series_start),
        next_occurrence_id: Set(m.next_occurrence_id),
        remind_at: Set(m.remind_at),
        reminded_at: Set(m.reminded_at),
        position: Set(m.position.clone()),
    }
}

/// A zone as stored: its canonical IANA name.
fn canonical_zone(zone: Option<&str>) -> AppResult<Option<String>> {
    Ok(zone
        .map(recurrence::parse_zone)
        .transpose()?
        .map(|z| z.name().to_owned()))
}

fn zone_of(time_zone: &Option<String>) -> &str {
    time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
}

/// Whether `next` begins a new series: its rule, zone or due date changed
/// (or it had none). COUNT and UNTIL then count from its due date.
fn starts_new_series(current: &task::Model, next: &task::Model) -> bool {
    next.recurrence.is_some()
        && (next.recurrence != current.recurrence
            || next.time_zone != current.time_zone
            || next.due_at != current.due_at
            || current.series_start.is_none())
}

/// Whether marking `current` done (as `next`) completes a recurring task
/// that has not yet created its next occurrence.
fn completes_series_step(current: &task::Model, next: &task::Model) -> bool {
    next.done && !current.done && next.recurrence.is_some() && next.next_occurrence_id.is_none()
}

/// The next occurrence of `done`, a recurring task being completed, if its
/// series has one more: the first occurrence strictly after its `due_at`.
/// It keeps the description, priority, rule, zone, series and parent;
/// `start_at` and `remind_at` move as far as `due_at`.
fn next_occurrence(done: &task::Model, at: DateTime<Utc>) -> AppResult<Option<task::Model>> {
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
async fn create_occurrence<C: ConnectionTrait>(
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
async fn copy_categories<C: ConnectionTrait>(
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

/// Writes `next` only if the row is still at `current.version`.
///
/// `reminded_at` is the reminder scheduler's, which fires without a new
/// version: it is written only to clear it for a new `remind_at`, so an
/// update never undoes a reminder that fired after it read the row.
async fn bump<C: ConnectionTrait>(
    db: &C,
    current: &task::Model,
    next: &task::Model,
) -> AppResult<bool> {
    let mut changes = active(next);
    if next.remind_at == current.remind_at {
        changes.reminded_at = sea_orm::ActiveValue::NotSet;
    }
    let result = task::Entity::update_many()
        .set(changes)
        .filter(task::Column::Id.eq(current.id))
        .filter(task::Column::OwnerId.eq(current.owner_id.as_str()))
        .filter(task::Column::Version.eq(current.version))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The owner's task `id`; another owner's is as missing as one that never was.
async fn find_own<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    id: Uuid,
) -> AppResult<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id)
        .filter(task::Column::OwnerId.eq(owner))
        .one(db)
        .await?)
}

async fn ensure_task_exists<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    id: Uuid,
    field: &str,
) -> AppResult<()> {
    if find_own(db, owner, id).await?.is_none() {
        return Err(AppError::not_found_in("Task", field));
    }
    Ok(())
}

async fn ensure_categories_exist<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    ids: &[Uuid],
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = category::Entity::find()
        .filter(category::Column::OwnerId.eq(owner))
        .filter(category::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    if found.len() != ids.len() {
        return Err(AppError::not_found_in("Category", "categoryIds"));
    }
    Ok(())
}

/// Changes of the task tree (sub-tasks created, tasks moved, subtrees
/// deleted) take turns on PostgreSQL: a move cannot close a loop with
/// another, and a deletion finds every sub-task of its subtree, none
/// added meanwhile for the foreign key to cascade away unrecorded. (SQLite
/// has one writer at a time anyway.)
async fn take_turns_with_structure_changes<C: ConnectionTrait>(db: &C) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7316001)")
            .await?;
    }
    Ok(())
}

/// SQLite: takes the database's write lock before the transaction's first
/// read. A transaction that has read cannot wait for another writer's lock
/// (SQLite answers SQLITE_BUSY at once rather than call the busy handler),
/// one that writes first waits for it up to the busy timeout. A statement
/// that changes no row is enough.
async fn write_first<C: ConnectionTrait>(db: &C) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("UPDATE tasks SET version = version WHERE 0")
            .await?;
    }
    Ok(())
}

/// Refuses to hang `task` under `new_parent` when that would make the task its
/// own ancestor.
async fn ensure_not_descendant<C: ConnectionTrait>(
    db: &C,
    task: Uuid,
    new_parent: Uuid,
) -> AppResult<()> {
    if task == new_parent {
        return Err(AppError::bad_input(
            "parentId",
            "a task cannot be its own parent",
        ));
    }
    // Two concurrent moves could each pass the check below and together
    // close a loop.
    take_turns_with_structure_changes(db).await?;
    // The new parent and its ancestors, up to the root: `task` must not be one.
    let start = Query::select()
        .columns([task::Column::Id, task::Column::ParentId])
        .from(task::Entity)
        .and_where(Expr::col(task::Column::Id).eq(new_parent))
        .to_owned();
    let up = Query::select()
        .columns([
            (task::Entity, task::Column::Id),
            (task::Entity, task::Column::ParentId),
        ])
        .from(task::Entity)
        .inner_join(
            ANCESTORS,
            Expr::col((task::Entity, task::Column::Id)).equals((ANCESTORS, task::Column::ParentId)),
        )
        .to_owned();
    let ancestors = recursive(
        ANCESTORS,
        [task::Column::Id, task::Column::ParentId],
        start,
        up,
    );
    let found = Query::select()
        .column(task::Column::Id)
        .from(ANCESTORS)
        .and_where(Expr::col(task::Column::Id).eq(task))
        .to_owned()
        .with(ancestors);
    if db.query_one(&found).await?.is_some() {
        return Err(AppError::bad_input(
            "parentId",
            "a task cannot be moved under one of its own sub-tasks",
        ));
    }
    Ok(())
}

async fn link_categories<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    task: Uuid,
    categories: &[Uuid],
) -> AppResult<()> {
    if categories.is_empty() {
        return Ok(());
    }
    let links = categories.iter().map(|c| task_category::ActiveModel {
        task_id: Set(task),
        category_id: Set(*c),
        owner_id: Set(owner.to_owned()),
    });
    task_category::Entity::insert_many(links)
        .on_conflict(
            OnConflict::columns([
                task_category::Column::TaskId,
                task_category::Column::CategoryId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The recursive common table expressions of the tree walks.
const ANCESTORS: &str = "ancestors";
const SUBTREE: &str = "subtree";

/// `WITH RECURSIVE name (columns) AS (start UNION step)`: `step` joins
/// `name` to find the next rows; UNION (not ALL) stops at rows seen.
fn recursive<const N: usize>(
    name: &'static str,
    columns: [task::Column; N],
    mut start: SelectStatement,
    step: SelectStatement,
) -> WithClause {
    let mut cte = CommonTableExpression::new();
    cte.query(start.union(UnionType::Distinct, step).to_owned())
        .table_name(name);
    for column in columns {
        cte.column(column);
    }
    WithClause::new().recursive(true).cte(cte).to_owned()
}

/// The given tasks and all their descendants.
async fn with_descendants<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    roots: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let start = Query::select()
        .column(task::Column::Id)
        .from(task::Entity)
        .and_where(Expr::col(task::Column::OwnerId).eq(owner))
        .and_where(Expr::col(task::Column::Id).is_in(roots.iter().copied()))
        .to_owned();
    let down = Query::select()
        .column((task::Entity, task::Column::Id))
        .from(task::Entity)
        .inner_join(
            SUBTREE,
            Expr::col((task::Entity, task::Column::ParentId)).equals((SUBTREE, task::Column::Id)),
        )
        .and_where(Expr::col((task::Entity, task::Column::OwnerId)).eq(owner))
        .to_owned();
    let subtree = recursive(SUBTREE, [task::Column::Id], start, down);
    let all = Query::select()
        .column(task::Column::Id)
        .from(SUBTREE)
        .to_owned()
        .with(subtree);
    let rows = db.query_all(&all).await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").map_err(AppError::from))
        .collect()
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
