//! The service layer: plain async functions over the database, free of
//! GraphQL, used by the resolvers and callable directly from tests. Reads take
//! the pool; writes take a [`Store`], which records every change's events.

pub mod categories;
pub mod page;
pub mod sql;
pub mod tasks;

use std::collections::HashSet;
use std::hash::Hash;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::error::AppResult;
use crate::events::{self, Change, Wake};

/// The database as the service layer changes it: the pool, and this
/// replica's event tail to wake when a change commits.
#[derive(Clone)]
pub struct Store {
    pub db: DatabaseConnection,
    pub wake: Wake,
}

impl Store {
    /// Records `changes` in `txn` and commits it: the change and its events
    /// both, or neither.
    pub async fn commit(&self, txn: DatabaseTransaction, changes: &[Change]) -> AppResult<()> {
        events::record(&txn, changes).await?;
        events::commit(txn, &self.wake).await
    }
}

/// The current time at the precision every backend stores (microseconds), so a
/// value reads back exactly as it was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn to_stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// `items` without repeats, in first-seen order.
pub fn unique<T: Eq + Hash + Copy>(items: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|item| seen.insert(*item))
        .collect()
}
