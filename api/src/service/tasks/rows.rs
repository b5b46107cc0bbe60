//! The task rows a change reads and writes: the owner's own row, the
//! version-checked write, and the checks and links of ids a change names.

use entity::{category, task, task_category};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    prelude::Uuid,
};

use crate::error::{AppError, AppResult};

pub(super) fn active(m: &task::Model) -> task::ActiveModel {
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

/// Writes `next` only if the row is still at `current.version`.
///
/// `reminded_at` is the reminder scheduler's, which fires without a new
/// version: it is written only to clear it for a new `remind_at`, so an
/// update never undoes a reminder that fired after it read the row.
pub(super) async fn bump<C: ConnectionTrait>(
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
pub(super) async fn find_own<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    id: Uuid,
) -> AppResult<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id)
        .filter(task::Column::OwnerId.eq(owner))
        .one(db)
        .await?)
}

pub(super) async fn ensure_task_exists<C: ConnectionTrait>(
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

pub(super) async fn ensure_categories_exist<C: ConnectionTrait>(
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

pub(super) async fn link_categories<C: ConnectionTrait>(
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

/// SQLite: takes the database's write lock before the transaction's first
/// read. A transaction that has read cannot wait for another writer's lock
/// (SQLite answers SQLITE_BUSY at once rather than call the busy handler),
/// one that writes first waits for it up to the busy timeout. A statement
/// that changes no row is enough.
pub(super) async fn write_first<C: ConnectionTrait>(db: &C) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("UPDATE tasks SET version = version WHERE 0")
            .await?;
    }
    Ok(())
}
