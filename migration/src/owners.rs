//! Who owns the rows: what the schema and the api agree on.

/// The owner of every row in single-user mode (the api without sign-in);
/// rows from before owners existed were given it.
pub const SINGLE_USER_OWNER: &str = "default";

/// The tables that hold owners' rows and carry row-level security policies
/// (`m20261201_000002_add_owners` created them; the api enables them). A
/// table added later joins here in the migration that creates its policy.
pub const OWNED_TABLES: [&str; 4] = ["tasks", "categories", "task_categories", "task_events"];
