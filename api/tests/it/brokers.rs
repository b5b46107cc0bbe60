//! The other side of the relay, for its tests: a consumer per broker (the
//! machine's NATS, Redis and RabbitMQ, or a NATS server of the test's own
//! that it can stop), a webhook receiver, and the checks every published
//! message must pass.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;

use crate::support::TempDir;

pub const NATS: &str = "nats://127.0.0.1:4222";
pub const REDIS: &str = "redis://127.0.0.1:6379";
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", sea_orm::prelude::Uuid::now_v7().simple())
}

/// One message as a consumer got it: the CloudEvent, and the id the
/// transport carried beside it (header, field or property).
#[derive(Debug, Clone)]
pub struct Received {
    pub event: Value,
    pub transport_id: String,
}

impl Received {
    pub fn id(&self) -> i64 {
        self.event["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the id is not a position: {}", self.event))
    }
}

/// Checks one message against CloudEvents 1.0 (JSON format, structured
/// mode) and our contract: required attributes and their types, the
/// extension's name, the type and subject, the data's shape.
pub fn assert_cloudevent(event: &Value, source: &str) {
    let object = event
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {event}"));
    for attribute in [
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
    ] {
        let value = object[attribute]
            .as_str()
            .unwrap_or_else(|| panic!("{attribute} is not a string: {event}"));
        assert!(!value.is_empty(), "{attribute} is empty: {event}");
    }
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["source"], source);
    assert_eq!(event["datacontenttype"], "application/json");
    // Attribute names: lower-case ASCII letters and digits only.
    for name in object.keys() {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && name.len() <= 20,
            "attribute name {name:?} is not a valid CloudEvents name"
        );
    }
    let time = event["time"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("time {time:?}: {e}"));
    assert!(event["todoowner"].is_string(), "no owner: {event}");
    let kind = event["type"].as_str().unwrap_or_default();
    assert!(
        [
            "todo.task.created.v1",
            "todo.task.updated.v1",
            "todo.task.deleted.v1",
            "todo.task.reminder_due.v1"
        ]
        .contains(&kind),
        "type {kind}"
    );
    let data = &event["data"];
    assert_eq!(
        data["id"], event["subject"],
        "data.id is the subject: {event}"
    );
    assert!(data["version"].as_i64().is_some_and(|v| v >= 1), "{event}");
    if kind == "todo.task.deleted.v1" {
        assert_eq!(
            data.as_object().map(|o| o.len()),
            Some(2),
            "a deletion has only id and version: {event}"
        );
    } else {
        assert_eq!(data["owner"]["id"], event["todoowner"], "{event}");
        for field in ["description", "priority", "createdAt", "updatedAt"] {
            assert!(data[field].is_string(), "data.{field}: {event}");
        }
        assert!(data["done"].is_boolean(), "{event}");
    }
}

/// `created`, `updated` or `deleted`: the last word of subjects and routing keys.
fn verb(event: &Value) -> String {
    event["type"]
        .as_str()
        .unwrap_or_default()
        .split('.')
        .nth(2)
        .unwrap_or_default()
        .to_owned()
}

/// Drops repeated ids (what at-least-once allows), keeping the first.
pub fn dedup(received: &[Received]) -> Vec<Received> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .filter(|r| seen.insert(r.id()))
        .cloned()
        .collect()
}

/// Asserts the messages, after dedup, are exactly the log in order, each
/// message carrying its id on the transport too.
pub fn assert_exactly_the_log(
    label: &str,
    received: &[Received],
    log: &[(i64, String, String, i64)],
    source: &str,
) {
    for message in received {
        assert_cloudevent(&message.event, source);
        assert_eq!(
            message.transport_id,
            message.event["id"].as_str().unwrap_or_default(),
            "{label}: the transport's id"
        );
    }
    let unique = dedup(received);
    let got: Vec<(i64, String, String, i64)> = unique
        .iter()
        .map(|r| {
            let kind = r.event["type"].as_str().unwrap_or_default();
            let kind = kind
                .trim_start_matches("todo.task.")
                .trim_end_matches(".v1")
                .to_uppercase();
            (
                r.id(),
                kind,
                r.event["subject"].as_str().unwrap_or_default().to_owned(),
                r.event["data"]["version"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got.len(),
        log.len(),
        "{label}: {} distinct events, the log has {}",
        got.len(),
        log.len()
    );
    assert_eq!(got, log, "{label}: not the log, in order");
    // In position order as first received, not only as a set.
    let ids: Vec<i64> = unique.iter().map(Received::id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{label}: out of order: {ids:?}"
    );
}

/// Waits until `read` returns at least `n` distinct events.
pub async fn wait_for<F, Fut>(
    label: &str,
    n: usize,
    deadline: Duration,
    mut read: F,
) -> Vec<Received>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<Received>>,
{
    let start = Instant::now();
    loop {
        let got = read().await;
        if dedup(&got).len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < deadline,
            "{label}: {} of {n} events after {deadline:?}",
            dedup(&got).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everything in a JetStream stream, in stream order.
pub async fn nats_messages(url: &str, stream: &str) -> Vec<Received> {
    let Ok(client) = async_nats::connect(url).await else {
        return Vec::new();
    };
    let context = jetstream::new(client);
    let Ok(mut stream) = context.get_stream(stream).await else {
        return Vec::new();
    };
    let Ok(info) = stream.info().await else {
        return Vec::new();
    };
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    for sequence in first..=last {
        if sequence == 0 {
            continue;
        }
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let transport_id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event: Value = serde_json::from_slice(&message.payload).expect("a JSON message");
        let verb = verb(&event);
        assert!(
            message.subject.ends_with(&format!(".{verb}")),
            "subject {} for {verb}",
            message.subject
        );
        out.push(Received {
            event,
            transport_id,
        });
    }
    out
}

pub async fn delete_nats_stream(url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let _ = jetstream::new(client).delete_stream(stream).await;
    }
}

/// An XRANGE entry: its id and its field-value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// Everything in a Redis stream, in stream order.
pub async fn redis_messages(url: &str, stream: &str) -> Vec<Received> {
    let client = redis::Client::open(url).expect("redis url");
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return Vec::new();
    };
    let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let fields: HashMap<String, Vec<u8>> = fields.into_iter().collect();
            let event: Value = serde_json::from_slice(&fields["event"]).expect("a JSON event");
            assert_eq!(
                String::from_utf8_lossy(&fields["type"]),
                event["type"].as_str().unwrap_or_default()
            );
            Received {
                event,
                transport_id: String::from_utf8_lossy(&fields["id"]).into_owned(),
            }
        })
        .collect()
}

pub async fn delete_redis_stream(url: &str, stream: &str) {
    if let Ok(client) = redis::Client::open(url)
        && let Ok(mut connection) = client.get_multiplexed_async_connection().await
    {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(stream)
            .query_async(&mut connection)
            .await;
    }
}

/// A queue bound to every task routing key of an exchange, declared before
/// the writes; collects what arrives.
pub struct AmqpQueue {
    received: Arc<Mutex<Vec<Received>>>,
    channel: lapin::Channel,
    _connection: lapin::Connection,
}

impl AmqpQueue {
    pub async fn bind(url: &str, exchange: &str) -> Self {
        use lapin::options::{
            BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
            QueueDeclareOptions,
        };
        use lapin::types::FieldTable;
        let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ at 127.0.0.1:5672");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("exchange");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                "task.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let mut consumer = channel
            .basic_consume(
                queue.name().clone(),
                "relay-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let event: Value = serde_json::from_slice(&delivery.data).expect("a JSON message");
                let properties = &delivery.properties;
                assert_eq!(properties.delivery_mode(), &Some(2), "persistent");
                assert_eq!(
                    properties
                        .content_type()
                        .as_ref()
                        .map(|t| t.as_str().to_owned()),
                    Some("application/cloudevents+json".to_owned())
                );
                let verb = verb(&event);
                assert_eq!(delivery.routing_key.as_str(), format!("task.{verb}"));
                let transport_id = properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default();
                sink.lock().unwrap().push(Received {
                    event,
                    transport_id,
                });
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        });
        Self {
            received,
            channel,
            _connection: connection,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub async fn delete_exchange(&self, exchange: &str) {
        let _ = self
            .channel
            .exchange_delete(exchange.into(), Default::default())
            .await;
    }
}

/// An HTTP endpoint that takes webhooks: it verifies each with the
/// receiver helper the README documents, answers `status` (or 200 once
/// `fail_until` passed), and keeps what it accepted.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub secret: String,
    state: Arc<Mutex<ReceiverState>>,
}

struct ReceiverState {
    /// Answer this instead of 200 while it is set.
    status: Option<StatusCode>,
    accepted: Vec<Received>,
    refused: usize,
    unsigned: usize,
}

impl Receiver {
    pub async fn start() -> Self {
        use base64::Engine as _;
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
        );
        let state = Arc::new(Mutex::new(ReceiverState {
            status: None,
            accepted: Vec::new(),
            refused: 0,
            unsigned: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = state.clone();
        let key = secret.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = shared.clone();
                let key = key.clone();
                async move {
                    let mut state = state.lock().unwrap();
                    if api::events::relay::webhook::verify(&key, &headers, &body, SystemTime::now())
                        .is_err()
                    {
                        state.unsigned += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    if let Some(status) = state.status {
                        state.refused += 1;
                        return status;
                    }
                    assert_eq!(headers["content-type"], "application/cloudevents+json");
                    let event: Value = serde_json::from_slice(&body).expect("a JSON body");
                    let transport_id = headers["webhook-id"]
                        .to_str()
                        .unwrap_or_default()
                        .to_owned();
                    state.accepted.push(Received {
                        event,
                        transport_id,
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            secret,
            state,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn answer(&self, status: Option<StatusCode>) {
        self.state.lock().unwrap().status = status;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }

    pub fn unsigned(&self) -> usize {
        self.state.lock().unwrap().unsigned
    }
}

/// A NATS server with JetStream of the test's own, on a free port, that
/// the test stops and starts again on the same port and store.
pub struct OwnNats {
    pub port: u16,
    store: TempDir,
    child: Option<Child>,
}

impl OwnNats {
    pub async fn start(port: u16) -> Self {
        let mut nats = Self {
            port,
            store: TempDir::new("relay-nats"),
            child: None,
        };
        nats.resume().await;
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn resume(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian package nats-server)");
        self.child = Some(child);
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The value of a metric series on a `/metrics` page (`name{labels}`).
pub fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

/// The four sinks of one test, on the machine's brokers, under names no
/// other test uses: the settings that point an api at them, and the check
/// that each received exactly the log.
pub struct AllSinks {
    subject: String,
    stream: String,
    redis_stream: String,
    exchange: String,
    hook: String,
    queue: AmqpQueue,
    pub receiver: Receiver,
}

impl AllSinks {
    /// The AMQP queue is bound and the webhook receiver listens before any
    /// api starts.
    pub async fn new() -> Self {
        let exchange = unique("todo.test.");
        let queue = AmqpQueue::bind(AMQP, &exchange).await;
        let receiver = Receiver::start().await;
        Self {
            subject: unique("todo.test"),
            stream: unique("RELAY_"),
            redis_stream: unique("todo.test."),
            hook: receiver.url(),
            exchange,
            queue,
            receiver,
        }
    }

    pub fn vars(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("EVENTS_NATS_URL", NATS),
            ("EVENTS_NATS_SUBJECT", &self.subject),
            ("EVENTS_NATS_STREAM", &self.stream),
            ("EVENTS_REDIS_URL", REDIS),
            ("EVENTS_REDIS_STREAM", &self.redis_stream),
            ("EVENTS_AMQP_URL", AMQP),
            ("EVENTS_AMQP_EXCHANGE", &self.exchange),
            ("EVENTS_WEBHOOK_URL", &self.hook),
            ("EVENTS_WEBHOOK_SECRET", &self.receiver.secret),
        ]
    }

    /// Waits until every sink has the whole log, and checks each got
    /// exactly it; returns what NATS got.
    pub async fn assert_each_got(
        &self,
        log: &[(i64, String, String, i64)],
        source: &str,
        deadline: Duration,
    ) -> Vec<Received> {
        let n = log.len();
        let nats = wait_for("nats", n, deadline, || nats_messages(NATS, &self.stream)).await;
        assert_exactly_the_log("nats", &nats, log, source);
        let redis = wait_for("redis", n, deadline, || {
            redis_messages(REDIS, &self.redis_stream)
        })
        .await;
        assert_exactly_the_log("redis", &redis, log, source);
        let amqp = wait_for("amqp", n, deadline, || async { self.queue.received() }).await;
        assert_exactly_the_log("amqp", &amqp, log, source);
        let hooks = wait_for("webhook", n, deadline, || async {
            self.receiver.accepted()
        })
        .await;
        assert_exactly_the_log("webhook", &hooks, log, source);
        assert_eq!(self.receiver.unsigned(), 0, "every delivery verified");
        nats
    }

    /// Removes the streams and the exchange from the machine's brokers.
    pub async fn remove(&self) {
        delete_nats_stream(NATS, &self.stream).await;
        delete_redis_stream(REDIS, &self.redis_stream).await;
        self.queue.delete_exchange(&self.exchange).await;
    }
}
