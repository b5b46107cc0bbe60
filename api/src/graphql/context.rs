//! What every resolver can reach through the schema's data.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::events::EventBus;

/// What every resolver can reach.
pub struct ServiceState {
    pub(super) db: DatabaseConnection,
    pub(super) events: Arc<dyn EventBus>,
}

impl ServiceState {
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn events(&self) -> &dyn EventBus {
        self.events.as_ref()
    }
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a ServiceState> {
    ctx.data::<ServiceState>()
}
