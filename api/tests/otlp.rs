//! OTLP trace export (`--features otlp`) against a small OTLP/HTTP receiver
//! started here, and a caller's W3C trace context continued. A test binary of its own: it installs the process-wide
//! tracing subscriber.

// Test code: a failed unwrap is a failed test, helpers included (clippy.toml
// only exempts #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

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

/// A caller's span, as a W3C `traceparent` names it.
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
const CALLER_TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every span the receiver got, decoded.
fn spans(received: &Received) -> Vec<Span> {
    received
        .lock()
        .expect("receiver lock")
        .iter()
        .flat_map(|(_, body)| {
            ExportTraceServiceRequest::decode(body.as_slice())
                .expect("an ExportTraceServiceRequest")
                .resource_spans
        })
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect()
}

/// The operation span named `name` and the request span it runs under.
fn operation_and_request<'a>(spans: &'a [Span], name: &str) -> Option<(&'a Span, &'a Span)> {
    let operation = spans.iter().find(|span| span.name == name)?;
    let request = spans
        .iter()
        .find(|span| span.span_id == operation.parent_span_id)?;
    Some((operation, request))
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

    // Callers that are themselves traced (W3C Trace Context): one that did
    // not sample its trace (flags 00), then one that did.
    for (operation, flags) in [("UnsampledProbe", "00"), ("TracedProbe", "01")] {
        let response = reqwest::Client::new()
            .post(app.url("/graphql"))
            .header(
                "traceparent",
                format!("00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-{flags}"),
            )
            .header("tracestate", CALLER_TRACESTATE)
            .json(&json!({
                "query": format!("query {operation} {{ tasks(first: 1) {{ totalCount }} }}")
            }))
            .send()
            .await
            .expect("POST /graphql");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["data"]["tasks"]["totalCount"], 0, "{body}");
    }

    // Spans end a little after the response (the body finishes first).
    let mut payload = Vec::new();
    let mut exported = Vec::new();
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
        exported = spans(&received);
        if operation_and_request(&exported, "query OtlpProbe").is_some()
            && operation_and_request(&exported, "query TracedProbe").is_some()
        {
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

    // Without a traceparent the request starts a trace of its own.
    let (operation, request) =
        operation_and_request(&exported, "query OtlpProbe").expect("the untraced request's spans");
    assert_eq!(request.name, "POST /graphql");
    assert!(request.parent_span_id.is_empty(), "a root span");
    assert_eq!(request.trace_id.len(), 16);
    assert_ne!(hex(&request.trace_id), "0".repeat(32));
    assert_ne!(hex(&request.trace_id), CALLER_TRACE_ID);
    assert_eq!(operation.trace_id, request.trace_id);
    assert!(request.trace_state.is_empty());

    // With one, the request span is the caller span's child, in its trace,
    // with its tracestate; the operation span is in that trace too.
    let (operation, request) =
        operation_and_request(&exported, "query TracedProbe").expect("the traced request's spans");
    assert_eq!(request.name, "POST /graphql");
    assert_eq!(hex(&request.trace_id), CALLER_TRACE_ID);
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN_ID);
    assert_ne!(hex(&request.span_id), CALLER_SPAN_ID, "a span of its own");
    assert_eq!(request.trace_state, CALLER_TRACESTATE);
    assert_eq!(hex(&operation.trace_id), CALLER_TRACE_ID);
    assert_eq!(operation.trace_state, CALLER_TRACESTATE);

    // The caller's sampling decision holds: its unsampled trace (which
    // ended before the sampled one) was not exported.
    assert!(
        !exported
            .iter()
            .any(|span| span.name == "query UnsampledProbe"),
        "an unsampled caller's trace is not exported"
    );

    app.shutdown().await;
    tokio::task::block_in_place(|| drop(telemetry));
}
