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

pub use read::{
    TaskListQuery, categories_of, count, count_scoped, cursor_of, find, find_by_ids, list,
    list_scoped,
};
pub use validate::{MAX_DESCRIPTION_CHARS, validate_description};
pub use write::{change_categories, create, delete, delete_completed, move_task, set_done, update};

pub use positions::{MAX_KEY_CHARS, Place};

pub use recurrence::DEFAULT_TIME_ZONE;
pub use requests::{
    Holder, MarkedDone, NewTask, TaskFilter, TaskOrder, TaskOrderField, TaskPatch, Updated,
};
