//! The GraphQL schema, split by kind: `objects.rs` wraps the entities (and
//! holds `Priority`, which inputs share), `types.rs` resolves the fields of
//! `Task` and `Category`, `inputs.rs` holds filters and orders, and the
//! roots are `query.rs`, `mutation.rs` (every mutation's input and payload
//! beside it), `subscription.rs` and `task_events.rs`; connections, loaders
//! and federation have a file each. To change `Task`: its fields in
//! `types.rs`, its mutations in `mutation.rs`. `engine/` is what every
//! operation runs through.

mod batches;
mod connection;
mod context;
pub(crate) mod engine;
mod federation;
pub use crate::ids;
mod inputs;
pub(crate) mod loaders;
mod mutation;
mod objects;
mod prefetch;
mod query;
mod scalars;
mod schema;
mod subscription;
mod task_events;
mod types;

pub(crate) use engine::Engine;
pub(crate) use schema::build_schema;
pub use schema::{federation_sdl, sdl};
