//! What every resolver can reach through the schema's data.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::events::Hub;
use crate::service::Store;

/// What every resolver can reach.
pub struct ServiceState {
    pub(super) store: Store,
    pub(super) hub: Arc<Hub>,
}

impl ServiceState {
    /// For reads.
    pub fn db(&self) -> &DatabaseConnection {
        &self.store.db
    }

    /// For changes: they record their events.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This replica's view of the event log.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a ServiceState> {
    ctx.data::<ServiceState>()
}
