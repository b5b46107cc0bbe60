//! A wake-up that is never lost.

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes a task of this replica: writers wake the sequencer (or, on
/// SQLite, the tail) after a commit; the sequencer wakes the tail.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub(crate) fn wake(&self) {
        // A stored permit if the tail is busy: a wake-up is never lost.
        self.0.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.0.notified().await;
    }
}
