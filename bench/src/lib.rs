//! The benchmark's shared parts: the seeded data's ids and the scenarios, so
//! that the seed tool, the probes, the load generator's scripts and the
//! in-memory F server all use the very same requests.

pub mod postgraphile;

use std::time::Duration;

use api::config::Config;
use api::graphql::ids::{self, NodeKind};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

/// The seeded data set (`api::seed::bulk`, which the `seed` tool loads):
/// its size, owner and ids.
pub use api::seed::bulk::{CATEGORIES, DataSet, OWNER, TASKS, category_id, task_id};

/// `get by id` and `update` pick among these many tasks (every 100th).
pub const HOT_TASKS: u32 = 1_000;

/// The `k`-th hot task (0-based): task `1 + 100 k`.
pub fn hot_task(k: u32) -> u32 {
    1 + k * (TASKS / HOT_TASKS)
}

/// The SQL expression pgbench uses for the id of task `:n` (`task_id`).
pub const PGBENCH_TASK_ID: &str =
    "('00000000-0000-4000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid";
/// pgbench's pick of a hot task, as `hot_task` does.
pub const PGBENCH_PICK_TASK: &str = "\\set n 1 + random(0, 999) * 100";

pub fn task_gid(n: u32) -> String {
    ids::encode(NodeKind::Task, task_id(n)).0
}

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The first 20 tasks, scalar fields only.
    List20,
    /// The first 20 top-level tasks with their categories and sub-task counts.
    List20Nested,
    /// One task by id.
    GetById,
    /// `createTask`.
    Create,
    /// `updateTask` of a hot task.
    Update,
    /// `moveTask` of a hot task to the end of its list (always a valid
    /// place: the cost of a move against `Update`'s, compactions included).
    Move,
    /// 90 % reads (the three above, evenly), 10 % writes (create, update).
    Mix,
    /// `tasks(filter: {search})`, first 20 with totalCount: one word that
    /// one task in 16 has (`plumber`), ...
    SearchWord,
    /// ... two words of one seeded phrase (`quarterly report`), ...
    SearchTwoWords,
    /// ... and a prefix (`plum`), as someone still typing.
    SearchPrefix,
}

pub const SEARCH: &str = "query Search($s: String!) { tasks(first: 20, filter: {search: $s}) \
    { totalCount nodes { id description priority dueAt done } pageInfo { hasNextPage endCursor } } }";

pub const LIST20: &str = "query List20 { tasks(first: 20) { nodes { id description priority \
    startAt dueAt done createdAt } pageInfo { hasNextPage endCursor } } }";

pub const LIST20_NESTED: &str = "query List20Nested { tasks(first: 20, filter: {topLevel: true}) \
    { nodes { id description priority dueAt done categories { id name } \
    subtasks { totalCount } } pageInfo { hasNextPage endCursor } } }";

pub const GET_BY_ID: &str = "query GetById($id: ID!) { task(id: $id) { id description priority \
    startAt dueAt done completedAt createdAt updatedAt version } }";

pub const CREATE: &str = "mutation Create($input: CreateTaskInput!) { createTask(input: $input) \
    { task { id version } } }";

pub const UPDATE: &str = "mutation Update($input: UpdateTaskInput!) { updateTask(input: $input) \
    { task { id version done } } }";

pub const MOVE: &str = "mutation Move($input: MoveTaskInput!) { moveTask(input: $input) \
    { task { id version position } } }";

impl Scenario {
    pub const ALL: [Self; 10] = [
        Self::List20,
        Self::List20Nested,
        Self::GetById,
        Self::Create,
        Self::Update,
        Self::Move,
        Self::Mix,
        Self::SearchWord,
        Self::SearchTwoWords,
        Self::SearchPrefix,
    ];
    pub const READS: [Self; 3] = [Self::List20, Self::List20Nested, Self::GetById];

    pub fn name(self) -> &'static str {
        match self {
            Self::List20 => "list20",
            Self::List20Nested => "list20-nested",
            Self::GetById => "get-by-id",
            Self::Create => "create",
            Self::Update => "update",
            Self::Move => "move",
            Self::Mix => "mix-90-10",
            Self::SearchWord => "search-word",
            Self::SearchTwoWords => "search-two-words",
            Self::SearchPrefix => "search-prefix",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn is_read(self) -> bool {
        Self::READS.contains(&self)
    }

    /// The `i`-th request body of this scenario. Reads have at most
    /// `HOT_TASKS` distinct bodies, so that F can record all of them.
    pub fn body(self, i: u32) -> String {
        let body = match self {
            Self::List20 => serde_json::json!({ "query": LIST20 }),
            Self::List20Nested => serde_json::json!({ "query": LIST20_NESTED }),
            Self::GetById => serde_json::json!({
                "query": GET_BY_ID,
                "variables": { "id": task_gid(hot_task(i % HOT_TASKS)) },
            }),
            Self::Create => serde_json::json!({
                "query": CREATE,
                "variables": { "input": {
                    "description": format!("bench task {i}"),
                    "priority": "MEDIUM",
                    "dueAt": "2026-06-01T12:00:00Z",
                } },
            }),
            Self::Update => serde_json::json!({
                "query": UPDATE,
                "variables": { "input": {
                    "id": task_gid(hot_task(i % HOT_TASKS)),
                    "done": (i / HOT_TASKS).is_multiple_of(2),
                    "description": format!("updated {i}"),
                } },
            }),
            Self::Move => serde_json::json!({
                "query": MOVE,
                "variables": { "input": { "id": task_gid(hot_task(i % HOT_TASKS)) } },
            }),
            Self::SearchWord => search_body("plumber"),
            Self::SearchTwoWords => search_body("quarterly report"),
            Self::SearchPrefix => search_body("plum"),
            // 30 % each read, 5 % each write.
            Self::Mix => {
                let scenario = match i % 20 {
                    0..=5 => Self::List20,
                    6..=11 => Self::List20Nested,
                    12..=17 => Self::GetById,
                    18 => Self::Create,
                    _ => Self::Update,
                };
                return scenario.body(i / 20);
            }
        };
        body.to_string()
    }

    /// The bodies the load generator picks from at random (the mix picks a
    /// scenario first, see `Mix`).
    pub fn bodies(self) -> Vec<String> {
        let n = match self {
            Self::List20
            | Self::List20Nested
            | Self::SearchWord
            | Self::SearchTwoWords
            | Self::SearchPrefix => 1,
            Self::GetById | Self::Create | Self::Move => HOT_TASKS,
            Self::Update => 2 * HOT_TASKS,
            Self::Mix => 0,
        };
        (0..n).map(|i| self.body(i)).collect()
    }
}

/// The same searches run as substring (LIKE) searches on the build before
/// full-text search: `bench/RESULTS.md` compares the two.
fn search_body(text: &str) -> serde_json::Value {
    serde_json::json!({ "query": SEARCH, "variables": { "s": text } })
}

/// The api's configuration from the environment, as the api would read it,
/// but over `database_url`.
pub fn config(database_url: &str) -> Result<Config, String> {
    let url = database_url.to_owned();
    Config::from_lookup(move |var| match var {
        "DATABASE_URL" => Some(url.clone()),
        _ => std::env::var(var).ok(),
    })
    .map_err(|e| e.to_string())
}

/// Connects to `config`'s database as the api does, with every statement
/// it runs kept in the returned log.
pub async fn connect_logged(
    config: &Config,
) -> Result<
    (
        sea_orm::DatabaseConnection,
        std::sync::Arc<std::sync::Mutex<Vec<sea_orm::Statement>>>,
    ),
    String,
> {
    let mut db = api::db::connect_with_retry(config)
        .await
        .map_err(|e| e.to_string())?;
    let log: std::sync::Arc<std::sync::Mutex<Vec<sea_orm::Statement>>> = Default::default();
    let sink = log.clone();
    db.set_metric_callback(move |info| {
        if let Ok(mut log) = sink.lock() {
            log.push(info.statement.clone());
        }
    });
    Ok((db, log))
}

/// POSTs `body` to `/graphql` of `router` in-process; the JSON answer.
pub async fn post(router: &axum::Router, body: String) -> Result<serde_json::Value, String> {
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON ({status}): {e}"))?;
    if status != StatusCode::OK || value.get("errors").is_some() {
        return Err(format!("{status}: {value}"));
    }
    Ok(value)
}

/// Whether `GET /readyz` of `router` answers 200, in-process.
pub async fn ready(router: &axum::Router) -> bool {
    let Ok(request) = Request::get("/readyz").body(Body::empty()) else {
        return false;
    };
    matches!(router.clone().oneshot(request).await, Ok(r) if r.status() == StatusCode::OK)
}

/// Polls `addr` until `GET /readyz` answers 200 or `timeout` (counted from
/// `started`) passes; the time from `started` to that answer.
pub fn wait_ready(
    addr: std::net::SocketAddr,
    started: std::time::Instant,
    timeout: Duration,
) -> Option<Duration> {
    use std::io::{Read, Write};
    while started.elapsed() < timeout {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request =
                format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_exact(&mut head).is_ok()
                && head.starts_with(b"HTTP/1.1 200")
            {
                return Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    None
}
