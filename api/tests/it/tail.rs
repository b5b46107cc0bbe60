//! A subscriber that tails `taskEvents` in the background and keeps what it
//! got, and the event log as the database has it, to compare the two.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::connect;

const EVENTS: &str = "subscription($after: String) { taskEvents(after: $after) { \
    cursor kind taskId version task { id description version } } }";

/// One delivered event: its log position (from the cursor) and what came
/// with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub id: i64,
    pub cursor: String,
    pub kind: String,
    pub task_id: String,
    pub version: i64,
    pub description: Option<String>,
}

pub struct Tail {
    seen: Arc<Mutex<Vec<Seen>>>,
    closed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// The cursor before every event: replays the whole log.
pub fn from_the_start() -> String {
    api::events::cursor::encode(0)
}

impl Tail {
    /// Subscribes on `base` (`http://host:port`) after `cursor` with the
    /// given subprotocol; reads each message, sleeping `pause` after each
    /// (a slow client).
    pub async fn start(base: &str, cursor: &str, protocol: &'static str, pause: Duration) -> Self {
        let url = format!("{}/graphql", base.replacen("http", "ws", 1));
        let mut socket = connect(&url, protocol).await;
        let modern = protocol == "graphql-transport-ws";
        let send = |v: Value| Message::text(v.to_string());
        socket
            .send(send(json!({ "type": "connection_init", "payload": {} })))
            .await
            .expect("init");
        let subscribe = json!({
            "id": "tail",
            "type": if modern { "subscribe" } else { "start" },
            "payload": { "query": EVENTS, "variables": { "after": cursor } },
        });
        socket.send(send(subscribe)).await.expect("subscribe");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (seen, closed) = (seen.clone(), closed.clone());
            async move {
                while let Some(Ok(frame)) = socket.next().await {
                    let Message::Text(text) = frame else { continue };
                    let message: Value = serde_json::from_str(&text).expect("JSON");
                    match message["type"].as_str() {
                        Some("next" | "data") => {
                            let event = &message["payload"]["data"]["taskEvents"];
                            assert!(event.is_object(), "not an event: {message}");
                            let cursor = event["cursor"].as_str().expect("cursor").to_owned();
                            let seen_event = Seen {
                                id: api::events::cursor::decode(&cursor, "cursor")
                                    .expect("a cursor of ours"),
                                cursor,
                                kind: event["kind"].as_str().unwrap_or_default().to_owned(),
                                task_id: event["taskId"].as_str().unwrap_or_default().to_owned(),
                                version: event["version"].as_i64().unwrap_or(-1),
                                description: event["task"]["description"]
                                    .as_str()
                                    .map(str::to_owned),
                            };
                            if let Ok(mut seen) = seen.lock() {
                                seen.push(seen_event);
                            }
                            if !pause.is_zero() {
                                tokio::time::sleep(pause).await;
                            }
                        }
                        Some("connection_ack" | "ka" | "ping" | "pong") => {}
                        _ => panic!("unexpected message: {message}"),
                    }
                }
                closed.store(true, Ordering::SeqCst);
            }
        });
        Self { seen, closed, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn last_cursor(&self) -> Option<String> {
        self.seen().last().map(|s| s.cursor.clone())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The socket ended, or the tail stopped at a message it did not expect.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until an event for a task described `marker` arrived.
    pub async fn wait_for(&self, marker: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while !self
            .seen()
            .iter()
            .any(|s| s.description.as_deref() == Some(marker))
        {
            assert!(
                Instant::now() < until,
                "no event for {marker:?} within {deadline:?}; got {} events",
                self.seen().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The log as committed and numbered: (position, kind, task id, version),
/// in log order.
pub async fn logged(db: &DatabaseConnection) -> Vec<(i64, String, String, i64)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT position, kind, task_id, version FROM task_events \
             WHERE position IS NOT NULL ORDER BY position",
        ))
        .await
        .expect("read the log");
    rows.iter()
        .map(|row| {
            let kind: i16 = row.try_get("", "kind").expect("kind");
            let task: sea_orm::prelude::Uuid = row.try_get("", "task_id").expect("task_id");
            let version: i32 = row.try_get("", "version").expect("version");
            let kind = match kind {
                1 => "CREATED",
                2 => "UPDATED",
                3 => "DELETED",
                4 => "REMINDER_DUE",
                other => panic!("kind {other}"),
            };
            (
                row.try_get("", "position").expect("position"),
                kind.to_owned(),
                api::graphql::ids::encode(api::graphql::ids::NodeKind::Task, task).0,
                i64::from(version),
            )
        })
        .collect()
}

/// Asserts `seen` is exactly the log, in order, each event once.
pub fn assert_exactly_the_log(label: &str, seen: &[Seen], log: &[(i64, String, String, i64)]) {
    let seen: Vec<(i64, String, String, i64)> = seen
        .iter()
        .map(|s| (s.id, s.kind.clone(), s.task_id.clone(), s.version))
        .collect();
    if seen != log {
        let first_difference = seen
            .iter()
            .zip(log)
            .position(|(a, b)| a != b)
            .unwrap_or(seen.len().min(log.len()));
        panic!(
            "{label}: {} delivered, {} in the log; first difference at {first_difference}: \
             delivered {:?}, logged {:?}",
            seen.len(),
            log.len(),
            seen.get(first_difference),
            log.get(first_difference)
        );
    }
}

/// Asserts every task's versions only grow in delivery order.
pub fn assert_versions_increase(label: &str, seen: &[Seen]) {
    let mut last: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for event in seen {
        if let Some(previous) = last.insert(&event.task_id, event.version) {
            assert!(
                event.version > previous,
                "{label}: task {} went from version {previous} to {} (event {})",
                event.task_id,
                event.version,
                event.id
            );
        }
    }
}

/// Waits for `marker` on `tail`, subscribing again on `base` after the last
/// cursor whenever the socket ended; everything delivered, across them.
pub async fn seen_through(
    mut tail: Tail,
    base: &str,
    marker: &str,
    deadline: Duration,
) -> Vec<Seen> {
    let until = Instant::now() + deadline;
    let mut seen = Vec::new();
    let mut cursor = from_the_start();
    loop {
        let now = tail.seen();
        if now.iter().any(|s| s.description.as_deref() == Some(marker)) {
            seen.extend(now);
            return seen;
        }
        if tail.is_finished() {
            if let Some(last) = tail.last_cursor() {
                cursor = last;
            }
            seen.extend(now);
            tail = Tail::start(base, &cursor, "graphql-transport-ws", Duration::ZERO).await;
        }
        assert!(
            Instant::now() < until,
            "no event for {marker:?} within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
