//! The schema: its roots and settings, and its SDL.

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder};

use super::context::ServiceState;
use super::mutation::Mutation;
use super::query::Query;
use super::subscription::Subscription;
use crate::events::Hub;
use crate::service::Store;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The roots, before any data is attached.
fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
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

/// The schema's SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    sdl_of(&builder().finish())
}

/// A schema's SDL, with `@specifiedBy` on custom scalars.
pub fn sdl_of(schema: &AppSchema) -> String {
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
