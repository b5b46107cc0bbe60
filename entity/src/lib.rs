//! sea-orm entities of the to-do service. Persistence only: no GraphQL here.

pub mod category;
pub mod event_sink;
pub mod idempotency_key;
pub mod task;
pub mod task_category;
pub mod task_event;
pub mod task_event_log;

pub use task::Priority;
