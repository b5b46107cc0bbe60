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
//! two moves into one gap are made one after the other and get two keys.
//! A key that would grow past `MAX_KEY_CHARS` (or could not be made: two
//! equal keys, one that is not a key) is not written: the list is compacted
//! instead, all its keys rewritten evenly in the same transaction, each task
//! whose key changed with its own version and event.
//!
//! The crate subtracts one from a byte of the upper key without checking
//! for 0 (it panics, or in a release build yields a key out of order, when
//! both keys share a 0x00 byte), so no key written here holds a 0x00 byte:
//! one the crate makes with it counts as too long.

use chrono::{DateTime, Utc};
use entity::task;
use fractional_index::FractionalIndex;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, prelude::Uuid,
};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// Past this many characters a key is not written: its list is compacted.
pub const MAX_KEY_CHARS: usize = 32;

/// Compacted keys leave this much room between neighbours: eight halvings
/// before a key between two of them grows.
const SPACING: u64 = 256;
/// The digits of a compacted key: bytes 0x01 to 0xff (never 0x00).
const DIGITS: u64 = 255;

/// Where a task goes in its list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Place {
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
    pub fn of(before: Option<Uuid>, after: Option<Uuid>) -> AppResult<Self> {
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
pub struct Placed {
    pub key: String,
    pub rekeyed: Vec<task::Model>,
}

/// Waits for the list's turn (PostgreSQL; SQLite has one writer at a time),
/// until the transaction ends. Taken after the structure lock and before
/// any row lock, by every change that writes keys of the list.
pub async fn lock_list<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
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
    db.execute_unprepared(&format!("SELECT pg_advisory_xact_lock(7316002, {key})"))
        .await?;
    Ok(())
}

/// Locks the lists of `tasks` in one order, so that two changes that lock
/// several never wait for each other.
pub async fn lock_lists<C: ConnectionTrait>(
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
pub async fn place<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    parent: Option<Uuid>,
    moving: Option<Uuid>,
    place: Place,
    at: DateTime<Utc>,
) -> AppResult<Placed> {
    lock_list(db, owner, parent).await?;
    let (lower, upper) = match place {
        Place::End => {
            let last = siblings(owner, parent, moving)
                .order_by_desc(task::Column::Position)
                .order_by_desc(task::Column::Id)
                .one(db)
                .await?;
            (last.map(|t| t.position), None)
        }
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
    match between(lower.as_deref(), upper.as_deref()) {
        Some(key) => Ok(Placed {
            key,
            rekeyed: Vec::new(),
        }),
        None => compact(db, owner, parent, moving, place, at).await,
    }
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

fn decode(key: &str) -> Option<FractionalIndex> {
    let hex =
        key.len().is_multiple_of(2) && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return None;
    }
    let index = FractionalIndex::from_string(key).ok()?;
    (!index.as_bytes().contains(&0)).then_some(index)
}

/// A key strictly between `lower` and `upper` (none: the list's start or
/// end), if one of at most `MAX_KEY_CHARS` without a 0x00 byte exists.
pub fn between(lower: Option<&str>, upper: Option<&str>) -> Option<String> {
    let lower = lower.map(decode).map_or(Some(None), |k| k.map(Some))?;
    let upper = upper.map(decode).map_or(Some(None), |k| k.map(Some))?;
    let key = FractionalIndex::new(lower.as_ref(), upper.as_ref())?;
    if key.as_bytes().contains(&0) {
        return None;
    }
    let key = key.to_string();
    (key.len() <= MAX_KEY_CHARS).then_some(key)
}

/// `n` keys, evenly spaced and all of one length: 0x81, digits 0x01 to 0xff,
/// then the terminator (what the migration gives existing rows, in four
/// digits). The lead 0x81 keeps the keys before the first and after the
/// last short: `80` and `82 80`.
pub fn spaced(n: usize) -> Vec<String> {
    let n = n as u64;
    let needed = (n + 1).saturating_mul(SPACING);
    let mut width = 2_u32;
    while DIGITS.checked_pow(width).is_some_and(|room| room <= needed) {
        width += 1;
    }
    (1..=n)
        .map(|rank| {
            let mut value = rank * SPACING;
            let mut digits = vec![0_u8; width as usize];
            for digit in digits.iter_mut().rev() {
                *digit = (value % DIGITS) as u8 + 1;
                value /= DIGITS;
            }
            let mut key = "81".to_owned();
            key.extend(digits.iter().map(|d| format!("{d:02x}")));
            key.push_str("80");
            key
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_keys_sort_and_leave_room() {
        for n in [0, 1, 2, 10, 254, 255, 300, 70_000] {
            let keys = spaced(n);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{n}");
            for pair in keys.windows(2) {
                let mid = between(Some(&pair[0]), Some(&pair[1])).expect("room");
                assert!(pair[0] < mid && mid < pair[1]);
            }
            if let Some(last) = keys.last() {
                assert!(decode(last).is_some());
                assert!(between(Some(last), None).is_some_and(|k| k > *last));
                assert!(between(None, keys.first().map(String::as_str)).is_some());
            }
        }
        // What the migration writes for existing rows.
        assert_eq!(spaced(1), vec!["81020280".to_owned()]);
        assert_eq!(between(None, Some("81020280")).as_deref(), Some("80"));
        assert_eq!(between(Some("81020280"), None).as_deref(), Some("8280"));
    }

    #[test]
    fn repeated_moves_into_one_spot_grow_the_key_until_compaction() {
        let (low, high) = ("8180".to_owned(), "8280".to_owned());
        let mut upper = high;
        let mut moves = 0;
        while let Some(key) = between(Some(&low), Some(&upper)) {
            assert!(low < key && key < upper);
            upper = key;
            moves += 1;
        }
        assert!(moves > 20, "{moves}");
        assert!(between(Some("80"), Some("80")).is_none());
        assert!(between(Some("zz"), None).is_none());
    }
}
