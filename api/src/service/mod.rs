//! The service layer: plain async functions over the database, free of
//! GraphQL, used by the resolvers and callable directly from tests. Every
//! function takes a [`Scoped`]: one owner's view of the [`Store`], which also
//! records every change's events.

pub mod categories;
pub mod idempotency;
pub(crate) mod owners;
pub mod page;
pub(crate) mod reminders;
mod scope;
pub(crate) mod search;
pub mod tasks;

use std::collections::HashSet;
use std::hash::Hash;

pub(crate) use crate::store::{EVERY_OWNER, Scoped, now, set_every_owner, to_stored_precision};
pub use crate::store::{Owner, Store};

/// `items` without repeats, in first-seen order.
pub(crate) fn unique<T: Eq + Hash + Copy>(items: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|item| seen.insert(*item))
        .collect()
}
