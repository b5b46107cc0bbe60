//! Two owners, A and B. Every query and mutation field, found by
//! introspection (so a field added later is covered too), is run by B with
//! A's ids in every id slot (tasks, categories, parents, category links,
//! filters) and must answer exactly as it does for ids that never existed;
//! an error names the argument that holds A's (or the missing) id, never
//! one that holds B's own; cursors from A's lists bring B none of A's rows.
//! Every try meets fresh fixtures of a fresh owner B, so what one mutation
//! changed (deleteTask, setTasksDone, ...) cannot decide the next. A's data
//! is compared before and after. Subscriptions: B hears none of A's events. With
//! row-level security, an unscoped statement on the api's own connections
//! finds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use serde_json::{Map, Value, json};

use crate::common::{Backend, TestApp, postgres_admin_url};
use crate::sign_in::{data_as, hs256_app, post_as};
use crate::tokens::{claims, hs256};

const INTROSPECTION: &str = r#"{ __schema {
  queryType { name } mutationType { name }
  types { name kind
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } }
    enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

/// A type reference from introspection, unwrapped.
#[derive(Debug, Clone)]
struct TypeRef {
    non_null: bool,
    list: bool,
    name: String,
}

fn type_ref(t: &Value) -> TypeRef {
    let mut t = t;
    let mut out = TypeRef {
        non_null: false,
        list: false,
        name: String::new(),
    };
    let mut outer = true;
    loop {
        match t["kind"].as_str() {
            Some("NON_NULL") => {
                if outer {
                    out.non_null = true;
                }
            }
            Some("LIST") => out.list = true,
            _ => {
                out.name = t["name"].as_str().unwrap_or_default().to_owned();
                return out;
            }
        }
        outer = false;
        t = &t["ofType"];
    }
}

struct Schema {
    types: BTreeMap<String, Value>,
}

/// Whose ids go in the id slots of one try.
#[derive(Clone, Copy, Debug)]
enum Ids {
    /// A's ids everywhere.
    Foreign,
    /// Ids that never existed, everywhere A's would go.
    Missing,
    /// B's own task, A's category (and the reverse): links across owners.
    OwnTaskForeignCategory,
    ForeignTaskOwnCategory,
    MissingCategoryOwnTask,
    MissingTaskOwnCategory,
}

#[derive(Clone)]
struct Fixture {
    a_task: String,
    a_child: String,
    a_category: String,
    a_cursor: String,
    b_task: String,
    b_child: String,
    b_category: String,
    b_user: String,
    missing_task: String,
    missing_category: String,
    a_user: String,
    missing_user: String,
}

fn is_category_slot(name: &str, parent_field: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("categor")
        || (name == "id" && parent_field.to_ascii_lowercase().contains("categor"))
}

impl Fixture {
    /// A federation gateway's representations of a task, a category and a
    /// user (`_entities`), each A's or missing as `ids` says.
    fn representations(&self, ids: Ids) -> Value {
        let user = match ids {
            Ids::Foreign | Ids::OwnTaskForeignCategory | Ids::ForeignTaskOwnCategory => {
                &self.a_user
            }
            _ => &self.missing_user,
        };
        json!([
            { "__typename": "Task", "id": self.id(ids, false, false) },
            { "__typename": "Category", "id": self.id(ids, true, false) },
            { "__typename": "User", "id": user },
        ])
    }

    fn id(&self, ids: Ids, category: bool, child: bool) -> String {
        let foreign_task = if child { &self.a_child } else { &self.a_task };
        match (ids, category) {
            (Ids::Foreign, false) | (Ids::ForeignTaskOwnCategory, false) => foreign_task.clone(),
            (Ids::Foreign, true) | (Ids::OwnTaskForeignCategory, true) => self.a_category.clone(),
            (Ids::Missing, false) | (Ids::MissingTaskOwnCategory, false) => {
                self.missing_task.clone()
            }
            (Ids::Missing, true) | (Ids::MissingCategoryOwnTask, true) => {
                self.missing_category.clone()
            }
            (Ids::OwnTaskForeignCategory | Ids::MissingCategoryOwnTask, false) => {
                self.b_task.clone()
            }
            (Ids::ForeignTaskOwnCategory | Ids::MissingTaskOwnCategory, true) => {
                self.b_category.clone()
            }
        }
    }
}

impl Schema {
    fn value(
        &self,
        t: &TypeRef,
        slot: &str,
        field: &str,
        ids: Ids,
        fx: &Fixture,
        n: usize,
    ) -> Option<Value> {
        if t.name == "_Any" {
            return Some(fx.representations(ids));
        }
        let scalar = match t.name.as_str() {
            "ID" => Some(json!(fx.id(
                ids,
                is_category_slot(slot, field),
                slot == "parentId"
            ))),
            "String" if slot == "after" || slot == "before" => Some(json!(fx.a_cursor)),
            "String" => Some(json!(format!("probe {n}"))),
            "Int" => Some(json!(if slot == "first" || slot == "last" {
                5
            } else {
                1
            })),
            "Float" => Some(json!(1.0)),
            "Boolean" => Some(json!(true)),
            "DateTime" => Some(json!("2030-01-01T00:00:00Z")),
            _ => None,
        };
        let single = match scalar {
            Some(v) => v,
            None => {
                let ty = self.types.get(&t.name)?;
                match ty["kind"].as_str()? {
                    "ENUM" => ty["enumValues"][0]["name"].clone(),
                    "INPUT_OBJECT" => Value::Object(self.input(&t.name, field, ids, fx, n)?),
                    _ => return None,
                }
            }
        };
        Some(if t.list { json!([single]) } else { single })
    }

    /// An input object: its required fields, and every optional one that
    /// holds an id (parents, category links, filters).
    fn input(
        &self,
        name: &str,
        field: &str,
        ids: Ids,
        fx: &Fixture,
        n: usize,
    ) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for f in self.types.get(name)?["inputFields"].as_array()? {
            let fname = f["name"].as_str()?;
            let t = type_ref(&f["type"]);
            if fname == "expectedVersion" || fname == "clientMutationId" {
                continue;
            }
            let holds_id = t.name == "ID";
            if (t.non_null || holds_id || t.name.ends_with("Filter"))
                && let Some(v) = self.value(&t, fname, field, ids, fx, n)
            {
                out.insert(fname.to_owned(), v);
            }
        }
        Some(out)
    }

    /// Everything below a field, two levels of objects deep.
    fn selection(&self, type_name: &str, depth: usize) -> String {
        let Some(ty) = self.types.get(type_name) else {
            return String::new();
        };
        let kind = ty["kind"].as_str().unwrap_or_default();
        if type_name == "_Entity" {
            return "{ __typename ... on Task { id description } ... on Category { id name } \
                ... on User { id tasks(first: 5) { totalCount nodes { id description } } \
                categories(first: 5) { nodes { id name } } } }"
                .into();
        }
        if kind == "INTERFACE" || kind == "UNION" {
            return "{ __typename ... on Task { id description } ... on Category { id name } }"
                .into();
        }
        if kind != "OBJECT" {
            return String::new();
        }
        let mut parts = vec!["__typename".to_owned()];
        for f in ty["fields"].as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            let required_args = f["args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|arg| type_ref(&arg["type"]).non_null));
            if required_args || name.starts_with("__") {
                continue;
            }
            let t = type_ref(&f["type"]);
            let nested = self.types.get(&t.name).and_then(|x| x["kind"].as_str());
            match nested {
                Some("OBJECT" | "INTERFACE" | "UNION") if depth > 0 => {
                    parts.push(format!("{name} {}", self.selection(&t.name, depth - 1)));
                }
                Some("OBJECT" | "INTERFACE" | "UNION") => {}
                _ => parts.push(name.to_owned()),
            }
        }
        format!("{{ {} }}", parts.join(" "))
    }

    /// The operation that calls `field` of the root `root`, whether it has
    /// id slots (without, the try is not compared), and the names of the
    /// slots that hold A's or missing ids (the ids under test).
    fn operation(
        &self,
        keyword: &str,
        field: &Value,
        ids: Ids,
        fx: &Fixture,
        n: usize,
    ) -> (String, bool, BTreeSet<String>) {
        let name = field["name"].as_str().unwrap_or_default();
        let mut args = Vec::new();
        let mut has_ids = false;
        let mut under_test = BTreeSet::new();
        let tested = [
            fx.a_task.as_str(),
            &fx.a_child,
            &fx.a_category,
            &fx.missing_task,
            &fx.missing_category,
            &fx.a_user,
            &fx.missing_user,
            &fx.a_cursor,
        ];
        for arg in field["args"].as_array().into_iter().flatten() {
            let arg_name = arg["name"].as_str().unwrap_or_default();
            let t = type_ref(&arg["type"]);
            let optional_but_interesting = t.name == "ID" || t.name.ends_with("Filter");
            if !t.non_null && !optional_but_interesting && arg_name != "after" {
                continue;
            }
            if let Some(v) = self.value(&t, arg_name, name, ids, fx, n) {
                has_ids |= v.to_string().contains(&fx.a_task)
                    || v.to_string().contains(&fx.a_category)
                    || v.to_string().contains(&fx.a_child)
                    || v.to_string().contains(&fx.missing_task)
                    || v.to_string().contains(&fx.missing_category)
                    || v.to_string().contains(&fx.a_user);
                slots_holding(arg_name, &v, &tested, &mut under_test);
                args.push(format!("{arg_name}: {}", graphql_literal(&v)));
            }
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let selection = self.selection(&type_ref(&field["type"]).name, 2);
        (
            format!("{keyword} {{ {name}{args} {selection} }}"),
            has_ids,
            under_test,
        )
    }
}

/// Adds to `out` the name of every slot in `value` (itself named `name`;
/// an input object's fields by their own names) that holds one of `ids`.
fn slots_holding(name: &str, value: &Value, ids: &[&str], out: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                slots_holding(key, value, ids, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                slots_holding(name, item, ids, out);
            }
        }
        Value::String(s) if ids.contains(&s.as_str()) => {
            out.insert(name.to_owned());
        }
        _ => {}
    }
}

/// A JSON value written as a GraphQL literal (enum values bare).
fn graphql_literal(v: &Value) -> String {
    match v {
        Value::String(s)
            if s.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !s.is_empty() =>
        {
            s.clone()
        }
        Value::Object(fields) => format!(
            "{{ {} }}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", graphql_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(graphql_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// A response with the values that differ between two tries made alike
/// (each try has its own owner B with fixtures of its own).
fn normalised(response: &Value, fx: &Fixture) -> String {
    response
        .to_string()
        .replace(&fx.b_task, "<own task>")
        .replace(&fx.b_child, "<own child>")
        .replace(&fx.b_category, "<own category>")
        .replace(&fx.b_user, "<own user>")
        .replace(&fx.a_task, "<task>")
        .replace(&fx.a_child, "<task>")
        .replace(&fx.missing_task, "<task>")
        .replace(&fx.a_category, "<category>")
        .replace(&fx.missing_category, "<category>")
}

const DUMP: &str = "{ tasks(first: 20) { totalCount nodes { id description priority startAt dueAt done
  completedAt createdAt updatedAt version parent { id } categories { id name }
  subtasks(first: 5) { totalCount nodes { id } } } }
  categories(first: 20) { totalCount nodes { id name createdAt tasks(first: 5) { totalCount nodes { id } } } } }";

async fn arrange(app: &TestApp, token: &str, tag: &str) -> (String, String, String) {
    let category = data_as(
        app,
        token,
        "mutation($n: String!) { createCategory(input: {name: $n}) { category { id } } }",
        json!({ "n": format!("{tag} home") }),
    )
    .await["createCategory"]["category"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let create = "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }";
    let task = data_as(
        app,
        token,
        create,
        json!({ "i": { "description": format!("{tag} secret task"), "categoryIds": [category],
            "dueAt": "2031-01-01T00:00:00Z", "priority": "HIGH" } }),
    )
    .await["createTask"]["task"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let child = data_as(
        app,
        token,
        create,
        json!({ "i": { "description": format!("{tag} secret child"), "parentId": task } }),
    )
    .await["createTask"]["task"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    data_as(
        app,
        token,
        "mutation($id: ID!) { updateTask(input: {id: $id, done: true}) { task { id } } }",
        json!({ "id": child }),
    )
    .await;
    (task, child, category)
}

/// A token for a new owner `user` and `fx` with that owner's own task,
/// step and category, made for one try.
async fn fresh_b(app: &TestApp, fx: &Fixture, user: &str) -> (String, Fixture) {
    let token = hs256(&claims(user));
    let (b_task, b_child, b_category) = arrange(app, &token, "B").await;
    let fx = Fixture {
        b_task,
        b_child,
        b_category,
        b_user: user.to_owned(),
        ..fx.clone()
    };
    (token, fx)
}

/// A mutation given an id under test (A's or a missing one) is refused,
/// and every error that names an argument names one holding such an id,
/// never one holding B's own. (A try without ids under test is B's own
/// business: B's task as its own parent is refused.)
fn about_the_ids_under_test(response: &Value, under_test: &BTreeSet<String>, operation: &str) {
    if under_test.is_empty() {
        return;
    }
    let errors = response["errors"].as_array();
    assert!(
        !operation.starts_with("mutation") || errors.is_some_and(|e| !e.is_empty()),
        "a mutation with ids under test {under_test:?} went through:\n{operation}\n{response}"
    );
    for error in errors.into_iter().flatten() {
        if let Some(field) = error["extensions"]["field"].as_str() {
            assert!(
                under_test.contains(field),
                "the error names {field:?}, not one of the ids under test {under_test:?}:\n\
                 {operation}\n{response}"
            );
        }
    }
}

fn missing(prefix: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{prefix}:{}", uuid::Uuid::now_v7().simple()))
}

pub async fn another_owners_ids_are_missing_ones(app: &TestApp) {
    let a = hs256(&claims("owner-a"));
    let (a_task, a_child, a_category) = arrange(app, &a, "A").await;
    let cursor = data_as(
        app,
        &a,
        // In the default order, which the tries use: a cursor made for
        // another order would be refused before the ids beside it are read.
        "{ tasks(first: 1) { edges { cursor } } }",
        json!({}),
    )
    .await["tasks"]["edges"][0]["cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fx = Fixture {
        a_task,
        a_child,
        a_category,
        a_cursor: cursor,
        b_task: String::new(),
        b_child: String::new(),
        b_category: String::new(),
        b_user: String::new(),
        missing_task: missing("Task"),
        missing_category: missing("Category"),
        a_user: "owner-a".into(),
        missing_user: "owner-nobody".into(),
    };
    let before = data_as(app, &a, DUMP, json!({})).await;

    let introspection = data_as(app, &hs256(&claims("owner-b")), INTROSPECTION, json!({})).await;
    let schema = Schema {
        types: introspection["__schema"]["types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (t["name"].as_str().unwrap_or_default().to_owned(), t.clone()))
            .collect(),
    };
    let mut tried = 0;
    let mut compared = 0;
    let mut n = 0;
    for (root, keyword) in [("queryType", "query"), ("mutationType", "mutation")] {
        let root_name = introspection["__schema"][root]["name"]
            .as_str()
            .unwrap_or_default();
        let fields = schema.types[root_name]["fields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!fields.is_empty());
        for field in &fields {
            for (with, without) in [
                (Ids::Foreign, Ids::Missing),
                (Ids::OwnTaskForeignCategory, Ids::MissingCategoryOwnTask),
                (Ids::ForeignTaskOwnCategory, Ids::MissingTaskOwnCategory),
            ] {
                n += 1;
                // Each try meets a fresh owner B with fresh fixtures.
                let (b, fx_with) = fresh_b(app, &fx, &format!("owner-b-{n}-with")).await;
                let (foreign, has_ids, under_test) =
                    schema.operation(keyword, field, with, &fx_with, n);
                let bearer = format!("Bearer {b}");
                let (status, _, got) = post_as(app, Some(&bearer), &foreign, json!({})).await;
                tried += 1;
                assert_eq!(status, 200, "{foreign}: {got}");
                about_the_ids_under_test(&got, &under_test, &foreign);
                let text = got.to_string();
                for secret in [
                    "A secret",
                    "A home",
                    &fx.a_task,
                    &fx.a_child,
                    &fx.a_category,
                ] {
                    assert!(
                        !text.contains(secret),
                        "B saw A's {secret:?} through {foreign}: {got}"
                    );
                }
                if has_ids {
                    let (b, fx_without) = fresh_b(app, &fx, &format!("owner-b-{n}-without")).await;
                    let (absent, _, under_test) =
                        schema.operation(keyword, field, without, &fx_without, n);
                    let bearer = format!("Bearer {b}");
                    let (_, _, expected) = post_as(app, Some(&bearer), &absent, json!({})).await;
                    about_the_ids_under_test(&expected, &under_test, &absent);
                    compared += 1;
                    assert_eq!(
                        normalised(&got, &fx_with),
                        normalised(&expected, &fx_without),
                        "B on A's ids differs from B on missing ids:\n{foreign}\n{absent}"
                    );
                }
            }
        }
    }
    let after = data_as(app, &a, DUMP, json!({})).await;
    assert_eq!(before, after, "A's data changed");
    eprintln!(
        "owners: {tried} operations tried by B on A's ids, {compared} compared with missing ids"
    );
    // Every root field with an id slot, each in three mixes of ids.
    assert!(compared >= 25, "only {compared} operations compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_another_owners_ids_are_missing_ones() {
    another_owners_ids_are_missing_ones(&hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_owners_ids_are_missing_ones() {
    another_owners_ids_are_missing_ones(&hs256_app(Backend::Postgres, &[]).await).await;
}

async fn subscribers_hear_only_their_own(app: &TestApp) {
    let (a, b) = (hs256(&claims("owner-a")), hs256(&claims("owner-b")));
    let mut sockets = Vec::new();
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut socket = crate::common::ws::connect(&app.ws_url(), protocol).await;
        crate::common::ws::send(
            &mut socket,
            json!({ "type": "connection_init", "payload": { "token": b } }),
        )
        .await;
        assert_eq!(
            crate::common::ws::receive(&mut socket).await["type"],
            "connection_ack"
        );
        let start = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        crate::common::ws::send(
            &mut socket,
            json!({ "id": "1", "type": start, "payload": { "query":
                "subscription { taskEvents(after: \"ZXYxOjA\") { kind taskId task { description } } }" } }),
        )
        .await;
        sockets.push(socket);
    }
    // A creates, completes and deletes: DELETED events carry no task, only
    // its id.
    let (_, a_child, _) = arrange(app, &a, "A (subscriptions)").await;
    let delete = "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }";
    data_as(app, &a, delete, json!({ "id": a_child })).await;
    // B does the same with tasks of its own.
    let create = "mutation($d: String!) { createTask(input: {description: $d}) { task { id } } }";
    let mut b_tasks = BTreeSet::new();
    for description in ["B doomed", "B marker"] {
        let id = data_as(app, &b, create, json!({ "d": description })).await["createTask"]["task"]
            ["id"]
            .as_str()
            .expect("B's task id")
            .to_owned();
        if description == "B doomed" {
            data_as(app, &b, delete, json!({ "id": id })).await;
        }
        b_tasks.insert(id);
    }
    for socket in &mut sockets {
        // Everything B hears, replayed from the start of the log, is B's.
        let mut kinds = BTreeSet::new();
        loop {
            let event = crate::common::ws::receive(socket).await;
            let event = &event["payload"]["data"]["taskEvents"];
            let description = event["task"]["description"].as_str().unwrap_or_default();
            assert!(!description.starts_with('A'), "B heard A's event: {event}");
            let task_id = event["taskId"].as_str().unwrap_or_default();
            assert!(
                b_tasks.contains(task_id),
                "B heard an event about a task not B's: {event}"
            );
            kinds.insert(event["kind"].as_str().unwrap_or_default().to_owned());
            if description == "B marker" {
                break;
            }
        }
        assert!(kinds.contains("DELETED"), "B heard {kinds:?}");
        // And nothing of A's follows.
        let more = tokio::time::timeout(
            Duration::from_millis(500),
            crate::common::ws::receive(socket),
        )
        .await;
        assert!(more.is_err(), "B heard more: {more:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscribers_hear_only_their_own() {
    subscribers_hear_only_their_own(&hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_subscribers_hear_only_their_own() {
    subscribers_hear_only_their_own(&hs256_app(Backend::Postgres, &[]).await).await;
}

/// A database owned by a role that is no superuser (superusers pass
/// row-level security): the api migrates it as that role, so FORCE binds it.
pub struct RlsDatabase {
    pub url: String,
    name: String,
}

impl RlsDatabase {
    pub async fn new() -> Self {
        let admin = Database::connect(postgres_admin_url())
            .await
            .expect("admin");
        admin
            .execute_unprepared(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_rls_test') \
                 THEN CREATE ROLE todo_rls_test LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$",
            )
            .await
            .expect("role");
        let name = format!("todo_rls_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\" OWNER todo_rls_test"))
            .await
            .expect("database");
        admin.close().await.ok();
        let base = postgres_admin_url();
        let host = base
            .split_once('@')
            .map(|(_, rest)| rest.rsplit_once('/').map_or(rest, |(h, _)| h).to_owned())
            .expect("host in TEST_DATABASE_URL");
        Self {
            url: format!("postgres://todo_rls_test@{host}/{name}"),
            name,
        }
    }
}

impl Drop for RlsDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_hides_other_owners_from_unscoped_sql() {
    let rls = RlsDatabase::new().await;
    let app = hs256_app(
        Backend::Postgres,
        &[
            ("DATABASE_URL", &rls.url),
            ("DB_ROW_LEVEL_SECURITY", "true"),
        ],
    )
    .await;
    // Everything works as before with the policies on, isolation included.
    another_owners_ids_are_missing_ones(&app).await;
    subscribers_hear_only_their_own(&app).await;

    // A statement that forgot its owner, on the api's own pool: nothing.
    for table in ["tasks", "categories", "task_categories", "task_events"] {
        let row = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("query")
            .expect("row");
        assert_eq!(
            row.try_get::<i64>("", "n").expect("n"),
            0,
            "{table} without an owner"
        );
    }
    // Naming an owner shows that owner's rows only.
    let txn = app.db.begin().await.expect("begin");
    txn.execute_unprepared("SELECT set_config('app.owner_id', 'owner-a', true)")
        .await
        .expect("set owner");
    let rows = txn
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT DISTINCT owner_id FROM tasks",
        ))
        .await
        .expect("tasks");
    let owners: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "owner_id").expect("owner"))
        .collect();
    assert_eq!(owners, ["owner-a"]);
    txn.rollback().await.ok();
    drop(app);
}
