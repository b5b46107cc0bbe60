//! Soak: four subscribers and a deliberately slow one while sixteen
//! connections create tasks for 20 s (`SOAK_SECS`), the load generator
//! dropping its connections with requests in flight at the end. Every
//! subscriber must receive exactly one CREATED per committed task: none
//! lost between a commit and its delivery, none twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::common::{Backend, TestApp, TestDb};
use crate::support::{ApiProcess, CREATE_TASK, Outcome, post_graphql};
use crate::tail::{Tail, from_the_start};

fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Creates tasks on `bases` from 16 connections until `secs` are over, then
/// drops every connection with whatever request it had in flight.
async fn load(bases: Vec<String>, secs: u64) -> usize {
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let base = bases[w % bases.len()].clone();
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                // One connection each, kept alive.
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("client");
                for n in 0.. {
                    let input = json!({ "input": { "description": format!("soak {w}-{n}") } });
                    match post_graphql(&client, &base, CREATE_TASK, input).await {
                        Outcome::Ok(_) => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Error(code) if code == "SERVICE_UNAVAILABLE" => {}
                        other => panic!("writer {w}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    for writer in &writers {
        writer.abort();
    }
    for writer in writers {
        if let Err(err) = writer.await {
            assert!(err.is_cancelled(), "a writer failed: {err}");
        }
    }
    acknowledged.load(Ordering::Relaxed)
}

async fn committed_tasks(db: &sea_orm::DatabaseConnection) -> HashSet<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM tasks",
        ))
        .await
        .expect("tasks");
    rows.iter()
        .map(|r| {
            let id: sea_orm::prelude::Uuid = r.try_get("", "id").expect("id");
            api::graphql::ids::encode(api::graphql::ids::NodeKind::Task, id).0
        })
        .collect()
}

fn assert_one_created_per_task(label: &str, tail: &Tail, committed: &HashSet<String>) {
    let mut created: HashMap<String, usize> = HashMap::new();
    for event in tail.seen() {
        assert_eq!(event.kind, "CREATED", "{label}: only creations happened");
        *created.entry(event.task_id).or_default() += 1;
    }
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{label}: delivered more than once: {twice:?}"
    );
    let delivered: HashSet<String> = created.into_keys().collect();
    let lost: Vec<_> = committed.difference(&delivered).collect();
    let phantom: Vec<_> = delivered.difference(committed).collect();
    assert!(
        lost.is_empty(),
        "{label}: {} committed tasks never delivered",
        lost.len()
    );
    assert!(
        phantom.is_empty(),
        "{label}: {} delivered but never committed",
        phantom.len()
    );
}

async fn soak(subscribe_to: &[String], write_to: Vec<String>, db: &sea_orm::DatabaseConnection) {
    let mut tails = Vec::new();
    for (i, base) in subscribe_to.iter().cycle().take(4).enumerate() {
        let protocol = if i % 2 == 0 {
            "graphql-transport-ws"
        } else {
            "graphql-ws"
        };
        tails.push(Tail::start(base, &from_the_start(), protocol, Duration::ZERO).await);
    }
    let slow = Tail::start(
        &subscribe_to[0],
        &from_the_start(),
        "graphql-transport-ws",
        Duration::from_millis(2),
    )
    .await;
    let acknowledged = load(write_to.clone(), soak_secs()).await;
    // Requests the server was still finishing when their clients vanished.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::new();
    let marker = post_graphql(
        &client,
        &write_to[0],
        CREATE_TASK,
        json!({ "input": { "description": "soak end" } }),
    )
    .await;
    assert!(matches!(marker, Outcome::Ok(_)), "{marker:?}");
    let committed = committed_tasks(db).await;
    assert!(
        committed.len() > acknowledged,
        "{} committed, {acknowledged} acknowledged",
        committed.len()
    );
    for (i, tail) in tails.iter().enumerate() {
        tail.wait_for("soak end", Duration::from_secs(60)).await;
        assert_one_created_per_task(&format!("subscriber {i}"), tail, &committed);
    }
    slow.wait_for("soak end", Duration::from_secs(120)).await;
    assert_one_created_per_task("slow subscriber", &slow, &committed);
    eprintln!(
        "soak: {} tasks committed ({acknowledged} acknowledged), each delivered once to 5 subscribers",
        committed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_soak_one_process() {
    // A small buffer: the slow subscriber must catch up from the table.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EVENT_BUFFER_SIZE", "64")]).await;
    let base = app.url("");
    soak(std::slice::from_ref(&base), vec![base.clone()], &app.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_soak_two_replicas() {
    let db = TestDb::new(Backend::Postgres).await;
    let first = ApiProcess::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
        ("EVENT_BUFFER_SIZE", "64"),
    ]);
    first
        .wait_for_status("/readyz", 200, Duration::from_secs(30))
        .await;
    let second = ApiProcess::spawn(&[
        ("DATABASE_URL", db.url.as_str()),
        ("EVENT_BUFFER_SIZE", "64"),
    ]);
    second
        .wait_for_status("/readyz", 200, Duration::from_secs(30))
        .await;
    let bases = vec![first.base(), second.base()];
    soak(&bases, bases.clone(), &db.connect().await).await;
}
