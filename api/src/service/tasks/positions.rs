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
//! Between two siblings the crate makes the key. At either end of a list
//! (`after`, `before`) the key is the neighbour's read as a base-255 counter
//! (bytes 0x01 to 0xff) plus or minus a step of 1 to 4096 taken from the
//! placed task's id, widened when it runs out: keys stay the same length for
//! many appends, where the crate's own grow by a byte every 127, and two
//! tasks appended at once get two keys but for one chance in 4096 (then
//! their ids break the tie).
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
pub async fn append<C: ConnectionTrait>(
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

fn decode(key: &str) -> Option<FractionalIndex> {
    let hex =
        key.len().is_multiple_of(2) && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return None;
    }
    let index = FractionalIndex::from_string(key).ok()?;
    (!index.as_bytes().contains(&0)).then_some(index)
}

/// A key for the task `id` strictly between `lower` and `upper` (none: the
/// list's start or end), if one of at most `MAX_KEY_CHARS` without a 0x00
/// byte exists: at an end, the neighbour's counter stepped (`step`).
pub fn key_between(lower: Option<&str>, upper: Option<&str>, id: Uuid) -> Option<String> {
    let step = step_of(id);
    match (lower, upper) {
        (Some(lower), None) => stepped(lower, step, true),
        (None, Some(upper)) => stepped(upper, step, false),
        _ => between(lower, upper),
    }
}

/// 1 to 4096, from the id's last (random) bits.
fn step_of(id: Uuid) -> u64 {
    let bytes = id.as_bytes();
    1 + u64::from(u16::from_be_bytes([bytes[14], bytes[15]]) % 4096)
}

/// A key after (`up`) or before `key`: its digits (all but the terminator)
/// as a base-255 number, plus or minus `step`. When that runs out of
/// digits, the key is widened first: `key`'s digits, then 0x81 and 0x01s
/// (after; 0x7f and 0xffs before) as many as it had, at least one, which
/// sorts right after (before) `key` and leaves room for many more steps.
fn stepped(key: &str, step: u64, up: bool) -> Option<String> {
    let index = decode(key)?;
    let bytes = index.as_bytes();
    let mut digits = bytes[..bytes.len() - 1].to_vec();
    if !add(&mut digits, step, up) {
        let width = digits.len().max(1);
        digits.push(if up { 0x81 } else { 0x7f });
        digits.extend(std::iter::repeat_n(if up { 0x01 } else { 0xff }, width));
        if !add(&mut digits, step, up) {
            return None;
        }
    }
    let mut key: String = digits.iter().map(|d| format!("{d:02x}")).collect();
    key.push_str("80");
    (key.len() <= MAX_KEY_CHARS).then_some(key)
}

/// Adds (or subtracts) `step` to `digits` read as a base-255 number, each
/// byte 0x01 to 0xff one digit; false, and `digits` unchanged, when the
/// result does not fit.
fn add(digits: &mut [u8], step: u64, up: bool) -> bool {
    let mut out = digits.to_vec();
    let mut carry = step;
    for digit in out.iter_mut().rev() {
        if carry == 0 {
            break;
        }
        let value = u64::from(digit.saturating_sub(1));
        let (next, rest) = if up {
            let sum = value + carry;
            (sum % 255, sum / 255)
        } else {
            let borrow = carry.div_ceil(255) * 255;
            let diff = value + borrow - carry;
            // `borrow` is a multiple of 255 at least `carry`: what is left
            // over is borrowed from the next digit.
            (diff % 255, borrow / 255 - diff / 255)
        };
        *digit = next as u8 + 1;
        carry = rest;
    }
    if carry > 0 {
        return false;
    }
    digits.copy_from_slice(&out);
    true
}

/// A key strictly between `lower` and `upper` (the crate's), if one of at
/// most `MAX_KEY_CHARS` without a 0x00 byte exists.
fn between(lower: Option<&str>, upper: Option<&str>) -> Option<String> {
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
                let id = Uuid::now_v7();
                assert!(key_between(Some(last), None, id).is_some_and(|k| k > *last));
                assert!(key_between(None, keys.first().map(String::as_str), id).is_some());
            }
        }
        // What the migration writes for existing rows.
        assert_eq!(spaced(1), vec!["81020280".to_owned()]);
        // The migration's keys (four digits) take keys between them too.
        let mid = between(Some("810101020280"), Some("810101030380")).expect("room");
        assert!("810101020280" < mid.as_str() && mid.as_str() < "810101030380");
    }

    #[test]
    fn keys_at_the_ends_keep_their_length_for_many_steps() {
        let id = Uuid::now_v7();
        for (start, up) in [
            (None, true),
            (Some("81020280"), true),
            (Some("81020280"), false),
        ] {
            let mut key = start.map(str::to_owned);
            let mut longest = 0;
            for _ in 0..20_000 {
                let next = if up {
                    key_between(key.as_deref(), None, Uuid::now_v7())
                } else {
                    key_between(None, key.as_deref(), Uuid::now_v7())
                }
                .expect("a key");
                assert!(decode(&next).is_some(), "{next}");
                if let Some(key) = &key {
                    assert!((up && next > *key) || (!up && next < *key), "{key} {next}");
                }
                longest = longest.max(next.len());
                key = Some(next);
            }
            assert!(longest <= 16, "{start:?} up {up}: {longest}");
        }
        // Two tasks placed at one end at once: two keys, unless their steps meet.
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_ne!(
            key_between(Some("8180"), None, a),
            key_between(Some("8180"), None, b)
        );
        assert!(key_between(Some("81ffff80"), None, id).is_some_and(|k| k.as_str() > "81ffff80"));
        assert!(key_between(None, Some("81010180"), id).is_some_and(|k| k.as_str() < "81010180"));
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
