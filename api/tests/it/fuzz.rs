//! Property tests of the request path: random bodies, JSON, GraphQL
//! documents and mutation variables, POSTed through real HTTP to one server
//! per property and backend (SQLite and PostgreSQL, like every other test).
//!
//! Properties: the status is one of 200, 400, 405, 413 or 415; the body is
//! JSON whose errors all carry a known `extensions.code` (never `INTERNAL`);
//! the server still answers afterwards. Each property runs PROPTEST_CASES
//! cases (default 500). A failure is saved under
//! `api/proptest-regressions/fuzz/` and replayed first on every later run:
//! commit the file it writes.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::common::{Backend, TestApp};
use crate::corpus::{Req, check_universal, get, json_body, send, with_type};

const STATUSES: &[u16] = &[200, 400, 405, 413, 415];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn config(regressions: &'static str) -> Config {
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        source_file: Some(file!()),
        // Shrinking is bounded too, so a failure is reported in good time.
        max_shrink_iters: 500,
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

macro_rules! regressions {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/fuzz/",
            $name,
            ".txt"
        )
    };
}

/// One server and the runtime it runs on; the properties are synchronous.
struct Fuzz {
    runtime: tokio::runtime::Runtime,
    app: Option<TestApp>,
}

impl Fuzz {
    fn new(backend: Backend) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let app = runtime.block_on(TestApp::spawn(backend));
        Self {
            runtime,
            app: Some(app),
        }
    }

    fn app(&self) -> &TestApp {
        self.app.as_ref().expect("app")
    }

    /// Sends one request; returns its status and JSON body after checking
    /// the properties every response holds to, then that the server still
    /// answers.
    fn check(&self, request: &Req) -> Result<(u16, Value), TestCaseError> {
        let app = self.app();
        self.runtime.block_on(async {
            let reply = send(app, request).await.map_err(TestCaseError::fail)?;
            let (status, bytes) = (reply.status, reply.body);
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            prop_assert!(STATUSES.contains(&status), "status {status}: {shown}");
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("body not JSON ({e}): {shown}")))?;
            check_universal(status, &body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {shown}")))?;
            let results: Vec<&Value> = match &body {
                Value::Array(items) if status == 200 => items.iter().collect(),
                other => vec![other],
            };
            for result in results {
                prop_assert!(result.is_object(), "not an object: {shown}");
                if status == 200 {
                    prop_assert!(
                        result.get("data").is_some() || result.get("errors").is_some(),
                        "neither data nor errors: {shown}"
                    );
                } else {
                    prop_assert!(
                        result.get("errors").is_some(),
                        "{status} without errors: {shown}"
                    );
                    prop_assert!(result.get("data").is_none(), "{status} with data: {shown}");
                }
            }
            still_serving(app).await?;
            Ok((status, body))
        })
    }

    fn finish(mut self) {
        if let Some(app) = self.app.take() {
            self.runtime.block_on(app.shutdown());
        }
    }
}

async fn still_serving(app: &TestApp) -> Result<(), TestCaseError> {
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("health query failed: {e}")))?;
    prop_assert_eq!(response.status().as_u16(), 200, "health query status");
    let body: Value = response
        .json()
        .await
        .map_err(|e| TestCaseError::fail(format!("health query body: {e}")))?;
    prop_assert_eq!(&body["data"]["__typename"], "Query");
    Ok(())
}

fn run<S: Strategy>(
    name: &str,
    regressions: &'static str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(config(regressions));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

// --- (a) Arbitrary bytes under arbitrary content types.

const SEED_BODIES: &[&str] = &[
    r#"{"query":"{ tasks { totalCount } }"}"#,
    r#"{"query":"query($n: Int) { tasks(first: $n) { nodes { id } } }","variables":{"n":3}}"#,
    r#"{"query":"mutation { createTask(input: {description: \"x\"}) { task { id } } }"}"#,
    r#"[{"query":"{ __typename }"},{"query":"{ categories { totalCount } }"}]"#,
];

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(Some("application/json".to_owned())),
        1 => Just(Some("application/json; charset=utf-8".to_owned())),
        1 => Just(None),
        1 => select(vec![
            "text/plain",
            "application/graphql",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            GRAPHQL_RESPONSE_JSON,
            "",
        ])
        .prop_map(|s| Some(s.to_owned())),
        1 => "[ -~]{0,40}".prop_map(Some),
    ]
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Bytes: random, a valid request with bytes changed or cut, or padding
/// around the size limit.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        select(SEED_BODIES),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(seed, changes, cut)| {
            let mut bytes = seed.as_bytes().to_vec();
            for (at, byte) in changes {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        });
    prop_oneof![
        3 => vec(any::<u8>(), 0..2048),
        4 => mutated,
        1 => (262_000usize..263_000).prop_map(|n| {
            let mut body = SEED_BODIES[0].as_bytes().to_vec();
            body.resize(n, b' ');
            body
        }),
    ]
}

#[test]
fn sqlite_arbitrary_bodies_and_content_types() {
    arbitrary_bodies_and_content_types(Backend::Sqlite);
}

#[test]
fn postgres_arbitrary_bodies_and_content_types() {
    arbitrary_bodies_and_content_types(Backend::Postgres);
}

fn arbitrary_bodies_and_content_types(backend: Backend) {
    let fuzz = Fuzz::new(backend);
    run(
        "arbitrary_bodies_and_content_types",
        regressions!("arbitrary_bodies_and_content_types"),
        (content_type(), body_bytes()),
        |(content_type, body)| {
            fuzz.check(&with_type(content_type.as_deref(), body))?;
            Ok(())
        },
    );
    fuzz.finish();
}

// --- (b) Structurally random JSON.

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
        select(vec![
            "{ __typename }",
            "{ tasks { totalCount } }",
            "query Q { __typename }",
            "mutation { deleteCompletedTasks { deletedTaskIds } }",
            "{",
            "",
            "Q",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    select(vec![
                        "query",
                        "variables",
                        "operationName",
                        "extensions",
                        "persistedQuery",
                        "version",
                        "sha256Hash",
                        "n"
                    ])
                    .prop_map(str::to_owned),
                    "[a-zA-Z]{0,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the request's keys, each present or not, of any type.
fn request_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![3 => json_leaf(), 1 => any_json()]),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
    )
        .prop_map(|(query, variables, operation_name, extensions)| {
            let mut object = Map::new();
            for (key, value) in [
                ("query", query),
                ("variables", variables),
                ("operationName", operation_name),
                ("extensions", extensions),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

#[test]
fn sqlite_structurally_random_json() {
    structurally_random_json(Backend::Sqlite);
}

#[test]
fn postgres_structurally_random_json() {
    structurally_random_json(Backend::Postgres);
}

fn structurally_random_json(backend: Backend) {
    let fuzz = Fuzz::new(backend);
    let strategy = prop_oneof![
        2 => any_json(),
        4 => request_like(),
        2 => vec(request_like(), 0..14).prop_map(Value::Array),
    ];
    run(
        "structurally_random_json",
        regressions!("structurally_random_json"),
        strategy,
        |value| {
            fuzz.check(&json_body(&value))?;
            Ok(())
        },
    );
    fuzz.finish();
}

// --- (c) Random GraphQL documents from schema names, punctuation and
// random tokens.

const NAMES: &[&str] = &[
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "tasks",
    "task",
    "node",
    "nodes",
    "categories",
    "category",
    "id",
    "ids",
    "description",
    "priority",
    "startAt",
    "dueAt",
    "done",
    "completedAt",
    "createdAt",
    "updatedAt",
    "version",
    "parent",
    "subtasks",
    "edges",
    "cursor",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "totalCount",
    "name",
    "createTask",
    "updateTask",
    "deleteTask",
    "setTasksDone",
    "deleteCompletedTasks",
    "createCategory",
    "renameCategory",
    "deleteCategory",
    "addTaskCategories",
    "removeTaskCategories",
    "taskEvents",
    "input",
    "filter",
    "orderBy",
    "first",
    "last",
    "after",
    "before",
    "search",
    "field",
    "direction",
    "ASC",
    "DESC",
    "HIGH",
    "LOW",
    "NONE",
    "DESCRIPTION",
    "Task",
    "Category",
    "Query",
    "TaskFilter",
    "CreateTaskInput",
    "ID",
    "Int",
    "String",
    "Boolean",
    "DateTime",
    "__typename",
    "__schema",
    "__type",
    "types",
    "skip",
    "include",
    "if",
    "true",
    "false",
    "null",
    "expectedVersion",
    "parentId",
    "categoryIds",
    "kinds",
    "clientMutationId",
];
const PUNCTUATION: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ":", "!", "$", "@", "=", "...", "|", ",", "&", "#", "\n",
];
const LITERALS: &[&str] = &[
    "\"x\"",
    "\"\"\"block\"\"\"",
    "\"\\u00e9\"",
    "\"nope\"",
    "0",
    "-1",
    "100",
    "101",
    "2147483648",
    "1.5",
    "1e999",
    "\"2026-12-01T00:00:00Z\"",
    "\"VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA\"",
    "$a",
    "$input",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(NAMES).prop_map(str::to_owned),
        5 => select(PUNCTUATION).prop_map(str::to_owned),
        2 => select(LITERALS).prop_map(str::to_owned),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        1 => "\\PC{1,3}",
    ]
}

/// A token soup, sometimes inside an operation's braces.
fn soup() -> impl Strategy<Value = String> {
    (
        vec(token(), 0..120),
        select(vec![
            ("", ""),
            ("{ ", " }"),
            ("query Q($a: Int, $input: CreateTaskInput) { ", " }"),
            ("mutation { ", " }"),
            ("{ tasks(first: 2) { nodes { ", " } } }"),
        ]),
        select(vec![" ", "", "\n", ", "]),
    )
        .prop_map(|(tokens, (open, close), separator)| {
            format!("{open}{}{close}", tokens.join(separator))
        })
}

/// A syntactically plausible selection set: schema names with aliases,
/// arguments, directives and nesting.
fn selection() -> impl Strategy<Value = String> {
    let leaf = (
        prop::option::of("[a-z]{1,3}"),
        select(NAMES),
        vec((select(NAMES), select(LITERALS)), 0..3),
        prop::option::of(select(vec!["@skip(if: false)", "@include(if: $a)"])),
    )
        .prop_map(|(alias, name, args, directive)| {
            let mut field = String::new();
            if let Some(alias) = alias {
                field.push_str(&alias);
                field.push_str(": ");
            }
            field.push_str(name);
            if !args.is_empty() {
                let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                field.push_str(&format!("({})", args.join(", ")));
            }
            if let Some(directive) = directive {
                field.push(' ');
                field.push_str(directive);
            }
            field
        });
    leaf.clone().prop_recursive(6, 40, 5, move |inner| {
        (leaf.clone(), vec(inner, 1..5))
            .prop_map(|(field, children)| format!("{field} {{ {} }}", children.join(" ")))
    })
}

/// Reads choices off a byte string: a random walk through the schema that
/// proptest shrinks by shrinking the bytes.
struct Walk<'a> {
    choices: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let choice = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(choice) % n
    }

    fn one<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[self.pick(options.len())]
    }

    fn page_args(&mut self) -> String {
        let mut args = Vec::new();
        for _ in 0..self.pick(4) {
            args.push(match self.pick(6) {
                0 => format!(
                    "first: {}",
                    self.one(&["0", "1", "5", "20", "100", "101", "-1"])
                ),
                1 => format!("last: {}", self.one(&["1", "3", "100", "2147483647"])),
                2 => format!(
                    "after: {}",
                    self.one(&["\"garbage\"", "\"\"", "null", "\"eyJzIjoiIiwidiI6W119\""])
                ),
                3 => format!("before: {}", self.one(&["\"x\"", "null"])),
                4 => format!(
                    "filter: {{{}}}",
                    self.one(&[
                        "search: \"a\"",
                        "priority: [HIGH, LOW]",
                        "done: true",
                        "dueBefore: \"2026-12-01T00:00:00Z\"",
                        "topLevel: false",
                        "parentId: \"nope\"",
                        "categoryIds: []",
                    ])
                ),
                _ => format!(
                    "orderBy: [{{field: {}, direction: {}}}]",
                    self.one(&[
                        "CREATED_AT",
                        "UPDATED_AT",
                        "DUE_AT",
                        "PRIORITY",
                        "DESCRIPTION"
                    ]),
                    self.one(&["ASC", "DESC"])
                ),
            });
        }
        if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        }
    }

    fn alias(&mut self) -> String {
        if self.pick(5) == 0 {
            format!("a{}: ", self.pick(40))
        } else {
            String::new()
        }
    }

    /// A selection set on `ty`, `depth` levels down.
    fn selection(&mut self, ty: &str, depth: usize) -> String {
        let mut fields = Vec::new();
        for _ in 0..1 + self.pick(3) {
            let alias = self.alias();
            let deeper = depth < 14;
            let field = match ty {
                "Task" => match self.pick(if deeper { 12 } else { 9 }) {
                    0 => "id".into(),
                    1 => "description".into(),
                    2 => "priority".into(),
                    3 => "startAt dueAt".into(),
                    4 => "done completedAt".into(),
                    5 => "createdAt updatedAt".into(),
                    6 => "version".into(),
                    7 => "__typename".into(),
                    8 => "categories { id name }".into(),
                    9 => format!("parent {{ {} }}", self.selection("Task", depth + 1)),
                    10 => format!(
                        "subtasks{} {{ {} }}",
                        self.page_args(),
                        self.selection("TaskConnection", depth + 1)
                    ),
                    _ => "categories { tasks { totalCount } }".into(),
                },
                "Category" => match self.pick(if deeper { 4 } else { 3 }) {
                    0 => "id".into(),
                    1 => "name".into(),
                    2 => "createdAt".into(),
                    _ => format!(
                        "tasks{} {{ {} }}",
                        self.page_args(),
                        self.selection("TaskConnection", depth + 1)
                    ),
                },
                connection => {
                    let node = if connection == "TaskConnection" {
                        "Task"
                    } else {
                        "Category"
                    };
                    match self.pick(if deeper { 5 } else { 2 }) {
                        0 => "totalCount".into(),
                        1 => {
                            "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }".into()
                        }
                        2 | 3 => format!("nodes {{ {} }}", self.selection(node, depth + 1)),
                        _ => format!(
                            "edges {{ cursor node {{ {} }} }}",
                            self.selection(node, depth + 1)
                        ),
                    }
                }
            };
            fields.push(format!("{alias}{field}"));
        }
        fields.join(" ")
    }

    fn operation(&mut self) -> String {
        let mut roots = Vec::new();
        let mutation = self.pick(5) == 0;
        for _ in 0..1 + self.pick(3) {
            let alias = self.alias();
            let id = self.one(&[
                "\"nope\"",
                "\"VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA\"",
                "\"\"",
            ]);
            let root = if mutation {
                match self.pick(3) {
                    0 => format!(
                        "createTask(input: {{description: {}}}) {{ task {{ {} }} }}",
                        self.one(&["\"fuzz\"", "\"\"", "\"  \""]),
                        self.selection("Task", 2)
                    ),
                    1 => "deleteCompletedTasks { deletedTaskIds }".into(),
                    _ => format!(
                        "updateTask(input: {{id: {id}, done: true}}) {{ task {{ {} }} }}",
                        self.selection("Task", 2)
                    ),
                }
            } else {
                match self.pick(5) {
                    0 => format!(
                        "tasks{} {{ {} }}",
                        self.page_args(),
                        self.selection("TaskConnection", 1)
                    ),
                    1 => format!(
                        "categories{} {{ {} }}",
                        self.page_args(),
                        self.selection("CategoryConnection", 1)
                    ),
                    2 => format!("task(id: {id}) {{ {} }}", self.selection("Task", 1)),
                    3 => format!(
                        "node(id: {id}) {{ ... on Task {{ {} }} }}",
                        self.selection("Task", 1)
                    ),
                    _ => "__typename".into(),
                }
            };
            roots.push(format!("{alias}{root}"));
        }
        format!(
            "{}{{ {} }}",
            if mutation { "mutation " } else { "" },
            roots.join(" ")
        )
    }
}

/// A walk through the schema: mostly valid documents, which reach the
/// limits, the resolvers and the database.
fn schema_walk() -> impl Strategy<Value = String> {
    vec(any::<u8>(), 0..256).prop_map(|choices| {
        Walk {
            choices: &choices,
            at: 0,
        }
        .operation()
    })
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => soup(),
        2 => schema_walk(),
        1 => (
            select(vec![
                "",
                "query Q($a: Boolean) ",
                "mutation ",
                "subscription "
            ]),
            vec(selection(), 1..4),
        )
            .prop_map(|(head, fields)| format!("{head}{{ {} }}", fields.join(" "))),
    ]
}

#[test]
fn sqlite_random_graphql_documents() {
    random_graphql_documents(Backend::Sqlite);
}

#[test]
fn postgres_random_graphql_documents() {
    random_graphql_documents(Backend::Postgres);
}

fn random_graphql_documents(backend: Backend) {
    let fuzz = Fuzz::new(backend);
    let strategy = (
        document(),
        prop::option::of(any_json()),
        prop::bool::weighted(0.2),
    );
    run(
        "random_graphql_documents",
        regressions!("random_graphql_documents"),
        strategy,
        |(query, variables, via_get)| {
            let request = if via_get {
                get(&[("query", &query)])
            } else {
                let mut request = json!({ "query": query });
                if let Some(variables) = variables {
                    request["variables"] = variables;
                }
                json_body(&request)
            };
            fuzz.check(&request)?;
            Ok(())
        },
    );
    fuzz.finish();
}

// --- (d) Random variables for createTask and updateTask.

const CREATE: &str = "mutation($input: CreateTaskInput!) { createTask(input: $input) {
    task { id description priority startAt dueAt version parent { id } categories { id } } } }";
const UPDATE: &str = "mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
    task { id description priority startAt dueAt version parent { id } categories { id } } } }";

struct Ids {
    tasks: Vec<String>,
    categories: Vec<String>,
}

fn id_value(ids: &Ids) -> impl Strategy<Value = Value> + use<> {
    let tasks = ids.tasks.clone();
    let categories = ids.categories.clone();
    prop_oneof![
        4 => select(tasks).prop_map(Value::String),
        1 => select(categories).prop_map(Value::String),
        1 => Just(json!("VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA")),
        1 => Just(json!("Q2F0ZWdvcnk6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA")),
        1 => "\\PC{0,12}".prop_map(Value::String),
        1 => json_leaf(),
    ]
}

fn date_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (2000i32..2100, 1u32..13, 1u32..29, 0u32..24).prop_map(|(y, m, d, h)| {
            json!(format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z"))
        }),
        2 => select(vec![
            "9999-12-31T23:59:59Z",
            "+10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2026-12-01T00:00:00+23:59",
            "2026-12-01T00:00:00.123456789Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01",
            "tomorrow",
            "",
        ])
        .prop_map(|s| json!(s)),
        1 => json_leaf(),
    ]
}

fn description_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "\\PC{0,40}".prop_map(Value::String),
        1 => select(vec![0usize, 1, 999, 1000, 1001, 5000])
            .prop_map(|n| json!("d".repeat(n))),
        1 => Just(json!("  \t\n ")),
        1 => Just(json!("é".repeat(1001))),
        1 => json_leaf(),
    ]
}

fn task_input(ids: &Ids, update: bool) -> impl Strategy<Value = Value> + use<> {
    let field = |s: BoxedStrategy<Value>| prop::option::of(s);
    let fields = (
        field(description_value().boxed()),
        field(
            prop_oneof![
                4 => select(vec!["NONE", "LOW", "MEDIUM", "HIGH"]).prop_map(|s| json!(s)),
                1 => json_leaf(),
            ]
            .boxed(),
        ),
        field(date_value().boxed()),
        field(date_value().boxed()),
        field(id_value(ids).boxed()),
        field(vec(id_value(ids), 0..4).prop_map(Value::Array).boxed()),
        field(id_value(ids).boxed()),
        field(prop_oneof![3 => (0i64..5).prop_map(Value::from), 1 => json_leaf()].boxed()),
        field(prop_oneof![3 => any::<bool>().prop_map(Value::Bool), 1 => json_leaf()].boxed()),
        field(any_json().boxed()),
    );
    (fields, prop::bool::weighted(0.05), any_json()).prop_map(
        move |(
            (description, priority, start, due, parent, categories, id, version, done, extra),
            replace,
            other,
        )| {
            if replace {
                return other;
            }
            let mut input = Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    input.insert(key.to_owned(), value);
                }
            };
            put("description", description);
            put("priority", priority);
            put("startAt", start);
            put("dueAt", due);
            put("parentId", parent);
            put("clientMutationId", extra.clone().filter(Value::is_string));
            if update {
                put("id", id);
                put("expectedVersion", version);
                put("done", done);
            } else {
                put("categoryIds", categories);
            }
            if extra.as_ref().is_some_and(Value::is_number) {
                put("unknownField", extra);
            }
            Value::Object(input)
        },
    )
}

/// What a stored task must satisfy, whatever was sent.
fn check_task(task: &Value) -> Result<(), TestCaseError> {
    let description = task["description"].as_str().unwrap_or_default();
    let chars = description.chars().count();
    prop_assert!(
        (1..=1000).contains(&chars) && description.trim() == description,
        "stored description {description:?}"
    );
    if let (Some(start), Some(due)) = (task["startAt"].as_str(), task["dueAt"].as_str()) {
        let start = chrono::DateTime::parse_from_rfc3339(start)
            .map_err(|e| TestCaseError::fail(format!("startAt {start}: {e}")))?;
        let due = chrono::DateTime::parse_from_rfc3339(due)
            .map_err(|e| TestCaseError::fail(format!("dueAt {due}: {e}")))?;
        prop_assert!(start <= due, "stored start {start} after due {due}");
    }
    prop_assert!(task["version"].as_i64().is_some_and(|v| v >= 1));
    Ok(())
}

#[test]
fn sqlite_random_task_mutation_variables() {
    random_task_mutation_variables(Backend::Sqlite);
}

#[test]
fn postgres_random_task_mutation_variables() {
    random_task_mutation_variables(Backend::Postgres);
}

fn random_task_mutation_variables(backend: Backend) {
    let fuzz = Fuzz::new(backend);
    let ids = fuzz.runtime.block_on(async {
        let app = fuzz.app();
        let work = app.create_category("Work").await;
        let home = app.create_category("Home").await;
        let a = app.create_task(json!({ "description": "a" })).await;
        let b = app
            .create_task(json!({ "description": "b", "parentId": a["id"] }))
            .await;
        let c = app
            .create_task(
                json!({ "description": "c", "parentId": b["id"], "dueAt": "2026-12-01T00:00:00Z" }),
            )
            .await;
        let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
        Ids {
            tasks: vec![id(&a), id(&b), id(&c)],
            categories: vec![id(&work), id(&home)],
        }
    });
    let strategy = prop_oneof![
        (Just(CREATE), task_input(&ids, false)),
        (Just(UPDATE), task_input(&ids, true)),
    ];
    run(
        "random_task_mutation_variables",
        regressions!("random_task_mutation_variables"),
        strategy,
        |(query, input)| {
            let body = json!({ "query": query, "variables": { "input": input } });
            let (status, response) = fuzz.check(&json_body(&body))?;
            prop_assert_eq!(status, 200);
            if response.get("errors").is_none() {
                let payload = response["data"]
                    .as_object()
                    .and_then(|d| d.values().next())
                    .cloned()
                    .unwrap_or_default();
                check_task(&payload["task"])?;
            }
            Ok(())
        },
    );
    // Whatever was sent, everything stored is still valid.
    fuzz.runtime.block_on(async {
        let app = fuzz.app();
        let mut after: Option<String> = None;
        loop {
            let data = app
                .data(
                    "query($after: String) { tasks(first: 100, after: $after) {
                       nodes { description startAt dueAt version } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after }),
                )
                .await;
            for task in data["tasks"]["nodes"].as_array().expect("nodes") {
                if let Err(e) = check_task(task) {
                    panic!("an invalid task was stored: {e}: {task}");
                }
            }
            if data["tasks"]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = data["tasks"]["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
    });
    fuzz.finish();
}
