//! The schema: its roots and settings, and its SDL.

use std::sync::Arc;

use async_graphql::{SDLExportOptions, Schema, SchemaBuilder};

use super::context::ServiceState;
use super::mutation::Mutation;
use super::query::{ClientQuery, Query};
use super::subscription::Subscription;
use crate::events::Hub;
use crate::service::Store;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The roots, before any data is attached.
fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    // A gateway that speaks subscriptions (Hive Gateway, Apollo Router)
    // forwards them to us only if the subgraph SDL declares the type.
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .enable_subscription_in_federation()
}

/// Builds the schema over the database and this replica's event hub. It
/// has no extensions: see [`super::engine`] for what runs around every
/// operation.
pub fn build_schema(store: Store, hub: Arc<Hub>, config: &crate::config::Config) -> AppSchema {
    let limits = &config.graphql_limits;
    let mut builder = builder()
        .data(ServiceState { store, hub })
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_recursive_depth)
        .limit_directives(limits.max_directives);
    if !config.introspection() {
        // The engine answers `__schema`/`__type` with a clear error first.
        builder = builder.disable_introspection();
    }
    if !config.suggestions() {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The client schema's SDL, as checked in at `schema.graphql`: what code
/// generators read, without the federation fields a gateway uses.
pub fn sdl() -> String {
    Schema::build(ClientQuery::default(), Mutation::default(), Subscription)
        .finish()
        .sdl_with_options(SDLExportOptions::new().include_specified_by())
}

/// The subgraph SDL a federation gateway composes (checked in at
/// `schema.federation.graphql`; `_service { sdl }` answers the same).
pub fn federation_sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}
