//! Manual order: `TaskOrderField.POSITION`, `createTask`'s `before` and
//! `after`, `moveTask`; keys that sort bytewise on both backends, moves that
//! write the moved task only, compaction, concurrent moves into one gap, and
//! a property test against a model list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, descriptions};
use crate::sign_in::{data_as, hs256_app, post_as};
use crate::support::{Outcome, post_graphql};
use crate::tokens::{claims, hs256};

crate::on_both_backends!(
    new_tasks_go_to_the_end_unless_placed,
    subtasks_have_their_own_order,
    a_move_changes_the_moved_task_only,
    bad_places_are_refused,
    repeated_moves_into_one_spot_compact_the_list,
    pages_over_position_are_exact_while_tasks_move,
    concurrent_moves_into_one_gap_all_land_and_stay_put,
    keys_sort_bytewise_in_the_database,
    next_occurrence_goes_right_after_the_completed_task,
    a_new_parent_puts_the_task_at_the_end_of_its_list,
);

const TASK: &str = "fragment T on Task { id description position version updatedAt parent { id } }";

async fn create(app: &TestApp, input: Value) -> Value {
    app.data(
        &format!(
            "mutation($i: CreateTaskInput!) {{ createTask(input: $i) {{ task {{ ...T }} }} }} {TASK}"
        ),
        json!({ "i": input }),
    )
    .await["createTask"]["task"]
        .clone()
}

async fn create_named(app: &TestApp, names: &[&str]) -> Vec<Value> {
    let mut tasks = Vec::new();
    for name in names {
        tasks.push(create(app, json!({ "description": name })).await);
    }
    tasks
}

const MOVE: &str = "mutation($i: MoveTaskInput!) { moveTask(input: $i) {
    clientMutationId task { ...T } } }";

async fn move_task(app: &TestApp, input: Value) -> Value {
    app.data(&format!("{MOVE} {TASK}"), json!({ "i": input }))
        .await["moveTask"]["task"]
        .clone()
}

async fn move_error(app: &TestApp, input: Value) -> (String, Option<String>) {
    app.error(&format!("{MOVE} {TASK}"), json!({ "i": input }))
        .await
}

/// The top-level tasks in POSITION order (or DESC), all of them.
async fn top_level(app: &TestApp, direction: &str) -> Vec<Value> {
    let data = app
        .data(
            &format!(
                "query($d: OrderDirection) {{ tasks(first: 100, filter: {{topLevel: true}},
                    orderBy: [{{field: POSITION, direction: $d}}]) {{ nodes {{ ...T }} }} }} {TASK}"
            ),
            json!({ "d": direction }),
        )
        .await;
    data["tasks"]["nodes"].as_array().expect("nodes").clone()
}

async fn order(app: &TestApp) -> Vec<String> {
    names(&top_level(app, "ASC").await)
}

fn names(tasks: &[Value]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| t["description"].as_str().expect("description").to_owned())
        .collect()
}

/// A task id that never was.
fn missing_task_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("Task:{}", uuid::Uuid::now_v7().simple()))
}

fn strs(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Every key is short and the keys sort bytewise as the list does.
fn check_keys(tasks: &[Value]) {
    let keys: Vec<&str> = tasks
        .iter()
        .map(|t| t["position"].as_str().expect("position"))
        .collect();
    assert!(
        keys.iter().all(|k| !k.is_empty() && k.len() <= 32),
        "{keys:?}"
    );
    assert!(
        keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "keys not strictly increasing bytewise: {keys:?}"
    );
}

async fn new_tasks_go_to_the_end_unless_placed(app: TestApp) {
    let tasks = create_named(&app, &["a", "b", "c"]).await;
    assert_eq!(order(&app).await, strs(&["a", "b", "c"]));
    create(
        &app,
        json!({ "description": "d", "before": tasks[1]["id"] }),
    )
    .await;
    create(&app, json!({ "description": "e", "after": tasks[2]["id"] })).await;
    create(&app, json!({ "description": "f", "after": tasks[0]["id"] })).await;
    create(
        &app,
        json!({ "description": "g", "before": tasks[0]["id"] }),
    )
    .await;
    create(&app, json!({ "description": "h" })).await;
    let listed = top_level(&app, "ASC").await;
    assert_eq!(
        names(&listed),
        strs(&["g", "a", "f", "d", "b", "c", "e", "h"])
    );
    check_keys(&listed);
    let mut reversed = names(&listed);
    reversed.reverse();
    assert_eq!(names(&top_level(&app, "DESC").await), reversed);
}

async fn subtasks_have_their_own_order(app: TestApp) {
    let parent = create(&app, json!({ "description": "parent" })).await;
    let other = create(&app, json!({ "description": "other" })).await;
    let s1 = create(
        &app,
        json!({ "description": "s1", "parentId": parent["id"] }),
    )
    .await;
    create(
        &app,
        json!({ "description": "s2", "parentId": parent["id"] }),
    )
    .await;
    create(
        &app,
        json!({ "description": "s3", "parentId": parent["id"], "before": s1["id"] }),
    )
    .await;
    create(
        &app,
        json!({ "description": "o1", "parentId": other["id"] }),
    )
    .await;
    let subtasks = |id: Value| {
        let app = &app;
        async move {
            let data = app
                .data(
                    "query($id: ID!) { task(id: $id) { ... on Task {
                        subtasks(orderBy: [{field: POSITION}]) { nodes { description } } } } }",
                    json!({ "id": id }),
                )
                .await;
            descriptions(&data["task"]["subtasks"])
        }
    };
    assert_eq!(
        subtasks(parent["id"].clone()).await,
        strs(&["s3", "s1", "s2"])
    );
    assert_eq!(subtasks(other["id"].clone()).await, strs(&["o1"]));
    // The top level is a list of its own.
    assert_eq!(order(&app).await, strs(&["parent", "other"]));
    // And so is the filter by parent.
    let data = app
        .data(
            "query($p: ID!) { tasks(filter: {parentId: $p}, orderBy: [{field: POSITION, direction: DESC}]) { nodes { description } } }",
            json!({ "p": parent["id"] }),
        )
        .await;
    assert_eq!(descriptions(&data["tasks"]), strs(&["s2", "s1", "s3"]));
}

/// The events of `task_id` recorded so far (kinds with versions), read once
/// an event committed after them is listed.
async fn events_of(app: &TestApp, task_id: &Value) -> Vec<(String, i64)> {
    // A sub-task of the task: no sibling of the lists under test.
    let marker = create(app, json!({ "description": "marker", "parentId": task_id })).await;
    let query = "query($ids: [ID!], $after: String) { taskEvents(first: 100, after: $after, filter: {taskIds: $ids}) {
        nodes { kind taskId version } pageInfo { hasNextPage endCursor } } }";
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let mut events = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = app
                .data(
                    query,
                    json!({ "ids": [task_id, marker["id"]], "after": after }),
                )
                .await;
            let page = &page["taskEvents"];
            events.extend(page["nodes"].as_array().expect("nodes").iter().cloned());
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        if events.iter().any(|e| e["taskId"] == marker["id"]) {
            // The marker's own CREATED is of no interest.
            return events
                .iter()
                .filter(|e| e["taskId"] == *task_id)
                .map(|e| {
                    (
                        e["kind"].as_str().expect("kind").to_owned(),
                        e["version"].as_i64().expect("version"),
                    )
                })
                .collect();
        }
        assert!(Instant::now() < until, "the marker was never listed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_move_changes_the_moved_task_only(app: TestApp) {
    let tasks = create_named(&app, &["a", "b", "c", "d", "e"]).await;
    let before = top_level(&app, "ASC").await;

    let moved = app
        .data(
            &format!("{MOVE} {TASK}"),
            json!({ "i": { "id": tasks[4]["id"], "before": tasks[0]["id"], "clientMutationId": "m1" } }),
        )
        .await["moveTask"]
        .clone();
    assert_eq!(moved["clientMutationId"], "m1");
    let moved = &moved["task"];
    assert_eq!(moved["version"], 2);
    assert_ne!(moved["position"], tasks[4]["position"]);
    assert_ne!(moved["updatedAt"], tasks[4]["updatedAt"]);
    let after = top_level(&app, "ASC").await;
    assert_eq!(names(&after), strs(&["e", "a", "b", "c", "d"]));
    check_keys(&after);
    // No sibling was renumbered: same keys, versions and updatedAt.
    for task in &before[..4] {
        let now = after.iter().find(|t| t["id"] == task["id"]).expect("kept");
        assert_eq!(now, task);
    }
    // One UPDATED event, for the moved task.
    assert_eq!(
        events_of(&app, &tasks[4]["id"]).await,
        vec![("CREATED".to_owned(), 1), ("UPDATED".to_owned(), 2)]
    );
    for task in &tasks[..4] {
        assert_eq!(
            events_of(&app, &task["id"]).await,
            vec![("CREATED".to_owned(), 1)]
        );
    }

    move_task(
        &app,
        json!({ "id": tasks[0]["id"], "after": tasks[3]["id"] }),
    )
    .await;
    assert_eq!(order(&app).await, strs(&["e", "b", "c", "d", "a"]));
    // Neither: the end.
    move_task(&app, json!({ "id": tasks[1]["id"] })).await;
    assert_eq!(order(&app).await, strs(&["e", "c", "d", "a", "b"]));
    // Right after its own predecessor: where it is, with a new key.
    move_task(
        &app,
        json!({ "id": tasks[2]["id"], "after": tasks[4]["id"] }),
    )
    .await;
    move_task(
        &app,
        json!({ "id": tasks[2]["id"], "before": tasks[3]["id"] }),
    )
    .await;
    let listed = top_level(&app, "ASC").await;
    assert_eq!(names(&listed), strs(&["e", "c", "d", "a", "b"]));
    check_keys(&listed);
}

async fn bad_places_are_refused(app: TestApp) {
    let tasks = create_named(&app, &["a", "b"]).await;
    let child = create(
        &app,
        json!({ "description": "child", "parentId": tasks[0]["id"] }),
    )
    .await;
    let (a, b) = (&tasks[0]["id"], &tasks[1]["id"]);
    let missing = missing_task_id();
    let bad = |field: &str| ("BAD_USER_INPUT".to_owned(), Some(field.to_owned()));
    let not_found = |field: &str| ("NOT_FOUND".to_owned(), Some(field.to_owned()));

    assert_eq!(
        move_error(&app, json!({ "id": a, "before": b, "after": b }))
            .await
            .0,
        "BAD_USER_INPUT"
    );
    // Not a sibling: a sub-task, a parent, the task itself.
    assert_eq!(
        move_error(&app, json!({ "id": a, "before": child["id"] })).await,
        bad("before")
    );
    assert_eq!(
        move_error(&app, json!({ "id": child["id"], "after": a })).await,
        bad("after")
    );
    assert_eq!(
        move_error(&app, json!({ "id": a, "after": a })).await,
        bad("after")
    );
    assert_eq!(
        move_error(&app, json!({ "id": a, "before": missing })).await,
        not_found("before")
    );
    assert_eq!(
        move_error(&app, json!({ "id": missing, "before": a })).await,
        not_found("id")
    );

    let create_error = |input: Value| {
        let app = &app;
        async move {
            app.error(
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }",
                json!({ "i": input }),
            )
            .await
        }
    };
    assert_eq!(
        create_error(json!({ "description": "x", "before": a, "after": b }))
            .await
            .0,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        create_error(json!({ "description": "x", "after": child["id"] })).await,
        bad("after")
    );
    assert_eq!(
        create_error(json!({ "description": "x", "parentId": a, "before": b })).await,
        bad("before")
    );
    assert_eq!(
        create_error(json!({ "description": "x", "before": missing })).await,
        not_found("before")
    );
    // Nothing was written.
    assert_eq!(order(&app).await, strs(&["a", "b"]));
    let listed = top_level(&app, "ASC").await;
    assert!(listed.iter().all(|t| t["version"] == 1));
}

/// Another owner's task, as an anchor or as the task moved, is as missing
/// as one that never was.
async fn another_owners_tasks_are_missing(app: &TestApp) {
    let (a, b) = (hs256(&claims("owner-a")), hs256(&claims("owner-b")));
    let create = "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }";
    let theirs = data_as(app, &a, create, json!({ "i": { "description": "A's" } })).await;
    let theirs = &theirs["createTask"]["task"]["id"];
    let mine = data_as(app, &b, create, json!({ "i": { "description": "B's" } })).await;
    let mine = &mine["createTask"]["task"]["id"];
    let missing = json!(missing_task_id());
    let bearer = format!("Bearer {b}");
    let error = async |input: Value| {
        let (_, _, body) = post_as(
            app,
            Some(&bearer),
            "mutation($i: MoveTaskInput!) { moveTask(input: $i) { task { id } } }",
            json!({ "i": input }),
        )
        .await;
        let e = &body["errors"][0];
        (
            e["extensions"]["code"].clone(),
            e["extensions"]["field"].clone(),
            e["message"].clone(),
        )
    };
    for (theirs_in, missing_in) in [
        (json!({ "id": theirs }), json!({ "id": missing })),
        (
            json!({ "id": mine, "before": theirs }),
            json!({ "id": mine, "before": missing }),
        ),
        (
            json!({ "id": mine, "after": theirs }),
            json!({ "id": mine, "after": missing }),
        ),
    ] {
        let got = error(theirs_in).await;
        assert_eq!(got.0, "NOT_FOUND");
        assert_eq!(got, error(missing_in).await);
    }
    let listed = data_as(
        app,
        &a,
        "{ tasks { nodes { description version } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        listed["tasks"]["nodes"],
        json!([{ "description": "A's", "version": 1 }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_another_owners_tasks_are_missing() {
    another_owners_tasks_are_missing(&hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_owners_tasks_are_missing() {
    another_owners_tasks_are_missing(&hs256_app(Backend::Postgres, &[]).await).await;
}

async fn repeated_moves_into_one_spot_compact_the_list(app: TestApp) {
    let tasks = create_named(&app, &["a", "b", "c", "d", "e"]).await;
    let ids: Vec<&Value> = tasks.iter().map(|t| &t["id"]).collect();
    // c and d take turns right after a: each lands between a and the other,
    // halving the gap every time.
    let mut model = strs(&["a", "b", "c", "d", "e"]);
    let mut compacted = false;
    for i in 0..200 {
        let (mover, name) = if i % 2 == 0 {
            (ids[2], "c")
        } else {
            (ids[3], "d")
        };
        move_task(&app, json!({ "id": mover, "after": ids[0] })).await;
        model.retain(|n| n != name);
        model.insert(1, name.to_owned());
        let listed = top_level(&app, "ASC").await;
        assert_eq!(names(&listed), model, "after move {i}");
        check_keys(&listed);
        // A compaction re-keys the list: b and e, never moved, move on.
        let b = listed.iter().find(|t| t["id"] == *ids[1]).expect("b");
        if b["version"] != 1 {
            compacted = true;
            assert_eq!(b["version"], 2);
            let events = events_of(&app, ids[1]).await;
            assert_eq!(
                events,
                vec![("CREATED".to_owned(), 1), ("UPDATED".to_owned(), 2)]
            );
            break;
        }
    }
    assert!(
        compacted,
        "200 moves into one spot never compacted the list"
    );
    // Keys are short again, and the list still takes moves.
    let listed = top_level(&app, "ASC").await;
    assert!(
        listed
            .iter()
            .all(|t| t["position"].as_str().expect("key").len() <= 12),
        "{listed:#?}"
    );
    move_task(&app, json!({ "id": ids[4], "before": ids[0] })).await;
    model.retain(|n| n != "e");
    model.insert(0, "e".to_owned());
    assert_eq!(order(&app).await, model);
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
    tasks(first: $first, after: $after, last: $last, before: $before,
          filter: {topLevel: true}, orderBy: [{field: POSITION}]) {
        nodes { description } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn page(app: &TestApp, vars: Value) -> (Vec<String>, Value) {
    let data = app.data(PAGE, vars).await;
    (
        descriptions(&data["tasks"]),
        data["tasks"]["pageInfo"].clone(),
    )
}

async fn pages_over_position_are_exact_while_tasks_move(app: TestApp) {
    let all: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let tasks = create_named(&app, &all.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let id = |i: usize| tasks[i]["id"].clone();

    let (first, info) = page(&app, json!({ "first": 3 })).await;
    assert_eq!(first, strs(&["t0", "t1", "t2"]));
    assert_eq!(info["hasNextPage"], true);
    // Moves between pages: t5 to before the cursor, t1 to the end, and the
    // cursor's own row t2 to the end too: the next page starts right after
    // where t2 stood, in the order as it is now.
    move_task(&app, json!({ "id": id(5), "before": id(0) })).await;
    move_task(&app, json!({ "id": id(1) })).await;
    move_task(&app, json!({ "id": id(2) })).await;
    assert_eq!(
        order(&app).await,
        strs(&["t5", "t0", "t3", "t4", "t6", "t7", "t1", "t2"])
    );
    let (second, info) = page(&app, json!({ "first": 3, "after": info["endCursor"] })).await;
    assert_eq!(second, strs(&["t3", "t4", "t6"]));
    assert_eq!(info["hasNextPage"], true);
    // t3 moves behind the cursor before the last page, t4 ahead of it.
    move_task(&app, json!({ "id": id(3), "after": id(7) })).await;
    move_task(&app, json!({ "id": id(4), "before": id(5) })).await;
    let (third, info) = page(&app, json!({ "first": 3, "after": info["endCursor"] })).await;
    assert_eq!(third, strs(&["t7", "t3", "t1"]));
    assert_eq!(info["hasNextPage"], true);
    let (last, info) = page(&app, json!({ "first": 3, "after": info["endCursor"] })).await;
    assert_eq!(last, strs(&["t2"]));
    assert_eq!(info["hasNextPage"], false);

    // Backwards, with a move between pages.
    let now = order(&app).await;
    assert_eq!(now, strs(&["t4", "t5", "t0", "t6", "t7", "t3", "t1", "t2"]));
    let (end, info) = page(&app, json!({ "last": 3 })).await;
    assert_eq!(end, strs(&["t3", "t1", "t2"]));
    move_task(&app, json!({ "id": id(4), "after": id(7) })).await;
    let (before, info) = page(&app, json!({ "last": 3, "before": info["startCursor"] })).await;
    assert_eq!(before, strs(&["t6", "t7", "t4"]));
    assert_eq!(info["hasPreviousPage"], true);
    let (start, info) = page(&app, json!({ "last": 3, "before": info["startCursor"] })).await;
    assert_eq!(start, strs(&["t5", "t0"]));
    assert_eq!(info["hasPreviousPage"], false);
}

async fn concurrent_moves_into_one_gap_all_land_and_stay_put(app: TestApp) {
    let app = Arc::new(app);
    let all: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let tasks = create_named(&app, &all.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // t2..t9 all move into the gap between t0 and t1 at once: two clients
    // first, then eight.
    for movers in [&tasks[8..10], &tasks[2..8]] {
        let moves: Vec<_> = movers
            .iter()
            .map(|task| {
                let (app, id, anchor) = (app.clone(), task["id"].clone(), tasks[0]["id"].clone());
                tokio::spawn(async move {
                    post_graphql(
                        &app.client,
                        &app.url(""),
                        "mutation($i: MoveTaskInput!) { moveTask(input: $i) { task { id version } } }",
                        json!({ "i": { "id": id, "after": anchor } }),
                    )
                    .await
                })
            })
            .collect();
        for handle in moves {
            match handle.await.expect("mover") {
                // Its own move made it version 2, or 3 when a compaction (another
                // mover's, into the same gap) re-keyed it before: how soon the
                // gap runs out of keys depends on the ids' steps.
                Outcome::Ok(data) => {
                    let version = data["moveTask"]["task"]["version"].as_i64();
                    assert!(matches!(version, Some(2 | 3)), "{data}");
                }
                other => panic!("a move failed: {other:?}"),
            }
        }
    }
    let listed = top_level(&app, "ASC").await;
    check_keys(&listed);
    let order_now = names(&listed);
    assert_eq!(order_now.first().map(String::as_str), Some("t0"));
    assert_eq!(order_now.last().map(String::as_str), Some("t1"));
    let mut moved: Vec<String> = order_now[1..9].to_vec();
    moved.sort();
    assert_eq!(moved, all[2..10].to_vec());
    // The same order on every read.
    for _ in 0..5 {
        assert_eq!(top_level(&app, "ASC").await, listed);
    }
}

/// The column sorts bytewise on both backends (PostgreSQL: `COLLATE "C"`),
/// even for keys a locale would reorder: upper case, punctuation.
async fn keys_sort_bytewise_in_the_database(app: TestApp) {
    let tasks = create_named(&app, &["a", "ab", "B", "_", "Z9"]).await;
    let db = Database::connect(app.database_url())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    for task in &tasks {
        let key = task["description"].as_str().expect("description");
        let id = crate::support::task_uuid(&task["id"]);
        let sql = match backend {
            DbBackend::Postgres => "UPDATE tasks SET position = $1 WHERE id = $2",
            _ => "UPDATE tasks SET position = ? WHERE id = ?",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), id.into()],
        ))
        .await
        .expect("set key");
    }
    if backend == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT collation_name FROM information_schema.columns \
                 WHERE table_name = 'tasks' AND column_name = 'position'",
            ))
            .await
            .expect("collation")
            .expect("a row");
        assert_eq!(
            row.try_get::<String>("", "collation_name").expect("name"),
            "C"
        );
    }
    db.close().await.ok();
    // Byte order: "B" < "Z9" < "_" < "a" < "ab".
    assert_eq!(order(&app).await, strs(&["B", "Z9", "_", "a", "ab"]));
    // And the api's own keys sort in the database as they do bytewise.
    let mut fresh = Vec::new();
    for i in 0..40 {
        let anchor = fresh
            .last()
            .map_or(Value::Null, |t: &Value| t["id"].clone());
        let input = if i % 3 == 0 || anchor.is_null() {
            json!({ "description": format!("k{i}"), "parentId": tasks[0]["id"] })
        } else {
            json!({ "description": format!("k{i}"), "parentId": tasks[0]["id"], "before": anchor })
        };
        fresh.push(create(&app, input).await);
    }
    let data = app
        .data(
            &format!(
                "query($p: ID!) {{ tasks(first: 100, filter: {{parentId: $p}}, orderBy: [{{field: POSITION}}]) {{ nodes {{ ...T }} }} }} {TASK}"
            ),
            json!({ "p": tasks[0]["id"] }),
        )
        .await;
    let listed = data["tasks"]["nodes"].as_array().expect("nodes").clone();
    assert_eq!(listed.len(), 40);
    check_keys(&listed);
}

async fn next_occurrence_goes_right_after_the_completed_task(app: TestApp) {
    create(&app, json!({ "description": "a" })).await;
    let weekly = create(
        &app,
        json!({ "description": "weekly", "dueAt": "2027-01-04T09:00:00Z", "recurrence": "FREQ=WEEKLY" }),
    )
    .await;
    create(&app, json!({ "description": "b" })).await;
    let data = app
        .data(
            "mutation($id: ID!) { updateTask(input: {id: $id, done: true}) { nextOccurrence { id description } } }",
            json!({ "id": weekly["id"] }),
        )
        .await;
    assert_eq!(
        data["updateTask"]["nextOccurrence"]["description"],
        "weekly"
    );
    let listed = top_level(&app, "ASC").await;
    assert_eq!(names(&listed), strs(&["a", "weekly", "weekly", "b"]));
    assert_eq!(listed[1]["id"], weekly["id"]);
    check_keys(&listed);
}

async fn a_new_parent_puts_the_task_at_the_end_of_its_list(app: TestApp) {
    let tasks = create_named(&app, &["p", "x", "y"]).await;
    for name in ["s1", "s2"] {
        create(
            &app,
            json!({ "description": name, "parentId": tasks[0]["id"] }),
        )
        .await;
    }
    app.data(
        "mutation($id: ID!, $p: ID) { updateTask(input: {id: $id, parentId: $p}) { task { id } } }",
        json!({ "id": tasks[1]["id"], "p": tasks[0]["id"] }),
    )
    .await;
    let data = app
        .data(
            "query($p: ID!) { tasks(filter: {parentId: $p}, orderBy: [{field: POSITION}]) { nodes { description } } }",
            json!({ "p": tasks[0]["id"] }),
        )
        .await;
    assert_eq!(descriptions(&data["tasks"]), strs(&["s1", "s2", "x"]));
    // And back to the top level: its end.
    app.data(
        "mutation($id: ID!) { updateTask(input: {id: $id, parentId: null}) { task { id } } }",
        json!({ "id": tasks[1]["id"] }),
    )
    .await;
    assert_eq!(order(&app).await, strs(&["p", "y", "x"]));
}

// --- The property: random creates, moves and deletes on one list, against
// a model list.

#[derive(Debug, Clone)]
enum Op {
    /// Create a task: at the end, or before or after the model's n-th.
    Create(Option<(bool, usize)>),
    /// Move the model's i-th: to the end, or before or after its n-th.
    Move(usize, Option<(bool, usize)>),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let place = proptest::option::weighted(0.8, (any::<bool>(), 0..64_usize));
    prop_oneof![
        3 => place.clone().prop_map(Op::Create),
        6 => (0..64_usize, place).prop_map(|(i, p)| Op::Move(i, p)),
        1 => (0..64_usize).prop_map(Op::Delete),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// One list per case: the sub-tasks of a new parent.
async fn apply_ops(app: &TestApp, ops: &[Op], case: usize) -> Result<(), TestCaseError> {
    let parent = create(app, json!({ "description": format!("case {case}") })).await;
    // The model: (id, description) in list order.
    let mut model: Vec<(Value, String)> = Vec::new();
    let mut n = 0;
    for (step, op) in ops.iter().enumerate() {
        let place = |p: &Option<(bool, usize)>, model: &[(Value, String)], skip: Option<usize>| {
            let candidates: Vec<usize> = (0..model.len()).filter(|i| Some(*i) != skip).collect();
            match p {
                Some((before, k)) if !candidates.is_empty() => {
                    let anchor = candidates[k % candidates.len()];
                    Some((*before, anchor))
                }
                _ => None,
            }
        };
        match op {
            Op::Create(p) => {
                n += 1;
                let name = format!("n{n}");
                let mut input = json!({ "description": name, "parentId": parent["id"] });
                let at = place(p, &model, None);
                if let Some((before, anchor)) = at {
                    input[if before { "before" } else { "after" }] = model[anchor].0.clone();
                }
                let task = create(app, input).await;
                let index = match at {
                    Some((true, anchor)) => anchor,
                    Some((false, anchor)) => anchor + 1,
                    None => model.len(),
                };
                model.insert(index, (task["id"].clone(), name));
            }
            Op::Move(i, p) => {
                if model.is_empty() {
                    continue;
                }
                let i = i % model.len();
                let at = place(p, &model, Some(i));
                let mut input = json!({ "id": model[i].0 });
                if let Some((before, anchor)) = at {
                    input[if before { "before" } else { "after" }] = model[anchor].0.clone();
                }
                move_task(app, input).await;
                let moved = model.remove(i);
                let index = match at {
                    Some((before, anchor)) => {
                        let anchor = if anchor > i { anchor - 1 } else { anchor };
                        if before { anchor } else { anchor + 1 }
                    }
                    None => model.len(),
                };
                model.insert(index, moved);
            }
            Op::Delete(i) => {
                if model.is_empty() {
                    continue;
                }
                let (id, _) = model.remove(i % model.len());
                app.data(
                    "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
                    json!({ "id": id }),
                )
                .await;
            }
        }
        let data = app
            .data(
                &format!(
                    "query($p: ID!) {{ tasks(first: 100, filter: {{parentId: $p}}, orderBy: [{{field: POSITION}}]) {{ nodes {{ ...T }} }} }} {TASK}"
                ),
                json!({ "p": parent["id"] }),
            )
            .await;
        let listed = data["tasks"]["nodes"].as_array().expect("nodes").clone();
        let expected: Vec<&str> = model.iter().map(|(_, name)| name.as_str()).collect();
        prop_assert_eq!(
            names(&listed),
            strs(&expected),
            "after step {} ({:?})",
            step,
            op
        );
        check_keys(&listed);
    }
    Ok(())
}

fn drags_match_a_model_list(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(TestApp::spawn(backend));
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/positions/drags.txt"
        )))),
        source_file: Some(file!()),
        max_shrink_iters: 200,
        max_shrink_time: 60_000,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(apply_ops(&app, &ops, n))
    });
    runtime.block_on(app.shutdown());
    if let Err(e) = result {
        panic!("drags: {e}");
    }
}

#[test]
fn sqlite_drags_match_a_model_list() {
    drags_match_a_model_list(Backend::Sqlite);
}

#[test]
fn postgres_drags_match_a_model_list() {
    drags_match_a_model_list(Backend::Postgres);
}

// --- The migration: existing rows get keys per list, in (created_at, id)
// order.

async fn backfill_keys_each_list_in_creation_order(backend: Backend) {
    use migration::{Migrator, MigratorTrait};

    let test_db = crate::common::TestDb::new(backend).await;
    let db = test_db.connect().await;
    let index = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000006_task_positions")
        .expect("the migration is registered") as u32;
    Migrator::up(&db, Some(index)).await.expect("up to it");

    let db_backend = db.get_database_backend();
    let at = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time");
    let ids: Vec<uuid::Uuid> = (0..7).map(|_| uuid::Uuid::now_v7()).collect();
    // (id, owner, description, created second, parent): created out of id
    // order, one tie on created_at (broken by id), one list of sub-tasks and
    // another owner's list.
    let rows = [
        (0, "o", "top 3", 30, None),
        (1, "o", "top 1", 10, None),
        (2, "o", "top 2", 20, None),
        (3, "o", "top 2b", 20, None),
        (4, "o", "sub 2", 50, Some(1)),
        (5, "o", "sub 1", 40, Some(1)),
        (6, "p", "theirs 1", 60, None),
    ];
    for (i, owner, description, second, parent) in rows {
        let sql = match db_backend {
            DbBackend::Postgres => {
                "INSERT INTO tasks (id, owner_id, description, priority, done, created_at, updated_at, version, parent_id) \
                 VALUES ($1, $2, $3, 0, false, $4, $4, 1, $5)"
            }
            _ => {
                "INSERT INTO tasks (id, owner_id, description, priority, done, created_at, updated_at, version, parent_id) \
                 VALUES (?, ?, ?, 0, false, ?, ?, 1, ?)"
            }
        };
        let mut values: Vec<sea_orm::Value> = vec![
            ids[i].into(),
            owner.into(),
            description.into(),
            at(second).into(),
        ];
        if db_backend != DbBackend::Postgres {
            values.push(at(second).into());
        }
        values.push(parent.map(|p: usize| ids[p]).into());
        db.execute_raw(Statement::from_sql_and_values(db_backend, sql, values))
            .await
            .expect("insert");
    }

    Migrator::up(&db, Some(1)).await.expect("up");
    let listed = db
        .query_all_raw(Statement::from_string(
            db_backend,
            "SELECT description, position FROM tasks ORDER BY owner_id, description",
        ))
        .await
        .expect("read");
    let keys: std::collections::BTreeMap<String, String> = listed
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "description").expect("description"),
                r.try_get::<String>("", "position").expect("position"),
            )
        })
        .collect();
    // Evenly spaced: 81, 256 n in four base-255 digits (bytes 01..ff), 80.
    let first = "810101020280";
    let second = "810101030380";
    let third = "810101040480";
    let fourth = "810101050580";
    let expected = [
        ("top 1", first),
        ("top 2", if ids[2] < ids[3] { second } else { third }),
        ("top 2b", if ids[2] < ids[3] { third } else { second }),
        ("top 3", fourth),
        ("sub 1", first),
        ("sub 2", second),
        ("theirs 1", first),
    ];
    for (description, key) in expected {
        assert_eq!(keys[description], key, "{description}: {keys:?}");
    }
    if db_backend == DbBackend::Postgres {
        let nullable = db
            .query_one_raw(Statement::from_string(
                db_backend,
                "SELECT is_nullable FROM information_schema.columns \
                 WHERE table_name = 'tasks' AND column_name = 'position'",
            ))
            .await
            .expect("column")
            .expect("a row");
        assert_eq!(
            nullable
                .try_get::<String>("", "is_nullable")
                .expect("is_nullable"),
            "NO"
        );
    }

    Migrator::down(&db, Some(1)).await.expect("down");
    assert!(
        db.execute_unprepared("SELECT position FROM tasks")
            .await
            .is_err(),
        "down drops the column"
    );
    Migrator::up(&db, Some(1)).await.expect("up again");
    db.close().await.ok();
}

#[tokio::test]
async fn sqlite_backfill_keys_each_list_in_creation_order() {
    backfill_keys_each_list_in_creation_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_backfill_keys_each_list_in_creation_order() {
    backfill_keys_each_list_in_creation_order(Backend::Postgres).await;
}
