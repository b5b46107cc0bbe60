//! The database as both the service layer and the event log use it, and
//! below both: whose rows a call may touch ([`Owner`], [`Scoped`]), how a
//! transaction names its owner for PostgreSQL's row-level security, the
//! time as every backend stores it, and the signal a commit sends on this
//! replica ([`Wake`]). `service` and `events` build on this; it imports
//! neither.

mod scope;
mod wake;

use chrono::{DateTime, SubsecRound, Utc};

pub(crate) use scope::{EVERY_OWNER, Scoped, Txn, set_every_owner, set_owner};
pub use scope::{Owner, Store};
pub use wake::Wake;

/// The current time at the precision every backend stores (microseconds), so a
/// value reads back exactly as it was written.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn to_stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}
