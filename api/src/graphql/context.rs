//! What every resolver can reach through the schema's data.

use std::sync::Arc;

use async_graphql::Context;

use crate::events::Hub;
use crate::service::{Owner, Scoped, Store};

/// What every resolver can reach.
pub(crate) struct ServiceState {
    pub(super) store: Store,
    pub(super) hub: Arc<Hub>,
}

impl ServiceState {
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// This replica's view of the event log.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a ServiceState> {
    ctx.data::<ServiceState>()
}

/// The request's owner (the engine puts it in every request's data).
pub(crate) fn owner<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Owner> {
    ctx.data::<Owner>()
}

/// The service layer as the request's owner sees it.
pub(crate) fn scope<'a>(ctx: &Context<'a>) -> async_graphql::Result<Scoped<'a>> {
    Ok(state(ctx)?.store().scoped(owner(ctx)?))
}
