//! Handing one owner's rows to another: what turning sign-in on for a
//! database used in single-user mode needs (the built-in owner's tasks stay
//! its own, invisible to every token, until they are handed to a subject).
//!
//! One transaction moves every task, category and link, and records the
//! move in the event log as any write does (with row-level security on,
//! whose policies let no statement change a row's owner, it deletes the
//! rows as the previous owner and writes them again, ids, times and
//! versions kept, as the receiving one): the receiving owner's
//! subscribers hear each task `CREATED` (it appeared for them), the previous
//! owner's hear it `DELETED` (it left their view). Past events stay with the
//! owner that had them.

use std::collections::HashSet;

use entity::{category, task, task_category};
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter};

use super::{Owner, Store};
use crate::error::{AppError, AppResult};
use crate::events::{self, Change};
use crate::store::{Txn, set_owner};

/// Events recorded per statement (a bound on the statement's parameters).
const EVENT_BATCH: usize = 500;
/// Rows written again per statement with row-level security.
const ROW_BATCH: usize = 500;

/// What a transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferred {
    pub tasks: u64,
    pub categories: u64,
}

/// Moves every task and category of `from` to `to`, with their events.
/// Refused when `to` has tasks or categories already (nothing is merged, so
/// no category name can clash) and when both are the same owner.
pub(crate) async fn transfer(store: &Store, from: &Owner, to: &Owner) -> AppResult<Transferred> {
    if from == to {
        return Err(AppError::bad_input(
            "to",
            "the receiving owner is the previous owner",
        ));
    }
    let rls = store.row_level_security && store.db.get_database_backend() == DbBackend::Postgres;
    let txn = store.scoped(from).begin().await?;
    if store.db.get_database_backend() == DbBackend::Postgres {
        // The task tree's writers take turns on this lock (service/tasks):
        // no sub-task is added under a moving task meanwhile.
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7316001)")
            .await?;
    }
    if rls {
        set_owner(&txn, to.as_str()).await?;
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
    if rls {
        set_owner(&txn, from.as_str()).await?;
    }
    let moving = task::Entity::find()
        .filter(task::Column::OwnerId.eq(from.as_str()))
        .all(&txn)
        .await?;
    let categories = if rls {
        copy_and_delete(&txn, from, to, &moving).await?
    } else {
        update_owner(&txn, from, to).await?
    };
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
        // Each owner's events under that owner (what the policies check).
        if rls {
            set_owner(&txn, from.as_str()).await?;
        }
        events::record(&txn, from.as_str(), &left).await?;
        if rls {
            set_owner(&txn, to.as_str()).await?;
        }
        events::record(&txn, to.as_str(), &appeared).await?;
    }
    events::commit(txn, &store.wake).await?;
    Ok(Transferred {
        tasks: moving.len() as u64,
        categories,
    })
}

/// Without row-level security: each row's owner changed in place. Returns
/// how many categories moved.
async fn update_owner(txn: &Txn, from: &Owner, to: &Owner) -> AppResult<u64> {
    task::Entity::update_many()
        .col_expr(task::Column::OwnerId, Expr::value(to.as_str()))
        .filter(task::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?;
    let categories = category::Entity::update_many()
        .col_expr(category::Column::OwnerId, Expr::value(to.as_str()))
        .filter(category::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?
        .rows_affected;
    task_category::Entity::update_many()
        .col_expr(task_category::Column::OwnerId, Expr::value(to.as_str()))
        .filter(task_category::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?;
    Ok(categories)
}

/// With row-level security (`app.owner_id` naming `from`): every row read
/// and deleted as `from`, then written again as `to`, ids, times and
/// versions kept; tasks parents first. Returns how many categories moved.
async fn copy_and_delete(
    txn: &Txn,
    from: &Owner,
    to: &Owner,
    moving: &[task::Model],
) -> AppResult<u64> {
    let categories = category::Entity::find()
        .filter(category::Column::OwnerId.eq(from.as_str()))
        .all(txn)
        .await?;
    let links = task_category::Entity::find()
        .filter(task_category::Column::OwnerId.eq(from.as_str()))
        .all(txn)
        .await?;
    task_category::Entity::delete_many()
        .filter(task_category::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?;
    task::Entity::delete_many()
        .filter(task::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?;
    category::Entity::delete_many()
        .filter(category::Column::OwnerId.eq(from.as_str()))
        .exec(txn)
        .await?;
    set_owner(txn, to.as_str()).await?;
    let owner = to.as_str().to_owned();
    for batch in categories.chunks(ROW_BATCH) {
        category::Entity::insert_many(batch.iter().map(|c| {
            category::ActiveModel::from(category::Model {
                owner_id: owner.clone(),
                ..c.clone()
            })
        }))
        .exec_without_returning(txn)
        .await?;
    }
    for batch in parents_first(moving).chunks(ROW_BATCH) {
        task::Entity::insert_many(batch.iter().map(|t| {
            task::ActiveModel::from(task::Model {
                owner_id: owner.clone(),
                ..(*t).clone()
            })
        }))
        .exec_without_returning(txn)
        .await?;
    }
    for batch in links.chunks(ROW_BATCH) {
        task_category::Entity::insert_many(batch.iter().map(|l| {
            task_category::ActiveModel::from(task_category::Model {
                owner_id: owner.clone(),
                ..l.clone()
            })
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(categories.len() as u64)
}

/// `tasks` ordered so that every parent comes before its sub-tasks.
fn parents_first(tasks: &[task::Model]) -> Vec<&task::Model> {
    let mut placed: HashSet<Uuid> = HashSet::with_capacity(tasks.len());
    let mut ordered = Vec::with_capacity(tasks.len());
    let mut rest: Vec<&task::Model> = tasks.iter().collect();
    while !rest.is_empty() {
        let before = rest.len();
        rest.retain(|t| {
            let ready = t.parent_id.is_none_or(|p| placed.contains(&p));
            if ready {
                placed.insert(t.id);
                ordered.push(*t);
            }
            !ready
        });
        if rest.len() == before {
            // A parent outside the set (cannot happen: a tree is one
            // owner's); keep them rather than loop.
            ordered.append(&mut rest);
        }
    }
    ordered
}
