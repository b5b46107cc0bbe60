//! `/metrics` and request ids. The recorder is process-wide and tests run in
//! parallel: each test uses operation names of its own and checks deltas.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Backend, TestApp, ws};

crate::on_both_backends!(metrics_move_with_traffic, request_ids_are_honoured_or_made);

/// One sample from the Prometheus text: `name{labels} value`, where the
/// sample's labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("metrics text")
}

/// A GraphQL name no other test uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

async fn metrics_move_with_traffic(app: TestApp) {
    let ok = unique("ObsList");
    let failing = unique("ObsFail");
    let create = unique("ObsCreate");
    let over_ws = unique("ObsWs");
    let ops = |name: &str, labels: &[(&str, &str)], text: &str| {
        let mut all = vec![("operation", name)];
        all.extend_from_slice(labels);
        (
            value(text, "graphql_operations_total", &all),
            value(text, "graphql_operation_duration_seconds_count", &all),
        )
    };
    let before = scrape(&app).await;
    assert_eq!(ops(&ok, &[], &before), (0.0, 0.0));
    let ws_opened_before = value(&before, "graphql_ws_connections_total", &[]);
    let http_ok_before = value(&before, "http_requests_total", &[("status", "2xx")]);

    for _ in 0..2 {
        app.data(
            &format!("query {ok} {{ tasks(first: 1) {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    }
    app.data(
        &format!("mutation {create} {{ createTask(input: {{description: \"obs\"}}) {{ task {{ id }} }} }}"),
        json!({}),
    )
    .await;
    let (code, _) = app
        .error(
            &format!("query {failing} {{ node(id: \"not-an-id\") {{ id }} }}"),
            json!({}),
        )
        .await;

    // A WebSocket, with one query over it.
    let mut socket = ws::connect(&app.ws_url(), "graphql-transport-ws").await;
    ws::send(&mut socket, json!({"type": "connection_init"})).await;
    ws::send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {
            "query": format!("query {over_ws} {{ tasks(first: 1) {{ totalCount }} }}")
        }}),
    )
    .await;
    // Until `complete` for our operation.
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                if message["type"] == "complete" && message["id"] == "1" {
                    return;
                }
            }
        }
        panic!("socket closed before `complete`");
    })
    .await
    .expect("complete within 15 s");

    let mut after = scrape(&app).await;
    // The WebSocket operation is recorded once its stream is dropped.
    for _ in 0..50 {
        if ops(&over_ws, &[], &after).0 > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(&app).await;
    }

    let query = [("type", "query"), ("outcome", "ok")];
    assert_eq!(ops(&ok, &query, &after), (2.0, 2.0), "{after}");
    let mutation = [("type", "mutation"), ("outcome", "ok")];
    assert_eq!(ops(&create, &mutation, &after), (1.0, 1.0), "{after}");
    let failed = [("type", "query"), ("outcome", code.as_str())];
    assert_eq!(ops(&failing, &failed, &after), (1.0, 1.0), "{after}");
    assert_eq!(ops(&failing, &[("outcome", "ok")], &after), (0.0, 0.0));
    assert_eq!(ops(&over_ws, &query, &after), (1.0, 1.0), "{after}");
    // Histogram buckets: every sample is at most +Inf.
    let mut inf = vec![("operation", ok.as_str()), ("le", "+Inf")];
    inf.extend_from_slice(&query);
    assert_eq!(
        value(&after, "graphql_operation_duration_seconds_bucket", &inf),
        2.0
    );

    assert!(value(&after, "graphql_ws_connections_total", &[]) >= ws_opened_before + 1.0);
    assert!(
        value(&after, "graphql_ws_connections", &[]) >= 1.0,
        "{after}"
    );
    assert!(value(&after, "http_requests_total", &[("status", "2xx")]) >= http_ok_before + 4.0);
    // This scrape is in flight while it renders.
    assert!(
        value(&after, "http_requests_in_flight", &[]) >= 1.0,
        "{after}"
    );
    assert!(value(&after, "db_pool_size", &[]) >= 1.0, "{after}");
    assert!(sample(&after, "db_pool_idle", &[]).is_some(), "{after}");
    assert!(value(&after, "db_pool_max_size", &[]) >= 1.0, "{after}");
    assert_eq!(
        sample(
            &after,
            "api_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{after}"
    );
    socket.close(None).await.ok();
}

/// Operation names are label values only up to a cap; names never seen in
/// a document (the client's `operationName` alone) are never labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_operation_names_are_not_labels() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bogus = unique("ObsNotInDocument");
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ tasks(first: 1) { totalCount } }", "operationName": bogus }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let text = scrape(&app).await;
    assert!(!text.contains(&bogus), "{text}");
    assert!(
        sample(
            &text,
            "graphql_operations_total",
            &[("operation", "other"), ("type", "unknown")]
        )
        .is_some(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_switched_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("METRICS_ENABLED", "false")]).await;
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 404);
}

async fn request_ids_are_honoured_or_made(app: TestApp) {
    let get = |id: Option<&'static str>| {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        async move {
            let response = request.send().await.expect("GET /healthz");
            assert_eq!(response.status(), 200);
            response
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().expect("ASCII id").to_owned())
        }
    };
    let made = get(None).await.expect("a generated request id");
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    assert_ne!(get(None).await.as_deref(), Some(made.as_str()));
    assert_eq!(
        get(Some("client-id_1.2:3")).await.as_deref(),
        Some("client-id_1.2:3")
    );
    // Not an id: replaced, not echoed.
    let replaced = get(Some("no spaces <allowed>")).await.expect("an id");
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let long: &'static str = "x".repeat(200).leak();
    let replaced = get(Some(long)).await.expect("an id");
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");

    // GraphQL responses carry it too.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "gql-request-1")
        .json(&json!({ "query": "{ tasks(first: 1) { totalCount } }" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.headers()["x-request-id"], "gql-request-1");
}
