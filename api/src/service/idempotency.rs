//! `Idempotency-Key`: a POST that names a key runs once per (owner, key)
//! while the key is remembered; a repeat gets the stored response.
//!
//! The `idempotency_keys` table is the lock, across replicas and on both
//! backends: a request claims its key by inserting the row
//! (`INSERT ... ON CONFLICT DO NOTHING`), runs, and fills the response in
//! (or, when the answer is worth a retry, deletes the row). A repeat finds
//! the row: with a response, it replays it; without, the first request is
//! still running (unless its claim is older than [`STALE_CLAIM`]: its
//! replica died or lost it, and the repeat takes the claim over). `claim`
//! names the holder, so a claimer whose claim was taken over stores
//! nothing. Times are compared here, not in SQL, so both backends agree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::idempotency_key::{self, ActiveModel, Column, Entity};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement,
    prelude::Uuid,
};

use crate::error::AppResult;

/// A claim this old without a response is taken over by a repeat: the
/// request that made it is gone (the longest request runs for
/// `HTTP_REQUEST_TIMEOUT_SECS`, far less).
pub(crate) const STALE_CLAIM: Duration = Duration::from_secs(60);
/// Keys one owner keeps at most; the expiry task drops the oldest beyond.
pub(crate) const MAX_KEYS_PER_OWNER: u64 = 10_000;

/// A response as stored, and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

/// What a request with a key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// It holds the key: run, then [`complete`] or [`release`].
    Claimed(Uuid),
    /// The same request already ran: its response.
    Replay(Stored),
    /// The key was used with another request body.
    Reused,
    /// The first request with this key is still running.
    InFlight,
}

/// Claims `key` for `owner`'s request whose body hashes to `hash`.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
    hash: &str,
    ttl: Duration,
) -> AppResult<Claim> {
    // A few rounds at most: a row that expired or was released between our
    // insert and our read is gone the next time.
    for _ in 0..3 {
        let now = crate::service::now();
        let claim = Uuid::now_v7();
        let row = ActiveModel {
            owner_id: Set(owner.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(hash.to_owned()),
            claim: Set(claim),
            created_at: Set(now),
            claimed_at: Set(now),
            response_status: Set(None),
            response_content_type: Set(None),
            response_body: Set(None),
            completed_at: Set(None),
        };
        let inserted = Entity::insert(row)
            .on_conflict(
                OnConflict::columns([Column::OwnerId, Column::Key])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        if inserted == 1 {
            return Ok(Claim::Claimed(claim));
        }
        let Some(found) = Entity::find_by_id((owner.to_owned(), key.to_owned()))
            .one(db)
            .await?
        else {
            continue;
        };
        if older_than(found.created_at, now, ttl) {
            // Expired: forgotten, and this request runs as a new one.
            delete(db, owner, key, found.claim).await?;
            continue;
        }
        if found.request_hash != hash {
            return Ok(Claim::Reused);
        }
        if let (Some(status), Some(content_type), Some(body)) = (
            found.response_status,
            found.response_content_type,
            found.response_body,
        ) {
            return Ok(Claim::Replay(Stored {
                status: u16::try_from(status).unwrap_or(500),
                content_type,
                body,
            }));
        }
        if !older_than(found.claimed_at, now, STALE_CLAIM) {
            return Ok(Claim::InFlight);
        }
        // A stale claim: take it over, unless someone else just did.
        let taken = Entity::update_many()
            .col_expr(Column::Claim, Expr::value(claim))
            .col_expr(Column::ClaimedAt, Expr::value(now))
            .filter(Column::OwnerId.eq(owner))
            .filter(Column::Key.eq(key))
            .filter(Column::Claim.eq(found.claim))
            .filter(Column::ResponseStatus.is_null())
            .exec(db)
            .await?
            .rows_affected;
        if taken == 1 {
            return Ok(Claim::Claimed(claim));
        }
    }
    Ok(Claim::InFlight)
}

fn older_than(at: DateTime<Utc>, now: DateTime<Utc>, age: Duration) -> bool {
    chrono::Duration::from_std(age).is_ok_and(|age| at < now - age)
}

/// Stores the response of the request holding `claim`; false when its
/// claim was taken over meanwhile (nothing stored).
pub(crate) async fn complete(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
    claim: Uuid,
    response: &Stored,
) -> AppResult<bool> {
    let stored = Entity::update_many()
        .col_expr(
            Column::ResponseStatus,
            Expr::value(i32::from(response.status)),
        )
        .col_expr(
            Column::ResponseContentType,
            Expr::value(response.content_type.clone()),
        )
        .col_expr(Column::ResponseBody, Expr::value(response.body.clone()))
        .col_expr(Column::CompletedAt, Expr::value(crate::service::now()))
        .filter(Column::OwnerId.eq(owner))
        .filter(Column::Key.eq(key))
        .filter(Column::Claim.eq(claim))
        .exec(db)
        .await?
        .rows_affected;
    Ok(stored == 1)
}

/// Gives the key up: a retry runs again.
pub(crate) async fn release(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
    claim: Uuid,
) -> AppResult<()> {
    delete(db, owner, key, claim).await
}

async fn delete(db: &impl ConnectionTrait, owner: &str, key: &str, claim: Uuid) -> AppResult<()> {
    Entity::delete_many()
        .filter(Column::OwnerId.eq(owner))
        .filter(Column::Key.eq(key))
        .filter(Column::Claim.eq(claim))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes keys older than `ttl`, and each owner's oldest beyond
/// `per_owner`; returns how many went.
pub async fn expire(db: &impl ConnectionTrait, ttl: Duration, per_owner: u64) -> AppResult<u64> {
    let mut deleted = 0;
    if let Ok(age) = chrono::Duration::from_std(ttl)
        && let Some(cutoff) = Utc::now().checked_sub_signed(age)
    {
        deleted += Entity::delete_many()
            .filter(Column::CreatedAt.lt(cutoff))
            .exec(db)
            .await?
            .rows_affected;
    }
    let backend = db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    // Owners over the cap: their newest `per_owner` stay.
    let over_cap = format!(
        "DELETE FROM idempotency_keys WHERE (owner_id, key) IN (\
           SELECT owner_id, key FROM (\
             SELECT owner_id, key, ROW_NUMBER() OVER (\
               PARTITION BY owner_id ORDER BY created_at DESC, key DESC) AS n \
             FROM idempotency_keys) ranked \
           WHERE n > {placeholder})"
    );
    deleted += db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            over_cap,
            [i64::try_from(per_owner).unwrap_or(i64::MAX).into()],
        ))
        .await?
        .rows_affected();
    Ok(deleted)
}

/// The row of `owner`'s `key`, if any (tests and tools).
pub async fn find(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
) -> AppResult<Option<idempotency_key::Model>> {
    Ok(Entity::find_by_id((owner.to_owned(), key.to_owned()))
        .one(db)
        .await?)
}
