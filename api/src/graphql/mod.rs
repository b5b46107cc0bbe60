//! The GraphQL schema: one module per resource, merged into the roots, and
//! the engine every operation runs through.

mod batches;
mod connection;
mod context;
pub mod engine;
mod federation;
pub use crate::ids;
mod inputs;
pub mod loaders;
mod mutation;
mod objects;
mod prefetch;
mod query;
mod scalars;
mod schema;
mod subscription;
mod task_events;
mod types;

pub use engine::Engine;
pub use mutation::Mutation;
pub use query::{ClientQuery, Query};
pub use schema::{AppSchema, build_schema, federation_sdl, sdl};
pub use subscription::Subscription;
