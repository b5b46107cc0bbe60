//! The service layer: plain async functions over the database, free of
//! GraphQL, used by the resolvers and callable directly from tests. Every
//! function takes a [`Scoped`]: one owner's view of the [`Store`], which also
//! records every change's events.

pub mod categories;
pub mod idempotency;
pub mod owners;
pub mod page;
pub mod reminders;
mod scope;
pub mod search;
pub mod tasks;

use std::collections::HashSet;
use std::hash::Hash;

use chrono::{DateTime, SubsecRound, Utc};

pub use scope::{EVERY_OWNER, Owner, Scoped, Store, set_every_owner};

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
