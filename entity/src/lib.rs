//! sea-orm entities of the to-do service. Persistence only: no GraphQL here.

pub mod category;
pub mod task;
pub mod task_category;

pub use task::Priority;
