//! The read scenarios, and task creation, as PostGraphile v4 (the bench's
//! peer, default inflection) asks them of the same tables: the same rows, in
//! the same order, with the same fields under its own names. Like the api, the lists
//! ask for one owner's rows (the seed's single user), which is also what
//! lets PostgreSQL walk the same owner-first indexes.

use crate::{HOT_TASKS, Scenario, hot_task, task_id};

/// The owner every seeded row belongs to.
fn owner() -> String {
    api::service::Owner::single_user().as_str().to_owned()
}

const LIST20: &str = "query List20($owner: String!) { allTasks(first: 20, \
    condition: {ownerId: $owner}, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { id description \
    priority startAt dueAt done createdAt } pageInfo { hasNextPage endCursor } } }";

/// Categories come through the link table; sub-tasks through `parent_id`,
/// counted within the owner (the api's index on sub-tasks leads with the
/// owner too: without it each count reads the whole table).
const LIST20_NESTED: &str = "query List20Nested($owner: String!) { allTasks(first: 20, \
    condition: {ownerId: $owner, parentId: null}, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { \
    id description priority dueAt done taskCategoriesByTaskId { nodes { categoryByCategoryId \
    { id name } } } tasksByParentId(condition: {ownerId: $owner}) { totalCount } } \
    pageInfo { hasNextPage endCursor } } }";

/// One INSERT of PostGraphile's own: the id, timestamps and version come from
/// column defaults that bench/events.sh gives the peer's database (the api
/// sets them itself).
const CREATE: &str = "mutation Create($task: TaskInput!) { createTask(input: {task: $task}) \
    { task { id } } }";

/// The scenarios PostGraphile runs.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario::List20,
    Scenario::List20Nested,
    Scenario::GetById,
    Scenario::Create,
];

const GET_BY_ID: &str = "query GetById($id: UUID!) { taskById(id: $id) { id description \
    priority startAt dueAt done completedAt createdAt updatedAt version } }";

/// The `i`-th request body of one of [`SCENARIOS`] (`None` for others),
/// as `Scenario::body` picks it.
pub fn body(scenario: Scenario, i: u32) -> Option<String> {
    let body = match scenario {
        Scenario::List20 => {
            serde_json::json!({ "query": LIST20, "variables": { "owner": owner() } })
        }
        Scenario::List20Nested => {
            serde_json::json!({ "query": LIST20_NESTED, "variables": { "owner": owner() } })
        }
        Scenario::GetById => serde_json::json!({
            "query": GET_BY_ID,
            "variables": { "id": task_id(hot_task(i % HOT_TASKS)).to_string() },
        }),
        // The api's `create` body: MEDIUM is 2 in the column.
        Scenario::Create => serde_json::json!({
            "query": CREATE,
            "variables": { "task": {
                "ownerId": owner(),
                "description": format!("bench task {i}"),
                "priority": 2,
                "dueAt": "2026-06-01T12:00:00Z",
            } },
        }),
        _ => return None,
    };
    Some(body.to_string())
}

/// The bodies the load generator picks from, as `Scenario::bodies`.
pub fn bodies(scenario: Scenario) -> Vec<String> {
    let n = match scenario {
        Scenario::GetById | Scenario::Create => HOT_TASKS,
        _ => 1,
    };
    (0..n).filter_map(|i| body(scenario, i)).collect()
}
