//! Task change events: a durable, replayable log in the database.
//!
//! Every write of the service layer records its changes in its own
//! transaction ([`record`], then [`commit`]), so an event exists exactly
//! when its change committed; once committed it is given its place in the
//! log (on PostgreSQL by one sequencer per database, see `sequencer`). Each
//! replica reads the log in order into a [`Hub`] that its subscribers take
//! events from, live or from any cursor still retained; PostgreSQL's
//! LISTEN/NOTIFY only wakes replicas up.

pub mod cursor;
mod hub;
mod listener;
mod log;
pub mod relay;
mod sequencer;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::store::Txn;
pub use crate::store::Wake;
pub use entity::task_event::EventKind;
pub use hub::{DEFAULT_POLL_PAGE, EventPage, Hub, MAX_POLL_PAGE, poll_page_size};
pub use log::{Change, Event, EventFilter, record};

use crate::error::{AppError, AppResult};

/// Opens the replica's hub at the end of the log and starts what keeps it
/// current, until `shutdown`.
pub async fn start(
    db: DatabaseConnection,
    row_level_security: bool,
    buffer: usize,
    retention: Duration,
    shutdown: &CancellationToken,
) -> AppResult<Arc<Hub>> {
    let hub = Hub::open(db, row_level_security, buffer, Wake::default()).await?;
    listener::spawn(&hub, retention, shutdown);
    Ok(hub)
}

/// Commits a transaction that recorded events, then wakes what numbers or
/// reads them on this replica. Both run as one task of their own: a client that goes away while
/// its mutation commits cannot stop the wake-up half-way.
pub(crate) async fn commit(txn: impl Into<Txn>, wake: &Wake) -> AppResult<()> {
    let (txn, wake) = (txn.into(), wake.clone());
    let committed = tokio::spawn(async move {
        txn.commit().await?;
        wake.wake();
        Ok::<_, sea_orm::DbErr>(())
    });
    match committed.await {
        Ok(result) => Ok(result?),
        Err(join) => Err(AppError::Internal(sea_orm::DbErr::Custom(format!(
            "the commit task failed: {join}"
        )))),
    }
}
