//! Reminders: when a task's `remindAt` comes, one `REMINDER_DUE` event,
//! never for a done or deleted task, at the new time when it was moved,
//! marked late when it came due while no api ran, and exactly once across
//! replicas, one of them killed while reminders are due.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::common::ws::{connect, receive, send, wait_until_live};
use crate::common::{Backend, TestApp, TestDb};
use crate::support::{ApiProcess, CREATE_TASK, Outcome, TempDir, post_graphql};

crate::on_both_backends!(
    a_due_reminder_fires_once_to_subscribers,
    moved_before_it_fires_it_fires_at_the_new_time,
    done_deleted_or_cleared_before_it_fires_never_fires,
    a_new_time_fires_again_after_one_fired,
    completing_a_recurring_task_moves_its_reminder,
    bad_remind_at_names_its_field_and_writes_nothing,
);

const EVENTS: &str = "query($f: TaskEventFilter) { taskEvents(filter: $f, first: 100) {
    edges { node { kind late version occurredAt taskId task { id description remindAt done } } } } }";

fn at(offset: TimeDelta) -> String {
    (Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(at: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(at.as_str().expect("a date"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

async fn create(app: &TestApp, input: Value) -> Value {
    let data = app
        .data(
            "mutation($i: CreateTaskInput!) { createTask(input: $i) {
                task { id description remindAt dueAt version } } }",
            json!({ "i": input }),
        )
        .await;
    data["createTask"]["task"].clone()
}

async fn update(app: &TestApp, input: Value) -> Value {
    app.data(
        "mutation($i: UpdateTaskInput!) { updateTask(input: $i) {
            task { id remindAt version } nextOccurrence { id dueAt remindAt } } }",
        json!({ "i": input }),
    )
    .await["updateTask"]
        .clone()
}

/// The REMINDER_DUE events of these tasks, as `taskEvents` pages them.
async fn reminders(app: &TestApp, ids: &[&Value]) -> Vec<Value> {
    let data = app
        .data(
            EVENTS,
            json!({ "f": { "kinds": ["REMINDER_DUE"], "taskIds": ids } }),
        )
        .await;
    data["taskEvents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits until `task`'s reminders number `n`, and returns them.
async fn until_fired(app: &TestApp, task: &Value, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fired = reminders(app, &[task]).await;
        if fired.len() >= n {
            return fired;
        }
        assert!(
            Instant::now() < deadline,
            "{n} reminders of {task} in 20 s: {fired:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

async fn a_due_reminder_fires_once_to_subscribers(app: TestApp) {
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query":
            "subscription { taskEvents { kind late version task { id description remindAt } } }" } }),
    )
    .await;
    wait_until_live(&app, &mut socket).await;

    let remind_at = at(TimeDelta::milliseconds(800));
    let task = create(
        &app,
        json!({ "description": "Call the dentist", "remindAt": remind_at }),
    )
    .await;
    assert_eq!(parse(&task["remindAt"]), parse(&json!(remind_at)));
    let created = receive(&mut socket).await;
    assert_eq!(created["payload"]["data"]["taskEvents"]["kind"], "CREATED");
    let due = receive(&mut socket).await["payload"]["data"]["taskEvents"].clone();
    assert_eq!(due["kind"], "REMINDER_DUE", "{due}");
    assert_eq!(due["late"], false);
    // The task did not change: the version it had.
    assert_eq!(due["version"], 1);
    assert_eq!(due["task"]["id"], task["id"]);
    assert_eq!(due["task"]["description"], "Call the dentist");

    // Once: long after its time, still one, with its commit after its time.
    sleep(Duration::from_secs(1)).await;
    let fired = reminders(&app, &[&task["id"]]).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(parse(&fired[0]["occurredAt"]) >= parse(&task["remindAt"]));
    // Other kinds carry no `late`.
    let created = app
        .data(
            EVENTS,
            json!({ "f": { "kinds": ["CREATED"], "taskIds": [&task["id"]] } }),
        )
        .await;
    assert_eq!(
        created["taskEvents"]["edges"][0]["node"]["late"],
        Value::Null
    );
}

async fn moved_before_it_fires_it_fires_at_the_new_time(app: TestApp) {
    let task = create(
        &app,
        json!({ "description": "Water plants", "remindAt": at(TimeDelta::seconds(1)) }),
    )
    .await;
    let later = at(TimeDelta::seconds(3));
    let moved = update(&app, json!({ "id": task["id"], "remindAt": later })).await;
    assert_eq!(parse(&moved["task"]["remindAt"]), parse(&json!(later)));
    let fired = until_fired(&app, &task["id"], 1).await;
    // Not at the first time, which passed two seconds earlier: at the new one.
    assert!(
        parse(&fired[0]["occurredAt"]) >= parse(&json!(later)),
        "{fired:?}"
    );
    assert_eq!(fired[0]["task"]["remindAt"], moved["task"]["remindAt"]);
    sleep(Duration::from_millis(800)).await;
    assert_eq!(reminders(&app, &[&task["id"]]).await.len(), 1);
}

async fn done_deleted_or_cleared_before_it_fires_never_fires(app: TestApp) {
    let time = at(TimeDelta::seconds(1));
    let done = create(&app, json!({ "description": "done", "remindAt": time })).await;
    let deleted = create(&app, json!({ "description": "deleted", "remindAt": time })).await;
    let cleared = create(&app, json!({ "description": "cleared", "remindAt": time })).await;
    let control = create(&app, json!({ "description": "control", "remindAt": time })).await;
    update(&app, json!({ "id": done["id"], "done": true })).await;
    app.data(
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
        json!({ "id": deleted["id"] }),
    )
    .await;
    let none = update(&app, json!({ "id": cleared["id"], "remindAt": null })).await;
    assert_eq!(none["task"]["remindAt"], Value::Null);
    // The control came due at the same instant: the poll that fired it saw
    // the others too.
    until_fired(&app, &control["id"], 1).await;
    sleep(Duration::from_millis(500)).await;
    let fired = reminders(&app, &[&done["id"], &deleted["id"], &cleared["id"]]).await;
    assert!(fired.is_empty(), "{fired:?}");
    // Reopened after its time, a task's pending reminder fires (late if it
    // is long past).
    update(&app, json!({ "id": done["id"], "done": false })).await;
    let reopened = until_fired(&app, &done["id"], 1).await;
    assert_eq!(reopened.len(), 1);
}

async fn a_new_time_fires_again_after_one_fired(app: TestApp) {
    let task = create(
        &app,
        json!({ "description": "Stretch", "remindAt": at(TimeDelta::milliseconds(300)) }),
    )
    .await;
    until_fired(&app, &task["id"], 1).await;
    // The same time again is no change: nothing fires.
    let same = update(
        &app,
        json!({ "id": task["id"], "remindAt": task["remindAt"] }),
    )
    .await;
    assert_eq!(same["task"]["remindAt"], task["remindAt"]);
    // An update of something else keeps it fired.
    update(
        &app,
        json!({ "id": task["id"], "description": "Stretch more" }),
    )
    .await;
    sleep(Duration::from_millis(800)).await;
    assert_eq!(reminders(&app, &[&task["id"]]).await.len(), 1);
    update(
        &app,
        json!({ "id": task["id"], "remindAt": at(TimeDelta::milliseconds(300)) }),
    )
    .await;
    let fired = until_fired(&app, &task["id"], 2).await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert_eq!(fired[1]["task"]["description"], "Stretch more");
}

async fn completing_a_recurring_task_moves_its_reminder(app: TestApp) {
    let task = create(
        &app,
        json!({ "description": "Weekly report", "dueAt": "2030-01-07T09:00:00Z",
            "remindAt": "2030-01-07T08:30:00Z", "recurrence": "FREQ=WEEKLY" }),
    )
    .await;
    let done = update(&app, json!({ "id": task["id"], "done": true })).await;
    assert_eq!(done["nextOccurrence"]["dueAt"], "2030-01-14T09:00:00Z");
    assert_eq!(done["nextOccurrence"]["remindAt"], "2030-01-14T08:30:00Z");
}

async fn bad_remind_at_names_its_field_and_writes_nothing(app: TestApp) {
    let (code, field) = app
        .error(
            "mutation { createTask(input: {description: \"x\", remindAt: \"0000-12-31T00:00:00Z\"}) { task { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(field.as_deref(), Some("remindAt"));
    let task = create(&app, json!({ "description": "kept" })).await;
    let (code, field) = app
        .error(
            "mutation($id: ID!) { updateTask(input: {id: $id, remindAt: \"0000-12-31T00:00:00Z\"}) { task { id } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(field.as_deref(), Some("remindAt"));
    let total = app
        .data(
            "{ tasks { totalCount nodes { remindAt version } } }",
            json!({}),
        )
        .await;
    assert_eq!(total["tasks"]["totalCount"], 1);
    assert_eq!(total["tasks"]["nodes"][0]["remindAt"], Value::Null);
    assert_eq!(total["tasks"]["nodes"][0]["version"], 1);
}

/// Row-level security on: the scheduler reads every owner's due reminders
/// through its own policy, and each owner hears only of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fires_under_row_level_security() {
    let rls = crate::owners::RlsDatabase::new().await;
    let app = crate::sign_in::hs256_app(
        Backend::Postgres,
        &[
            ("DATABASE_URL", &rls.url),
            ("DB_ROW_LEVEL_SECURITY", "true"),
        ],
    )
    .await;
    let alice = crate::tokens::hs256(&crate::tokens::claims("alice"));
    let bob = crate::tokens::hs256(&crate::tokens::claims("bob"));
    let create_as = async |token: &str, description: &str| {
        crate::sign_in::data_as(
            &app,
            token,
            "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }",
            json!({ "i": { "description": description, "remindAt": at(TimeDelta::milliseconds(500)) } }),
        )
        .await["createTask"]["task"]["id"]
            .clone()
    };
    let a = create_as(&alice, "alice's").await;
    let b = create_as(&bob, "bob's").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let events_of = async |token: &str| {
        crate::sign_in::data_as(
            &app,
            token,
            EVENTS,
            json!({ "f": { "kinds": ["REMINDER_DUE"] } }),
        )
        .await["taskEvents"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["taskId"].clone())
            .collect::<Vec<_>>()
    };
    loop {
        let (of_a, of_b) = (events_of(&alice).await, events_of(&bob).await);
        if !of_a.is_empty() && !of_b.is_empty() {
            assert_eq!(of_a, vec![a.clone()]);
            assert_eq!(of_b, vec![b.clone()]);
            break;
        }
        assert!(Instant::now() < deadline, "alice {of_a:?}, bob {of_b:?}");
        sleep(Duration::from_millis(100)).await;
    }
    drop(app);
}

/// Counts of REMINDER_DUE events per task and how many were late, read
/// straight from the log.
async fn fired_per_task(db: &sea_orm::DatabaseConnection) -> (HashMap<String, i64>, i64) {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT CAST(task_id AS TEXT) AS task, COUNT(*) AS n, \
             SUM(CASE WHEN late THEN 1 ELSE 0 END) AS late \
             FROM task_events WHERE kind = 4 GROUP BY task_id",
        ))
        .await
        .expect("fired reminders");
    let mut late = 0;
    let mut per_task = HashMap::new();
    for row in rows {
        let task: String = row.try_get("", "task").expect("task");
        per_task.insert(task, row.try_get::<i64>("", "n").expect("n"));
        late += row
            .try_get::<Option<i64>>("", "late")
            .expect("late")
            .unwrap_or(0);
    }
    (per_task, late)
}

async fn create_over_http(client: &reqwest::Client, api: &ApiProcess, input: Value) -> Value {
    match post_graphql(client, &api.base(), CREATE_TASK, json!({ "input": input })).await {
        Outcome::Ok(data) => data["createTask"]["task"]["id"].clone(),
        other => panic!("createTask: {other:?}"),
    }
}

/// A reminder set, then every api stopped past its time: the first api to
/// start fires it, marked late, once.
async fn fires_late_when_nobody_ran(database_url: &str) {
    let vars = [
        ("DATABASE_URL", database_url),
        ("AUTO_MIGRATE", "true"),
        ("REMINDERS_LATE_AFTER", "1"),
    ];
    let client = reqwest::Client::new();
    let mut first = ApiProcess::spawn(&vars);
    first
        .wait_for_status("/readyz", 200, Duration::from_secs(30))
        .await;
    let task = create_over_http(
        &client,
        &first,
        json!({ "description": "while away", "remindAt": at(TimeDelta::seconds(2)) }),
    )
    .await;
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(20)).await;
    // Past its time, and past REMINDERS_LATE_AFTER, with no api running.
    sleep(Duration::from_secs(4)).await;
    let second = ApiProcess::spawn(&vars);
    second
        .wait_for_status("/readyz", 200, Duration::from_secs(30))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let page = post_graphql(
            &client,
            &second.base(),
            EVENTS,
            json!({ "f": { "kinds": ["REMINDER_DUE"], "taskIds": [&task] } }),
        )
        .await;
        let Outcome::Ok(data) = page else {
            panic!("taskEvents: {page:?}")
        };
        let edges = data["taskEvents"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !edges.is_empty() {
            sleep(Duration::from_millis(600)).await;
            break edges;
        }
        assert!(Instant::now() < deadline, "no reminder after the restart");
        sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["node"]["late"], true);
    assert_eq!(events[0]["node"]["taskId"], task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fires_late_when_nobody_ran() {
    let dir = TempDir::new("reminders-late");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("todo.db").display());
    fires_late_when_nobody_ran(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fires_late_when_nobody_ran() {
    let db = TestDb::new(Backend::Postgres).await;
    fires_late_when_nobody_ran(&db.url).await;
}

/// Three replicas on one database, 300 reminders due within a second, one
/// replica killed (SIGKILL, mid-poll as likely as not) while they come due:
/// every reminder fires, each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_fire_each_reminder_once_one_killed() {
    const TASKS: usize = 300;
    let db = TestDb::new(Backend::Postgres).await;
    let mut apis = Vec::new();
    for i in 0..3 {
        let api = ApiProcess::spawn(&[
            ("DATABASE_URL", db.url.as_str()),
            ("AUTO_MIGRATE", if i == 0 { "true" } else { "false" }),
        ]);
        api.wait_for_status("/readyz", 200, Duration::from_secs(30))
            .await;
        apis.push(api);
    }
    let client = reqwest::Client::new();
    // Due from 3 s from now, spread over one second; created through all three.
    let start = Utc::now() + TimeDelta::seconds(3);
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let due = start + TimeDelta::milliseconds((i * 1000 / TASKS) as i64);
        let api = &apis[i % 3];
        let id = create_over_http(
            &client,
            api,
            json!({ "description": format!("r{i}"),
                "remindAt": due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) }),
        )
        .await;
        ids.push(id);
    }
    let wait = (start + TimeDelta::milliseconds(400) - Utc::now())
        .to_std()
        .unwrap_or_default();
    sleep(wait).await;
    let killed = apis.remove(1);
    killed.signal("KILL");
    drop(killed);

    let conn = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (per_task, late) = loop {
        let (per_task, _) = fired_per_task(&conn).await;
        if per_task.len() == TASKS {
            // Long enough for a second firing to show, if one could happen.
            sleep(Duration::from_secs(1)).await;
            break fired_per_task(&conn).await;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {TASKS} fired",
            per_task.len()
        );
        sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(per_task.len(), TASKS);
    let twice: Vec<_> = per_task.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    assert_eq!(late, 0, "none came due while no replica ran");
    let fired_ids: std::collections::HashSet<String> = per_task.into_keys().collect();
    for id in &ids {
        let uuid = crate::support::task_uuid(id).to_string();
        assert!(fired_ids.contains(&uuid), "{id} never fired");
    }
}
