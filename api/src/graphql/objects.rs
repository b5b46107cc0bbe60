//! The schema's wrappers of the entities it returns, and the enum they share
//! with inputs. Their fields are resolved in `types.rs`.

use async_graphql::Enum;
use entity::{category, task};

/// A to-do item, possibly with sub-tasks and categories.
pub(crate) struct Task(pub task::Model);

/// A label tasks can share.
pub(crate) struct Category(pub category::Model);

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::Priority")]
pub(crate) enum Priority {
    None,
    Low,
    Medium,
    High,
}
