//! Tasks: what a list asks for and what a change carries (`requests.rs`), how they
//! are read (`read.rs`) and how every change is made, each in one
//! transaction (`write.rs`); manual order's keys (`positions.rs`).

mod positions;
mod read;
mod recurrence;
mod requests;
mod shape;
mod write;

pub use read::{
    TaskListQuery, categories_of, count, count_scoped, cursor_of, find, find_by_ids, list,
    list_scoped,
};
pub use write::{
    MAX_DESCRIPTION_CHARS, change_categories, create, delete, delete_completed, move_task,
    set_done, update, validate_description,
};

pub use positions::{MAX_KEY_CHARS, Place};

pub use recurrence::DEFAULT_TIME_ZONE;
pub use requests::{
    Holder, MarkedDone, NewTask, TaskFilter, TaskOrder, TaskOrderField, TaskPatch, Updated,
};
