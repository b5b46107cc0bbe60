//! Per-client rate limits over real HTTP and WebSocket. Clients are told
//! apart by their real source addresses (127.0.0.x), or by a trusted
//! proxy's X-Forwarded-For, or by their owner when sign-in is on. Rates are
//! slow (a token every few seconds or never) so that nothing refills while
//! a test looks; recovery waits for the Retry-After the server announced.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, ws};
use crate::sign_in::hs256_app;
use crate::tokens;

const LIST: &str = "{ tasks { totalCount } }";
/// A rate that never refills within a test.
const NEVER: &str = "0.001";

/// An HTTP client whose connections come from `ip` (any of 127.0.0.0/8).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.parse().ok()
    }

    fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The refusal the issue asks for: 429, its headers, one RATE_LIMITED
    /// error and nothing executed.
    fn assert_rate_limited(&self, limit: u64) {
        assert_eq!(self.status, StatusCode::TOO_MANY_REQUESTS, "{}", self.body);
        assert_eq!(self.code(), Some("RATE_LIMITED"), "{}", self.body);
        assert_eq!(self.body["errors"].as_array().map(Vec::len), Some(1));
        assert!(self.body.get("data").is_none(), "{}", self.body);
        assert!(self.header("retry-after") >= Some(1), "{:?}", self.headers);
        assert_eq!(self.header("ratelimit-limit"), Some(limit));
        assert_eq!(self.header("ratelimit-remaining"), Some(0));
        assert!(self.header("ratelimit-reset") >= self.header("retry-after"));
    }
}

async fn post(
    client: &reqwest::Client,
    app: &TestApp,
    body: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = client.post(app.url("/graphql")).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST /graphql");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.expect("JSON body"),
    }
}

async fn list(client: &reqwest::Client, app: &TestApp, headers: &[(&str, &str)]) -> Reply {
    post(client, app, json!({ "query": LIST }), headers).await
}

/// A counter or gauge from `/metrics` (0 when absent).
pub async fn metric(app: &TestApp, name: &str, labels: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_limit_is_refused_and_recovers_on_sqlite() {
    over_the_limit_and_back(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_limit_is_refused_and_recovers_on_postgres() {
    over_the_limit_and_back(Backend::Postgres).await;
}

async fn over_the_limit_and_back(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("RATE_LIMIT_PER_SECOND", "0.2"), ("RATE_LIMIT_BURST", "3")],
    )
    .await;
    let refused_before = metric(&app, "http_rate_limited_total", "transport=\"http\"").await;
    let client = &app.client;
    for remaining in [2, 1] {
        let reply = list(client, &app, &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("ratelimit-limit"), Some(3));
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
    }
    // One operation left: a batch of two is refused whole and runs nothing.
    let batch = json!([
        { "query": "mutation { createTask(input: {description: \"never\"}) { task { id } } }" },
        { "query": LIST },
    ]);
    post(client, &app, batch, &[]).await.assert_rate_limited(3);
    // The batch's first operation was taken: nothing is left.
    list(client, &app, &[]).await.assert_rate_limited(3);
    let get = client
        .get(app.url("/graphql"))
        .query(&[("query", LIST)])
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::TOO_MANY_REQUESTS);
    // Probes and metrics are never limited.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = client.get(app.url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
    }
    let refused_after = metric(&app, "http_rate_limited_total", "transport=\"http\"").await;
    assert!(
        refused_after >= refused_before + 3.0,
        "{refused_before} -> {refused_after}"
    );

    // After the announced wait, the client is served again.
    let refused = list(client, &app, &[]).await;
    refused.assert_rate_limited(3);
    let wait = refused.header("retry-after").expect("retry-after");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let reply = list(client, &app, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["tasks"]["totalCount"], 0,
        "the refused batch ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_do_not_share_a_bucket() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("RATE_LIMIT_PER_SECOND", NEVER), ("RATE_LIMIT_BURST", "1")],
    )
    .await;
    let first = client_from("127.0.0.1");
    let second = client_from("127.0.0.2");
    assert_eq!(list(&first, &app, &[]).await.status, 200);
    list(&first, &app, &[]).await.assert_rate_limited(1);
    assert_eq!(list(&second, &app, &[]).await.status, 200);
    list(&second, &app, &[]).await.assert_rate_limited(1);
    assert_eq!(list(&client_from("127.0.0.3"), &app, &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let limited = [("RATE_LIMIT_PER_SECOND", NEVER), ("RATE_LIMIT_BURST", "1")];
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[limited[0], limited[1], ("TRUSTED_PROXIES", "10.0.0.0/8")],
    )
    .await;
    let client = &app.client;
    let xff = |ip| [("x-forwarded-for", ip)];
    assert_eq!(list(client, &app, &xff("198.51.100.1")).await.status, 200);
    // A new address each time changes nothing: the peer is the client.
    list(client, &app, &xff("198.51.100.2"))
        .await
        .assert_rate_limited(1);

    // Behind a trusted proxy, each forwarded client has its own bucket, and
    // what a client wrote left of the proxy's entry is not believed.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[limited[0], limited[1], ("TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let client = &app.client;
    assert_eq!(list(client, &app, &xff("198.51.100.1")).await.status, 200);
    assert_eq!(list(client, &app, &xff("198.51.100.2")).await.status, 200);
    list(client, &app, &xff("6.6.6.6, 198.51.100.1"))
        .await
        .assert_rate_limited(1);
    list(client, &app, &xff("198.51.100.2"))
        .await
        .assert_rate_limited(1);
    // Without the header, the proxy is the client.
    assert_eq!(list(client, &app, &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_clients_beyond_the_store_share_one_bucket() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("RATE_LIMIT_PER_SECOND", NEVER),
            ("RATE_LIMIT_BURST", "2"),
            ("RATE_LIMIT_MAX_CLIENTS", "50"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let overflow_before = metric(&app, "http_rate_limit_overflow_total", "").await;
    let client = &app.client;
    for n in 0..50 {
        let ip = format!("198.51.100.{n}");
        assert_eq!(
            list(client, &app, &[("x-forwarded-for", &ip)]).await.status,
            200
        );
    }
    // The store is full: newcomers share one bucket of two.
    let mut served = 0;
    for n in 0..200 {
        let ip = format!("203.0.113.{n}");
        let reply = list(client, &app, &[("x-forwarded-for", &ip)]).await;
        match reply.status {
            StatusCode::OK => served += 1,
            _ => reply.assert_rate_limited(2),
        }
    }
    assert_eq!(served, 2, "newcomers got more than one shared bucket");
    // A client known before keeps its own bucket.
    let known = [("x-forwarded-for", "198.51.100.3")];
    assert_eq!(list(client, &app, &known).await.status, 200);
    list(client, &app, &known).await.assert_rate_limited(2);
    let overflow_after = metric(&app, "http_rate_limit_overflow_total", "").await;
    assert!(overflow_after >= overflow_before + 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_clients_are_limited_by_owner() {
    let app = hs256_app(
        Backend::Sqlite,
        &[("RATE_LIMIT_PER_SECOND", NEVER), ("RATE_LIMIT_BURST", "1")],
    )
    .await;
    let bearer = |sub: &str| format!("Bearer {}", tokens::hs256(&tokens::claims(sub)));
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let client = &app.client;
    assert_eq!(
        list(client, &app, &[("authorization", &alice)])
            .await
            .status,
        200
    );
    list(client, &app, &[("authorization", &alice)])
        .await
        .assert_rate_limited(1);
    // Same address, another owner: a bucket of its own.
    assert_eq!(
        list(client, &app, &[("authorization", &bob)]).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribes_count_and_the_socket_stays_open() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("RATE_LIMIT_PER_SECOND", "0.2"), ("RATE_LIMIT_BURST", "2")],
    )
    .await;
    let refused_before = metric(&app, "http_rate_limited_total", "transport=\"websocket\"").await;
    let mut socket = ws::connect(&app.ws_url(), "graphql-transport-ws").await;
    ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws::receive(&mut socket).await["type"], "connection_ack");
    let subscribe = |id: &str, query: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
    let events = "subscription { taskEvents { kind } }";
    ws::send(&mut socket, subscribe("1", events)).await;
    ws::send(&mut socket, subscribe("2", events)).await;
    ws::send(&mut socket, subscribe("3", events)).await;
    let refused = ws::receive(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    let wait = refused["payload"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    // The socket stays open, and the refused id may be used again.
    ws::send(&mut socket, subscribe("3", events)).await;
    let again = ws::receive(&mut socket).await;
    assert_eq!(
        (&again["type"], &again["id"]),
        (&json!("error"), &json!("3"))
    );
    // HTTP from the same address draws on the same bucket.
    list(&app.client, &app, &[]).await.assert_rate_limited(2);
    let refused_after = metric(&app, "http_rate_limited_total", "transport=\"websocket\"").await;
    assert!(refused_after > refused_before);

    // After the wait, a subscribe reaches the engine again (which refuses
    // this one for its own reason).
    tokio::time::sleep(Duration::from_secs(wait)).await;
    ws::send(&mut socket, subscribe("4", "subscription { nope }")).await;
    let answer = ws::receive(&mut socket).await;
    assert_eq!(answer["id"], "4", "{answer}");
    assert_eq!(
        answer["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{answer}"
    );
}
