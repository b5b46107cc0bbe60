//! The bad-request corpus: a table of hostile and malformed requests, each
//! with the exact HTTP status and `extensions.code` it must get.
//!
//! Every case also holds to the rules that apply to all of them: never a 5xx,
//! every error carries a known `extensions.code` and never `INTERNAL`. The
//! HTTP corpus runs on SQLite and on PostgreSQL and ends by checking that the
//! data written before it is intact and that the server still answers; the
//! WebSocket corpus and the cases that need their own configuration run on
//! SQLite (they do not touch the database).
//!
//! Failures are collected and reported together, each under its case's name.

mod config_cases;
mod domain_cases;
mod graphql_cases;
mod http_cases;
mod persisted_cases;
mod search_cases;
mod ws_cases;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Backend, TestApp};

/// Every `extensions.code` the service may answer a bad request with.
pub const KNOWN_CODES: &[&str] = &[
    "BAD_REQUEST",
    "UNSUPPORTED_MEDIA_TYPE",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_USER_INPUT",
    "LIMIT_EXCEEDED",
    "NOT_FOUND",
    "CONFLICT",
    "UNAUTHENTICATED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "PERSISTED_QUERY_NOT_TRUSTED",
    "RATE_LIMITED",
];

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// A well-formed id of a task that does not exist.
pub const MISSING_TASK: &str = "VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA";
/// A well-formed id of a category that does not exist.
pub const MISSING_CATEGORY: &str = "Q2F0ZWdvcnk6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    ContentType,
    Body,
    Method,
    Payload,
    Batch,
    Syntax,
    Validation,
    Variables,
    Accept,
    Limits,
    Domain,
    Introspection,
    /// Missing, malformed, expired, forged and misdirected bearer tokens.
    SignIn,
    /// Malformed and mismatched `extensions.persistedQuery`, unknown hashes.
    Persisted,
    /// Requests of a client over its rate limit, whatever else is wrong.
    RateLimit,
    /// Not a bad request: the just-under-the-limit and other requests that
    /// must keep working.
    Pass,
}

#[derive(Debug, Clone)]
pub enum Req {
    Post {
        content_type: Option<String>,
        accept: Option<String>,
        body: Vec<u8>,
        /// Sent with `Transfer-Encoding: chunked`, so no `Content-Length`.
        chunked: bool,
    },
    Get {
        params: Vec<(String, String)>,
        accept: Option<String>,
    },
    /// Another method on `/graphql`.
    Method(reqwest::Method),
    /// A GET of another path.
    Path(&'static str),
    /// A query with this `Authorization` (none: no header), as POST or GET.
    Bearer {
        authorization: Option<String>,
        query: &'static str,
        get: bool,
    },
}

impl Req {
    pub fn accept(mut self, value: &str) -> Self {
        match &mut self {
            Req::Post { accept, .. } | Req::Get { accept, .. } => *accept = Some(value.to_owned()),
            Req::Method(_) | Req::Path(_) | Req::Bearer { .. } => {}
        }
        self
    }

    pub fn chunked(mut self) -> Self {
        if let Req::Post { chunked, .. } = &mut self {
            *chunked = true;
        }
        self
    }
}

/// A POST of `body` as `application/json`.
pub fn raw(body: impl Into<Vec<u8>>) -> Req {
    with_type(Some("application/json"), body)
}

/// A POST of `body` with the given `Content-Type` (none if `None`).
pub fn with_type(content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Req {
    Req::Post {
        content_type: content_type.map(str::to_owned),
        accept: None,
        body: body.into(),
        chunked: false,
    }
}

/// A POST of a JSON value.
pub fn json_body(value: &Value) -> Req {
    raw(value.to_string())
}

/// A POST of a GraphQL query without variables.
pub fn q(query: &str) -> Req {
    json_body(&json!({ "query": query }))
}

/// A POST of a GraphQL query with variables.
pub fn qv(query: &str, variables: Value) -> Req {
    json_body(&json!({ "query": query, "variables": variables }))
}

pub fn get(params: &[(&str, &str)]) -> Req {
    Req::Get {
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        accept: None,
    }
}

#[derive(Debug, Clone)]
pub enum Expect {
    /// Refused by the transport: this status, `errors[0].extensions.code`,
    /// no `data`.
    Http { status: u16, code: &'static str },
    /// Refused by the transport for a limit: 400/413 with `extensions.limit`.
    HttpLimit {
        status: u16,
        code: &'static str,
        limit: &'static str,
    },
    /// 405 `METHOD_NOT_ALLOWED` with `Allow: POST`.
    MethodNotAllowed,
    /// Only this status (bodies of other methods are not ours).
    Status(u16),
    /// A GraphQL request error: nothing executed, no `data` key.
    Request {
        status: u16,
        code: &'static str,
        limit: Option<&'static str>,
    },
    /// Executed with a field error: status 200, `data` present.
    Field {
        code: &'static str,
        field: Option<&'static str>,
    },
    /// Executed without errors.
    Ok,
    /// A 200 batch response: one expectation per operation.
    Batch(Vec<Expect>),
    /// As the inner expectation, and the body never mentions this text.
    Without(Box<Expect>, &'static str),
}

pub fn http(status: u16, code: &'static str) -> Expect {
    Expect::Http { status, code }
}

/// A request error for `application/json` clients (status 200).
pub fn request(code: &'static str) -> Expect {
    Expect::Request {
        status: 200,
        code,
        limit: None,
    }
}

/// `LIMIT_EXCEEDED` for `limit`, as a request error (status 200).
pub fn limit(name: &'static str) -> Expect {
    Expect::Request {
        status: 200,
        code: "LIMIT_EXCEEDED",
        limit: Some(name),
    }
}

pub fn field(code: &'static str, field: &'static str) -> Expect {
    Expect::Field {
        code,
        field: Some(field),
    }
}

pub struct Case {
    pub name: String,
    pub category: Category,
    pub req: Req,
    pub expect: Expect,
}

pub fn case(name: impl Into<String>, category: Category, req: Req, expect: Expect) -> Case {
    Case {
        name: name.into(),
        category,
        req,
        expect,
    }
}

pub struct Reply {
    pub status: u16,
    pub allow: Option<String>,
    pub body: Vec<u8>,
}

/// Sends one request; transport failures are reported, not panicked on.
pub async fn send(app: &TestApp, req: &Req) -> Result<Reply, String> {
    let builder = match req {
        // Large bodies go over a plain socket: the server may answer 413 and
        // close before the body is sent, and the answer must still be read.
        Req::Post {
            content_type,
            accept,
            body,
            chunked,
        } if *chunked || body.len() > RAW_ABOVE => {
            return send_raw(
                app,
                content_type.as_deref(),
                accept.as_deref(),
                body,
                *chunked,
            )
            .await;
        }
        Req::Post {
            content_type,
            accept,
            body,
            ..
        } => {
            let mut builder = app.client.post(app.url("/graphql")).body(body.clone());
            if let Some(ct) = content_type {
                builder = builder.header(CONTENT_TYPE, ct.as_str());
            }
            if let Some(a) = accept {
                builder = builder.header(ACCEPT, a.as_str());
            }
            builder
        }
        Req::Get { params, accept } => {
            let mut builder = app.client.get(app.url("/graphql")).query(params);
            if let Some(a) = accept {
                builder = builder.header(ACCEPT, a.as_str());
            }
            builder
        }
        Req::Method(method) => app
            .client
            .request(method.clone(), app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"query":"{ __typename }"}"#),
        Req::Path(path) => app.client.get(app.url(path)),
        Req::Bearer {
            authorization,
            query,
            get,
        } => {
            let mut builder = if *get {
                app.client
                    .get(app.url("/graphql"))
                    .query(&[("query", query)])
            } else {
                app.client
                    .post(app.url("/graphql"))
                    .json(&serde_json::json!({ "query": query }))
            };
            if let Some(value) = authorization {
                builder = builder.header(reqwest::header::AUTHORIZATION, value.as_str());
            }
            builder
        }
    };
    let response = tokio::time::timeout(Duration::from_secs(60), builder.send())
        .await
        .map_err(|_| "no response within 60 s".to_owned())?
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get(ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
        .to_vec();
    Ok(Reply {
        status,
        allow,
        body,
    })
}

/// Bodies larger than this are sent by `send_raw`.
const RAW_ABOVE: usize = 64 * 1024;

/// A POST over a plain socket that reads the answer even when the server
/// stops reading the body early; `chunked` leaves out `Content-Length`.
async fn send_raw(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Result<Reply, String> {
    let mut head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        app.addr
    );
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(a) = accept {
        head.push_str(&format!("Accept: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    if chunked {
        for chunk in body.chunks(16 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(body);
    }

    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.split();
    let read = async {
        let mut response = Vec::new();
        // A reset after the response was sent still leaves what was read.
        let _ = reader.read_to_end(&mut response).await;
        response
    };
    let write = async {
        // The server may answer (and stop reading) before the body is sent.
        let _ = writer.write_all(&request).await;
    };
    let (response, ()) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(read, write) })
            .await
            .map_err(|_| "no response within 60 s".to_owned())?;
    parse_http_response(&response)
}

fn parse_http_response(response: &[u8]) -> Result<Reply, String> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {:?}", String::from_utf8_lossy(response)))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = response[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Ok(Reply {
        status,
        allow: header("allow"),
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}

/// What every response must hold to, whatever the case: no 5xx, and every
/// error has a known code that is not `INTERNAL`.
pub fn check_universal(status: u16, body: &Value) -> Result<(), String> {
    if status >= 500 {
        return Err(format!("server error {status}"));
    }
    let responses: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for response in responses {
        let Some(errors) = response.get("errors") else {
            continue;
        };
        let errors = errors
            .as_array()
            .ok_or_else(|| "`errors` is not a list".to_owned())?;
        if errors.is_empty() {
            return Err("`errors` is empty".into());
        }
        for error in errors {
            if !error["message"].is_string() {
                return Err(format!("an error without a message: {error}"));
            }
            let code = error["extensions"]["code"]
                .as_str()
                .ok_or_else(|| format!("an error without extensions.code: {error}"))?;
            if !KNOWN_CODES.contains(&code) {
                return Err(format!("unknown or internal code {code}: {error}"));
            }
        }
    }
    Ok(())
}

fn first_error(body: &Value) -> (&str, Option<&str>, Option<&str>) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"].as_str().unwrap_or("<none>"),
        error["extensions"]["limit"].as_str(),
        error["extensions"]["field"].as_str(),
    )
}

fn check_one(
    expect: &Expect,
    status: Option<u16>,
    allow: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let status_is = |want: u16| match status {
        Some(got) if got != want => Err(format!("status {got}, expected {want}")),
        _ => Ok(()),
    };
    let (code, _, got_field) = first_error(body);
    match expect {
        Expect::Status(want) => status_is(*want),
        Expect::MethodNotAllowed => {
            status_is(405)?;
            if allow != Some("POST") {
                return Err(format!("Allow: {allow:?}, expected POST"));
            }
            check_errors_only(body, "METHOD_NOT_ALLOWED", None)
        }
        Expect::Http { status: want, code } => {
            status_is(*want)?;
            check_errors_only(body, code, None)
        }
        Expect::HttpLimit {
            status: want,
            code,
            limit,
        } => {
            status_is(*want)?;
            check_errors_only(body, code, Some(limit))
        }
        Expect::Request {
            status: want,
            code,
            limit,
        } => {
            status_is(*want)?;
            check_errors_only(body, code, *limit)
        }
        Expect::Field {
            code: want,
            field: want_field,
        } => {
            status_is(200)?;
            if body.get("data").is_none() {
                return Err("no `data`: the request was not executed".into());
            }
            if code != *want || got_field != *want_field {
                return Err(format!(
                    "code {code} field {got_field:?}, expected {want} field {want_field:?}"
                ));
            }
            Ok(())
        }
        Expect::Ok => {
            status_is(200)?;
            if body.get("errors").is_some() || !body["data"].is_object() {
                return Err("expected data without errors".into());
            }
            Ok(())
        }
        Expect::Batch(expects) => {
            status_is(200)?;
            let items = body
                .as_array()
                .ok_or_else(|| "expected a batch (a JSON array)".to_owned())?;
            if items.len() != expects.len() {
                return Err(format!(
                    "{} results, expected {}",
                    items.len(),
                    expects.len()
                ));
            }
            for (i, (expect, item)) in expects.iter().zip(items).enumerate() {
                check_one(expect, None, None, item).map_err(|e| format!("operation {i}: {e}"))?;
            }
            Ok(())
        }
        Expect::Without(inner, text) => {
            check_one(inner, status, allow, body)?;
            if body.to_string().contains(text) {
                return Err(format!("the response mentions {text:?}"));
            }
            Ok(())
        }
    }
}

fn check_errors_only(body: &Value, want: &str, want_limit: Option<&str>) -> Result<(), String> {
    let (code, limit, _) = first_error(body);
    if code != want || limit != want_limit {
        return Err(format!(
            "code {code} limit {limit:?}, expected {want} limit {want_limit:?}"
        ));
    }
    if body.get("data").is_some() {
        return Err("a `data` entry although nothing was executed".into());
    }
    Ok(())
}

/// Runs one case; the error names what differed and what came back.
pub async fn run_case(app: &TestApp, case: &Case) -> Result<(), String> {
    let reply = send(app, &case.req).await?;
    let text = String::from_utf8_lossy(&reply.body);
    let shown: String = text.chars().take(400).collect();
    let describe = |e: String| format!("{e}\n      got {} {shown}", reply.status);
    let body: Value = match &case.expect {
        Expect::Status(_) if reply.status < 500 => Value::Null,
        _ => serde_json::from_slice(&reply.body)
            .map_err(|e| describe(format!("the body is not JSON ({e})")))?,
    };
    check_universal(reply.status, &body).map_err(describe)?;
    check_one(
        &case.expect,
        Some(reply.status),
        reply.allow.as_deref(),
        &body,
    )
    .map_err(describe)
}

/// Runs every case; returns a line naming each case that failed.
pub async fn run_cases(app: &TestApp, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = run_case(app, case).await {
            failures.push(format!("  [{:?}] {}: {e}", case.category, case.name));
        }
    }
    failures
}

/// Fails once, naming everything that failed.
pub fn assert_no_failures(label: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{label}: {} failures in {total} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Names must be unique so that a failure names one case.
fn assert_unique_names(cases: &[Case]) {
    let mut seen = BTreeMap::new();
    for case in cases {
        *seen.entry(case.name.as_str()).or_insert(0) += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicate case names: {dups:?}");
}

/// Data the corpus must leave exactly as it was.
pub struct Fixture {
    /// `a` ← `b` ← `c`: `b` is a sub-task of `a`, `c` of `b`.
    pub a: String,
    pub b: String,
    pub c: String,
    /// Due 2026-12-01, no start.
    pub dated: String,
    /// At version 2.
    pub versioned: String,
    pub work: String,
    pub home: String,
    /// An `after` cursor of the tasks list ordered by description.
    pub description_cursor: String,
}

impl Fixture {
    pub async fn create(app: &TestApp) -> Self {
        let work = app.create_category("Work").await;
        let home = app.create_category("Home").await;
        let a = app
            .create_task(json!({ "description": "Move house", "categoryIds": [work["id"]] }))
            .await;
        let b = app
            .create_task(json!({ "description": "Pack books", "parentId": a["id"] }))
            .await;
        let c = app
            .create_task(
                json!({ "description": "Buy boxes", "parentId": b["id"], "priority": "HIGH" }),
            )
            .await;
        let dated = app
            .create_task(json!({ "description": "File taxes", "dueAt": "2026-12-01T00:00:00Z" }))
            .await;
        let versioned = app.create_task(json!({ "description": "Call mom" })).await;
        let done = app.set_done(&versioned["id"], true).await;
        assert_eq!(done["version"], 2);
        let page = app
            .data(
                "{ tasks(first: 1, orderBy: [{field: DESCRIPTION}]) { pageInfo { endCursor } } }",
                json!({}),
            )
            .await;
        let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
        Self {
            a: id(&a),
            b: id(&b),
            c: id(&c),
            dated: id(&dated),
            versioned: id(&versioned),
            work: id(&work),
            home: id(&home),
            description_cursor: page["tasks"]["pageInfo"]["endCursor"]
                .as_str()
                .expect("cursor")
                .to_owned(),
        }
    }
}

/// Everything stored, in a stable order.
pub async fn snapshot(app: &TestApp) -> Value {
    app.data(
        "{ tasks(first: 100, orderBy: [{field: DESCRIPTION}]) { totalCount nodes {
             id description priority startAt dueAt done completedAt createdAt updatedAt version
             parent { id } categories { id name } } }
           categories(first: 100, orderBy: [{field: NAME}]) { totalCount nodes { id name createdAt } } }",
        json!({}),
    )
    .await
}

/// The server still answers: health, readiness and a query.
pub async fn still_serving(app: &TestApp) -> Result<(), String> {
    still_serving_as(app, None).await
}

/// As [`still_serving`], its query sent with this `Authorization`.
pub async fn still_serving_as(app: &TestApp, authorization: Option<&str>) -> Result<(), String> {
    still_serving_with(app, &app.client, authorization).await
}

/// As [`still_serving_as`], with this client (another source address).
pub async fn still_serving_with(
    app: &TestApp,
    client: &reqwest::Client,
    authorization: Option<&str>,
) -> Result<(), String> {
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(app.url(path))
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        if response.status() != 200 {
            return Err(format!("{path}: {}", response.status()));
        }
    }
    let mut query = client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }" }));
    if let Some(value) = authorization {
        query = query.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = query.send().await.map_err(|e| format!("query: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("query: {e}"))?;
    if status != 200 || body["data"]["__typename"] != "Query" {
        return Err(format!("query: {status} {body}"));
    }
    Ok(())
}

/// Appends a failure if the server no longer answers.
pub async fn check_still_serving(app: &TestApp, failures: &mut Vec<String>) {
    if let Err(e) = still_serving(app).await {
        failures.push(format!("  the server stopped answering: {e}"));
    }
}

/// The corpus that runs against a default server with the fixture in place.
fn main_corpus(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(http_cases::cases());
    cases.extend(graphql_cases::cases(f));
    cases.extend(domain_cases::cases(f));
    cases.extend(persisted_cases::cases());
    cases.extend(search_cases::cases());
    cases
}

async fn http_corpus(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = Fixture::create(&app).await;
    let before = snapshot(&app).await;
    let cases = main_corpus(&fixture);
    assert_unique_names(&cases);
    let mut failures = run_cases(&app, &cases).await;
    // Nothing the bad requests did may have changed a thing.
    let after = snapshot(&app).await;
    if after != before {
        failures.push(format!(
            "  data changed by the corpus:\n    before: {before}\n    after:  {after}"
        ));
    }
    check_still_serving(&app, &mut failures).await;
    app.shutdown().await;
    assert_no_failures(&format!("{backend:?} HTTP corpus"), cases.len(), &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_corpus_sqlite() {
    http_corpus(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_corpus_postgres() {
    http_corpus(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_follow_configuration() {
    config_cases::run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_corpus() {
    ws_cases::run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_init_timeout() {
    ws_cases::run_init_timeout().await;
}

/// The corpus is as large as the issue asks, in every category it names.
#[test]
fn corpus_is_large_enough() {
    let fixture = Fixture {
        a: MISSING_TASK.into(),
        b: MISSING_TASK.into(),
        c: MISSING_TASK.into(),
        dated: MISSING_TASK.into(),
        versioned: MISSING_TASK.into(),
        work: MISSING_CATEGORY.into(),
        home: MISSING_CATEGORY.into(),
        description_cursor: String::new(),
    };
    let mut cases = main_corpus(&fixture);
    cases.extend(config_cases::all_cases());
    assert_unique_names(&cases);
    let mut per_category: BTreeMap<Category, usize> = BTreeMap::new();
    for case in &cases {
        *per_category.entry(case.category).or_default() += 1;
    }
    let bad: usize = per_category
        .iter()
        .filter(|(c, _)| **c != Category::Pass)
        .map(|(_, n)| n)
        .sum::<usize>()
        + ws_cases::bad_case_count();
    assert!(bad >= 100, "only {bad} bad requests: {per_category:?}");
    for category in [
        Category::ContentType,
        Category::Body,
        Category::Method,
        Category::Payload,
        Category::Batch,
        Category::Syntax,
        Category::Validation,
        Category::Variables,
        Category::Accept,
        Category::Limits,
        Category::Domain,
        Category::Introspection,
        Category::SignIn,
        Category::Persisted,
        Category::RateLimit,
        Category::Pass,
    ] {
        assert!(
            per_category.get(&category).copied().unwrap_or(0) >= 3,
            "too few {category:?} cases: {per_category:?}"
        );
    }
}
