//! What every change of the service layer ends with: its events, recorded
//! in its own transaction.

use sea_orm::DatabaseTransaction;

use crate::error::AppResult;
use crate::events::{self, Change};
use crate::store::Scoped;

impl Scoped<'_> {
    /// Records `changes` as this owner's events in `txn` and commits it: the
    /// change and its events both, or neither.
    pub(crate) async fn commit(
        &self,
        txn: DatabaseTransaction,
        changes: &[Change],
    ) -> AppResult<()> {
        events::record(&txn, self.owner(), changes).await?;
        events::commit(txn, self.wake()).await
    }
}
