//! Execution errors: well-formed requests whose values the service refuses.
//! Each is a 200 with `data` present and the error's code and field.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::Category::Domain;
use super::{Case, Expect, Fixture, MISSING_CATEGORY, MISSING_TASK, case, field, q, qv};

/// Task descriptions: 1 to 1000 characters after trimming.
const MAX_DESCRIPTION: usize = 1000;
/// Category names: 1 to 64 characters after trimming.
const MAX_NAME: usize = 64;
/// Page sizes: 0 to 100.
const MAX_PAGE: i64 = 100;

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

const TASK: &str = "query($id: ID!) { task(id: $id) { id } }";
const CATEGORY: &str = "query($id: ID!) { category(id: $id) { id } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const CREATE: &str =
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }";
const UPDATE: &str =
    "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { task { id version } } }";
const DELETE: &str = "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }";
const SET_DONE: &str =
    "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: true}) { tasks { id } } }";
const ADD: &str = "mutation($task: ID!, $cats: [ID!]!) { addTaskCategories(input: {taskId: $task, categoryIds: $cats}) { task { id } } }";
const REMOVE: &str = "mutation($task: ID!, $cats: [ID!]!) { removeTaskCategories(input: {taskId: $task, categoryIds: $cats}) { task { id } } }";
const CREATE_CATEGORY: &str =
    "mutation($name: String!) { createCategory(input: {name: $name}) { category { id } } }";
const RENAME: &str = "mutation($id: ID!, $name: String!) { renameCategory(input: {id: $id, name: $name}) { category { id } } }";
const DELETE_CATEGORY: &str =
    "mutation($id: ID!) { deleteCategory(input: {id: $id}) { deletedCategoryId } }";
const PAGE: &str = "query($first: Int, $last: Int, $after: String, $before: String) {
    tasks(first: $first, last: $last, after: $after, before: $before) { totalCount } }";

fn page(args: Value) -> super::Req {
    qv(PAGE, args)
}

pub fn cases(f: &Fixture) -> Vec<Case> {
    let bad = |name: &'static str| field("BAD_USER_INPUT", name);
    let not_found = |name: &'static str| field("NOT_FOUND", name);
    let conflict = |name: &'static str| field("CONFLICT", name);
    let uuid = "0197a0a0-0000-7000-8000-000000000000";

    let malformed_ids: Vec<(&str, String)> = vec![
        ("garbage", "nope".into()),
        ("empty", String::new()),
        ("not base64", "!!!".into()),
        (
            "standard base64 with padding",
            STANDARD.encode("Task:00000000000000000000000000000000"),
        ),
        ("unknown type", b64(&format!("Bogus:{uuid}"))),
        ("bad uuid", b64("Task:not-a-uuid")),
        ("no separator", b64("Task")),
        (
            "not UTF-8",
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x3a, 0x00]),
        ),
        ("10 kB long", "A".repeat(10_000)),
        ("SQL", "' OR 1=1 --".into()),
    ];

    let mut cases: Vec<(String, super::Req, Expect)> = Vec::new();
    let mut push = |name: String, req: super::Req, expect: Expect| cases.push((name, req, expect));

    // --- Malformed and foreign ids.
    for (name, id) in &malformed_ids {
        push(
            format!("task(id) {name}"),
            qv(TASK, json!({ "id": id })),
            bad("id"),
        );
    }
    for (name, id) in malformed_ids.iter().take(3) {
        push(
            format!("node(id) {name}"),
            qv(NODE, json!({ "id": id })),
            bad("id"),
        );
        push(
            format!("updateTask id {name}"),
            qv(UPDATE, json!({ "input": { "id": id, "done": true } })),
            bad("id"),
        );
    }
    push(
        "task(id) given a category id".into(),
        qv(TASK, json!({ "id": f.work })),
        bad("id"),
    );
    push(
        "category(id) given a task id".into(),
        qv(CATEGORY, json!({ "id": f.a })),
        bad("id"),
    );
    push(
        "nodes(ids) with a malformed id".into(),
        qv(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [f.a, "nope"] }),
        ),
        bad("id"),
    );
    push(
        "nodes(ids) with 101 ids".into(),
        qv(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": vec![&f.a; 101] }),
        ),
        bad("ids"),
    );
    push(
        "filter.parentId malformed".into(),
        q("{ tasks(filter: {parentId: \"nope\"}) { totalCount } }"),
        bad("filter.parentId"),
    );
    push(
        "filter.categoryIds given a task id".into(),
        qv(
            "query($id: ID!) { tasks(filter: {categoryIds: [$id]}) { totalCount } }",
            json!({ "id": f.a }),
        ),
        bad("filter.categoryIds"),
    );
    push(
        "createTask parentId malformed".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "parentId": "nope" } }),
        ),
        bad("parentId"),
    );
    push(
        "createTask parentId a category".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "parentId": f.work } }),
        ),
        bad("parentId"),
    );
    push(
        "createTask categoryIds with a task id".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "categoryIds": [f.work, f.a] } }),
        ),
        bad("categoryIds"),
    );
    push(
        "deleteTask id a category".into(),
        qv(DELETE, json!({ "id": f.work })),
        bad("id"),
    );
    push(
        "setTasksDone ids with a malformed one".into(),
        qv(SET_DONE, json!({ "ids": [f.a, "nope"] })),
        bad("ids"),
    );
    push(
        "addTaskCategories categoryIds with a task id".into(),
        qv(ADD, json!({ "task": f.a, "cats": [f.b] })),
        bad("categoryIds"),
    );
    push(
        "removeTaskCategories taskId a category".into(),
        qv(REMOVE, json!({ "task": f.work, "cats": [f.home] })),
        bad("taskId"),
    );
    push(
        "deleteCategory id a task".into(),
        qv(DELETE_CATEGORY, json!({ "id": f.a })),
        bad("id"),
    );

    // --- Well-formed ids of missing objects in mutations.
    push(
        "createTask parentId missing".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "parentId": MISSING_TASK } }),
        ),
        not_found("parentId"),
    );
    push(
        "createTask categoryIds missing".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "categoryIds": [f.work, MISSING_CATEGORY] } }),
        ),
        not_found("categoryIds"),
    );
    push(
        "updateTask id missing".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": MISSING_TASK, "done": true } }),
        ),
        not_found("id"),
    );
    push(
        "updateTask parentId missing".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": f.c, "parentId": MISSING_TASK } }),
        ),
        not_found("parentId"),
    );
    push(
        "deleteTask id missing".into(),
        qv(DELETE, json!({ "id": MISSING_TASK })),
        not_found("id"),
    );
    push(
        "setTasksDone ids with a missing one".into(),
        qv(SET_DONE, json!({ "ids": [f.a, MISSING_TASK] })),
        not_found("ids"),
    );
    push(
        "addTaskCategories taskId missing".into(),
        qv(ADD, json!({ "task": MISSING_TASK, "cats": [f.work] })),
        not_found("taskId"),
    );
    push(
        "addTaskCategories categoryIds missing".into(),
        qv(
            ADD,
            json!({ "task": f.a, "cats": [f.home, MISSING_CATEGORY] }),
        ),
        not_found("categoryIds"),
    );
    push(
        "renameCategory id missing".into(),
        qv(RENAME, json!({ "id": MISSING_CATEGORY, "name": "x" })),
        not_found("id"),
    );
    push(
        "deleteCategory id missing".into(),
        qv(DELETE_CATEGORY, json!({ "id": MISSING_CATEGORY })),
        not_found("id"),
    );

    // --- Page sizes and cursors.
    for (name, args, which) in [
        ("first over 100", json!({ "first": MAX_PAGE + 1 }), "first"),
        ("first huge", json!({ "first": i32::MAX }), "first"),
        ("first negative", json!({ "first": -1 }), "first"),
        ("first most negative", json!({ "first": i32::MIN }), "first"),
        ("last over 100", json!({ "last": MAX_PAGE + 1 }), "last"),
        ("last negative", json!({ "last": -5 }), "last"),
        ("first and last", json!({ "first": 1, "last": 1 }), "last"),
        ("after garbage", json!({ "after": "garbage" }), "after"),
        ("before garbage", json!({ "before": "garbage" }), "before"),
        ("after empty", json!({ "after": "" }), "after"),
        (
            "after base64 of non-JSON",
            json!({ "after": b64("hello") }),
            "after",
        ),
        (
            "after of the wrong shape",
            json!({ "after": b64(r#"{"s": 1, "v": "x"}"#) }),
            "after",
        ),
        (
            "after made for another orderBy",
            json!({ "after": f.description_cursor }),
            "after",
        ),
        (
            "after with forged values",
            json!({ "after": b64(r#"{"s": "", "v": [{"Text": "x"}]}"#) }),
            "after",
        ),
    ] {
        push(format!("tasks {name}"), page(args), bad(which));
    }
    push(
        "categories first over 100".into(),
        q("{ categories(first: 1000) { totalCount } }"),
        bad("first"),
    );
    push(
        "nested subtasks first negative".into(),
        qv(
            "query($id: ID!) { task(id: $id) { subtasks(first: -1) { totalCount } } }",
            json!({ "id": f.a }),
        ),
        bad("first"),
    );
    push(
        "nested category tasks last over 100".into(),
        qv(
            "query($id: ID!) { category(id: $id) { tasks(last: 101) { totalCount } } }",
            json!({ "id": f.work }),
        ),
        bad("last"),
    );

    // --- Values out of range.
    for (name, description) in [
        ("empty", String::new()),
        ("blank", " \t\n ".to_owned()),
        ("one over the limit", "x".repeat(MAX_DESCRIPTION + 1)),
        (
            "one over the limit in characters",
            "é".repeat(MAX_DESCRIPTION + 1),
        ),
        ("100 kB", "x".repeat(100_000)),
    ] {
        push(
            format!("createTask description {name}"),
            qv(CREATE, json!({ "input": { "description": description } })),
            bad("description"),
        );
    }
    push(
        "updateTask description over the limit".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": f.a, "description": "y".repeat(MAX_DESCRIPTION + 1) } }),
        ),
        bad("description"),
    );
    push(
        "updateTask description blank".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": f.a, "description": "  " } }),
        ),
        bad("description"),
    );
    for name in ["description", "priority", "done"] {
        push(
            format!("updateTask {name} null"),
            qv(UPDATE, json!({ "input": { "id": f.a, name: null } })),
            field("BAD_USER_INPUT", name),
        );
    }
    push(
        "createTask start after due".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "startAt": "2026-12-02T00:00:00Z", "dueAt": "2026-12-01T00:00:00Z" } }),
        ),
        bad("startAt"),
    );
    push(
        "createTask start a microsecond after due".into(),
        qv(
            CREATE,
            json!({ "input": { "description": "x", "startAt": "2026-12-01T00:00:00.000001Z", "dueAt": "2026-12-01T00:00:00Z" } }),
        ),
        bad("startAt"),
    );
    push(
        "updateTask start after the stored due".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": f.dated, "startAt": "2026-12-05T00:00:00Z" } }),
        ),
        bad("startAt"),
    );
    push(
        "createCategory name empty".into(),
        qv(CREATE_CATEGORY, json!({ "name": "" })),
        bad("name"),
    );
    push(
        "createCategory name blank".into(),
        qv(CREATE_CATEGORY, json!({ "name": "   " })),
        bad("name"),
    );
    push(
        "createCategory name one over the limit".into(),
        qv(CREATE_CATEGORY, json!({ "name": "n".repeat(MAX_NAME + 1) })),
        bad("name"),
    );
    push(
        "renameCategory name over the limit".into(),
        qv(
            RENAME,
            json!({ "id": f.home, "name": "ü".repeat(MAX_NAME + 1) }),
        ),
        bad("name"),
    );

    // --- Conflicts and cycles.
    for (name, version) in [
        ("stale", 1),
        ("ahead", 3),
        ("zero", 0),
        ("negative", -1),
        ("maximal", i32::MAX),
    ] {
        push(
            format!("updateTask expectedVersion {name}"),
            qv(
                UPDATE,
                json!({ "input": { "id": f.versioned, "expectedVersion": version, "done": false } }),
            ),
            conflict("expectedVersion"),
        );
    }
    for (name, duplicate) in [
        ("same name", "Work"),
        ("other case", "wORK"),
        ("padded", "  Work "),
    ] {
        push(
            format!("createCategory duplicate name, {name}"),
            qv(CREATE_CATEGORY, json!({ "name": duplicate })),
            conflict("name"),
        );
    }
    push(
        "renameCategory to another's name".into(),
        qv(RENAME, json!({ "id": f.home, "name": "work" })),
        conflict("name"),
    );
    // A task under itself or its own sub-tasks (the existing tests: BAD_USER_INPUT).
    for (name, id, parent) in [
        ("its own parent", &f.a, &f.a),
        ("under its child", &f.a, &f.b),
        ("under its grandchild", &f.a, &f.c),
        ("middle under its child", &f.b, &f.c),
    ] {
        push(
            format!("updateTask cycle: {name}"),
            qv(UPDATE, json!({ "input": { "id": id, "parentId": parent } })),
            bad("parentId"),
        );
    }
    push(
        "updateTask cycle with a stale version first".into(),
        qv(
            UPDATE,
            json!({ "input": { "id": f.a, "parentId": f.c, "expectedVersion": 9 } }),
        ),
        conflict("expectedVersion"),
    );

    cases
        .into_iter()
        .map(|(name, req, expect)| case(format!("domain: {name}"), Domain, req, expect))
        .collect()
}
