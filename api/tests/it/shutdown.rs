//! SIGTERM and SIGINT on the real binary: the listener closes, requests in
//! flight finish, WebSockets get a close frame, and the process exits within
//! its grace period.
//!
//! Requests are kept in flight legitimately: the test holds a lock on the
//! tasks table (as a migration or a backup might), so the server cannot finish
//! them before the signal. "In flight" is what the server logged as received
//! (`api::requests` at debug level), so the test never races the kernel's
//! accept queue.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, TransactionTrait,
};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::ws::{self, Socket};
use crate::common::{Backend, TestDb};
use crate::support::{ApiProcess, CREATE_TASK, Outcome, post_graphql, task_uuid};

const GRACE_SECS: u64 = 15;
const RECEIVED: &str = "request received";
const LIST: &str = "query { tasks(first: 50) { totalCount nodes { id description } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_on_sqlite() {
    signal_under_load(Backend::Sqlite, "TERM", 3, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_on_postgres() {
    signal_under_load(Backend::Postgres, "TERM", 5, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_finishes_in_flight_requests() {
    signal_under_load(Backend::Sqlite, "INT", 1, 1).await;
}

fn spawn_api(db: &TestDb, backend: Backend, grace_secs: u64) -> ApiProcess {
    let grace_secs = grace_secs.to_string();
    let mut vars = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
        ("SHUTDOWN_GRACE_SECS", &grace_secs),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,api::requests=debug"),
    ];
    if backend == Backend::Postgres {
        // Every held-up request holds a connection: no waiting for one.
        vars.push(("DB_MAX_CONNECTIONS", "20"));
    }
    ApiProcess::spawn(&vars)
}

/// A lock on the tasks table that stops the server's reads and writes of it
/// (PostgreSQL) or its writes (SQLite), until released.
struct TableLock {
    txn: DatabaseTransaction,
    _conn: DatabaseConnection,
}

impl TableLock {
    async fn take(db: &TestDb, backend: Backend) -> Self {
        let conn = db.connect().await;
        let txn = conn.begin().await.expect("begin");
        let sql = match backend {
            Backend::Postgres => "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE",
            // A write takes SQLite's write lock until the transaction ends
            // (there are rows: the subscription's probes).
            Backend::Sqlite => "UPDATE tasks SET description = description",
        };
        txn.execute_unprepared(sql).await.expect("lock");
        Self { txn, _conn: conn }
    }

    async fn release(self) {
        self.txn.rollback().await.expect("release the lock");
    }
}

async fn subscribe(api: &ApiProcess) -> Socket {
    let mut socket = ws::connect(
        &format!("ws://{}/graphql", api.addr()),
        "graphql-transport-ws",
    )
    .await;
    ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws::receive(&mut socket).await["type"], "connection_ack");
    ws::send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription { taskEvents { kind taskId } }" } }),
    )
    .await;
    // Live once a change made now is delivered.
    let client = reqwest::Client::new();
    for _ in 0..50 {
        let probe = post_graphql(
            &client,
            &api.base(),
            CREATE_TASK,
            json!({ "input": { "description": "probe" } }),
        )
        .await;
        assert!(matches!(probe, Outcome::Ok(_)), "{probe:?}");
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(300), socket.next()).await
        {
            return socket;
        }
    }
    panic!("the subscription never delivered an event");
}

/// The close code the server ends the socket with (events still queued are
/// skipped).
async fn close_code(socket: &mut Socket, deadline: Duration) -> Option<CloseCode> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, socket.next()).await {
            Err(_) => panic!("no close frame within {deadline:?}"),
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(err))) => panic!("socket failed instead of closing: {err}"),
            Ok(None) => panic!("socket ended without a close frame"),
        }
    }
}

async fn signal_under_load(backend: Backend, signal: &str, writers: usize, readers: usize) {
    let db = TestDb::new(backend).await;
    let mut api = spawn_api(&db, backend, GRACE_SECS);
    api.wait_for_status("/readyz", 200, Duration::from_secs(60))
        .await;
    let mut socket = subscribe(&api).await;

    let lock = TableLock::take(&db, backend).await;
    let received_before = api.count_in_output(RECEIVED);
    let client = reqwest::Client::new();
    let mut in_flight = Vec::new();
    for i in 0..writers + readers {
        let (client, base) = (client.clone(), api.base());
        in_flight.push(tokio::spawn(async move {
            if i < writers {
                let input = json!({ "input": { "description": format!("in flight {i}") } });
                post_graphql(&client, &base, CREATE_TASK, input).await
            } else {
                post_graphql(&client, &base, LIST, json!({})).await
            }
        }));
    }
    api.wait_for_output(
        RECEIVED,
        received_before + writers + readers,
        Duration::from_secs(30),
    )
    .await;

    api.signal(signal);
    let signalled = Instant::now();
    // No new connections, while the requests in flight are still held up.
    api.wait_until_refused(Duration::from_secs(10)).await;
    // (SQLite in WAL mode lets reads past a writer: only writes are held.)
    let held = match backend {
        Backend::Postgres => &in_flight[..],
        Backend::Sqlite => &in_flight[..writers],
    };
    assert!(
        api.try_status().is_none(),
        "exited with requests in flight:\n{}",
        api.output()
    );
    assert!(
        held.iter().all(|r| !r.is_finished()),
        "the lock did not hold the requests up"
    );
    lock.release().await;

    let mut created = Vec::new();
    for (i, request) in in_flight.into_iter().enumerate() {
        match request.await.expect("request task") {
            Outcome::Ok(data) if i < writers => {
                created.push(task_uuid(&data["createTask"]["task"]["id"]));
            }
            Outcome::Ok(data) => assert!(data["tasks"]["totalCount"].is_number(), "{data}"),
            other => panic!("in-flight request {i} failed: {other:?}\n{}", api.output()),
        }
    }
    let code = close_code(&mut socket, Duration::from_secs(GRACE_SECS + 5)).await;
    assert_eq!(code, Some(CloseCode::Away), "WebSocket close code");
    let status = api.wait_exit(Duration::from_secs(GRACE_SECS + 10)).await;
    let took = signalled.elapsed();
    let output = api.output();
    assert!(status.success(), "{status:?}\n{output}");
    assert!(
        took < Duration::from_secs(GRACE_SECS + 5),
        "exited {took:?} after the signal"
    );
    assert!(output.contains("shutdown requested"), "{output}");
    assert!(output.contains("all requests finished"), "{output}");

    let check = db.connect().await;
    for id in created {
        let found = entity::task::Entity::find_by_id(id)
            .one(&check)
            .await
            .expect("find");
        assert!(found.is_some(), "acknowledged task {id} is missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_when_the_grace_period_is_over() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut api = spawn_api(&db, Backend::Postgres, 1);
    api.wait_for_status("/readyz", 200, Duration::from_secs(60))
        .await;
    let lock = TableLock::take(&db, Backend::Postgres).await;
    let received_before = api.count_in_output(RECEIVED);
    let (client, base) = (reqwest::Client::new(), api.base());
    let stuck = tokio::spawn(async move { post_graphql(&client, &base, LIST, json!({})).await });
    api.wait_for_output(RECEIVED, received_before + 1, Duration::from_secs(30))
        .await;

    api.signal("TERM");
    let signalled = Instant::now();
    let status = api.wait_exit(Duration::from_secs(30)).await;
    let took = signalled.elapsed();
    let output = api.output();
    // The grace period is 1 s: gone soon after, and not quietly.
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after the signal"
    );
    assert_eq!(status.code(), Some(1), "{status:?}\n{output}");
    assert!(output.contains("grace period"), "{output}");
    let outcome = stuck.await.expect("request task");
    assert!(matches!(outcome, Outcome::Broken(_)), "{outcome:?}");
    lock.release().await;
}
