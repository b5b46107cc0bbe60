//! Tasks: what a list asks for and what a change carries (here), how they
//! are read (`read.rs`) and how every change is made, each in one
//! transaction (`write.rs`).

mod read;
mod write;

use chrono::{DateTime, Utc};
use entity::Priority;
use sea_orm::prelude::Uuid;

use super::page::{Direction, PageArgs, PageRequest, normalise_order, signature};
use crate::error::AppResult;

pub use read::{categories_of, count, count_scoped, find, find_by_ids, list, list_scoped};
pub use write::{
    MAX_DESCRIPTION_CHARS, change_categories, create, delete, delete_completed, set_done, update,
    validate_description,
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TaskFilter {
    pub search: Option<String>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    pub direction: Direction,
}

/// A validated list request: what to keep, in which order, which page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskListQuery {
    pub filter: TaskFilter,
    pub order: Vec<TaskOrder>,
    pub page: PageRequest,
}

impl TaskListQuery {
    pub fn new(filter: TaskFilter, order: Vec<TaskOrder>, args: &PageArgs) -> AppResult<Self> {
        let default = TaskOrder {
            field: TaskOrderField::CreatedAt,
            direction: Direction::Asc,
        };
        let order = normalise_order(order, |o| o.field, default);
        let page = PageRequest::new(args, &signature(&read::sort_keys(&order)))?;
        Ok(Self {
            filter,
            order,
            page,
        })
    }
}

/// Which owner a nested task list hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
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
