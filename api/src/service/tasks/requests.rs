//! What a task list asks for and what a change carries.

use chrono::{DateTime, Utc};
use entity::{Priority, task};
use sea_orm::prelude::Uuid;

use crate::service::page::Direction;
use crate::service::search::SearchQuery;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    pub(crate) search: Option<SearchQuery>,
    pub(crate) priority: Option<Vec<Priority>>,
    pub(crate) done: Option<bool>,
    pub(crate) due_before: Option<DateTime<Utc>>,
    pub(crate) due_after: Option<DateTime<Utc>>,
    pub(crate) category_ids: Option<Vec<Uuid>>,
    pub(crate) parent_id: Option<Uuid>,
    pub(crate) top_level: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    DueAt,
    Priority,
    Description,
    /// How well a task matches the filter's search.
    Relevance,
    /// The owner's own order within each list of siblings (`position`).
    Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    pub direction: Direction,
}

/// What a nested task list hangs off (the list's holder): not to be
/// confused with `Scoped`, the owner's view of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Sub-tasks of a task.
    Parent,
    /// Tasks linked to a category.
    Category,
}

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub description: String,
    pub priority: Option<Priority>,
    pub start_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub parent_id: Option<Uuid>,
    pub category_ids: Vec<Uuid>,
    /// An RFC 5545 RRULE; needs `due_at`.
    pub recurrence: Option<String>,
    /// An IANA zone name; none is UTC.
    pub time_zone: Option<String>,
    /// When to remind the owner of it.
    pub remind_at: Option<DateTime<Utc>>,
    /// Placed right before this sibling (at most one of `before` and
    /// `after`; neither: the end of its list).
    pub before: Option<Uuid>,
    /// Placed right after this sibling.
    pub after: Option<Uuid>,
}

/// A partial update: `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub(crate) expected_version: Option<i32>,
    pub(crate) description: Option<String>,
    pub(crate) priority: Option<Priority>,
    pub(crate) start_at: Option<Option<DateTime<Utc>>>,
    pub(crate) due_at: Option<Option<DateTime<Utc>>>,
    pub(crate) done: Option<bool>,
    pub(crate) parent_id: Option<Option<Uuid>>,
    pub(crate) recurrence: Option<Option<String>>,
    /// `Some(None)`: back to UTC.
    pub(crate) time_zone: Option<Option<String>>,
    /// A new time fires again, even after the old one fired.
    pub(crate) remind_at: Option<Option<DateTime<Utc>>>,
}

/// An updated task and, when the update completed a recurring task, the
/// next occurrence it created.
#[derive(Debug, Clone)]
pub struct Updated {
    pub(crate) task: task::Model,
    pub(crate) next_occurrence: Option<task::Model>,
}

/// Tasks marked done (or not), in request order, and the next occurrences
/// of the recurring ones that were completed, in the same order.
#[derive(Debug, Clone)]
pub struct MarkedDone {
    pub(crate) tasks: Vec<task::Model>,
    pub(crate) next_occurrences: Vec<task::Model>,
}
