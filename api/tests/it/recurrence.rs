//! Recurring tasks (issue #22): completing one creates its next occurrence.

use serde_json::{Value, json};

use crate::common::ws::{connect, next_event, receive, send, wait_until_live};
use crate::common::{Backend, TestApp};
use crate::sign_in::{data_as, hs256_app, post_as};
use crate::tokens::{claims, hs256};

crate::on_both_backends!(
    weekly_rule_keeps_local_time_across_dst,
    count_ends_the_series,
    until_ends_the_series,
    set_tasks_done_returns_each_next_occurrence,
    categories_and_parent_kept_subtasks_copied_not_done,
    subscribers_see_updated_then_created,
    bad_input_names_its_field_and_writes_nothing,
    changing_the_rule_is_checked_and_clearing_it_ends_recurrence,
);

const TASK: &str = "fragment T on Task { id description priority startAt dueAt done
    recurrence timeZone version parent { id } categories { name } }";

async fn create(app: &TestApp, input: Value) -> Value {
    let data = app
        .data(
            &format!(
                "mutation($i: CreateTaskInput!) {{ createTask(input: $i) {{ task {{ ...T }} }} }} {TASK}"
            ),
            json!({ "i": input }),
        )
        .await;
    data["createTask"]["task"].clone()
}

/// Completes (or reopens) a task through updateTask: (task, nextOccurrence).
async fn complete(app: &TestApp, id: &Value, done: bool) -> (Value, Value) {
    let data = app
        .data(
            &format!(
                "mutation($id: ID!, $done: Boolean!) {{ updateTask(input: {{id: $id, done: $done}}) {{
                    task {{ ...T }} nextOccurrence {{ ...T }} }} }} {TASK}"
            ),
            json!({ "id": id, "done": done }),
        )
        .await;
    (
        data["updateTask"]["task"].clone(),
        data["updateTask"]["nextOccurrence"].clone(),
    )
}

async fn count_tasks(app: &TestApp) -> i64 {
    app.data("{ tasks { totalCount } }", json!({})).await["tasks"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

async fn weekly_rule_keeps_local_time_across_dst(app: TestApp) {
    // Mondays 09:00 in Berlin: 08:00Z in winter (CET), 07:00Z from 2027-03-28 (CEST).
    let task = create(
        &app,
        json!({ "description": "Team meeting", "priority": "HIGH",
            "startAt": "2027-03-22T07:30:00Z", "dueAt": "2027-03-22T08:00:00Z",
            "recurrence": "FREQ=WEEKLY;BYDAY=MO", "timeZone": "Europe/Berlin" }),
    )
    .await;
    assert_eq!(task["recurrence"], "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(task["timeZone"], "Europe/Berlin");

    let (done, next) = complete(&app, &task["id"], true).await;
    assert_eq!(done["done"], true);
    assert_eq!(done["dueAt"], "2027-03-22T08:00:00Z");
    assert_eq!(next["dueAt"], "2027-03-29T07:00:00Z");
    // startAt moves by as much as dueAt.
    assert_eq!(next["startAt"], "2027-03-29T06:30:00Z");
    assert_eq!(next["done"], false);
    assert_eq!(next["version"], 1);
    assert_eq!(next["description"], "Team meeting");
    assert_eq!(next["priority"], "HIGH");
    assert_eq!(next["recurrence"], "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(next["timeZone"], "Europe/Berlin");
    assert_ne!(next["id"], task["id"]);

    // And the one after stays at 09:00 CEST.
    let (_, after) = complete(&app, &next["id"], true).await;
    assert_eq!(after["dueAt"], "2027-04-05T07:00:00Z");

    // Reopening creates nothing and keeps the next occurrence.
    let (reopened, none) = complete(&app, &task["id"], false).await;
    assert_eq!(reopened["done"], false);
    assert!(none.is_null(), "{none}");
    let fetched = app
        .data(
            "query($id: ID!) { task(id: $id) { dueAt done } }",
            json!({ "id": next["id"] }),
        )
        .await;
    assert_eq!(fetched["task"]["dueAt"], "2027-03-29T07:00:00Z");
    // Completing again (without reopening) creates nothing either.
    let (_, none) = complete(&app, &next["id"], true).await;
    assert!(none.is_null(), "{none}");
    // Nor does completing a reopened task: it created its occurrence once.
    let (done, none) = complete(&app, &task["id"], true).await;
    assert_eq!(done["done"], true);
    assert!(none.is_null(), "a second occurrence: {none}");
    assert_eq!(count_tasks(&app).await, 3);
}

async fn count_ends_the_series(app: TestApp) {
    let first = create(
        &app,
        json!({ "description": "Take pill", "dueAt": "2027-01-04T09:00:00Z",
            "recurrence": "FREQ=DAILY;COUNT=3" }),
    )
    .await;
    assert_eq!(first["timeZone"], "UTC");
    let (_, second) = complete(&app, &first["id"], true).await;
    assert_eq!(second["dueAt"], "2027-01-05T09:00:00Z");
    let (_, third) = complete(&app, &second["id"], true).await;
    assert_eq!(third["dueAt"], "2027-01-06T09:00:00Z");
    let (done, none) = complete(&app, &third["id"], true).await;
    assert_eq!(done["done"], true);
    assert!(none.is_null(), "a fourth occurrence: {none}");
    assert_eq!(count_tasks(&app).await, 3);
}

async fn until_ends_the_series(app: TestApp) {
    let first = create(
        &app,
        json!({ "description": "Stand-up", "dueAt": "2027-01-04T09:00:00Z",
            "recurrence": "RRULE:FREQ=DAILY;UNTIL=20270105T090000Z" }),
    )
    .await;
    assert_eq!(first["recurrence"], "FREQ=DAILY;UNTIL=20270105T090000Z");
    let (_, second) = complete(&app, &first["id"], true).await;
    assert_eq!(second["dueAt"], "2027-01-05T09:00:00Z");
    let (_, none) = complete(&app, &second["id"], true).await;
    assert!(none.is_null(), "past UNTIL: {none}");
    assert_eq!(count_tasks(&app).await, 2);
}

async fn set_tasks_done_returns_each_next_occurrence(app: TestApp) {
    let daily = create(
        &app,
        json!({ "description": "Daily", "dueAt": "2027-01-04T09:00:00Z", "recurrence": "FREQ=DAILY" }),
    )
    .await;
    let plain = create(&app, json!({ "description": "Once" })).await;
    let monthly = create(
        &app,
        json!({ "description": "Monthly", "dueAt": "2027-01-31T12:00:00Z",
            "recurrence": "FREQ=MONTHLY;BYMONTHDAY=-1", "timeZone": "America/New_York" }),
    )
    .await;
    let data = app
        .data(
            &format!(
                "mutation($ids: [ID!]!) {{ setTasksDone(input: {{ids: $ids, done: true}}) {{
                    tasks {{ id done }} nextOccurrences {{ ...T }} }} }} {TASK}"
            ),
            json!({ "ids": [monthly["id"], plain["id"], daily["id"]] }),
        )
        .await;
    let payload = &data["setTasksDone"];
    assert_eq!(payload["tasks"].as_array().map(Vec::len), Some(3));
    assert!(
        payload["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["done"] == true)
    );
    let next = payload["nextOccurrences"].as_array().expect("list");
    assert_eq!(next.len(), 2, "{payload}");
    // In the order of ids: the last day of February, 07:00 in New York (EST).
    assert_eq!(next[0]["description"], "Monthly");
    assert_eq!(next[0]["dueAt"], "2027-02-28T12:00:00Z");
    assert_eq!(next[1]["description"], "Daily");
    assert_eq!(next[1]["dueAt"], "2027-01-05T09:00:00Z");
    assert_eq!(count_tasks(&app).await, 5);

    // Reopening in a batch creates nothing.
    let data = app
        .data(
            "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: false}) { nextOccurrences { id } } }",
            json!({ "ids": [monthly["id"], daily["id"]] }),
        )
        .await;
    assert_eq!(data["setTasksDone"]["nextOccurrences"], json!([]));
    assert_eq!(count_tasks(&app).await, 5);
    // Completing them again creates no second occurrence.
    let data = app
        .data(
            "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: true}) { nextOccurrences { id } } }",
            json!({ "ids": [monthly["id"], daily["id"]] }),
        )
        .await;
    assert_eq!(data["setTasksDone"]["nextOccurrences"], json!([]));
    assert_eq!(count_tasks(&app).await, 5);
}

async fn categories_and_parent_kept_subtasks_copied_not_done(app: TestApp) {
    let home = app.create_category("Home").await;
    let garden = app.create_category("Garden").await;
    let project = app.create_task(json!({ "description": "House" })).await;
    let task = create(
        &app,
        json!({ "description": "Clean up", "dueAt": "2027-05-01T10:00:00Z",
            "recurrence": "FREQ=WEEKLY", "parentId": project["id"],
            "categoryIds": [home["id"], garden["id"]] }),
    )
    .await;
    let vacuum = create(
        &app,
        json!({ "description": "Vacuum", "parentId": task["id"], "dueAt": "2027-04-30T10:00:00Z",
            "categoryIds": [home["id"]] }),
    )
    .await;
    let dust = create(
        &app,
        json!({ "description": "Dust", "parentId": task["id"] }),
    )
    .await;
    app.set_done(&vacuum["id"], true).await;
    // A sub-task's sub-task is not copied (one level).
    create(
        &app,
        json!({ "description": "Under the bed", "parentId": vacuum["id"] }),
    )
    .await;

    let (_, next) = complete(&app, &task["id"], true).await;
    assert_eq!(next["dueAt"], "2027-05-08T10:00:00Z");
    assert_eq!(next["parent"]["id"], project["id"]);
    assert_eq!(
        next["categories"],
        json!([{ "name": "Garden" }, { "name": "Home" }])
    );

    let subtasks = app
        .data(
            "query($id: ID!) { task(id: $id) { subtasks { nodes { id description done dueAt
                recurrence categories { name } subtasks { totalCount } } } } }",
            json!({ "id": next["id"] }),
        )
        .await;
    let mut nodes = subtasks["task"]["subtasks"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    nodes.sort_by_key(|n| n["description"].as_str().unwrap_or_default().to_owned());
    assert_eq!(nodes.len(), 2, "{subtasks}");
    assert_eq!(nodes[0]["description"], "Dust");
    assert_eq!(nodes[0]["done"], false);
    assert!(nodes[0]["dueAt"].is_null());
    assert_eq!(nodes[1]["description"], "Vacuum");
    assert_eq!(nodes[1]["done"], false, "copied not done");
    assert_eq!(nodes[1]["dueAt"], "2027-05-07T10:00:00Z");
    assert_eq!(nodes[1]["categories"], json!([{ "name": "Home" }]));
    assert_eq!(nodes[1]["subtasks"]["totalCount"], 0);
    for node in &nodes {
        assert_ne!(node["id"], vacuum["id"]);
        assert_ne!(node["id"], dust["id"]);
    }
    // The originals stay under the completed task, as they were.
    let old = app
        .data(
            "query($id: ID!) { task(id: $id) { done subtasks { totalCount } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(old["task"]["done"], true);
    assert_eq!(old["task"]["subtasks"]["totalCount"], 2);
    assert_eq!(count_tasks(&app).await, 8);
}

const EVENTS: &str =
    "subscription { taskEvents { kind taskId task { description done version dueAt } } }";

async fn subscribers_see_updated_then_created(app: TestApp) {
    let task = create(
        &app,
        json!({ "description": "Report", "dueAt": "2027-01-04T09:00:00Z", "recurrence": "FREQ=WEEKLY" }),
    )
    .await;
    create(
        &app,
        json!({ "description": "Figures", "parentId": task["id"] }),
    )
    .await;

    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "s1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    wait_until_live(&app, &mut socket).await;

    let (_, next) = complete(&app, &task["id"], true).await;
    let updated = next_event(&mut socket).await;
    assert_eq!(updated["kind"], "UPDATED");
    assert_eq!(updated["taskId"], task["id"]);
    assert_eq!(updated["task"]["done"], true);
    let created = next_event(&mut socket).await;
    assert_eq!(created["kind"], "CREATED");
    assert_eq!(created["taskId"], next["id"]);
    assert_eq!(created["task"]["dueAt"], "2027-01-11T09:00:00Z");
    assert_eq!(created["task"]["version"], 1);
    let copied = next_event(&mut socket).await;
    assert_eq!(copied["kind"], "CREATED");
    assert_eq!(copied["task"]["description"], "Figures");
    assert_eq!(copied["task"]["done"], false);

    send(&mut socket, json!({ "id": "s1", "type": "complete" })).await;
    socket.close(None).await.expect("close");
}

async fn bad_input_names_its_field_and_writes_nothing(app: TestApp) {
    let create_q = "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }";
    let due = "2027-01-04T09:00:00Z";
    for (input, field) in [
        (
            json!({ "recurrence": "FREQ=SOMETIMES", "dueAt": due }),
            "recurrence",
        ),
        (
            json!({ "recurrence": "not a rule", "dueAt": due }),
            "recurrence",
        ),
        (json!({ "recurrence": "", "dueAt": due }), "recurrence"),
        (json!({ "recurrence": "FREQ=DAILY" }), "recurrence"),
        (
            json!({ "recurrence": "DTSTART:20270104T090000Z\nRRULE:FREQ=DAILY", "dueAt": due }),
            "recurrence",
        ),
        // UNTIL only as UTC.
        (
            json!({ "recurrence": "FREQ=DAILY;UNTIL=20270110T090000", "dueAt": due, "timeZone": "Europe/Berlin" }),
            "recurrence",
        ),
        // Nothing after the due date.
        (
            json!({ "recurrence": "FREQ=DAILY;COUNT=1", "dueAt": due }),
            "recurrence",
        ),
        (
            json!({ "recurrence": "FREQ=DAILY;UNTIL=20270101T000000Z", "dueAt": due }),
            "recurrence",
        ),
        (
            json!({ "recurrence": "FREQ=DAILY", "dueAt": due, "timeZone": "Mars/Olympus" }),
            "timeZone",
        ),
        (json!({ "dueAt": due, "timeZone": "CEST+2" }), "timeZone"),
    ] {
        let mut input = input;
        input["description"] = json!("Bad");
        let (code, got) = app.error(create_q, json!({ "i": input })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{input}");
        assert_eq!(got.as_deref(), Some(field), "{input}");
    }
    assert_eq!(count_tasks(&app).await, 0);

    // Completing a task whose update is refused creates nothing.
    let task = create(
        &app,
        json!({ "description": "Good", "dueAt": due, "recurrence": "FREQ=DAILY" }),
    )
    .await;
    let (code, field) = app
        .error(
            "mutation($id: ID!) { updateTask(input: {id: $id, done: true, timeZone: \"Nowhere/Else\"}) { task { id } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("timeZone"))
    );
    let (code, field) = app
        .error(
            "mutation($id: ID!) { updateTask(input: {id: $id, done: true, dueAt: null}) { task { id } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("recurrence"))
    );
    let fetched = app
        .data(
            "query($id: ID!) { task(id: $id) { done version dueAt } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(
        fetched["task"],
        json!({ "done": false, "version": 1, "dueAt": due })
    );
    assert_eq!(count_tasks(&app).await, 1);
}

async fn changing_the_rule_is_checked_and_clearing_it_ends_recurrence(app: TestApp) {
    let task = create(
        &app,
        json!({ "description": "Later", "dueAt": "2027-01-04T09:00:00Z" }),
    )
    .await;
    assert!(task["recurrence"].is_null());
    let update = format!(
        "mutation($i: UpdateTaskInput!) {{ updateTask(input: $i) {{ task {{ ...T }} nextOccurrence {{ id }} }} }} {TASK}"
    );
    let (code, field) = app
        .error(
            &update,
            json!({ "i": { "id": task["id"], "recurrence": "FREQ=NEVER" } }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("recurrence"))
    );
    let data = app
        .data(
            &update,
            json!({ "i": { "id": task["id"], "recurrence": "FREQ=MONTHLY", "timeZone": "Asia/Tokyo" } }),
        )
        .await;
    let updated = &data["updateTask"]["task"];
    assert_eq!(updated["recurrence"], "FREQ=MONTHLY");
    assert_eq!(updated["timeZone"], "Asia/Tokyo");
    assert!(data["updateTask"]["nextOccurrence"].is_null());
    // Null clears the rule and the zone: completing creates nothing.
    let data = app
        .data(
            &update,
            json!({ "i": { "id": task["id"], "recurrence": null, "timeZone": null, "done": true } }),
        )
        .await;
    assert!(data["updateTask"]["task"]["recurrence"].is_null());
    assert_eq!(data["updateTask"]["task"]["timeZone"], "UTC");
    assert!(data["updateTask"]["nextOccurrence"].is_null());
    assert_eq!(count_tasks(&app).await, 1);
}

/// Another owner's recurring task is as missing as one that never was, and
/// completing it creates nothing.
async fn another_owner_cannot_complete(backend: Backend) {
    let app = hs256_app(backend, &[]).await;
    let a = hs256(&claims("owner-a"));
    let b = hs256(&claims("owner-b"));
    let created = data_as(
        &app,
        &a,
        "mutation { createTask(input: {description: \"A's\", dueAt: \"2027-01-04T09:00:00Z\", recurrence: \"FREQ=DAILY\"}) { task { id } } }",
        json!({}),
    )
    .await;
    let id = &created["createTask"]["task"]["id"];
    for mutation in [
        "mutation($id: ID!) { updateTask(input: {id: $id, done: true}) { task { id } nextOccurrence { id } } }",
        "mutation($id: ID!) { setTasksDone(input: {ids: [$id], done: true}) { nextOccurrences { id } } }",
    ] {
        let (status, _, body) = post_as(
            &app,
            Some(&format!("Bearer {b}")),
            mutation,
            json!({ "id": id }),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{body}"
        );
    }
    let after = data_as(
        &app,
        &a,
        "{ tasks { totalCount nodes { done } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        after["tasks"],
        json!({ "totalCount": 1, "nodes": [{ "done": false }] })
    );
    let theirs = data_as(&app, &b, "{ tasks { totalCount } }", json!({})).await;
    assert_eq!(theirs["tasks"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_another_owner_cannot_complete() {
    another_owner_cannot_complete(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_owner_cannot_complete() {
    another_owner_cannot_complete(Backend::Postgres).await;
}
