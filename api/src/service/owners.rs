//! Handing one owner's rows to another: what turning sign-in on for a
//! database used in single-user mode needs (the built-in owner's tasks stay
//! its own, invisible to every token, until they are handed to a subject).
//!
//! One transaction moves every task, category and link, and records the
//! move in the event log as any write does: the receiving owner's
//! subscribers hear each task `CREATED` (it appeared for them), the previous
//! owner's hear it `DELETED` (it left their view). Past events stay with the
//! owner that had them.

use entity::{category, task, task_category};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter};

use super::{Owner, Store};
use crate::error::{AppError, AppResult};
use crate::events::{self, Change};

/// Events recorded per statement (a bound on the statement's parameters).
const EVENT_BATCH: usize = 500;

/// What a transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferred {
    pub tasks: u64,
    pub categories: u64,
}

/// Moves every task and category of `from` to `to`, with their events.
/// Refused when `to` has tasks or categories already (nothing is merged, so
/// no category name can clash), when both are the same owner, and with
/// row-level security on (its policies let no statement move a row from
/// one owner to another).
pub async fn transfer(store: &Store, from: &Owner, to: &Owner) -> AppResult<Transferred> {
    if from == to {
        return Err(AppError::bad_input(
            "to",
            "the receiving owner is the previous owner",
        ));
    }
    if store.row_level_security && store.db.get_database_backend() == DbBackend::Postgres {
        return Err(AppError::Conflict {
            field: None,
            message: "row-level security lets no statement move a row from one owner to \
                      another: run the transfer before turning DB_ROW_LEVEL_SECURITY on"
                .into(),
        });
    }
    let txn = store.scoped(from).begin().await?;
    if store.db.get_database_backend() == DbBackend::Postgres {
        // The task tree's writers take turns on this lock (service/tasks):
        // no sub-task is added under a moving task meanwhile.
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7316001)")
            .await?;
    }
    let theirs = task::Entity::find()
        .filter(task::Column::OwnerId.eq(to.as_str()))
        .count(&txn)
        .await?
        + category::Entity::find()
            .filter(category::Column::OwnerId.eq(to.as_str()))
            .count(&txn)
            .await?;
    if theirs > 0 {
        return Err(AppError::Conflict {
            field: Some("to".into()),
            message: format!(
                "the owner \"{}\" has tasks or categories already; nothing was changed \
                 (a transfer goes to an owner with none)",
                to.as_str()
            ),
        });
    }
    let moving = task::Entity::find()
        .filter(task::Column::OwnerId.eq(from.as_str()))
        .all(&txn)
        .await?;
    task::Entity::update_many()
        .col_expr(task::Column::OwnerId, Expr::value(to.as_str()))
        .filter(task::Column::OwnerId.eq(from.as_str()))
        .exec(&txn)
        .await?;
    let categories = category::Entity::update_many()
        .col_expr(category::Column::OwnerId, Expr::value(to.as_str()))
        .filter(category::Column::OwnerId.eq(from.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    task_category::Entity::update_many()
        .col_expr(task_category::Column::OwnerId, Expr::value(to.as_str()))
        .filter(task_category::Column::OwnerId.eq(from.as_str()))
        .exec(&txn)
        .await?;
    for batch in moving.chunks(EVENT_BATCH) {
        let left: Vec<Change> = batch
            .iter()
            // One past the version it had, as every deletion says.
            .map(|t| Change::Deleted {
                id: t.id,
                version: t.version + 1,
            })
            .collect();
        let appeared: Vec<Change> = batch
            .iter()
            .map(|t| {
                Change::Created(task::Model {
                    owner_id: to.as_str().to_owned(),
                    ..t.clone()
                })
            })
            .collect();
        events::record(&txn, from.as_str(), &left).await?;
        events::record(&txn, to.as_str(), &appeared).await?;
    }
    events::commit(txn, &store.wake).await?;
    Ok(Transferred {
        tasks: moving.len() as u64,
        categories,
    })
}
