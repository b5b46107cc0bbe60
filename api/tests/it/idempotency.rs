//! `Idempotency-Key` on POST /graphql, over real HTTP on both backends: a
//! retried mutation runs once and is replayed; concurrent repeats run once
//! (the others get the answer or 409); another body is 422; bad keys are
//! 400; owners' keys are independent; a key runs again once expired; a
//! stale claim is taken over; deterministic errors are stored; queries just
//! run; the expiry task's cap per owner.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Backend, TestApp};
use crate::sign_in::hs256_app;
use crate::tokens::{claims, hs256};

crate::on_both_backends!(
    a_retried_mutation_runs_once,
    concurrent_repeats_run_once,
    another_body_is_422,
    bad_keys_are_400,
    errors_are_stored_when_deterministic,
    queries_with_a_key_just_run,
    a_stale_claim_is_taken_over,
    the_cap_per_owner_drops_the_oldest,
);

const CREATE: &str =
    "mutation($d: String!) { createTask(input: {description: $d}) { task { id description } } }";

struct Answer {
    status: u16,
    content_type: Option<String>,
    replayed: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn code(&self) -> String {
        self.json()["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// POSTs `body` as it is, with `key` (and a bearer `token`) if given.
async fn post_raw(app: &TestApp, key: Option<&[u8]>, token: Option<&str>, body: &str) -> Answer {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(key).expect("a header value"),
        );
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /graphql");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Answer {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        replayed: header("idempotent-replayed"),
        body: response.text().await.expect("body"),
    }
}

fn create_body(description: &str) -> String {
    json!({ "query": CREATE, "variables": { "d": description } }).to_string()
}

async fn count(app: &TestApp, token: Option<&str>, description: &str) -> i64 {
    let body = json!({
        "query": "query($s: String!) { tasks(filter: {search: $s}) { nodes { description } } }",
        "variables": { "s": description },
    })
    .to_string();
    let answer = post_raw(app, None, token, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["data"]["tasks"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["description"] == description)
        .count() as i64
}

async fn a_retried_mutation_runs_once(app: TestApp) {
    let body = create_body("retried once");
    let first = post_raw(&app, Some(b"key-1"), None, &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.replayed, None);
    let task = first.json()["data"]["createTask"]["task"].clone();
    assert!(task["id"].is_string(), "{}", first.body);
    for _ in 0..3 {
        let again = post_raw(&app, Some(b"key-1"), None, &body).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.content_type, first.content_type);
        assert_eq!(again.body, first.body, "the same answer, byte for byte");
        assert_eq!(again.replayed.as_deref(), Some("true"));
    }
    assert_eq!(count(&app, None, "retried once").await, 1);
    // Another key is another request.
    let other = post_raw(&app, Some(b"key-2"), None, &body).await;
    assert_eq!(other.replayed, None);
    assert_ne!(other.json()["data"]["createTask"]["task"]["id"], task["id"]);
    assert_eq!(count(&app, None, "retried once").await, 2);
    // Without a key, every request runs.
    post_raw(&app, None, None, &body).await;
    assert_eq!(count(&app, None, "retried once").await, 3);
}

async fn concurrent_repeats_run_once(app: TestApp) {
    let body = create_body("concurrent once");
    let answers = futures_util::future::join_all(
        (0..10).map(|_| post_raw(&app, Some(b"concurrent"), None, &body)),
    )
    .await;
    let ran: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!ran.is_empty(), "none got an answer");
    for answer in &answers {
        match answer.status {
            200 => assert_eq!(answer.body, ran[0].body, "the same answer"),
            409 => assert_eq!(answer.code(), "CONFLICT", "{}", answer.body),
            other => panic!("status {other}: {}", answer.body),
        }
    }
    // Exactly one of them ran; the others were replays or refusals.
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.status == 200 && a.replayed.is_none())
            .count(),
        1
    );
    assert_eq!(count(&app, None, "concurrent once").await, 1);
    // And once it finished, a repeat gets its answer.
    let later = post_raw(&app, Some(b"concurrent"), None, &body).await;
    assert_eq!(later.body, ran[0].body);
    assert_eq!(later.replayed.as_deref(), Some("true"));
}

async fn another_body_is_422(app: TestApp) {
    let first = post_raw(&app, Some(b"reused"), None, &create_body("first body")).await;
    assert_eq!(first.status, 200);
    for body in [
        create_body("second body"),
        // The same request written differently is another body.
        format!(" {}", create_body("first body")),
    ] {
        let reused = post_raw(&app, Some(b"reused"), None, &body).await;
        assert_eq!(reused.status, 422, "{}", reused.body);
        assert_eq!(reused.code(), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(reused.replayed, None);
    }
    assert_eq!(count(&app, None, "second body").await, 0);
    assert_eq!(count(&app, None, "first body").await, 1);
}

async fn bad_keys_are_400(app: TestApp) {
    let body = create_body("never with a bad key");
    let long = vec![b'k'; 256];
    for key in [&b""[..], &long, b"caf\xc3\xa9", b"tab\tinside"] {
        let answer = post_raw(&app, Some(key), None, &body).await;
        assert_eq!(answer.status, 400, "{key:?}: {}", answer.body);
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{key:?}");
    }
    assert_eq!(count(&app, None, "never with a bad key").await, 0);
    // The longest key, and spaces inside, are fine.
    let longest = vec![b'k'; 255];
    for key in [&longest[..], b"order 42 / retry ~1"] {
        let answer = post_raw(&app, Some(key), None, &create_body("a fine key")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(count(&app, None, "a fine key").await, 2);
}

async fn errors_are_stored_when_deterministic(app: TestApp) {
    // An empty description is refused: the same refusal on every retry,
    // stored and replayed.
    let body = create_body("");
    let first = post_raw(&app, Some(b"refused"), None, &body).await;
    assert_eq!(first.code(), "BAD_USER_INPUT", "{}", first.body);
    let again = post_raw(&app, Some(b"refused"), None, &body).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.replayed.as_deref(), Some("true"));
}

async fn queries_with_a_key_just_run(app: TestApp) {
    let body = json!({ "query": "{ tasks { totalCount } }" }).to_string();
    let first = post_raw(&app, Some(b"a query"), None, &body).await;
    assert_eq!(first.json()["data"]["tasks"]["totalCount"], 0);
    post_raw(&app, None, None, &create_body("after the query")).await;
    let second = post_raw(&app, Some(b"a query"), None, &body).await;
    assert_eq!(second.replayed, None);
    assert_eq!(second.json()["data"]["tasks"]["totalCount"], 1);
    // Nothing was remembered for it: the key is free for a mutation.
    let mutation = post_raw(&app, Some(b"a query"), None, &create_body("keyed")).await;
    assert_eq!(mutation.status, 200, "{}", mutation.body);
    assert_eq!(mutation.replayed, None);
}

/// A claim without a response is "still running" (409) until it is a
/// minute old; then a repeat takes it over and runs.
async fn a_stale_claim_is_taken_over(app: TestApp) {
    let body = create_body("taken over");
    let hash = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    for (key, age) in [("fresh claim", 5), ("stale claim", 120)] {
        let at = chrono::Utc::now() - chrono::Duration::seconds(age);
        let row = entity::idempotency_key::ActiveModel {
            owner_id: sea_orm::Set(migration::SINGLE_USER_OWNER.to_owned()),
            key: sea_orm::Set(key.to_owned()),
            request_hash: sea_orm::Set(hash.clone()),
            claim: sea_orm::Set(uuid::Uuid::now_v7()),
            created_at: sea_orm::Set(at),
            claimed_at: sea_orm::Set(at),
            response_status: sea_orm::Set(None),
            response_content_type: sea_orm::Set(None),
            response_body: sea_orm::Set(None),
            completed_at: sea_orm::Set(None),
        };
        sea_orm::EntityTrait::insert(row)
            .exec_without_returning(&app.db)
            .await
            .expect("a claim");
    }
    let running = post_raw(&app, Some(b"fresh claim"), None, &body).await;
    assert_eq!(running.status, 409, "{}", running.body);
    assert_eq!(running.code(), "CONFLICT");
    assert_eq!(count(&app, None, "taken over").await, 0);
    let taken = post_raw(&app, Some(b"stale claim"), None, &body).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.replayed, None);
    assert_eq!(count(&app, None, "taken over").await, 1);
    let replayed = post_raw(&app, Some(b"stale claim"), None, &body).await;
    assert_eq!(replayed.body, taken.body);
    assert_eq!(replayed.replayed.as_deref(), Some("true"));
}

async fn the_cap_per_owner_drops_the_oldest(app: TestApp) {
    for i in 0..5 {
        post_raw(
            &app,
            Some(format!("cap {i}").as_bytes()),
            None,
            &create_body(&format!("capped {i}")),
        )
        .await;
        // Distinct creation times.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deleted = api::service::idempotency::expire(&app.db, Duration::from_secs(3600), 3)
        .await
        .expect("expire");
    assert_eq!(deleted, 2);
    let owner = migration::SINGLE_USER_OWNER;
    for i in 0..5 {
        let row = api::service::idempotency::find(&app.db, owner, &format!("cap {i}"))
            .await
            .expect("find");
        assert_eq!(row.is_some(), i >= 2, "cap {i}");
    }
    // A dropped key runs again.
    let again = post_raw(&app, Some(b"cap 0"), None, &create_body("capped 0")).await;
    assert_eq!(again.replayed, None);
    assert_eq!(count(&app, None, "capped 0").await, 2);
    // Expiry by age: everything older than a moment ago.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let deleted = api::service::idempotency::expire(&app.db, Duration::from_millis(10), 3)
        .await
        .expect("expire");
    assert_eq!(deleted, 4);
}

async fn owners_keys_are_independent(app: &TestApp) {
    let (a, b) = (hs256(&claims("owner-a")), hs256(&claims("owner-b")));
    let body = create_body("same key, two owners");
    let for_a = post_raw(app, Some(b"shared"), Some(&a), &body).await;
    let for_b = post_raw(app, Some(b"shared"), Some(&b), &body).await;
    assert_eq!(for_a.status, 200, "{}", for_a.body);
    assert_eq!(for_b.status, 200, "{}", for_b.body);
    assert_eq!(for_b.replayed, None, "B is not given A's answer");
    assert_ne!(
        for_a.json()["data"]["createTask"]["task"]["id"],
        for_b.json()["data"]["createTask"]["task"]["id"]
    );
    // Each owner's retry replays its own.
    let again_b = post_raw(app, Some(b"shared"), Some(&b), &body).await;
    assert_eq!(again_b.body, for_b.body);
    assert_eq!(again_b.replayed.as_deref(), Some("true"));
    // B's other body under the key A used is B's own business.
    let c = hs256(&claims("owner-c"));
    let for_c = post_raw(app, Some(b"shared"), Some(&c), &create_body("C's own")).await;
    assert_eq!(for_c.status, 200, "{}", for_c.body);
    assert_eq!(count(app, Some(&a), "same key, two owners").await, 1);
    assert_eq!(count(app, Some(&b), "same key, two owners").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_owners_keys_are_independent() {
    owners_keys_are_independent(&hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_owners_keys_are_independent() {
    owners_keys_are_independent(&hs256_app(Backend::Postgres, &[]).await).await;
}

/// With a TTL of about a second (`IDEMPOTENCY_KEY_TTL_HOURS`), a key runs
/// again once it expired.
async fn an_expired_key_runs_again(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("IDEMPOTENCY_KEY_TTL_HOURS", "0.0003")]).await;
    let body = create_body("expires");
    let first = post_raw(&app, Some(b"short-lived"), None, &body).await;
    let again = post_raw(&app, Some(b"short-lived"), None, &body).await;
    assert_eq!(again.replayed.as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = post_raw(&app, Some(b"short-lived"), None, &body).await;
    assert_eq!(later.status, 200, "{}", later.body);
    assert_eq!(later.replayed, None, "ran again");
    assert_ne!(later.body, first.body);
    assert_eq!(count(&app, None, "expires").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_expired_key_runs_again() {
    an_expired_key_runs_again(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_expired_key_runs_again() {
    an_expired_key_runs_again(Backend::Postgres).await;
}
