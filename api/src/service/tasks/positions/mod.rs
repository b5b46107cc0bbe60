//! Manual order: where a task stands among its siblings (the owner's tasks
//! with the same parent; no parent is the top level).
//!
//! A task's `position` is a fractional key (the `fractional_index` crate:
//! bytes ending in 0x80, written as lower-case hex) that sorts it between its
//! neighbours, so a move writes the moved task only. Keys are compared byte
//! by byte: PostgreSQL's column is `COLLATE "C"` and SQLite compares text
//! bytewise, and hex digits sort alike in every collation anyway.
//!
//! Every change of a list's order takes the list's turn (`lock_list`), so
//! two moves into one gap are made one after the other and get two keys;
//! except a new task at the end of its list (`append`), which shares its
//! turn with other appends (one owner's creates do not wait for each other,
//! only for moves and compactions of their list, and those for them).
//!
//! The keys themselves, and how one is made between two others, are
//! `keys.rs`'s.

mod keys;

use chrono::{DateTime, Utc};
use entity::task;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, prelude::Uuid,
};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

use keys::{key_between, spaced};

/// Where a task goes in its list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Place {
    /// After the last sibling.
    #[default]
    End,
    /// Right before this sibling.
    Before(Uuid),
    /// Right after this sibling.
    After(Uuid),
}

impl Place {
    /// From a request's `before` and `after`: at most one of the two.
    pub(crate) fn of(before: Option<Uuid>, after: Option<Uuid>) -> AppResult<Self> {
        match (before, after) {
            (Some(_), Some(_)) => Err(AppError::bad_input(
                "before",
                "give `before` or `after`, not both",
            )),
            (Some(id), None) => Ok(Self::Before(id)),
            (None, Some(id)) => Ok(Self::After(id)),
            (None, None) => Ok(Self::End),
        }
    }

    fn field(self) -> &'static str {
        match self {
            Self::After(_) => "after",
            _ => "before",
        }
    }
}

/// A key for a task and the siblings a compaction gave new keys (with their
/// versions and `updated_at` moved on, already written).
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub(crate) key: String,
    pub(crate) rekeyed: Vec<task::Model>,
}

/// Waits for the list's turn (PostgreSQL; SQLite has one writer at a time),
/// until the transaction ends. Taken after the structure lock and before
/// any row lock, by every change that writes keys of the list.
pub(crate) async fn lock_list<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
) -> AppResult<()> {
    lock_list_as(db, owner, parent, false).await
}

/// The list's turn, `shared` with others that take it shared (appends).
async fn lock_list_as<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    shared: bool,
) -> AppResult<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut hash = Sha256::new();
    hash.update(owner.as_bytes());
    hash.update([0]);
    if let Some(parent) = parent {
        hash.update(parent.as_bytes());
    }
    let digest = hash.finalize();
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let function = if shared {
        "pg_advisory_xact_lock_shared"
    } else {
        "pg_advisory_xact_lock"
    };
    db.execute_unprepared(&format!("SELECT {function}(7316002, {key})"))
        .await?;
    Ok(())
}

/// Locks the lists of `tasks` in one order, so that two changes that lock
/// several never wait for each other.
pub(crate) async fn lock_lists<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    mut parents: Vec<Option<Uuid>>,
) -> AppResult<()> {
    parents.sort_unstable();
    parents.dedup();
    for parent in parents {
        lock_list(db, owner, parent).await?;
    }
    Ok(())
}

fn siblings(owner: &str, parent: Option<Uuid>, moving: Option<Uuid>) -> Select<task::Entity> {
    let mut select = task::Entity::find().filter(task::Column::OwnerId.eq(owner));
    select = match parent {
        Some(parent) => select.filter(task::Column::ParentId.eq(parent)),
        None => select.filter(task::Column::ParentId.is_null()),
    };
    if let Some(moving) = moving {
        select = select.filter(task::Column::Id.ne(moving));
    }
    select
}

/// A key for a task placed in the list `(owner, parent)`; `moving` is the
/// task itself when it is in the list already (a move). Takes the list's
/// turn. An anchor of another owner, or none, is NOT_FOUND; one that is not
/// a sibling, or the task itself, BAD_USER_INPUT.
pub(crate) async fn place<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
    place: Place,
    at: DateTime<Utc>,
) -> AppResult<Placed> {
    lock_list(db, owner, parent).await?;
    let (lower, upper) = match place {
        Place::End => (last_key(db, owner, parent, moving).await?, None),
        Place::Before(anchor) | Place::After(anchor) => {
            let anchor = anchor_of(db, owner, parent, moving, anchor, place.field()).await?;
            let after = matches!(place, Place::After(_));
            let next = neighbour(db, owner, parent, moving, &anchor, after).await?;
            let next = next.map(|t| t.position);
            if after {
                (Some(anchor.position), next)
            } else {
                (next, Some(anchor.position))
            }
        }
    };
    let id = moving.unwrap_or_else(Uuid::now_v7);
    match key_between(lower.as_deref(), upper.as_deref(), id) {
        Some(key) => Ok(Placed {
            key,
            rekeyed: Vec::new(),
        }),
        None => compact(db, owner, parent, moving, place, at).await,
    }
}

/// A key at the end of the list `(owner, parent)` for the new task `id`,
/// sharing the list's turn with other appends: the last sibling's key
/// stepped by `id`'s step, so that tasks appended at once do not share a key
/// (but for one chance in 4096). A list to compact is compacted in that
/// shared turn (no move runs meanwhile; its rows are locked).
pub(crate) async fn append<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    id: Uuid,
    at: DateTime<Utc>,
) -> AppResult<Placed> {
    lock_list_as(db, owner, parent, true).await?;
    let last = last_key(db, owner, parent, None).await?;
    if let Some(key) = key_between(last.as_deref(), None, id) {
        return Ok(Placed {
            key,
            rekeyed: Vec::new(),
        });
    }
    compact(db, owner, parent, None, Place::End, at).await
}

/// The key of the list's last task (but `moving`), if it has one.
async fn last_key<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
) -> AppResult<Option<String>> {
    let last = siblings(owner, parent, moving)
        .order_by_desc(task::Column::Position)
        .order_by_desc(task::Column::Id)
        .one(db)
        .await?;
    Ok(last.map(|t| t.position))
}

/// The sibling a task is placed next to.
async fn anchor_of<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
    anchor: Uuid,
    field: &str,
) -> AppResult<task::Model> {
    let found = task::Entity::find_by_id(anchor)
        .filter(task::Column::OwnerId.eq(owner))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found_in("Task", field))?;
    if Some(anchor) == moving {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` names the task itself: name one of its siblings"),
        ));
    }
    if found.parent_id != parent {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must be a sibling: a task with the same parent"),
        ));
    }
    Ok(found)
}

/// The sibling right after (or right before) `anchor` in (position, id) order.
async fn neighbour<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
    anchor: &task::Model,
    after: bool,
) -> AppResult<Option<task::Model>> {
    let key = anchor.position.as_str();
    let beyond = if after {
        Condition::any().add(task::Column::Position.gt(key)).add(
            Condition::all()
                .add(task::Column::Position.eq(key))
                .add(task::Column::Id.gt(anchor.id)),
        )
    } else {
        Condition::any().add(task::Column::Position.lt(key)).add(
            Condition::all()
                .add(task::Column::Position.eq(key))
                .add(task::Column::Id.lt(anchor.id)),
        )
    };
    let select = siblings(owner, parent, moving).filter(beyond);
    let select = if after {
        select
            .order_by_asc(task::Column::Position)
            .order_by_asc(task::Column::Id)
    } else {
        select
            .order_by_desc(task::Column::Position)
            .order_by_desc(task::Column::Id)
    };
    Ok(select.one(db).await?)
}

/// Rewrites the keys of the list `(owner, parent)` evenly, with room for the
/// placed task where `place` says; returns its key and the siblings whose
/// keys changed. The rows are locked (PostgreSQL) as they are read.
async fn compact<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
    place: Place,
    at: DateTime<Utc>,
) -> AppResult<Placed> {
    let list = siblings(owner, parent, moving)
        .order_by_asc(task::Column::Position)
        .order_by_asc(task::Column::Id)
        .lock_exclusive()
        .all(db)
        .await?;
    let index_of = |id: Uuid| list.iter().position(|t| t.id == id);
    let index = match place {
        Place::End => list.len(),
        Place::Before(anchor) => index_of(anchor).unwrap_or(list.len()),
        Place::After(anchor) => index_of(anchor).map_or(list.len(), |i| i + 1),
    };
    let mut keys = spaced(list.len() + 1);
    let key = keys.remove(index);
    let mut rekeyed = Vec::new();
    for (task, key) in list.into_iter().zip(keys) {
        if task.position == key {
            continue;
        }
        let next = task::Model {
            position: key,
            updated_at: at,
            version: task.version + 1,
            ..task
        };
        task::Entity::update_many()
            .set(task::ActiveModel {
                position: Set(next.position.clone()),
                updated_at: Set(next.updated_at),
                version: Set(next.version),
                ..Default::default()
            })
            .filter(task::Column::Id.eq(next.id))
            .filter(task::Column::OwnerId.eq(owner))
            .exec(db)
            .await?;
        rekeyed.push(next);
    }
    Ok(Placed { key, rekeyed })
}
