//! Sign-in with real tokens over real HTTP and WebSocket: HS256, and RS256,
//! ES256 and EdDSA keys served as a JWK set (with rotation); every kind of
//! bad token refused with 401 (4403 on sockets) before anything runs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{Socket, connect, receive, send};
use crate::common::{Backend, TestApp};
use crate::tokens::{
    self, AUDIENCE, EC, ED, ISSUER, JwksServer, RSA_1, RSA_1_PUBLIC_PEM, RSA_2, claims, hs256,
};

pub const CREATE: &str =
    "mutation($d: String!) { createTask(input: {description: $d}) { task { id } } }";

/// A server that requires HS256 tokens of our issuer and audience.
pub async fn hs256_app(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("AUTH_JWT_SECRET", tokens::SECRET),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
    ];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(backend, &vars).await
}

/// POST /graphql with `Authorization: <authorization>` (none: no header).
pub async fn post_as(
    app: &TestApp,
    authorization: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("POST /graphql");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.expect("JSON");
    (status, headers, body)
}

/// `data` of an operation run as the holder of `token`.
pub async fn data_as(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let (status, _, body) = post_as(app, Some(&format!("Bearer {token}")), query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"].clone()
}

fn assert_refused(label: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
    assert_eq!(status, 401, "{label}: {body}");
    assert_eq!(
        headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(r#"Bearer error="invalid_token""#),
        "{label}"
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{label}: one error");
    assert_eq!(
        errors[0]["extensions"]["code"], "UNAUTHENTICATED",
        "{label}"
    );
    assert!(body.get("data").is_none(), "{label}: nothing ran");
}

/// Every bad credential the api must refuse, as `Authorization` values.
pub fn bad_credentials() -> Vec<(&'static str, Option<String>)> {
    let expired = json!({ "sub": "a", "iss": ISSUER, "aud": AUDIENCE, "exp": tokens::now() - 600 });
    let not_yet = json!({ "sub": "a", "iss": ISSUER, "aud": AUDIENCE, "nbf": tokens::now() + 600,
        "exp": tokens::now() + 3600 });
    let mut wrong_issuer = claims("a");
    wrong_issuer["iss"] = json!("https://other.test");
    let mut wrong_audience = claims("a");
    wrong_audience["aud"] = json!("another-api");
    let mut no_exp = claims("a");
    no_exp.as_object_mut().map(|o| o.remove("exp"));
    let mut no_sub = claims("a");
    no_sub.as_object_mut().map(|o| o.remove("sub"));
    let mut every_owner = claims("*");
    every_owner["sub"] = json!("*");
    let bearer = |t: String| Some(format!("Bearer {t}"));
    vec![
        ("missing header", None),
        ("empty bearer", Some("Bearer ".into())),
        (
            "other scheme",
            Some(format!("Basic {}", hs256(&claims("a")))),
        ),
        ("garbage", bearer("not.a.token".into())),
        ("random bytes", bearer("eyJ!!!.???.@@@".into())),
        ("expired", bearer(hs256(&expired))),
        ("not yet valid", bearer(hs256(&not_yet))),
        ("wrong issuer", bearer(hs256(&wrong_issuer))),
        ("wrong audience", bearer(hs256(&wrong_audience))),
        ("no exp", bearer(hs256(&no_exp))),
        ("no sub", bearer(hs256(&no_sub))),
        ("sub *", bearer(hs256(&every_owner))),
        (
            "bad signature",
            bearer(tokens::hs256_with(
                "another secret of more than thirty-two bytes",
                &claims("a"),
            )),
        ),
        ("alg none", bearer(tokens::unsigned(&claims("a")))),
        (
            "RS256 against an HS256 secret",
            bearer(RSA_1.sign(&claims("a"))),
        ),
    ]
}

async fn refuses_bad_tokens(backend: Backend) {
    let app = hs256_app(backend, &[]).await;
    for (label, authorization) in bad_credentials() {
        let (status, headers, body) = post_as(
            &app,
            authorization.as_deref(),
            CREATE,
            json!({ "d": label }),
        )
        .await;
        assert_refused(label, status, &headers, &body);
        // GET too.
        let mut get = app
            .client
            .get(app.url("/graphql"))
            .query(&[("query", "{ viewer { id } }")]);
        if let Some(value) = &authorization {
            get = get.header("authorization", value);
        }
        let response = get.send().await.expect("GET");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.expect("JSON");
        assert_refused(&format!("GET {label}"), status, &headers, &body);
    }
    // Nothing ran: the good token's owner, and anyone else, has no task.
    let token = hs256(&claims("a"));
    let data = data_as(
        &app,
        &token,
        "{ viewer { id } tasks { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(data["viewer"]["id"], "a");
    assert_eq!(data["tasks"]["totalCount"], 0);
    let db_tasks = sea_orm::ConnectionTrait::query_one_raw(
        &app.db,
        sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM tasks",
        ),
    )
    .await
    .expect("count")
    .expect("row");
    assert_eq!(db_tasks.try_get::<i64>("", "n").expect("n"), 0);
    // Health, readiness, metrics, the SDL and GraphiQL's page stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/schema.graphql", "/"] {
        let status = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("GET")
            .status();
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_tokens_are_refused() {
    refuses_bad_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bad_tokens_are_refused() {
    refuses_bad_tokens(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_mode_needs_no_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let data = app.data("{ viewer { id } }", json!({})).await;
    assert_eq!(data["viewer"]["id"], "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_by_kid_with_rotation_and_no_confusion() {
    let jwks = JwksServer::start(&[&RSA_1, &EC, &ED]).await;
    let url = jwks.url();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("AUTH_JWKS_URL", &url), ("AUTH_AUDIENCE", AUDIENCE)],
    )
    .await;
    assert_eq!(jwks.fetches(), 1, "fetched once at start");
    for key in [&RSA_1, &EC, &ED] {
        let token = key.sign(&claims(key.kid));
        let data = data_as(&app, &token, "{ viewer { id } }", json!({})).await;
        assert_eq!(data["viewer"]["id"], key.kid, "{:?}", key.algorithm);
    }
    let refused = |label: &'static str, token: String| (label, token);
    for (label, token) in [
        // An HS256 token "signed" with the RSA key's public PEM, naming its kid.
        refused(
            "HS256 with the RSA public key as secret",
            tokens::hs256_with_kid(RSA_1_PUBLIC_PEM, RSA_1.kid, &claims("mallory")),
        ),
        refused("alg none", tokens::unsigned(&claims("mallory"))),
        refused("no kid", tokens::hs256(&claims("mallory"))),
    ] {
        let (status, headers, body) = post_as(
            &app,
            Some(&format!("Bearer {token}")),
            "{ viewer { id } }",
            json!({}),
        )
        .await;
        assert_refused(label, status, &headers, &body);
    }
    // Rotation: a key the set did not have is fetched for, without restart.
    jwks.add(&RSA_2);
    let token = RSA_2.sign(&claims("rotated"));
    let data = data_as(&app, &token, "{ viewer { id } }", json!({})).await;
    assert_eq!(data["viewer"]["id"], "rotated");
    assert_eq!(jwks.fetches(), 2);
    // ... but at most once a minute: an unknown kid right after is refused
    // without another fetch.
    let stranger = tokens::Key {
        kid: "not-in-the-set",
        ..RSA_2
    };
    let (status, headers, body) = post_as(
        &app,
        Some(&format!("Bearer {}", stranger.sign(&claims("x")))),
        "{ viewer { id } }",
        json!({}),
    )
    .await;
    assert_refused("unknown kid", status, &headers, &body);
    assert_eq!(jwks.fetches(), 2, "no refetch within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_file_works_and_an_unreachable_jwks_url_stops_the_start() {
    let jwks = JwksServer::start(&[&EC]).await;
    let dir = crate::support::TempDir::new("todo-jwks");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.set_json()).expect("write jwks");
    let file = file.display().to_string();
    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTH_JWKS_FILE", &file)]).await;
    let data = data_as(
        &app,
        &EC.sign(&claims("from-file")),
        "{ viewer { id } }",
        json!({}),
    )
    .await;
    assert_eq!(data["viewer"]["id"], "from-file");

    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}/jwks");
    let api = crate::support::ApiProcess::spawn(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("AUTH_JWKS_URL", &url),
    ]);
    let mut api = api;
    let status = api.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(api.output().contains("AUTH_JWKS_URL"), "{}", api.output());
}

/// Connects and sends `connection_init` with `payload`.
async fn init(app: &TestApp, protocol: &'static str, payload: Value) -> Socket {
    let mut socket = connect(&app.ws_url(), protocol).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    socket
}

/// The close frame's code, once the server closes.
async fn closed_with(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code.into(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_take_the_token_in_connection_init() {
    let app = hs256_app(Backend::Sqlite, &[("AUTH_LEEWAY_SECS", "0")]).await;
    let token = hs256(&claims("ws-user"));
    for (protocol, payload) in [
        (
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {token}") }),
        ),
        (
            "graphql-transport-ws",
            json!({ "authorization": format!("Bearer {token}") }),
        ),
        ("graphql-transport-ws", json!({ "token": token })),
        (
            "graphql-ws",
            json!({ "authorization": format!("Bearer {token}") }),
        ),
    ] {
        let mut socket = init(&app, protocol, payload.clone()).await;
        assert_eq!(
            receive(&mut socket).await["type"],
            "connection_ack",
            "{payload}"
        );
        let (subscribe, id) = if protocol == "graphql-ws" {
            ("start", "1")
        } else {
            ("subscribe", "1")
        };
        send(
            &mut socket,
            json!({ "id": id, "type": subscribe, "payload": { "query": "{ viewer { id } }" } }),
        )
        .await;
        let message = receive(&mut socket).await;
        assert_eq!(
            message["payload"]["data"]["viewer"]["id"], "ws-user",
            "{message}"
        );
    }
    for (label, payload) in [
        ("no payload", Value::Null),
        ("no token", json!({})),
        ("garbage", json!({ "token": "garbage" })),
        (
            "expired",
            json!({ "token": hs256(&json!({ "sub": "x", "iss": ISSUER, "aud": AUDIENCE,
            "exp": tokens::now() - 60 })) }),
        ),
        (
            "bad signature",
            json!({ "token": tokens::hs256_with("another secret of more than thirty-two bytes", &claims("x")) }),
        ),
    ] {
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let mut socket = init(&app, protocol, payload.clone()).await;
            assert_eq!(
                closed_with(&mut socket).await,
                4403,
                "{label} over {protocol}"
            );
        }
    }
    // A socket is closed when its token expires, subscription and all.
    let short = hs256(&json!({ "sub": "brief", "iss": ISSUER, "aud": AUDIENCE,
        "exp": tokens::now() + 2 }));
    let mut socket = init(&app, "graphql-transport-ws", json!({ "token": short })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": "subscription { taskEvents { kind } }" } }),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(closed_with(&mut socket).await, 4403);
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = socket.close(None).await;
    let _ = socket.send(Message::text("{}")).await;
}
