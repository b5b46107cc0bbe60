//! The HTTP surface: GraphQL over HTTP rules, health, SDL and GraphiQL,
//! compressed answers.

use std::io::Read as _;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use serde_json::{Value, json};

use crate::common::TestApp;

crate::on_both_backends!(
    get_runs_queries_but_never_mutations,
    post_requires_json,
    malformed_requests_get_400,
    graphql_response_json_gets_status_codes,
    batches_are_bounded,
    health_sdl_and_graphiql,
    big_answers_are_compressed,
    small_answers_and_sockets_are_not,
);

async fn get_runs_queries_but_never_mutations(app: TestApp) {
    app.create_task(json!({ "description": "via GET" })).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ tasks { nodes { description } } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["tasks"]["nodes"][0]["description"], "via GET");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { deleteCompletedTasks { deletedTaskIds } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[ALLOW], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "METHOD_NOT_ALLOWED"
    );

    // The operation picked by name decides.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query Q { tasks { totalCount } } mutation M { deleteCompletedTasks { deletedTaskIds } }"),
            ("operationName", "M"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let tasks = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(tasks["tasks"]["totalCount"], 1);
}

async fn post_requires_json(app: TestApp) {
    let body =
        r#"{"query":"mutation { createTask(input: {description: \"csrf\"}) { task { id } } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = app.client.post(app.url("/graphql")).body(body);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let tasks = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(tasks["tasks"]["totalCount"], 0, "nothing was created");

    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn post_raw(app: &TestApp, body: &'static str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn malformed_requests_get_400(app: TestApp) {
    for body in [
        "{",
        "",
        "null",
        "42",
        r#"{"variables": {}}"#,
        r#"{"query": 42}"#,
        r#"{"query": "{ tasks { totalCount } }", "variables": "nope"}"#,
        "[]",
    ] {
        let (status, json) = post_raw(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{body}"
        );
    }
    // Well-formed HTTP, bad GraphQL: 200 with codes (application/json clients).
    let (status, json) = post_raw(&app, r#"{"query": "{ tasks { "}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    let (status, json) = post_raw(&app, r#"{"query": "{ tasks { nope } }"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let (_, json) = post_raw(&app, r#"{"query": "query($n: Int) { tasks(first: $n) { totalCount } }", "variables": {"n": "ten"}}"#).await;
    let code = json["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default();
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "wrong variable type: {json}"
    );
}

async fn graphql_response_json_gets_status_codes(app: TestApp) {
    let send = |query: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/graphql-response+json")
            .body(json!({ "query": query }).to_string())
            .send()
    };
    let response = send("{ tasks {").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/graphql-response+json"
    );
    let response = send("{ tasks { totalCount } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/graphql-response+json"
    );
    // A field error is still a 200: the request was executed.
    let response = send("{ task(id: \"bad\") { id } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["path"], json!(["task"]));
}

async fn batches_are_bounded(app: TestApp) {
    let batch = json!([
        { "query": "mutation { createTask(input: {description: \"one\"}) { task { description } } }" },
        { "query": "{ tasks { totalCount } }" }
    ]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["createTask"]["task"]["description"], "one");
    assert_eq!(body[1]["data"]["tasks"]["totalCount"], 1);

    let too_many: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ tasks { totalCount } }" }))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn health_sdl_and_graphiql(app: TestApp) {
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), api::graphql::sdl());

    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"), "GraphiQL page");
    assert!(page.contains("/graphql"));
}

/// The encodings the api offers, as `Accept-Encoding` names them.
const ENCODINGS: [&str; 3] = ["gzip", "br", "zstd"];

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map(drop),
        "br" => brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .map(drop),
        "zstd" => zstd::stream::copy_decode(bytes, &mut out),
        other => panic!("unexpected encoding {other}"),
    }
    .unwrap_or_else(|e| panic!("{encoding} body does not decode: {e}"));
    out
}

/// The raw answer to `request`: status, `Content-Encoding`, whether `Vary`
/// names `accept-encoding`, and the bytes as sent.
async fn raw(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, bool, Vec<u8>) {
    let response = request.send().await.unwrap();
    let encoding = response
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap().to_owned());
    let vary = response.headers().get_all(VARY).iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    });
    let status = response.status();
    (
        status,
        encoding,
        vary,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn big_answers_are_compressed(app: TestApp) {
    for i in 0..30 {
        app.create_task(json!({ "description": format!("a task worth compressing, number {i}") }))
            .await;
    }
    let query = "{ tasks(first: 30) { nodes { id description priority dueAt done createdAt } } }";
    let post = || {
        app.client
            .post(app.url("/graphql"))
            .json(&json!({ "query": query }))
    };
    let (status, encoding, vary, plain) = raw(post()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(encoding, None, "no Accept-Encoding, no compression");
    assert!(vary, "a compressible answer varies with Accept-Encoding");
    assert!(plain.len() > 1024, "the answer is {} bytes", plain.len());
    let expected: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        expected["data"]["tasks"]["nodes"].as_array().unwrap().len(),
        30
    );

    for encoding in ENCODINGS {
        let (status, got, vary, body) = raw(post().header(ACCEPT_ENCODING, encoding)).await;
        assert_eq!(status, StatusCode::OK, "{encoding}");
        assert_eq!(got.as_deref(), Some(encoding));
        assert!(vary, "{encoding}: Vary");
        assert!(
            body.len() < plain.len() / 2,
            "{encoding}: {} bytes",
            body.len()
        );
        let decoded: Value = serde_json::from_slice(&decode(encoding, &body)).unwrap();
        assert_eq!(decoded, expected, "{encoding}");
    }
    // The client's preference decides among several.
    let (_, got, _, body) =
        raw(post().header(ACCEPT_ENCODING, "gzip;q=0.5, zstd;q=1, br;q=0.1")).await;
    assert_eq!(got.as_deref(), Some("zstd"));
    assert_eq!(
        serde_json::from_slice::<Value>(&decode("zstd", &body)).unwrap(),
        expected
    );

    // Queries over GET, and the SDL, too.
    let get = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", query)]);
    let (_, got, _, body) = raw(get.header(ACCEPT_ENCODING, "br")).await;
    assert_eq!(got.as_deref(), Some("br"));
    assert_eq!(
        serde_json::from_slice::<Value>(&decode("br", &body)).unwrap(),
        expected
    );
    let sdl = app.client.get(app.url("/schema.graphql"));
    let (_, got, vary, body) = raw(sdl.header(ACCEPT_ENCODING, "gzip")).await;
    assert_eq!((got.as_deref(), vary), (Some("gzip"), true));
    assert_eq!(
        String::from_utf8(decode("gzip", &body)).unwrap(),
        api::graphql::sdl()
    );
}

async fn small_answers_and_sockets_are_not(app: TestApp) {
    let every = ENCODINGS.join(", ");
    let post = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ viewer { id } }" }))
        .header(ACCEPT_ENCODING, &every);
    let (status, encoding, vary, body) = raw(post).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(encoding, None, "a small answer goes as it is");
    assert!(!vary, "and is the same for every client");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["data"]["viewer"]["id"].is_string(), "{body}");

    let health = app
        .client
        .get(app.url("/healthz"))
        .header(ACCEPT_ENCODING, &every);
    let (_, encoding, _, body) = raw(health).await;
    assert_eq!((encoding, body.as_slice()), (None, b"ok".as_slice()));

    // A browser sends Accept-Encoding with its WebSocket handshake too; the
    // socket's frames stay text, however big.
    for i in 0..20 {
        let description = format!("{i}: {}", "a long description ".repeat(5));
        app.create_task(json!({ "description": description })).await;
    }
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = app.ws_url().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    headers.insert(
        "accept-encoding",
        HeaderValue::from_static("gzip, deflate, br, zstd"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    assert!(response.headers().get("content-encoding").is_none());
    crate::common::ws::send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(
        crate::common::ws::receive(&mut socket).await["type"],
        "connection_ack"
    );
    let query = "{ tasks(first: 50) { nodes { id description } } }";
    crate::common::ws::send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    let next = crate::common::ws::receive(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["tasks"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    assert!(next.to_string().len() > 1024);
}
