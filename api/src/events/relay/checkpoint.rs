//! Each sink's row in `event_sinks`: how far it got, who publishes, and
//! whether it stopped. The position moves only after the broker
//! acknowledged, and only for the publisher whose epoch is current (a
//! fencing token): one whose lease passed on can no longer move it.

use chrono::{DateTime, Utc};
use entity::event_sink;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::error::AppResult;

/// A publisher's claim on its sink.
pub struct Claim {
    pub epoch: i64,
    pub delivered_through: i64,
    pub stopped: bool,
}

/// Registers `sink` if it is new, starting after `head` (a sink added
/// today publishes from today, not the whole retained log), and marks it
/// seen: retention keeps what a registered, recently seen sink still needs.
pub async fn register(db: &impl ConnectionTrait, sink: &str, head: i64) -> AppResult<()> {
    let now = crate::store::now();
    event_sink::Entity::insert(event_sink::ActiveModel {
        name: Set(sink.to_owned()),
        delivered_through: Set(head),
        delivered_at: Set(None),
        seen_at: Set(now),
        epoch: Set(0),
        stopped_at: Set(None),
        stopped_reason: Set(None),
    })
    .on_conflict(
        OnConflict::column(event_sink::Column::Name)
            .update_column(event_sink::Column::SeenAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Takes the sink over: a new epoch, and where to go on from.
pub async fn claim(db: &DatabaseConnection, sink: &str, head: i64) -> AppResult<Claim> {
    let txn = db.begin().await?;
    register(&txn, sink, head).await?;
    event_sink::Entity::update_many()
        .col_expr(
            event_sink::Column::Epoch,
            Expr::col(event_sink::Column::Epoch).add(1),
        )
        .filter(event_sink::Column::Name.eq(sink))
        .exec(&txn)
        .await?;
    let row = event_sink::Entity::find_by_id(sink.to_owned())
        .one(&txn)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("event sink {sink}")))?;
    txn.commit().await?;
    Ok(Claim {
        epoch: row.epoch,
        delivered_through: row.delivered_through,
        stopped: row.stopped_at.is_some(),
    })
}

/// Records that everything through `position` was acknowledged; false
/// when another publisher took the sink over meanwhile.
pub async fn advance(
    db: &DatabaseConnection,
    sink: &str,
    epoch: i64,
    position: i64,
) -> AppResult<bool> {
    let now = crate::store::now();
    let moved = event_sink::Entity::update_many()
        .col_expr(event_sink::Column::DeliveredThrough, Expr::value(position))
        .col_expr(event_sink::Column::DeliveredAt, Expr::value(now))
        .filter(event_sink::Column::Name.eq(sink))
        .filter(event_sink::Column::Epoch.eq(epoch))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// The receiver is gone for good: the sink stops on every replica until an
/// operator clears `stopped_at`.
pub async fn stop(db: &DatabaseConnection, sink: &str, epoch: i64, reason: &str) -> AppResult<()> {
    event_sink::Entity::update_many()
        .col_expr(
            event_sink::Column::StoppedAt,
            Expr::value(crate::store::now()),
        )
        .col_expr(event_sink::Column::StoppedReason, Expr::value(reason))
        .filter(event_sink::Column::Name.eq(sink))
        .filter(event_sink::Column::Epoch.eq(epoch))
        .exec(db)
        .await?;
    Ok(())
}

/// The rows of these sinks, marked seen now.
pub async fn seen(db: &DatabaseConnection, sinks: &[&str]) -> AppResult<Vec<event_sink::Model>> {
    event_sink::Entity::update_many()
        .col_expr(event_sink::Column::SeenAt, Expr::value(crate::store::now()))
        .filter(event_sink::Column::Name.is_in(sinks.iter().copied()))
        .exec(db)
        .await?;
    Ok(event_sink::Entity::find()
        .filter(event_sink::Column::Name.is_in(sinks.iter().copied()))
        .all(db)
        .await?)
}

/// Retention may delete events up to this position at most: the oldest
/// checkpoint of a running sink seen since `since` (a sink no replica has
/// been configured with for that long no longer holds the log). `None`:
/// no sink holds anything.
pub async fn held_through(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> AppResult<Option<i64>> {
    let rows = event_sink::Entity::find()
        .filter(event_sink::Column::StoppedAt.is_null())
        .filter(event_sink::Column::SeenAt.gt(since))
        .all(db)
        .await?;
    Ok(rows.iter().map(|row| row.delivered_through).min())
}
