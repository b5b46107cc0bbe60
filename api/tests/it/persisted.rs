//! Persisted documents: the automatic persisted queries handshake (POST and
//! GET, as Apollo Client's link and urql's exchange speak it), hashes that
//! do not match, the LRU bound, APQ switched off, and trusted documents in
//! `only` and `allow` mode, over HTTP and WebSocket. `/metrics` counts are
//! checked on a process of their own (the recorder is process-wide).

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Backend, TestApp, ws};
use crate::support::{ApiProcess, TempDir};

crate::on_both_backends!(
    apq_handshake_over_post,
    apq_handshake_over_get,
    a_wrong_hash_is_bad_input_and_runs_nothing,
);

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

const TASKS: &str = "query PersistedTasks($search: String) { tasks(filter: {search: $search}) { totalCount nodes { description } } }";
const CREATE: &str = "mutation PersistedCreate($d: String!) { createTask(input: {description: $d}) { task { description } } }";
const EVENTS: &str = "subscription PersistedEvents { taskEvents { kind } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn extension(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// A hash-only POST body, as Apollo's link sends it first.
fn hash_only(query: &str, variables: Value) -> Value {
    json!({ "variables": variables, "extensions": extension(&sha256(query)) })
}

/// The text with its hash, as the link sends it after PersistedQueryNotFound.
fn with_text(query: &str, variables: Value) -> Value {
    json!({ "query": query, "variables": variables, "extensions": extension(&sha256(query)) })
}

async fn post(app: &TestApp, body: &Value, accept: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(app.url("/graphql")).json(body);
    if let Some(accept) = accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    let response = request.send().await.expect("POST /graphql");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// A GET with `extensions` (and `variables`) URL-encoded JSON, as Apollo
/// sends it with `useGETForHashedQueries`.
async fn get(app: &TestApp, params: &[(&str, String)], accept: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url("/graphql")).query(params);
    if let Some(accept) = accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    let response = request.send().await.expect("GET /graphql");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn get_hash_only(query: &str, variables: Value) -> Vec<(&'static str, String)> {
    vec![
        ("variables", variables.to_string()),
        ("extensions", extension(&sha256(query)).to_string()),
    ]
}

/// A request error with this code: nothing ran, no `data` entry.
#[track_caller]
fn assert_refused(body: &Value, code: &str) {
    assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body:#}");
    assert!(body.get("data").is_none(), "{body:#}");
}

#[track_caller]
fn assert_not_found(body: &Value) {
    assert_refused(body, "PERSISTED_QUERY_NOT_FOUND");
    // The message is what Apollo's and urql's clients compare.
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
}

#[track_caller]
fn total(body: &Value) -> i64 {
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["tasks"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no totalCount: {body:#}"))
}

async fn apq_handshake_over_post(app: TestApp) {
    app.create_task(json!({ "description": "apq over post" }))
        .await;
    let vars = json!({ "search": "apq over" });

    // Unknown: 200 for application/json, 400 for graphql-response+json
    // (a request error, like any other); Apollo's link reads both.
    let (status, body) = post(&app, &hash_only(TASKS, vars.clone()), None).await;
    assert_eq!(status, 200);
    assert_not_found(&body);
    let (status, body) = post(
        &app,
        &hash_only(TASKS, vars.clone()),
        Some(GRAPHQL_RESPONSE_JSON),
    )
    .await;
    assert_eq!(status, 400);
    assert_not_found(&body);

    // The text with its hash runs and registers it.
    let (status, body) = post(&app, &with_text(TASKS, vars.clone()), None).await;
    assert_eq!((status, total(&body)), (200, 1));

    // From now on the hash alone runs it, with any variables, also as
    // `"query": null` and inside a batch.
    let (status, body) = post(&app, &hash_only(TASKS, vars.clone()), None).await;
    assert_eq!((status, total(&body)), (200, 1));
    assert_eq!(
        body["data"]["tasks"]["nodes"][0]["description"],
        "apq over post"
    );
    let (_, body) = post(
        &app,
        &hash_only(TASKS, json!({ "search": "nothing like it" })),
        Some(GRAPHQL_RESPONSE_JSON),
    )
    .await;
    assert_eq!(total(&body), 0);
    let mut null_query = hash_only(TASKS, vars.clone());
    null_query["query"] = Value::Null;
    let (_, body) = post(&app, &null_query, None).await;
    assert_eq!(total(&body), 1);
    let batch = json!([hash_only(TASKS, vars.clone()), { "query": "{ __typename }" }]);
    let (status, body) = post(&app, &batch, None).await;
    assert_eq!(status, 200);
    assert_eq!(total(&body[0]), 1, "{body:#}");
    assert_eq!(body[1]["data"]["__typename"], "Query");

    // A mutation registers the same way; its hash alone writes again.
    let create = |d: &str| json!({ "d": d });
    let (_, body) = post(&app, &hash_only(CREATE, create("by hash")), None).await;
    assert_not_found(&body);
    let (_, body) = post(&app, &with_text(CREATE, create("apq over text")), None).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let (_, body) = post(&app, &hash_only(CREATE, create("apq over hash")), None).await;
    assert_eq!(
        body["data"]["createTask"]["task"]["description"],
        "apq over hash"
    );
    let (_, body) = post(&app, &hash_only(TASKS, vars), None).await;
    assert_eq!(total(&body), 3);
}

async fn apq_handshake_over_get(app: TestApp) {
    app.create_task(json!({ "description": "apq over get" }))
        .await;
    let vars = json!({ "search": "apq over get" });
    let (status, body) = get(&app, &get_hash_only(TASKS, vars.clone()), None).await;
    assert_eq!(status, 200);
    assert_not_found(&body);
    let (status, body) = get(
        &app,
        &get_hash_only(TASKS, vars.clone()),
        Some(GRAPHQL_RESPONSE_JSON),
    )
    .await;
    assert_eq!(status, 400);
    assert_not_found(&body);

    // Registered over GET with its text...
    let mut with_query = get_hash_only(TASKS, vars.clone());
    with_query.push(("query", TASKS.to_owned()));
    let (status, body) = get(&app, &with_query, None).await;
    assert_eq!((status, total(&body)), (200, 1));
    // ...then the hash alone, with the operation name as Apollo sends it.
    let mut hashed = get_hash_only(TASKS, vars.clone());
    hashed.push(("operationName", "PersistedTasks".to_owned()));
    let (status, body) = get(&app, &hashed, Some(GRAPHQL_RESPONSE_JSON)).await;
    assert_eq!((status, total(&body)), (200, 1));

    // Registered over POST, hash-only over GET.
    let other = "query PersistedCount { tasks { totalCount } }";
    let (_, body) = post(&app, &with_text(other, json!({})), None).await;
    assert_eq!(total(&body), 1);
    let (status, body) = get(&app, &get_hash_only(other, json!({})), None).await;
    assert_eq!((status, total(&body)), (200, 1));

    // A registered mutation's hash over GET is still a mutation: 405, and
    // nothing is written.
    let (_, body) = post(
        &app,
        &with_text(CREATE, json!({ "d": "apq over get" })),
        None,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&get_hash_only(CREATE, json!({ "d": "apq over get" })))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let (_, body) = post(&app, &hash_only(TASKS, vars), None).await;
    assert_eq!(total(&body), 2);
}

async fn a_wrong_hash_is_bad_input_and_runs_nothing(app: TestApp) {
    let decoy = "query Decoy { __typename }";
    let mut body = with_text(CREATE, json!({ "d": "never written" }));
    body["extensions"] = extension(&sha256(decoy));
    for accept in [None, Some(GRAPHQL_RESPONSE_JSON)] {
        let (status, reply) = post(&app, &body, accept).await;
        assert_eq!(status, if accept.is_some() { 400 } else { 200 });
        assert_refused(&reply, "BAD_USER_INPUT");
        assert!(
            reply["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not match")),
            "{reply:#}"
        );
    }
    // Over GET too.
    let params = [
        ("query", TASKS.to_owned()),
        ("extensions", extension(&sha256(decoy)).to_string()),
    ];
    let (_, reply) = get(&app, &params, None).await;
    assert_refused(&reply, "BAD_USER_INPUT");
    // Neither hash was registered, and nothing was written.
    for query in [CREATE, decoy, TASKS] {
        let (_, reply) = post(&app, &hash_only(query, json!({ "d": "x" })), None).await;
        assert_not_found(&reply);
    }
    let data = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(data["tasks"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_drops_the_least_recently_used() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("APQ_CACHE_SIZE", "2")]).await;
    let [a, b, c] = [
        "query A { a: __typename }",
        "query B { b: __typename }",
        "query C { c: __typename }",
    ];
    let runs = |body: &Value| body.get("errors").is_none() && body["data"].is_object();
    for query in [a, b] {
        let (_, body) = post(&app, &with_text(query, json!({})), None).await;
        assert!(runs(&body), "{body:#}");
    }
    // `a` is used again, so `b` is the least recently used when `c` comes.
    let (_, body) = post(&app, &hash_only(a, json!({})), None).await;
    assert!(runs(&body), "{body:#}");
    let (_, body) = post(&app, &with_text(c, json!({})), None).await;
    assert!(runs(&body), "{body:#}");
    let (_, body) = post(&app, &hash_only(b, json!({})), None).await;
    assert_not_found(&body);
    for query in [a, c] {
        let (_, body) = post(&app, &hash_only(query, json!({})), None).await;
        assert!(runs(&body), "{query}: {body:#}");
    }
    // Sent again, `b` is back (and `a`, now the oldest, gone).
    let (_, body) = post(&app, &with_text(b, json!({})), None).await;
    assert!(runs(&body), "{body:#}");
    let (_, body) = post(&app, &hash_only(a, json!({})), None).await;
    assert_not_found(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_apq_a_hash_alone_is_not_supported() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("APQ_CACHE_SIZE", "0")]).await;
    let query = "query Plain { __typename }";
    for _ in 0..2 {
        let (status, body) = post(&app, &hash_only(query, json!({})), None).await;
        assert_eq!(status, 200);
        assert_refused(&body, "PERSISTED_QUERY_NOT_SUPPORTED");
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
        // The text with its hash still runs, after its hash is checked.
        let (_, body) = post(&app, &with_text(query, json!({})), None).await;
        assert_eq!(body["data"]["__typename"], "Query", "{body:#}");
    }
}

/// On a socket a text with its hash is checked and kept like over HTTP; a
/// hash alone is not accepted (graphql-transport-ws requires `query`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_texts_with_their_hash_are_checked_and_kept() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = "query OverSocket { tasks { totalCount } }";
    let mut socket = ws::connect(&app.ws_url(), "graphql-transport-ws").await;
    ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws::receive(&mut socket).await["type"], "connection_ack");
    let subscribe =
        |id: &str, payload: Value| json!({ "id": id, "type": "subscribe", "payload": payload });
    let mut wrong = with_text(query, json!({}));
    wrong["extensions"] = extension(&sha256("{ __typename }"));
    ws::send(&mut socket, subscribe("wrong", wrong)).await;
    let error = ws::receive(&mut socket).await;
    assert_eq!(error["type"], "error", "{error:#}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    ws::send(&mut socket, subscribe("kept", with_text(query, json!({})))).await;
    let next = ws::receive(&mut socket).await;
    assert_eq!(
        next["payload"]["data"]["tasks"]["totalCount"], 0,
        "{next:#}"
    );
    assert_eq!(ws::receive(&mut socket).await["type"], "complete");
    let (_, body) = post(&app, &hash_only(query, json!({})), None).await;
    assert_eq!(total(&body), 0);

    ws::send(&mut socket, subscribe("hash", hash_only(query, json!({})))).await;
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 15 s");
    assert_eq!(closed, 4400);
}

// --- Trusted documents -------------------------------------------------------

/// A manifest of TASKS (key with `sha256:`, as client-preset writes it),
/// CREATE and EVENTS (bare hex keys), in a temp dir.
fn manifest() -> (TempDir, String) {
    let dir = TempDir::new("todo-trusted");
    let path = dir.path().join("persisted-documents.json");
    let documents = json!({
        format!("sha256:{}", sha256(TASKS)): TASKS,
        sha256(CREATE): CREATE,
        sha256(EVENTS): EVENTS,
    });
    std::fs::write(&path, documents.to_string()).expect("write manifest");
    let path = path.display().to_string();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_only_sqlite() {
    trusted_only(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_only_postgres() {
    trusted_only(Backend::Postgres).await;
}

async fn trusted_only(backend: Backend) {
    let (_dir, path) = manifest();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TRUSTED_DOCUMENTS", &path),
            ("TRUSTED_DOCUMENTS_MODE", "only"),
        ],
    )
    .await;
    let vars = json!({ "search": "trusted" });

    // Listed: by text, by hash (POST and GET), a mutation by hash.
    let (_, body) = post(
        &app,
        &json!({ "query": TASKS, "variables": vars.clone() }),
        None,
    )
    .await;
    assert_eq!(total(&body), 0);
    let (_, body) = post(
        &app,
        &hash_only(CREATE, json!({ "d": "trusted write" })),
        None,
    )
    .await;
    assert_eq!(
        body["data"]["createTask"]["task"]["description"], "trusted write",
        "{body:#}"
    );
    let (_, body) = post(&app, &with_text(TASKS, vars.clone()), None).await;
    assert_eq!(total(&body), 1);
    let (status, body) = get(&app, &get_hash_only(TASKS, vars.clone()), None).await;
    assert_eq!((status, total(&body)), (200, 1));

    // Unlisted: refused, whether valid, a write, not even GraphQL, sent
    // with its hash or by hash alone; APQ cannot add to the manifest.
    let unlisted = [
        json!({ "query": "{ tasks { totalCount } }" }),
        json!({ "query": "mutation { createTask(input: {description: \"untrusted write\"}) { task { id } } }" }),
        // Refused before the parser sees it (else GRAPHQL_PARSE_FAILED).
        json!({ "query": "{ tasks {" }),
        // The same text as a listed one, but not byte for byte.
        json!({ "query": format!("{TASKS} "), "variables": vars.clone() }),
        with_text("query Adhoc { __typename }", json!({})),
        hash_only("query Adhoc { __typename }", json!({})),
    ];
    for body in &unlisted {
        for (accept, want) in [(None, 200), (Some(GRAPHQL_RESPONSE_JSON), 400)] {
            let (status, reply) = post(&app, body, accept).await;
            assert_eq!(status, want, "{body}: {reply:#}");
            assert_refused(&reply, "PERSISTED_QUERY_NOT_TRUSTED");
        }
    }
    let (status, reply) = get(&app, &[("query", "{ __typename }".to_owned())], None).await;
    assert_eq!(status, 200);
    assert_refused(&reply, "PERSISTED_QUERY_NOT_TRUSTED");
    let (_, body) = post(
        &app,
        &hash_only(TASKS, json!({ "search": "untrusted" })),
        None,
    )
    .await;
    assert_eq!(total(&body), 0, "an unlisted write ran");

    // The same rule on WebSockets: a listed query runs, an unlisted one
    // gets the protocol's `error` message.
    let mut socket = ws::connect(&app.ws_url(), "graphql-transport-ws").await;
    ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws::receive(&mut socket).await["type"], "connection_ack");
    ws::send(
        &mut socket,
        json!({ "id": "listed", "type": "subscribe", "payload": { "query": TASKS, "variables": vars } }),
    )
    .await;
    let next = ws::receive(&mut socket).await;
    assert_eq!(next["type"], "next", "{next:#}");
    assert_eq!(next["payload"]["data"]["tasks"]["totalCount"], 1);
    assert_eq!(ws::receive(&mut socket).await["type"], "complete");
    ws::send(
        &mut socket,
        json!({ "id": "adhoc", "type": "subscribe", "payload": { "query": "subscription { taskEvents { kind } }" } }),
    )
    .await;
    let error = ws::receive(&mut socket).await;
    assert_eq!(error["type"], "error", "{error:#}");
    assert_eq!(error["id"], "adhoc");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_TRUSTED"
    );
    // A listed subscription starts (and hears a listed write).
    ws::send(
        &mut socket,
        json!({ "id": "events", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    // The protocol does not say when a subscription is live: write until
    // one write is heard.
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (_, body) = post(&app, &hash_only(CREATE, json!({ "d": "heard" })), None).await;
            assert!(body.get("errors").is_none(), "{body:#}");
            let heard = tokio::time::timeout(Duration::from_millis(250), ws::receive(&mut socket));
            if let Ok(message) = heard.await
                && message["id"] == "events"
            {
                return message;
            }
        }
    })
    .await
    .expect("an event within 15 s");
    assert_eq!(event["type"], "next", "{event:#}");
    assert_eq!(event["payload"]["data"]["taskEvents"]["kind"], "CREATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_allow_sqlite() {
    trusted_allow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_allow_postgres() {
    trusted_allow(Backend::Postgres).await;
}

/// `allow` (the default with a manifest): listed documents by hash without
/// registering them, and every other document as without a manifest.
async fn trusted_allow(backend: Backend) {
    let (_dir, path) = manifest();
    let app = TestApp::spawn_with(backend, &[("TRUSTED_DOCUMENTS", &path)]).await;
    let (_, body) = post(&app, &hash_only(CREATE, json!({ "d": "listed" })), None).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let data = app
        .data(
            "mutation { createTask(input: {description: \"unlisted\"}) { task { id } } }",
            json!({}),
        )
        .await;
    assert!(data["createTask"]["task"]["id"].is_string());
    let (_, body) = post(&app, &hash_only(TASKS, json!({})), None).await;
    assert_eq!(total(&body), 2);
    // APQ still works for unlisted documents.
    let adhoc = "query Adhoc { tasks { totalCount } }";
    let (_, body) = post(&app, &hash_only(adhoc, json!({})), None).await;
    assert_not_found(&body);
    let (_, body) = post(&app, &with_text(adhoc, json!({})), None).await;
    assert_eq!(total(&body), 2);
    let (_, body) = post(&app, &hash_only(adhoc, json!({})), None).await;
    assert_eq!(total(&body), 2);
}

// --- /metrics, on processes of their own --------------------------------------

fn sample(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == format!("{name}{{{label}}}")).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

async fn post_to(client: &reqwest::Client, api: &ApiProcess, body: &Value) -> Value {
    let response = client
        .post(format!("{}/graphql", api.base()))
        .json(body)
        .send()
        .await
        .expect("POST /graphql");
    response.json().await.expect("JSON")
}

async fn start(vars: &[(&str, &str)]) -> ApiProcess {
    let api = ApiProcess::spawn(vars);
    api.wait_for_status("/readyz", 200, Duration::from_secs(60))
        .await;
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_untrusted_documents_and_persisted_queries() {
    let (dir, path) = manifest();
    let client = reqwest::Client::new();
    let db = |name: &str| format!("sqlite://{}/{name}.db?mode=rwc", dir.path().display());

    let allow = start(&[("DATABASE_URL", &db("allow")), ("TRUSTED_DOCUMENTS", &path)]).await;
    post_to(&client, &allow, &hash_only(TASKS, json!({}))).await;
    post_to(&client, &allow, &json!({ "query": TASKS })).await;
    let adhoc = "query Adhoc { __typename }";
    assert_not_found(&post_to(&client, &allow, &hash_only(adhoc, json!({}))).await);
    post_to(&client, &allow, &with_text(adhoc, json!({}))).await;
    post_to(&client, &allow, &hash_only(adhoc, json!({}))).await;
    post_to(&client, &allow, &json!({ "query": "{ __typename }" })).await;
    let metrics = allow
        .wait_for_status("/metrics", 200, Duration::from_secs(10))
        .await;
    let untrusted = |mode| sample(&metrics, "graphql_untrusted_documents_total", mode);
    let apq = |result| sample(&metrics, "graphql_persisted_queries_total", result);
    // Ad hoc by text with its hash, by hash, and plain: three ran unlisted.
    assert_eq!(untrusted("mode=\"allow\""), 3.0, "{metrics}");
    assert_eq!(untrusted("mode=\"only\""), 0.0, "{metrics}");
    // Hits: the listed hash and the registered one.
    assert_eq!(apq("result=\"hit\""), 2.0, "{metrics}");
    assert_eq!(apq("result=\"miss\""), 1.0, "{metrics}");
    assert_eq!(apq("result=\"registered\""), 1.0, "{metrics}");

    let only = start(&[
        ("DATABASE_URL", &db("only")),
        ("TRUSTED_DOCUMENTS", &path),
        ("TRUSTED_DOCUMENTS_MODE", "only"),
    ])
    .await;
    post_to(&client, &only, &json!({ "query": TASKS })).await;
    for body in [
        json!({ "query": "{ __typename }" }),
        hash_only(adhoc, json!({})),
    ] {
        assert_refused(
            &post_to(&client, &only, &body).await,
            "PERSISTED_QUERY_NOT_TRUSTED",
        );
    }
    let metrics = only
        .wait_for_status("/metrics", 200, Duration::from_secs(10))
        .await;
    assert_eq!(
        sample(
            &metrics,
            "graphql_untrusted_documents_total",
            "mode=\"only\""
        ),
        2.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("outcome=\"PERSISTED_QUERY_NOT_TRUSTED\""),
        "{metrics}"
    );
}

// --- The manifest at start ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_manifest_loads_and_its_documents_run_by_hash() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../persisted-documents.json");
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the manifest"))
            .expect("a JSON object");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("TRUSTED_DOCUMENTS", path),
            ("TRUSTED_DOCUMENTS_MODE", "only"),
        ],
    )
    .await;
    let (hash, _) = manifest
        .iter()
        .find(|(_, text)| {
            text.as_str()
                .is_some_and(|t| t.contains("query ListTasks("))
        })
        .expect("ListTasks in the manifest");
    let body = json!({ "variables": { "first": 1 }, "extensions": extension(hash) });
    let (status, reply) = post(&app, &body, Some(GRAPHQL_RESPONSE_JSON)).await;
    assert_eq!(status, 200, "{reply:#}");
    assert_eq!(reply["data"]["tasks"]["totalCount"], 0, "{reply:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_manifest_stops_the_start() {
    let dir = TempDir::new("todo-bad-manifest");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let missing = dir.path().join("missing.json").display().to_string();
    let cases = [
        (missing.clone(), None, "TRUSTED_DOCUMENTS", "cannot read"),
        (
            write("list.json", "[]"),
            None,
            "TRUSTED_DOCUMENTS",
            "not a JSON object",
        ),
        (
            write("empty.json", "{}"),
            None,
            "TRUSTED_DOCUMENTS",
            "no documents",
        ),
        (
            write("key.json", r#"{"ListTasks": "{ __typename }"}"#),
            None,
            "TRUSTED_DOCUMENTS",
            "not a sha256 hash",
        ),
        (
            write(
                "hash.json",
                &json!({ sha256("{ a }"): "{ b }" }).to_string(),
            ),
            None,
            "TRUSTED_DOCUMENTS",
            "SHA-256 of its document",
        ),
        (
            write("syntax.json", &json!({ sha256("{ a"): "{ a" }).to_string()),
            None,
            "TRUSTED_DOCUMENTS",
            "cannot run here",
        ),
        (
            String::new(),
            Some("only"),
            "TRUSTED_DOCUMENTS_MODE",
            "need TRUSTED_DOCUMENTS",
        ),
    ];
    for (path, mode, var, reason) in cases {
        let mut vars = vec![("DATABASE_URL", "sqlite::memory:")];
        if !path.is_empty() {
            vars.push(("TRUSTED_DOCUMENTS", &path));
        }
        if let Some(mode) = mode {
            vars.push(("TRUSTED_DOCUMENTS_MODE", mode));
        }
        let mut api = ApiProcess::spawn(&vars);
        let status = api.wait_exit(Duration::from_secs(30)).await;
        let output = api.output();
        assert!(!status.success(), "{path}: started\n{output}");
        assert!(
            output.contains(&format!("{var}: ")) && output.contains(reason),
            "{path}: expected {var} and {reason:?} in\n{output}"
        );
    }
    // Mode off: the manifest is not even read.
    let api = start(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("TRUSTED_DOCUMENTS", &missing),
        ("TRUSTED_DOCUMENTS_MODE", "off"),
    ])
    .await;
    drop(api);
}
