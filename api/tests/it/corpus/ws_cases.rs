//! Bad WebSocket traffic on `graphql-transport-ws`: malformed frames,
//! unknown messages and protocol-order violations each close the socket
//! with their code; operation errors are `error` messages after which the
//! socket stays usable.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{assert_no_failures, check_still_serving, still_serving};
use crate::common::{Backend, TestApp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PROTOCOL: &str = "graphql-transport-ws";
const EVENTS: &str = "subscription { taskEvents { kind taskId } }";
/// WS_MAX_SUBSCRIPTIONS of the corpus server.
const MAX_SUBSCRIPTIONS: usize = 2;
/// How long any one message may take before the case fails (a hang guard,
/// not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
enum Step {
    /// `connection_init`, answered by `connection_ack`.
    Init,
    Send(Value),
    Text(&'static str),
    Binary(&'static [u8]),
    /// The server closes the socket with this code.
    Close(u16),
    /// An `error` message for this id whose first error has this code.
    Error {
        id: &'static str,
        code: &'static str,
        limit: Option<&'static str>,
    },
    /// A ping is answered: the socket is still usable (and no operation
    /// failed in between).
    Usable,
}

fn subscribe(id: &str, query: &str) -> Step {
    Step::Send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
}

fn error(id: &'static str, code: &'static str) -> Step {
    Step::Error {
        id,
        code,
        limit: None,
    }
}

struct WsCase {
    name: &'static str,
    /// False for the cases that show what keeps working.
    bad: bool,
    steps: Vec<Step>,
}

fn bad(name: &'static str, steps: Vec<Step>) -> WsCase {
    WsCase {
        name,
        bad: true,
        steps,
    }
}

fn cases() -> Vec<WsCase> {
    use Step::{Binary, Close, Init, Send, Text, Usable};
    let init = json!({ "type": "connection_init" });
    let deep = format!(
        "subscription {{ taskEvents {{ task {{ {}id{} }} }} }}",
        "parent { ".repeat(10),
        " }".repeat(10)
    );
    let mut cases = vec![
        bad(
            "invalid JSON after ack",
            vec![Init, Text("{not json"), Close(4400)],
        ),
        bad("invalid JSON before init", vec![Text("nope"), Close(4400)]),
        bad("empty text frame", vec![Init, Text(""), Close(4400)]),
        bad("a JSON list", vec![Init, Text("[]"), Close(4400)]),
        bad("a JSON number", vec![Init, Text("42"), Close(4400)]),
        bad("JSON null", vec![Init, Text("null"), Close(4400)]),
        bad(
            "unknown message type",
            vec![Init, Send(json!({ "type": "bogus" })), Close(4400)],
        ),
        bad(
            "unknown message type before init",
            vec![Send(json!({ "type": "bogus" })), Close(4400)],
        ),
        bad(
            "type not a string",
            vec![Init, Send(json!({ "type": 1 })), Close(4400)],
        ),
        bad(
            "no type",
            vec![Init, Send(json!({ "id": "1" })), Close(4400)],
        ),
        bad(
            "server's next sent by the client",
            vec![
                Init,
                Send(json!({ "type": "next", "id": "1", "payload": {} })),
                Close(4400),
            ],
        ),
        bad(
            "server's connection_ack sent by the client",
            vec![Init, Send(json!({ "type": "connection_ack" })), Close(4400)],
        ),
        bad(
            "legacy start on graphql-transport-ws",
            vec![
                Init,
                Send(json!({ "type": "start", "id": "1", "payload": { "query": EVENTS } })),
                Close(4400),
            ],
        ),
        bad(
            "subscribe without id",
            vec![
                Init,
                Send(json!({ "type": "subscribe", "payload": { "query": EVENTS } })),
                Close(4400),
            ],
        ),
        bad(
            "subscribe with a numeric id",
            vec![
                Init,
                Send(json!({ "type": "subscribe", "id": 1, "payload": { "query": EVENTS } })),
                Close(4400),
            ],
        ),
        bad(
            "subscribe without payload",
            vec![
                Init,
                Send(json!({ "type": "subscribe", "id": "1" })),
                Close(4400),
            ],
        ),
        bad(
            "subscribe with a non-string query",
            vec![
                Init,
                Send(json!({ "type": "subscribe", "id": "1", "payload": { "query": 42 } })),
                Close(4400),
            ],
        ),
        bad(
            "binary frame after ack",
            vec![Init, Binary(br#"{"type":"ping"}"#), Close(4400)],
        ),
        bad(
            "binary frame before init",
            vec![Binary(br#"{"type":"connection_init"}"#), Close(4400)],
        ),
        bad(
            "subscribe before connection_ack",
            vec![subscribe("1", EVENTS), Close(4401)],
        ),
        bad(
            "subscribe with a bad query before connection_ack",
            vec![subscribe("1", "subscription {"), Close(4401)],
        ),
        bad(
            "second connection_init",
            vec![Init, Send(init.clone()), Close(4429)],
        ),
        bad(
            "connection_init after subscribing",
            vec![Init, subscribe("a", EVENTS), Send(init), Close(4429)],
        ),
        bad(
            "duplicate subscription id",
            vec![
                Init,
                subscribe("a", EVENTS),
                subscribe("a", EVENTS),
                Close(4409),
            ],
        ),
        bad(
            "duplicate id among several",
            vec![
                Init,
                subscribe("a", EVENTS),
                subscribe("b", EVENTS),
                subscribe("b", EVENTS),
                Close(4409),
            ],
        ),
        bad(
            "subscribe with a syntax error",
            vec![
                Init,
                subscribe("p", "subscription {"),
                error("p", "GRAPHQL_PARSE_FAILED"),
                Usable,
            ],
        ),
        bad(
            "subscribe with an unknown field",
            vec![
                Init,
                subscribe("v", "subscription { taskEvents { nope } }"),
                error("v", "GRAPHQL_VALIDATION_FAILED"),
                Usable,
            ],
        ),
        bad(
            "subscribe with a depth bomb",
            vec![
                Init,
                subscribe("d", &deep),
                Step::Error {
                    id: "d",
                    code: "LIMIT_EXCEEDED",
                    limit: Some("depth"),
                },
                Usable,
            ],
        ),
        bad(
            "subscribe with a variable of the wrong type",
            vec![
                Init,
                Send(json!({ "id": "w", "type": "subscribe", "payload": {
                    "query": "subscription($k: [TaskEventKind!]) { taskEvents(filter: {kinds: $k}) { kind } }",
                    "variables": { "k": ["NOPE"] } } })),
                error("w", "BAD_USER_INPUT"),
                Usable,
            ],
        ),
        bad(
            "more subscriptions than WS_MAX_SUBSCRIPTIONS",
            vec![
                Init,
                subscribe("s1", EVENTS),
                subscribe("s2", EVENTS),
                subscribe("s3", EVENTS),
                Step::Error {
                    id: "s3",
                    code: "LIMIT_EXCEEDED",
                    limit: Some("subscriptions"),
                },
                Usable,
                // A completed one frees its place.
                Send(json!({ "id": "s1", "type": "complete" })),
                subscribe("s4", EVENTS),
                Usable,
            ],
        ),
    ];
    cases.push(WsCase {
        name: "complete of an unknown id is harmless",
        bad: false,
        steps: vec![
            Init,
            Send(json!({ "id": "nope", "type": "complete" })),
            Usable,
        ],
    });
    cases.push(WsCase {
        name: "an id may be reused once completed",
        bad: false,
        steps: vec![
            Init,
            subscribe("a", EVENTS),
            Send(json!({ "id": "a", "type": "complete" })),
            subscribe("a", EVENTS),
            Usable,
        ],
    });
    cases
}

/// The bad cases here and in `run_init_timeout`.
pub fn bad_case_count() -> usize {
    cases().iter().filter(|c| c.bad).count() + 1
}

async fn connect(app: &TestApp) -> Result<Socket, String> {
    let mut request = app
        .ws_url()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    if protocol != Some(PROTOCOL) {
        return Err(format!("subprotocol {protocol:?}"));
    }
    Ok(socket)
}

enum Incoming {
    Json(Value),
    Closed(Option<u16>),
}

/// The next message that matters: keep-alives and server pings skipped.
async fn next(socket: &mut Socket) -> Result<Incoming, String> {
    loop {
        let message = match tokio::time::timeout(PATIENCE, socket.next()).await {
            Err(_) => return Err(format!("nothing within {PATIENCE:?}")),
            Ok(None) => return Ok(Incoming::Closed(None)),
            Ok(Some(Err(e))) => return Err(format!("socket error: {e}")),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("server sent non-JSON {text:?}: {e}"))?;
                if value["type"] != "ka" && value["type"] != "ping" {
                    return Ok(Incoming::Json(value));
                }
            }
            Message::Close(frame) => return Ok(Incoming::Closed(frame.map(|f| f.code.into()))),
            Message::Binary(_) => return Err("server sent a binary frame".into()),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

async fn send_json(socket: &mut Socket, value: &Value) -> Result<(), String> {
    socket
        .send(Message::text(value.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))
}

async fn step(socket: &mut Socket, step: &Step) -> Result<(), String> {
    match step {
        Step::Init => {
            send_json(socket, &json!({ "type": "connection_init" })).await?;
            match next(socket).await? {
                Incoming::Json(v) if v["type"] == "connection_ack" => Ok(()),
                Incoming::Json(v) => Err(format!("expected connection_ack, got {v}")),
                Incoming::Closed(code) => Err(format!("closed with {code:?} instead of ack")),
            }
        }
        Step::Send(value) => send_json(socket, value).await,
        Step::Text(text) => socket
            .send(Message::text(*text))
            .await
            .map_err(|e| format!("send: {e}")),
        Step::Binary(bytes) => socket
            .send(Message::binary(bytes.to_vec()))
            .await
            .map_err(|e| format!("send: {e}")),
        Step::Close(want) => {
            // A ping after the offence: a server that let it pass answers
            // with a pong instead of closing (and the case fails at once).
            let _ = send_json(socket, &json!({ "type": "ping" })).await;
            loop {
                match next(socket).await? {
                    Incoming::Closed(Some(code)) if code == *want => return Ok(()),
                    Incoming::Closed(code) => {
                        return Err(format!("closed with {code:?}, expected {want}"));
                    }
                    Incoming::Json(v) if v["type"] == "pong" => {
                        return Err(format!(
                            "still open (answered a ping), expected close {want}"
                        ));
                    }
                    Incoming::Json(v) if v["type"] == "error" => {
                        return Err(format!("an error message instead of close {want}: {v}"));
                    }
                    Incoming::Json(_) => {}
                }
            }
        }
        Step::Error { id, code, limit } => loop {
            match next(socket).await? {
                Incoming::Json(v) if v["type"] == "error" && v["id"] == *id => {
                    let first = &v["payload"][0];
                    if !first["message"].is_string() {
                        return Err(format!("error without message: {v}"));
                    }
                    let got = first["extensions"]["code"].as_str();
                    let got_limit = first["extensions"]["limit"].as_str();
                    if got != Some(code) || got_limit != *limit {
                        return Err(format!(
                            "error code {got:?} limit {got_limit:?}, expected {code} {limit:?}: {v}"
                        ));
                    }
                    for e in v["payload"].as_array().into_iter().flatten() {
                        let c = e["extensions"]["code"].as_str().unwrap_or("<none>");
                        if !super::KNOWN_CODES.contains(&c) {
                            return Err(format!("unknown or internal code {c}: {v}"));
                        }
                    }
                    return Ok(());
                }
                Incoming::Json(v) if v["id"] == *id => {
                    return Err(format!("expected an error for {id}, got {v}"));
                }
                Incoming::Json(_) => {}
                Incoming::Closed(code) => {
                    return Err(format!("closed with {code:?}, expected an error for {id}"));
                }
            }
        },
        Step::Usable => {
            send_json(socket, &json!({ "type": "ping" })).await?;
            loop {
                match next(socket).await? {
                    Incoming::Json(v) if v["type"] == "pong" => return Ok(()),
                    Incoming::Json(v) if v["type"] == "error" => {
                        return Err(format!("an unexpected error message: {v}"));
                    }
                    Incoming::Json(_) => {}
                    Incoming::Closed(code) => return Err(format!("closed with {code:?}")),
                }
            }
        }
    }
}

async fn run_case(app: &TestApp, case: &WsCase) -> Result<(), String> {
    let mut socket = connect(app).await?;
    for (i, s) in case.steps.iter().enumerate() {
        step(&mut socket, s)
            .await
            .map_err(|e| format!("step {i} {s:?}: {e}"))?;
    }
    let _ = socket.close(None).await;
    Ok(())
}

pub async fn run() {
    let max = MAX_SUBSCRIPTIONS.to_string();
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_MAX_SUBSCRIPTIONS", &max)]).await;
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        if let Err(e) = run_case(&app, case).await {
            failures.push(format!("  [WebSocket] {}: {e}", case.name));
        }
    }
    check_still_serving(&app, &mut failures).await;
    app.shutdown().await;
    assert_no_failures("WebSocket corpus", cases.len(), &failures);
}

/// No `connection_init` within WS_INIT_TIMEOUT_SECS: closed with 4408.
pub async fn run_init_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_INIT_TIMEOUT_SECS", "1")]).await;
    let mut socket = connect(&app).await.expect("connect");
    let result = match next(&mut socket).await {
        Ok(Incoming::Closed(Some(4408))) => Ok(()),
        Ok(Incoming::Closed(code)) => Err(format!("closed with {code:?}")),
        Ok(Incoming::Json(v)) => Err(format!("got {v}")),
        Err(e) => Err(e),
    };
    let serving = still_serving(&app).await;
    app.shutdown().await;
    serving.expect("the server still answers");
    if let Err(e) = result {
        panic!(
            "[WebSocket] no connection_init within WS_INIT_TIMEOUT_SECS: {e}, expected close 4408"
        );
    }
}
