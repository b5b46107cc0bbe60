//! The GraphQL schema: one module per resource, merged into the roots.

mod connection;
pub mod engine;
pub mod ids;
mod inputs;
pub mod loaders;
mod mutation;
mod objects;
mod prefetch;
mod query;
mod scalars;
mod subscription;
mod types;

use std::sync::Arc;

use async_graphql::{Context, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::events::EventBus;
pub use engine::Engine;
pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What every resolver can reach.
pub struct ServiceState {
    db: DatabaseConnection,
    events: Arc<dyn EventBus>,
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

/// The roots, before any data is attached.
fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
}

/// Builds the schema over a database and an event bus. It has no
/// extensions: see [`engine`] for what runs around every operation.
pub fn build_schema(
    db: DatabaseConnection,
    events: Arc<dyn EventBus>,
    config: &crate::config::Config,
) -> AppSchema {
    let limits = &config.graphql_limits;
    let mut builder = builder()
        .data(ServiceState { db, events })
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

/// The schema's SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    sdl_of(&builder().finish())
}

/// A schema's SDL, with `@specifiedBy` on custom scalars.
pub fn sdl_of(schema: &AppSchema) -> String {
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
