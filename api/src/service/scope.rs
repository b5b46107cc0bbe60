//! What every change of the service layer ends with: its events, recorded
//! in its own transaction.

use crate::error::AppResult;
use crate::events::{self, Change};
use crate::store::{Scoped, Txn};

impl Scoped<'_> {
    /// Records `changes` as this owner's events in `txn` and commits it: the
    /// change and its events both, or neither.
    pub(crate) async fn commit(&self, txn: Txn, changes: &[Change]) -> AppResult<()> {
        events::record(&txn, self.owner(), changes).await?;
        events::commit(txn, self.wake()).await
    }
}
