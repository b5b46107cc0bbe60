//! Tasks: what a list asks for and what a change carries (`requests.rs`), how they
//! are read (`read/`, `shape.rs`) and how every change is made, each in one
//! transaction (`write.rs`, with its checks in `validate.rs`, its rows in
//! `rows.rs`, tree changes in `tree.rs`); manual order's keys
//! (`positions/`); recurring tasks' rules (`recurrence.rs`) and next
//! occurrences (`occurrence.rs`).

mod occurrence;
mod positions;
mod read;
mod recurrence;
mod requests;
mod rows;
mod shape;
mod tree;
mod validate;
mod write;

pub use read::{SEARCH_COUNT_LIMIT, count, cursor_of};
pub(crate) use read::{TaskListQuery, categories_of, count_scoped, find_by_ids, list, list_scoped};
pub use write::create;
pub(crate) use write::{change_categories, delete, delete_completed, move_task, set_done, update};

pub(crate) use recurrence::DEFAULT_TIME_ZONE;
pub(crate) use requests::{Holder, TaskPatch};
pub use requests::{NewTask, TaskFilter, TaskOrder, TaskOrderField};
