//! The durable event log through `taskEvents`: cursors, replay after a
//! cursor, every write path recording its events, rolled-back changes
//! recording none, expired and malformed cursors, a subscriber that falls
//! behind the in-memory buffer, and a transaction held open while others
//! commit.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::ws::{Socket, connect, receive, send};
use crate::common::{Backend, TestApp};

crate::on_both_backends!(
    events_carry_ordered_cursors_and_resume_exactly_after_one,
    every_write_path_records_its_events,
    a_failed_change_records_no_event,
    malformed_cursor_is_bad_user_input,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscriber_behind_the_buffer_catches_up_from_the_table() {
    a_subscriber_behind_the_buffer_catches_up_from_the_table(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_subscriber_behind_the_buffer_catches_up_from_the_table() {
    a_subscriber_behind_the_buffer_catches_up_from_the_table(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cursors_from_before_numbering_replay_exactly() {
    cursors_from_before_numbering_replay_exactly(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cursors_from_before_numbering_replay_exactly() {
    cursors_from_before_numbering_replay_exactly(Backend::Postgres).await;
}

pub const EVENTS: &str = "subscription($after: String, $filter: TaskEventFilter) { \
    taskEvents(after: $after, filter: $filter) { cursor kind taskId version task { description version } } }";

/// A graphql-transport-ws subscription to `taskEvents`.
pub async fn subscribe(url: &str, after: Option<&str>) -> Socket {
    let mut socket = connect(url, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "e", "type": "subscribe",
                "payload": { "query": EVENTS, "variables": { "after": after } } }),
    )
    .await;
    socket
}

/// The next `taskEvents` event (panics on anything else).
pub async fn next_event(socket: &mut Socket) -> Value {
    let message = receive(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["taskEvents"].clone()
}

/// Events until one for the task whose description is `marker`.
pub async fn events_until(socket: &mut Socket, marker: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next_event(socket).await;
        let done = event["task"]["description"] == marker;
        events.push(event);
        if done {
            return events;
        }
    }
}

/// A subscription is set up asynchronously: create markers until one shows.
pub async fn wait_until_live(app: &TestApp, socket: &mut Socket) {
    for i in 0..50 {
        let marker = format!("live {i}");
        app.create_task(json!({ "description": marker })).await;
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(300), receive(socket)).await
        {
            assert_eq!(message["type"], "next", "{message}");
            // Whatever else arrived before the marker is drained by the caller's
            // next `events_until`.
            return;
        }
    }
    panic!("the subscription never delivered");
}

fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["taskId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn events_carry_ordered_cursors_and_resume_exactly_after_one(app: TestApp) {
    let mut live = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut live).await;
    let mut created = Vec::new();
    for i in 0..8 {
        created.push(
            app.create_task(json!({ "description": format!("t{i}") }))
                .await,
        );
    }
    let seen = events_until(&mut live, "t7").await;
    let seen: Vec<Value> = seen
        .into_iter()
        .filter(|e| {
            e["task"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with('t'))
        })
        .collect();
    assert_eq!(seen.len(), 8, "{seen:#?}");
    for (event, task) in seen.iter().zip(&created) {
        assert_eq!(event["kind"], "CREATED");
        assert_eq!(event["taskId"], task["id"]);
        assert_eq!(event["version"], 1);
    }
    drop(live);

    // Resume after the 5th: exactly the 6th to the 8th, then what is new.
    let fifth = seen[4]["cursor"].as_str().expect("cursor").to_owned();
    let mut resumed = subscribe(&app.ws_url(), Some(&fifth)).await;
    for expected in &created[5..] {
        let event = next_event(&mut resumed).await;
        assert_eq!(event["taskId"], expected["id"]);
    }
    let later = app.create_task(json!({ "description": "later" })).await;
    let event = next_event(&mut resumed).await;
    assert_eq!(
        event["taskId"], later["id"],
        "no duplicate, no gap at the switch"
    );
    assert_eq!(event["kind"], "CREATED");
}

async fn every_write_path_records_its_events(app: TestApp) {
    let mut socket = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut socket).await;
    let parent = app.create_task(json!({ "description": "parent" })).await;
    let child = app
        .create_task(json!({ "description": "child", "parentId": parent["id"] }))
        .await;
    let grandchild = app
        .create_task(json!({ "description": "grandchild", "parentId": child["id"] }))
        .await;
    let other = app.create_task(json!({ "description": "other" })).await;
    let category = app.create_category("Home").await;
    app.data(
        "mutation($id: ID!, $c: [ID!]!) { addTaskCategories(input: {taskId: $id, categoryIds: $c}) { task { id } } }",
        json!({ "id": other["id"], "c": [category["id"]] }),
    )
    .await;
    app.data(
        "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: true}) { tasks { id } } }",
        json!({ "ids": [other["id"], child["id"]] }),
    )
    .await;
    app.data(
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
        json!({ "id": parent["id"] }),
    )
    .await;
    app.data(
        "mutation { deleteCompletedTasks { deletedTaskIds } }",
        json!({}),
    )
    .await;
    app.create_task(json!({ "description": "end" })).await;

    let events = events_until(&mut socket, "end").await;
    let got = kinds(&events);
    let id = |t: &Value| t["id"].as_str().unwrap_or_default().to_owned();
    let expected = vec![
        ("CREATED".to_owned(), id(&parent)),
        ("CREATED".to_owned(), id(&child)),
        ("CREATED".to_owned(), id(&grandchild)),
        ("CREATED".to_owned(), id(&other)),
        ("UPDATED".to_owned(), id(&other)),
        ("UPDATED".to_owned(), id(&other)),
        ("UPDATED".to_owned(), id(&child)),
        ("DELETED".to_owned(), id(&parent)),
        ("DELETED".to_owned(), id(&child)),
        ("DELETED".to_owned(), id(&grandchild)),
        ("DELETED".to_owned(), id(&other)),
    ];
    // Drop the liveness markers before the first task of this test.
    let start = got
        .iter()
        .position(|e| e == &expected[0])
        .expect("the parent's creation");
    let (without_end, end) = got[start..].split_at(got.len() - start - 1);
    assert_eq!(end[0].0, "CREATED");
    let mut deletions_of_subtree: Vec<_> = without_end[7..10].to_vec();
    deletions_of_subtree.sort();
    let mut expected_deletions = expected[7..10].to_vec();
    expected_deletions.sort();
    assert_eq!(&without_end[..7], &expected[..7], "{events:#?}");
    assert_eq!(
        deletions_of_subtree, expected_deletions,
        "one DELETED per task of the subtree"
    );
    assert_eq!(&without_end[10..], &expected[10..], "{events:#?}");
    // A deletion's version is one past the task's last.
    let other_deleted = events
        .iter()
        .find(|e| e["kind"] == "DELETED" && e["taskId"] == other["id"])
        .expect("other deleted");
    assert_eq!(other_deleted["version"], 4);
    assert!(other_deleted["task"].is_null());
}

async fn a_failed_change_records_no_event(app: TestApp) {
    let mut socket = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut socket).await;
    let task = app.create_task(json!({ "description": "kept" })).await;
    let missing = "VGFzazowMTk4MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw";
    // All or nothing: one unknown id fails the whole batch.
    let (code, _) = app
        .error(
            "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: true}) { tasks { id } } }",
            json!({ "ids": [task["id"], missing] }),
        )
        .await;
    assert!(code == "NOT_FOUND" || code == "BAD_USER_INPUT", "{code}");
    let (code, _) = app
        .error(
            "mutation($id: ID!) { updateTask(input: {id: $id, expectedVersion: 7, done: true}) { task { id } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    app.create_task(json!({ "description": "after" })).await;
    let events = events_until(&mut socket, "after").await;
    let updates: Vec<_> = events.iter().filter(|e| e["kind"] == "UPDATED").collect();
    assert!(updates.is_empty(), "{events:#?}");
}

async fn a_subscriber_behind_the_buffer_catches_up_from_the_table(backend: Backend) {
    // 8 events in memory: a resume 30 events back reads 22 from the table.
    let app = TestApp::spawn_with(backend, &[("EVENT_BUFFER_SIZE", "8")]).await;
    let mut first = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut first).await;
    app.create_task(json!({ "description": "start" })).await;
    let start = events_until(&mut first, "start").await;
    let cursor = start.last().expect("start")["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    for i in 0..30 {
        app.create_task(json!({ "description": format!("n{i}") }))
            .await;
    }
    let mut behind = subscribe(&app.ws_url(), Some(&cursor)).await;
    for i in 0..30 {
        let event = next_event(&mut behind).await;
        assert_eq!(event["task"]["description"], format!("n{i}"));
    }
}

/// The `error` message a refused subscription gets.
async fn refusal(socket: &mut Socket) -> Value {
    let message = receive(socket).await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "e");
    message["payload"][0].clone()
}

async fn malformed_cursor_is_bad_user_input(app: TestApp) {
    for bad in ["", "not a cursor", "ZXYxOi0x", "VGFzazox"] {
        let mut socket = subscribe(&app.ws_url(), Some(bad)).await;
        let error = refusal(&mut socket).await;
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}: {error}"
        );
        assert_eq!(error["extensions"]["field"], "after", "{bad}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expired_cursor() {
    expired_cursor(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_expired_cursor() {
    expired_cursor(Backend::Postgres).await;
}

/// With a retention of about a second, a cursor of two events ago expires
/// once both are deleted; a current one still works.
async fn expired_cursor(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("EVENT_RETENTION_HOURS", "0.0003")]).await;
    let mut socket = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut socket).await;
    app.create_task(json!({ "description": "old 1" })).await;
    app.create_task(json!({ "description": "old 2" })).await;
    let old = events_until(&mut socket, "old 2").await;
    let first = old[old.len() - 2]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let second = old[old.len() - 1]["cursor"].as_str().expect("cursor");
    let second_id = api::events::cursor::decode(second, "after").expect("our cursor");
    // Wait for retention to delete both.
    let pruned = app.wait_until_pruned(second_id).await;
    let mut expired = subscribe(&app.ws_url(), Some(&first)).await;
    let error = refusal(&mut expired).await;
    assert_eq!(error["extensions"]["code"], "CURSOR_EXPIRED", "{error}");

    // A cursor at the watermark is not expired: nothing after it was deleted.
    let at_watermark = api::events::cursor::encode(pruned);
    let mut fresh = subscribe(&app.ws_url(), Some(&at_watermark)).await;
    app.create_task(json!({ "description": "new" })).await;
    let events = events_until(&mut fresh, "new").await;
    assert_eq!(events.last().expect("new")["kind"], "CREATED");
}

/// A writer whose transaction stays open for 5 s after its event row got
/// its id, while later writers commit: subscribers get the later events
/// meanwhile, and the held one when it commits, after them, to the live
/// subscriber and to one resuming from a cursor taken while it was open.
/// A log ordered by id (or by anything fixed before commit) would have
/// passed it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_held_open_is_never_passed() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(Backend::Postgres).await;
    for sql in [
        "CREATE FUNCTION todo_test_hold() RETURNS trigger AS $$ BEGIN \
         IF NEW.snapshot LIKE '%held open%' THEN PERFORM pg_sleep(5); END IF; \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER todo_test_hold AFTER INSERT ON task_events \
         FOR EACH ROW EXECUTE FUNCTION todo_test_hold()",
    ] {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
    let mut live = subscribe(&app.ws_url(), None).await;
    wait_until_live(&app, &mut live).await;
    app.create_task(json!({ "description": "start" })).await;
    events_until(&mut live, "start").await;

    let held = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/graphql"));
        async move {
            let body = json!({ "query": crate::support::CREATE_TASK,
                "variables": { "input": { "description": "held open" } } });
            let response = client.post(url).json(&body).send().await.expect("post");
            response.json::<Value>().await.expect("JSON")
        }
    });
    // Until its event row is written and the transaction sleeps.
    let sleeping = "SELECT count(*) AS n FROM pg_stat_activity \
        WHERE wait_event = 'PgSleep' AND query ILIKE '%task_events%'";
    for _ in 0..200 {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                sleeping,
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        if row.try_get::<i64>("", "n").expect("n") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!held.is_finished(), "the held transaction ended early");
    for i in 0..10 {
        app.create_task(json!({ "description": format!("after {i}") }))
            .await;
    }
    let passing = events_until(&mut live, "after 9").await;
    let descriptions = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                e["task"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let expected: Vec<String> = (0..10).map(|i| format!("after {i}")).collect();
    assert_eq!(
        descriptions(&passing),
        expected,
        "delivered while one is held"
    );
    assert!(
        !held.is_finished(),
        "the held transaction ended before the others were seen"
    );
    let cursor = passing[4]["cursor"].as_str().expect("cursor").to_owned();

    let answer = held.await.expect("held writer");
    assert!(answer.get("errors").is_none(), "{answer}");
    let last = events_until(&mut live, "held open").await;
    assert_eq!(descriptions(&last), ["held open"]);
    let mut resumed = subscribe(&app.ws_url(), Some(&cursor)).await;
    let replayed = events_until(&mut resumed, "held open").await;
    assert_eq!(
        descriptions(&replayed),
        [
            "after 5",
            "after 6",
            "after 7",
            "after 8",
            "after 9",
            "held open"
        ]
    );
}

/// Cursors handed out before events were numbered after their commit name
/// event ids: after the migration they still replay exactly what followed
/// them, or are refused as expired, and new events come after them all.
async fn cursors_from_before_numbering_replay_exactly(backend: Backend) {
    use entity::task_event;
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};

    let test_db = crate::common::TestDb::new(backend).await;
    let db = test_db.connect().await;
    // Every migration before the one that numbers events (later ones
    // follow it in the list).
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000001_event_positions")
        .expect("the numbering migration");
    Migrator::up(&db, Some(before as u32))
        .await
        .expect("up to the migration before numbering");
    // Six deletions logged the old way (ids 1 to 6), the first three since
    // deleted by retention.
    for _ in 0..6 {
        let row = task_event::ActiveModel {
            id: NotSet,
            task_id: Set(uuid::Uuid::now_v7()),
            owner_id: Set(migration::SINGLE_USER_OWNER.to_owned()),
            kind: Set(task_event::EventKind::Deleted),
            version: Set(2),
            occurred_at: Set(chrono::Utc::now()),
            snapshot: Set(None),
            position: NotSet,
            // Not a column yet at this migration.
            late: NotSet,
        };
        task_event::Entity::insert(row)
            .exec_without_returning(&db)
            .await
            .expect("an old event");
    }
    for sql in [
        "DELETE FROM task_events WHERE id <= 3",
        "UPDATE task_event_log SET pruned_through = 3",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
    db.close().await.ok();
    let app = TestApp::spawn_on(test_db, &[]).await;

    let mut expired = subscribe(&app.ws_url(), Some(&api::events::cursor::encode(2))).await;
    let error = refusal(&mut expired).await;
    assert_eq!(error["extensions"]["code"], "CURSOR_EXPIRED", "{error}");

    let mut resumed = subscribe(&app.ws_url(), Some(&api::events::cursor::encode(4))).await;
    app.create_task(json!({ "description": "new" })).await;
    let events = events_until(&mut resumed, "new").await;
    let positions: Vec<i64> = events
        .iter()
        .map(|e| {
            let cursor = e["cursor"].as_str().expect("cursor");
            api::events::cursor::decode(cursor, "cursor").expect("our cursor")
        })
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["DELETED", "DELETED", "CREATED"], "{events:?}");
    assert_eq!(positions[..2], [5, 6]);
    assert!(
        positions[2] > 6,
        "a new event at {} among old ids",
        positions[2]
    );
}
