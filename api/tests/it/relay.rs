//! The relay to other services, against real brokers: every committed
//! change reaches NATS JetStream, Redis Streams, RabbitMQ and a webhook as
//! a CloudEvent, once after dedup by id and in log order, through replicas,
//! a killed publisher, a broker outage and a receiver that fails for a
//! while; retention keeps what a stuck sink has not published.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::brokers::{
    AllSinks, OwnNats, Receiver, assert_exactly_the_log, metric, nats_messages, wait_for,
};
use crate::common::{Backend, TestApp, TestDb};
use crate::support::{ApiProcess, CREATE_TASK, Outcome, free_port, post_graphql};
use crate::tail::logged;

const SOURCE: &str = "/todo-test";
const SINKS: [&str; 4] = ["nats", "redis", "amqp", "webhook"];
const DELIVERED: Duration = Duration::from_secs(60);
const READY: Duration = Duration::from_secs(30);

const TASK_FIELDS: &str = "id description priority startAt dueAt done completedAt recurrence timeZone \
    remindAt position createdAt updatedAt version owner { id } parent { id }";

/// Waits until the log holds `n` numbered events, and returns it.
async fn log_of(db: &DatabaseConnection, n: usize) -> Vec<(i64, String, String, i64)> {
    let start = Instant::now();
    loop {
        let log = logged(db).await;
        if log.len() >= n {
            assert_eq!(log.len(), n, "more events than changes made");
            return log;
        }
        assert!(
            start.elapsed() < DELIVERED,
            "the log has {} of {n} events",
            log.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates, updates, moves under a parent, completes and deletes tasks, and
/// tries a batch that fails half-way; returns how many events it made.
async fn changes(app: &TestApp) -> usize {
    let mut events = 0;
    let parent = app.create_task(json!({ "description": "plan the trip", "priority": "HIGH", "dueAt": "2027-01-10T09:00:00Z" })).await;
    let child = app
        .create_task(json!({ "description": "book the train", "parentId": parent["id"] }))
        .await;
    let doomed = app
        .create_task(
            json!({ "description": "call the hotel", "startAt": "2027-01-02T08:30:00.5Z" }),
        )
        .await;
    events += 3;
    app.set_done(&child["id"], true).await;
    events += 1;
    let updated = app
        .data(
            "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { task { id } } }",
            json!({ "input": { "id": parent["id"], "description": "plan the trip to Lyon", "priority": "LOW" } }),
        )
        .await;
    assert!(updated["updateTask"]["task"]["id"].is_string());
    events += 1;
    app.data(
        "mutation($input: DeleteTaskInput!) { deleteTask(input: $input) { deletedTaskIds } }",
        json!({ "input": { "id": doomed["id"] } }),
    )
    .await;
    events += 1;
    // Written in id order, the missing id last: the first row is updated
    // before the batch fails, and the whole transaction rolls back.
    let missing = api::graphql::ids::encode(
        api::graphql::ids::NodeKind::Task,
        sea_orm::prelude::Uuid::max(),
    )
    .0;
    let (code, _) = app
        .error(
            "mutation($input: SetTasksDoneInput!) { setTasksDone(input: $input) { tasks { id } } }",
            json!({ "input": { "ids": [parent["id"], missing], "done": true } }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    // A reminder: its task's CREATED, then REMINDER_DUE when it comes.
    let remind_at = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(300))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let reminded = app
        .create_task(json!({ "description": "renew the passport", "remindAt": remind_at }))
        .await;
    events += 2;
    let start = Instant::now();
    loop {
        let fired = app
            .data(
                "query($id: ID!) { taskEvents(filter: {kinds: [REMINDER_DUE], taskIds: [$id]}) { nodes { kind } } }",
                json!({ "id": reminded["id"] }),
            )
            .await;
        if fired["taskEvents"]["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
        {
            break;
        }
        assert!(start.elapsed() < DELIVERED, "the reminder never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    events
}

/// Each living task's last event carries exactly what GraphQL answers for it.
async fn assert_data_is_what_graphql_says(app: &TestApp, events: &[crate::brokers::Received]) {
    let mut last = std::collections::HashMap::new();
    for received in events {
        last.insert(
            received.event["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            received.event.clone(),
        );
    }
    for (id, event) in last {
        let node = app
            .data(
                &format!(
                    "query($id: ID!) {{ node(id: $id) {{ ... on Task {{ {TASK_FIELDS} }} }} }}"
                ),
                json!({ "id": id }),
            )
            .await;
        if event["type"] == "todo.task.deleted.v1" {
            assert!(node["node"].is_null(), "a deleted task is gone: {node}");
        } else {
            assert_eq!(
                event["data"], node["node"],
                "the event's data is the Task as GraphQL has it"
            );
        }
    }
}

async fn every_change_reaches_every_sink_once_in_order(backend: Backend) {
    let sinks = AllSinks::new().await;
    let mut vars = sinks.vars();
    vars.push(("EVENTS_SOURCE", SOURCE));
    let app = TestApp::spawn_with(backend, &vars).await;
    let n = changes(&app).await;
    let log = log_of(&app.db, n).await;
    let nats = sinks.assert_each_got(&log, SOURCE, DELIVERED).await;
    assert_data_is_what_graphql_says(&app, &nats).await;
    // Only a fired reminder says whether it was late (it was not).
    for received in &nats {
        let reminder = received.event["type"] == "todo.task.reminder_due.v1";
        let late = received.event.get("todolate");
        assert_eq!(late.is_some(), reminder, "{}", received.event);
        if reminder {
            assert_eq!(late, Some(&json!(false)));
        }
    }

    // Each sink's checkpoint reached the end of the log.
    let last = log.last().map(|e| e.0).unwrap_or_default();
    let start = Instant::now();
    loop {
        let rows = app
            .db
            .query_all_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT name, delivered_through FROM event_sinks ORDER BY name",
            ))
            .await
            .unwrap();
        let through: Vec<(String, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "name").unwrap(),
                    r.try_get("", "delivered_through").unwrap(),
                )
            })
            .collect();
        if through.iter().all(|(_, p)| *p == last) && through.len() == 4 {
            break;
        }
        assert!(
            start.elapsed() < DELIVERED,
            "checkpoints {through:?}, log ends at {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
    sinks.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_sink_once_in_order_on_sqlite() {
    every_change_reaches_every_sink_once_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_sink_once_in_order_on_postgres() {
    every_change_reaches_every_sink_once_in_order(Backend::Postgres).await;
}

async fn metrics_of(client: &reqwest::Client, api: &ApiProcess) -> Option<String> {
    let response = client
        .get(format!("{}/metrics", api.base()))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

fn series(name: &str, sink: &str) -> String {
    format!("{name}{{sink=\"{sink}\"}}")
}

/// The replicas (by index) that report publishing to `sink`, among those
/// still running.
async fn publishers(
    client: &reqwest::Client,
    apis: &[ApiProcess],
    running: &[bool],
    sink: &str,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        if !running[i] {
            continue;
        }
        if let Some(page) = metrics_of(client, api).await
            && metric(&page, &series("events_sink_publishing", sink)) == Some(1.0)
        {
            out.push(i);
        }
    }
    out
}

async fn write(client: &reqwest::Client, api: &ApiProcess, i: usize) -> bool {
    let created = post_graphql(
        client,
        &api.base(),
        CREATE_TASK,
        json!({ "input": { "description": format!("task {i}") } }),
    )
    .await;
    let Outcome::Ok(data) = created else {
        return false;
    };
    let id = data["createTask"]["task"]["id"].clone();
    let done = post_graphql(
        client,
        &api.base(),
        "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { task { id } } }",
        json!({ "input": { "id": id, "done": true } }),
    )
    .await;
    matches!(done, Outcome::Ok(_))
}

/// Three replicas write with all four sinks configured; the NATS publisher and
/// the sequencer's replica are sent `signal` half-way (KILL: they die;
/// STOP: they hang, holding their database sessions open, and resume later,
/// fenced off).
async fn three_replicas_and_a_lost_publisher(signal: &str) {
    let db = TestDb::new(Backend::Postgres).await;
    let sinks = AllSinks::new().await;
    let mut apis = Vec::new();
    for i in 0..3 {
        let mut vars = vec![
            ("DATABASE_URL", db.url.as_str()),
            ("AUTO_MIGRATE", if i == 0 { "true" } else { "false" }),
        ];
        vars.extend(sinks.vars());
        let api = ApiProcess::spawn(&vars);
        api.wait_for_status("/readyz", 200, READY).await;
        apis.push(api);
    }
    let mut running = vec![true; 3];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    // One publisher per sink, whichever replica it is.
    let start = Instant::now();
    let leader = loop {
        let mut all = Vec::new();
        for sink in SINKS {
            let publishing = publishers(&client, &apis, &running, sink).await;
            assert!(
                publishing.len() <= 1,
                "two publishers to {sink}: {publishing:?}"
            );
            all.push(publishing);
        }
        if all.iter().all(|p| p.len() == 1) {
            break all[0][0];
        }
        assert!(start.elapsed() < READY, "no publisher took the leases");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Writes through every running replica; the NATS publisher is lost
    // half-way, and writes go on through the others.
    let mut written = 0;
    let mut lost_at = None;
    for i in 0..40 {
        let target = (0..3).map(|k| (i + k) % 3).find(|k| running[*k]).unwrap();
        assert!(write(&client, &apis[target], i).await, "write {i}");
        written += 2;
        if i == 20 {
            // The replica numbering the log goes too (it may be the same):
            // publishing waits for numbers, so both must be taken over.
            let sequencer = (0..3).find(|k| apis[*k].output().contains("numbers the event log"));
            for lost in [Some(leader), sequencer].into_iter().flatten() {
                if running[lost] {
                    apis[lost].signal(signal);
                    running[lost] = false;
                }
            }
            lost_at = Some(Instant::now());
        }
    }
    let lost_at = lost_at.unwrap();
    let takeover = loop {
        let nats = publishers(&client, &apis, &running, "nats").await;
        if nats.len() == 1 {
            break lost_at.elapsed();
        }
        assert!(nats.is_empty(), "two publishers after the loss: {nats:?}");
        assert!(
            lost_at.elapsed() < Duration::from_secs(10),
            "nobody took over within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("SIG{signal}: another replica published after {takeover:?}");
    if signal == "STOP" {
        // The hung replicas wake up: fenced off, they publish and number no
        // more.
        for (k, api) in apis.iter().enumerate() {
            if !running[k] {
                api.signal("CONT");
                running[k] = true;
            }
        }
        for i in 40..50 {
            assert!(write(&client, &apis[i % 3], i).await, "write {i}");
            written += 2;
        }
    }
    let pool = db.connect().await;
    let log = log_of(&pool, written).await;
    sinks.assert_each_got(&log, "/todo", DELIVERED).await;
    for sink in SINKS {
        let publishing = publishers(&client, &apis, &running, sink).await;
        assert_eq!(
            publishing.len(),
            1,
            "one publisher to {sink} in the end: {publishing:?}"
        );
    }
    drop(apis);
    sinks.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_publish_through_one_and_a_killed_publisher_loses_nothing() {
    three_replicas_and_a_lost_publisher("KILL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_publisher_is_replaced_and_fenced_off() {
    three_replicas_and_a_lost_publisher("STOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_delays_events_and_loses_none() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut nats = OwnNats::start(free_port()).await;
    let url = nats.url();
    let api = ApiProcess::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
        ("EVENTS_NATS_URL", &url),
    ]);
    api.wait_for_status("/readyz", 200, READY).await;
    let client = reqwest::Client::new();
    let mut written = 0;
    for i in 0..10 {
        assert!(write(&client, &api, i).await);
        written += 2;
    }
    wait_for("before the outage", written, DELIVERED, || {
        nats_messages(&url, "TODO_TASKS")
    })
    .await;

    // Ten seconds without the broker, writing all along: the api serves.
    nats.stop();
    let down = Instant::now();
    let mut i = 10;
    while down.elapsed() < Duration::from_secs(10) {
        assert!(
            write(&client, &api, i).await,
            "a write while the broker is down"
        );
        written += 2;
        i += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = metrics_of(&client, &api).await.unwrap();
    assert!(
        metric(&page, &series("events_sink_lag_events", "nats")).unwrap_or_default() > 0.0,
        "lag shown: {page}"
    );
    let failures: f64 = page
        .lines()
        .filter(|l| l.starts_with("events_sink_failures_total{") && l.contains("sink=\"nats\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failures > 0.0, "failures counted");
    api.wait_for_status("/readyz", 200, READY).await;

    nats.resume().await;
    let pool = db.connect().await;
    let log = log_of(&pool, written).await;
    let received = wait_for("after the outage", written, DELIVERED, || {
        nats_messages(&url, "TODO_TASKS")
    })
    .await;
    assert_exactly_the_log("nats", &received, &log, "/todo");
    let start = Instant::now();
    loop {
        let page = metrics_of(&client, &api).await.unwrap();
        if metric(&page, &series("events_sink_lag_events", "nats")) == Some(0.0) {
            break;
        }
        assert!(start.elapsed() < DELIVERED, "the lag did not return to 0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_that_fails_for_a_while_gets_every_event_signed() {
    let receiver = Receiver::start().await;
    receiver.answer(Some(StatusCode::INTERNAL_SERVER_ERROR));
    let hook = receiver.url();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("EVENTS_WEBHOOK_URL", &hook),
            ("EVENTS_WEBHOOK_SECRET", &receiver.secret),
        ],
    )
    .await;
    let n = changes(&app).await;
    let start = Instant::now();
    while receiver.refused() < 3 {
        assert!(start.elapsed() < DELIVERED, "no retries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.accepted().is_empty());
    receiver.answer(None);
    let log = log_of(&app.db, n).await;
    let hooks = wait_for("webhook", n, DELIVERED, || async { receiver.accepted() }).await;
    assert_exactly_the_log("webhook", &hooks, &log, "/todo");
    assert_eq!(receiver.unsigned(), 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_answers_gone_stops_its_sink() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start().await;
    receiver.answer(Some(StatusCode::GONE));
    let hook = receiver.url();
    let api = ApiProcess::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
        ("EVENTS_WEBHOOK_URL", &hook),
        ("EVENTS_WEBHOOK_SECRET", &receiver.secret),
    ]);
    api.wait_for_status("/readyz", 200, READY).await;
    let client = reqwest::Client::new();
    assert!(write(&client, &api, 0).await);
    api.wait_for_output("the sink's receiver is gone", 1, DELIVERED)
        .await;
    let start = Instant::now();
    loop {
        let page = metrics_of(&client, &api).await.unwrap();
        if metric(&page, &series("events_sink_stopped", "webhook")) == Some(1.0) {
            break;
        }
        assert!(start.elapsed() < DELIVERED, "not shown as stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(receiver.refused(), 1, "one try, then no more");
    // Stopped: the receiver back does not matter until an operator says so.
    receiver.answer(None);
    assert!(write(&client, &api, 1).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.accepted().is_empty());
    assert_eq!(receiver.refused(), 1);
    api.wait_for_status("/readyz", 200, READY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_what_a_stuck_sink_has_not_published() {
    let db = TestDb::new(Backend::Postgres).await;
    // Nothing listens there yet: the sink is stuck from the start.
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let api = ApiProcess::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
        ("EVENTS_NATS_URL", &url),
        // Two seconds, and a prune pass every second.
        ("EVENT_RETENTION_HOURS", "0.00056"),
    ]);
    api.wait_for_status("/readyz", 200, READY).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        assert!(write(&client, &api, i).await);
    }
    let pool = db.connect().await;
    log_of(&pool, 10).await;
    // Three retention periods and more: nothing the sink needs is gone.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        logged(&pool).await.len(),
        10,
        "retention deleted unpublished events"
    );
    api.wait_for_status("/readyz", 200, READY).await;

    // The broker comes: everything is published, then retention goes on.
    let _nats = OwnNats::start(port).await;
    let received = wait_for("nats", 10, DELIVERED, || nats_messages(&url, "TODO_TASKS")).await;
    assert_eq!(crate::brokers::dedup(&received).len(), 10);
    let start = Instant::now();
    while !logged(&pool).await.is_empty() {
        assert!(
            start.elapsed() < DELIVERED,
            "published events were never pruned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
