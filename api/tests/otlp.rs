//! OTLP trace export (`--features otlp`) against a small OTLP/HTTP receiver
//! started here. A test binary of its own: it installs the process-wide
//! tracing subscriber.

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "it/common.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::config::LogFormat;
use api::telemetry::{Settings, init_with};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde_json::json;
use tokio::net::TcpListener;

use common::{Backend, TestApp};

/// What the receiver got: (content type, body) per export request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let router = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    received
                        .lock()
                        .expect("receiver lock")
                        .push((content_type, body.to_vec()));
                    // An empty ExportTraceServiceResponse.
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/x-protobuf")],
                        Vec::new(),
                    )
                },
            ),
        )
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("receiver");
    });
    (format!("http://{addr}"), received)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_http() {
    let (endpoint, received) = receiver().await;
    let telemetry = init_with(Settings {
        log_filter: api::config::DEFAULT_LOG_FILTER.into(),
        log_format: LogFormat::Pretty,
        otlp_endpoint: Some(endpoint),
        otlp_traces_endpoint: None,
        service_name: "todo-api-otlp-test".into(),
    });
    assert!(telemetry.exporting(), "the OTLP exporter is installed");

    let app = TestApp::spawn(Backend::Sqlite).await;
    let data = app
        .data(
            "query OtlpProbe { tasks(first: 1) { totalCount } }",
            json!({ "secret": "variable-value-never-exported" }),
        )
        .await;
    assert_eq!(data["tasks"]["totalCount"], 0);

    // Spans end a little after the response (the body finishes first).
    let mut payload = Vec::new();
    for _ in 0..50 {
        tokio::task::block_in_place(|| telemetry.flush());
        payload = received
            .lock()
            .expect("receiver lock")
            .iter()
            .flat_map(|(content_type, body)| {
                assert_eq!(content_type, "application/x-protobuf");
                body.clone()
            })
            .collect();
        if contains(&payload, "query OtlpProbe") && contains(&payload, "POST /graphql") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Protobuf keeps strings as they are: the operation's span name, its
    // attributes, the request span and the resource are all in the bytes.
    assert!(contains(&payload, "query OtlpProbe"), "operation span");
    assert!(contains(&payload, "graphql.operation.type"), "attributes");
    assert!(contains(&payload, "POST /graphql"), "request span");
    assert!(contains(&payload, "request_id"), "request id attribute");
    assert!(contains(&payload, "todo-api-otlp-test"), "service name");
    assert!(!contains(&payload, "variable-value-never-exported"));

    app.shutdown().await;
    tokio::task::block_in_place(|| drop(telemetry));
}
