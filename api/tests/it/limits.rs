//! Transport limits that need a request to be slow: the request timeout and
//! load shedding. A row lock held by the test makes an update wait for as long
//! as the test wants (PostgreSQL), with no sleeps in the service.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Backend, TestApp, ws};

const UPDATE: &str = "mutation($id: ID!, $d: String!) { updateTask(input: {id: $id, description: $d}) { task { description } } }";

/// Locks the task's row until the transaction is dropped or rolled back.
async fn lock_task(db: &DatabaseConnection, id: &Value) -> DatabaseTransaction {
    let uuid = api::graphql::ids::decode(
        id.as_str().expect("id"),
        api::graphql::ids::NodeKind::Task,
        "id",
    )
    .expect("task id");
    let tx = db.begin().await.expect("begin");
    tx.execute_unprepared(&format!(
        "SELECT id FROM tasks WHERE id = '{uuid}' FOR UPDATE"
    ))
    .await
    .expect("lock row");
    tx
}

/// Waits until some session of this database waits on a lock: the api's
/// update is then in flight and blocked.
async fn until_blocked(db: &DatabaseConnection) {
    for _ in 0..200 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        if row.try_get::<i64>("", "n").expect("count") > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the update never blocked on the row lock");
}

fn post(app: &TestApp, query: &str, variables: Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_timeout_gets_503_and_changes_nothing() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let task = app.create_task(json!({ "description": "before" })).await;
    let lock = lock_task(&app.db, &task["id"]).await;

    let response = post(&app, UPDATE, json!({ "id": task["id"], "d": "after" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );

    // The cancelled update was never committed, not even once the lock is gone.
    lock.rollback().await.expect("rollback");
    let data = app
        .data(
            "query($id: ID!) { task(id: $id) { description version } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(data["task"]["description"], "before");
    assert_eq!(data["task"]["version"], task["version"]);
    // And the server goes on serving.
    let data = app
        .data(UPDATE, json!({ "id": task["id"], "d": "later" }))
        .await;
    assert_eq!(data["updateTask"]["task"]["description"], "later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_concurrency_limit_are_shed_with_503() {
    let app =
        TestApp::spawn_with(Backend::Postgres, &[("HTTP_MAX_CONCURRENT_REQUESTS", "1")]).await;
    let task = app.create_task(json!({ "description": "before" })).await;
    let lock = lock_task(&app.db, &task["id"]).await;

    let blocked =
        tokio::spawn(post(&app, UPDATE, json!({ "id": task["id"], "d": "after" })).send());
    until_blocked(&app.db).await;

    let shed = post(&app, "{ tasks { totalCount } }", json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        shed.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: Value = shed.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );
    // Probes are outside the limit.
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status(), StatusCode::OK);

    // The request in flight was not hurt: it completes once the lock goes.
    lock.rollback().await.expect("rollback");
    let response = blocked.await.expect("join").expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["updateTask"]["task"]["description"], "after");
    let data = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(data["tasks"]["totalCount"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_get_pings_and_the_default_limits_allow_real_queries() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_KEEPALIVE_SECS", "0.2")]).await;
    let mut socket = ws::connect(&app.ws_url(), "graphql-transport-ws").await;
    ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    let mut pings = 0;
    while pings < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        match frame {
            // tungstenite answers pings itself; the server sees the pongs and
            // keeps the socket open past several intervals.
            Message::Ping(_) => pings += 1,
            Message::Text(text) => assert!(text.contains("connection_ack"), "{text}"),
            other => panic!("unexpected frame {other:?}"),
        }
    }

    // The nested page the N+1 test uses is well inside the default complexity.
    let data = app
        .data(
            "{ tasks(first: 100) { totalCount nodes { parent { id } categories { name } \
             subtasks(first: 5) { totalCount nodes { parent { id } categories { name } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["tasks"]["totalCount"], 0);
}
