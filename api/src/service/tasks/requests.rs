//! What a task list asks for and what a change carries.

use chrono::{DateTime, Utc};
use entity::Priority;
use sea_orm::prelude::Uuid;

use crate::service::page::Direction;
use crate::service::search::SearchQuery;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    pub search: Option<SearchQuery>,
    pub priority: Option<Vec<Priority>>,
    pub done: Option<bool>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub category_ids: Option<Vec<Uuid>>,
    pub parent_id: Option<Uuid>,
    pub top_level: Option<bool>,
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
}

/// A partial update: `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub expected_version: Option<i32>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub start_at: Option<Option<DateTime<Utc>>>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub done: Option<bool>,
    pub parent_id: Option<Option<Uuid>>,
}
