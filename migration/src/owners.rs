//! Who owns the rows: what the schema and the api agree on.

/// The owner of every row in single-user mode (the api without sign-in);
/// rows from before owners existed were given it.
pub const SINGLE_USER_OWNER: &str = "default";

/// The tables that hold owners' rows and carry row-level security policies
/// (the api enables them). Each joined in the migration that created its
/// policies: the first four in `m20261201_000002_add_owners`, the event
/// positions in `m20261207_000008_event_position_table`.
pub const OWNED_TABLES: [&str; 5] = [
    "tasks",
    "categories",
    "task_categories",
    "task_events",
    "task_event_positions",
];
