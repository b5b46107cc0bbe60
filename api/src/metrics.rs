//! Prometheus metrics: the process-wide recorder, the `/metrics` rendering,
//! and the small helpers and guards the rest of the code records through.
//!
//! The recorder is installed once per process ([`install`]); every `App` in
//! the process (tests start many) renders the same handle. Recording before
//! installation, or with `METRICS_ENABLED=false`, costs next to nothing: the
//! `metrics` facade then has no recorder and drops the values.
//!
//! Label values are bounded: operation names are capped at
//! [`MAX_OPERATION_NAMES`] distinct values (the rest, and anonymous or
//! unknown operations, are `other`), outcomes are `ok` or an error code.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use async_graphql::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

/// Distinct operation names kept as label values; later ones count as `other`.
pub const MAX_OPERATION_NAMES: usize = 200;
/// Longer operation names count as `other`.
const MAX_OPERATION_NAME_LEN: usize = 100;
/// The label for anonymous, unknown and over-the-cap operations.
pub const OTHER: &str = "other";

pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
pub const GRAPHQL_OPERATIONS_TOTAL: &str = "graphql_operations_total";
pub const GRAPHQL_OPERATION_DURATION: &str = "graphql_operation_duration_seconds";
pub const GRAPHQL_PERSISTED_QUERIES_TOTAL: &str = "graphql_persisted_queries_total";
pub const GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL: &str = "graphql_untrusted_documents_total";
pub const WS_CONNECTIONS: &str = "graphql_ws_connections";
pub const WS_CONNECTIONS_TOTAL: &str = "graphql_ws_connections_total";
pub const SUBSCRIPTIONS: &str = "graphql_subscriptions";
pub const SUBSCRIPTIONS_TOTAL: &str = "graphql_subscriptions_total";
pub const DB_POOL_SIZE: &str = "db_pool_size";
pub const DB_POOL_IDLE: &str = "db_pool_idle";
pub const DB_POOL_MAX_SIZE: &str = "db_pool_max_size";
pub const BUILD_INFO: &str = "api_build_info";
pub const HTTP_CONNECTIONS_OPEN: &str = "http_connections_open";
pub const HTTP_CONNECTIONS_REFUSED: &str = "http_connections_refused_total";
pub const HTTP_CONNECTIONS_TIMED_OUT: &str = "http_connections_timed_out_total";
pub const HTTP_RATE_LIMITED: &str = "http_rate_limited_total";
pub const RATE_LIMIT_CLIENTS: &str = "http_rate_limit_clients";
pub const RATE_LIMIT_OVERFLOW: &str = "http_rate_limit_overflow_total";
pub const EVENTS_DELIVERY_LAG: &str = "events_delivery_lag_seconds";
pub const EVENTS_LISTENER_RECONNECTS: &str = "events_listener_reconnects_total";
pub const EVENT_SINK_PUBLISHED: &str = "events_sink_published_total";
pub const EVENT_SINK_FAILURES: &str = "events_sink_failures_total";
pub const EVENT_SINK_LAG_EVENTS: &str = "events_sink_lag_events";
pub const EVENT_SINK_LAG_SECONDS: &str = "events_sink_lag_seconds";
pub const EVENT_SINK_LAST_SUCCESS: &str = "events_sink_last_success_timestamp_seconds";
pub const EVENT_SINK_STOPPED: &str = "events_sink_stopped";
pub const EVENT_SINK_PUBLISHING: &str = "events_sink_publishing";
pub const REMINDERS_FIRED: &str = "reminders_fired_total";
pub const REMINDERS_LATENESS: &str = "reminders_lateness_seconds";

/// Label values (statics, so that deploy/checks.py does not take them for
/// metric names). `reason` of a refused connection: the global cap, or one
/// address's.
pub static REFUSED_MAX_CONNECTIONS: &str = "max_connections";
pub static REFUSED_PER_CLIENT: &str = "max_connections_per_client";
/// `transport` of a rate-limited operation.
pub static TRANSPORT_HTTP: &str = "http";
pub static TRANSPORT_WEBSOCKET: &str = "websocket";
/// `phase` of a timed-out connection.
pub static TIMED_OUT_HEADERS: &str = "headers";
pub static TIMED_OUT_IDLE: &str = "idle";
/// `result` of a request that sent a persisted query's hash.
pub static PERSISTED_HIT: &str = "hit";
pub static PERSISTED_MISS: &str = "miss";
pub static PERSISTED_REGISTERED: &str = "registered";
/// `mode` of an untrusted document: refused (`only`) or run (`allow`).
pub static UNTRUSTED_REFUSED: &str = "only";
pub static UNTRUSTED_RUN: &str = "allow";

/// `status` of a counted HTTP response.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// `type` of a counted GraphQL operation.
const OPERATION_TYPES: [&str; 3] = ["query", "mutation", "subscription"];

/// Latency buckets, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder the first time it is
/// called, and returns its handle (the same one on every call). `None` when
/// another recorder was installed first (then this one cannot render).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        "metrics recorder not installed; /metrics stays empty"
                    );
                    return None;
                }
            };
            describe();
            // Present from the first scrape on, before any traffic.
            gauge!(HTTP_REQUESTS_IN_FLIGHT).increment(0.0);
            gauge!(WS_CONNECTIONS).increment(0.0);
            gauge!(SUBSCRIPTIONS).increment(0.0);
            counter!(WS_CONNECTIONS_TOTAL).increment(0);
            counter!(SUBSCRIPTIONS_TOTAL).increment(0);
            for late in ["false", "true"] {
                counter!(REMINDERS_FIRED, "late" => late).increment(0);
            }
            gauge!(HTTP_CONNECTIONS_OPEN).increment(0.0);
            for class in STATUS_CLASSES {
                counter!(HTTP_REQUESTS_TOTAL, "status" => class).increment(0);
            }
            // One series per operation type (as `other`, with outcome ok),
            // the latency histogram's included: a dashboard's rate() and
            // histogram_quantile() then have a series from the first scrape.
            for ty in OPERATION_TYPES {
                let labels = [("operation", OTHER), ("type", ty), ("outcome", "ok")];
                counter!(GRAPHQL_OPERATIONS_TOTAL, &labels).increment(0);
                // Registered without a sample: exported with a count of 0.
                let _ = histogram!(GRAPHQL_OPERATION_DURATION, &labels);
            }
            for reason in [REFUSED_MAX_CONNECTIONS, REFUSED_PER_CLIENT] {
                counter!(HTTP_CONNECTIONS_REFUSED, "reason" => reason).increment(0);
            }
            for transport in [TRANSPORT_HTTP, TRANSPORT_WEBSOCKET] {
                counter!(HTTP_RATE_LIMITED, "transport" => transport).increment(0);
            }
            for phase in [TIMED_OUT_HEADERS, TIMED_OUT_IDLE] {
                counter!(HTTP_CONNECTIONS_TIMED_OUT, "phase" => phase).increment(0);
            }
            for result in [PERSISTED_HIT, PERSISTED_MISS, PERSISTED_REGISTERED] {
                counter!(GRAPHQL_PERSISTED_QUERIES_TOTAL, "result" => result).increment(0);
            }
            for mode in [UNTRUSTED_REFUSED, UNTRUSTED_RUN] {
                counter!(GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL, "mode" => mode).increment(0);
            }
            gauge!(RATE_LIMIT_CLIENTS).set(0.0);
            counter!(RATE_LIMIT_OVERFLOW).increment(0);
            counter!(EVENTS_LISTENER_RECONNECTS).increment(0);
            let revision = option_env!("GIT_SHA").unwrap_or("unknown");
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "revision" => revision)
                .set(1.0);
            // Histograms keep raw samples until upkeep folds them into buckets:
            // without scrapes they would grow, so fold them regularly.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "metrics upkeep thread not started");
            }
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being served now");
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP responses sent, by status class");
    describe_counter!(
        GRAPHQL_OPERATIONS_TOTAL,
        "GraphQL operations run, by operation name, type and outcome"
    );
    describe_histogram!(
        GRAPHQL_OPERATION_DURATION,
        ::metrics::Unit::Seconds,
        "GraphQL operation latency (for subscriptions: how long they were open)"
    );
    describe_counter!(
        GRAPHQL_PERSISTED_QUERIES_TOTAL,
        "requests that sent a persisted query's hash: hit, miss (PersistedQueryNotFound) or \
         registered (sent with its text)"
    );
    describe_counter!(
        GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL,
        "documents outside the trusted documents' manifest: run (mode allow) or refused (mode only)"
    );
    describe_gauge!(WS_CONNECTIONS, "open GraphQL WebSocket connections");
    describe_counter!(WS_CONNECTIONS_TOTAL, "GraphQL WebSocket connections opened");
    describe_gauge!(SUBSCRIPTIONS, "active GraphQL subscriptions");
    describe_counter!(SUBSCRIPTIONS_TOTAL, "GraphQL subscriptions started");
    describe_gauge!(DB_POOL_SIZE, "database connections open (idle and in use)");
    describe_gauge!(DB_POOL_IDLE, "database connections open and idle");
    describe_gauge!(DB_POOL_MAX_SIZE, "most database connections the pool opens");
    describe_gauge!(BUILD_INFO, "always 1; the labels name the build");
    describe_gauge!(
        HTTP_CONNECTIONS_OPEN,
        "open HTTP connections, WebSockets included"
    );
    describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "connections closed at once over HTTP_MAX_CONNECTIONS or HTTP_MAX_CONNECTIONS_PER_CLIENT"
    );
    describe_counter!(
        HTTP_CONNECTIONS_TIMED_OUT,
        "connections closed for sending no complete request head in time (headers) or staying idle (idle)"
    );
    describe_counter!(
        HTTP_RATE_LIMITED,
        "requests (http) and subscribe messages (websocket) refused with RATE_LIMITED"
    );
    describe_gauge!(
        RATE_LIMIT_CLIENTS,
        "clients the rate limiter holds a bucket for (sampled every second)"
    );
    describe_counter!(
        RATE_LIMIT_OVERFLOW,
        "operations of new clients measured on the shared bucket because RATE_LIMIT_MAX_CLIENTS were held"
    );
    describe_histogram!(
        EVENTS_DELIVERY_LAG,
        ::metrics::Unit::Seconds,
        "from an event's commit to its delivery to a subscriber"
    );
    describe_counter!(
        REMINDERS_FIRED,
        "reminders fired by this replica (late: more than REMINDERS_LATE_AFTER after their time)"
    );
    describe_histogram!(
        REMINDERS_LATENESS,
        ::metrics::Unit::Seconds,
        "from a reminder's time to the commit of its REMINDER_DUE event"
    );
    describe_counter!(
        EVENTS_LISTENER_RECONNECTS,
        "times the PostgreSQL event listener reconnected after losing its connection"
    );
    describe_counter!(
        EVENT_SINK_PUBLISHED,
        "events a sink's broker acknowledged (published by this replica)"
    );
    describe_counter!(
        EVENT_SINK_FAILURES,
        "failed publish attempts of a sink, by reason (unreachable, rejected, timeout, gone)"
    );
    describe_gauge!(
        EVENT_SINK_LAG_EVENTS,
        "events committed that a sink has not yet had acknowledged (every replica reports it)"
    );
    describe_gauge!(
        EVENT_SINK_LAG_SECONDS,
        "age of the oldest event a sink has not yet had acknowledged; 0 when it is current"
    );
    describe_gauge!(
        EVENT_SINK_LAST_SUCCESS,
        "Unix time of a sink's last acknowledged publish (0: never)"
    );
    describe_gauge!(
        EVENT_SINK_STOPPED,
        "1 when a sink stopped because its receiver is gone (a webhook's 410)"
    );
    describe_gauge!(
        EVENT_SINK_PUBLISHING,
        "1 on the replica that holds a sink's lease and publishes to it"
    );
}

/// A configured sink's series, present from the first scrape.
pub fn sink_configured(sink: &'static str, reasons: &[&'static str]) {
    counter!(EVENT_SINK_PUBLISHED, "sink" => sink).increment(0);
    for reason in reasons {
        counter!(EVENT_SINK_FAILURES, "sink" => sink, "reason" => *reason).increment(0);
    }
    gauge!(EVENT_SINK_LAG_EVENTS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_LAG_SECONDS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_LAST_SUCCESS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_STOPPED, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_PUBLISHING, "sink" => sink).set(0.0);
}

pub fn sink_published(sink: &'static str, events: usize) {
    counter!(EVENT_SINK_PUBLISHED, "sink" => sink).increment(events as u64);
}

pub fn sink_failed(sink: &'static str, reason: &'static str) {
    counter!(EVENT_SINK_FAILURES, "sink" => sink, "reason" => reason).increment(1);
}

pub fn sink_publishing(sink: &'static str, publishing: bool) {
    gauge!(EVENT_SINK_PUBLISHING, "sink" => sink).set(f64::from(u8::from(publishing)));
}

/// What every replica reads from the database every few seconds.
pub fn sink_status(
    sink: &'static str,
    lag_events: i64,
    lag_seconds: f64,
    last_success: Option<f64>,
    stopped: bool,
) {
    gauge!(EVENT_SINK_LAG_EVENTS, "sink" => sink).set(lag_events.max(0) as f64);
    gauge!(EVENT_SINK_LAG_SECONDS, "sink" => sink).set(lag_seconds.max(0.0));
    gauge!(EVENT_SINK_LAST_SUCCESS, "sink" => sink).set(last_success.unwrap_or(0.0));
    gauge!(EVENT_SINK_STOPPED, "sink" => sink).set(f64::from(u8::from(stopped)));
}

/// A connection accepted and counted open; [`connection_closed`] when it goes.
pub fn connection_opened() {
    gauge!(HTTP_CONNECTIONS_OPEN).increment(1.0);
}

pub fn connection_closed() {
    gauge!(HTTP_CONNECTIONS_OPEN).decrement(1.0);
}

/// A connection closed at once for a cap (`REFUSED_*`).
pub fn connection_refused(reason: &'static str) {
    counter!(HTTP_CONNECTIONS_REFUSED, "reason" => reason).increment(1);
}

/// A connection closed by a timeout: `headers` or `idle`.
pub fn connection_timed_out(phase: &'static str) {
    counter!(HTTP_CONNECTIONS_TIMED_OUT, "phase" => phase).increment(1);
}

/// An operation refused with RATE_LIMITED (`TRANSPORT_*`).
pub fn rate_limited(transport: &'static str) {
    counter!(HTTP_RATE_LIMITED, "transport" => transport).increment(1);
}

pub fn rate_limit_clients(clients: usize) {
    gauge!(RATE_LIMIT_CLIENTS).set(clients as f64);
}

pub fn rate_limit_overflow() {
    counter!(RATE_LIMIT_OVERFLOW).increment(1);
}

/// The Prometheus text exposition, with the pool sampled now.
pub fn render(handle: &PrometheusHandle, db: &DatabaseConnection) -> String {
    record_pool(db);
    handle.render()
}

/// Samples the sqlx pool behind `db`. sqlx does not expose how many tasks
/// wait for a connection, so there is no waiters gauge.
fn record_pool(db: &DatabaseConnection) {
    let (size, idle, max) = match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return,
    };
    gauge!(DB_POOL_SIZE).set(f64::from(size));
    gauge!(DB_POOL_IDLE).set(idle as f64);
    gauge!(DB_POOL_MAX_SIZE).set(f64::from(max));
}

/// An HTTP request being served: counted in flight until dropped, when its
/// response status (if [`InFlight::finish`] was called) is counted too.
pub struct InFlight {
    _private: (),
}

impl InFlight {
    pub fn start() -> Self {
        gauge!(HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
        Self { _private: () }
    }

    pub fn finish(self, status: u16) {
        let class = match status {
            100..=199 => STATUS_CLASSES[0],
            200..=299 => STATUS_CLASSES[1],
            300..=399 => STATUS_CLASSES[2],
            400..=499 => STATUS_CLASSES[3],
            _ => STATUS_CLASSES[4],
        };
        counter!(HTTP_REQUESTS_TOTAL, "status" => class).increment(1);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);
    }
}

/// An open GraphQL WebSocket: hold it for the socket's life.
pub struct WsConnection {
    _private: (),
}

impl WsConnection {
    pub fn open() -> Self {
        counter!(WS_CONNECTIONS_TOTAL).increment(1);
        gauge!(WS_CONNECTIONS).increment(1.0);
        Self { _private: () }
    }
}

impl WsConnection {
    /// Runs a socket's whole life as an open connection.
    pub async fn track<F: std::future::Future>(socket: F) -> F::Output {
        let _connection = Self::open();
        socket.await
    }
}

impl Drop for WsConnection {
    fn drop(&mut self) {
        gauge!(WS_CONNECTIONS).decrement(1.0);
    }
}

/// An active subscription: hold it while the subscription streams.
pub struct Subscription {
    _private: (),
}

impl Subscription {
    pub fn start() -> Self {
        counter!(SUBSCRIPTIONS_TOTAL).increment(1);
        gauge!(SUBSCRIPTIONS).increment(1.0);
        Self { _private: () }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        gauge!(SUBSCRIPTIONS).decrement(1.0);
    }
}

/// The label for an operation name: the name itself while fewer than
/// [`MAX_OPERATION_NAMES`] distinct names were seen, else [`OTHER`].
/// Names must be GraphQL names (callers pass names from a parsed document).
pub fn operation_label(name: Option<&str>) -> String {
    static NAMES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let Some(name) = name else {
        return OTHER.to_owned();
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_OPERATION_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name != OTHER;
    if !valid {
        return OTHER.to_owned();
    }
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if names.contains(name) {
        return name.to_owned();
    }
    if names.len() < MAX_OPERATION_NAMES {
        names.insert(name.into());
        return name.to_owned();
    }
    OTHER.to_owned()
}

/// `ok`, or the first error's `extensions.code` (`error` if it has none).
pub fn outcome(response: &Response) -> String {
    let Some(error) = response.errors.first() else {
        return "ok".to_owned();
    };
    let code = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.as_str()),
            _ => None,
        });
    match code {
        // Codes are set by the server (graphql/engine/codes.rs); the shape check
        // keeps the label bounded whatever happens there.
        Some(code)
            if !code.is_empty()
                && code.len() <= 40
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
        {
            code.to_owned()
        }
        _ => "error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(None), OTHER);
        assert_eq!(operation_label(Some("")), OTHER);
        assert_eq!(operation_label(Some("other")), OTHER);
        assert_eq!(operation_label(Some("not a name")), OTHER);
        assert_eq!(operation_label(Some(&"A".repeat(101))), OTHER);
        assert_eq!(operation_label(Some("LabelKept")), "LabelKept");
        for i in 0..MAX_OPERATION_NAMES {
            operation_label(Some(&format!("Filler{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), OTHER);
        assert_eq!(operation_label(Some("LabelKept")), "LabelKept");
    }

    #[test]
    fn outcomes_are_ok_or_a_code() {
        assert_eq!(outcome(&Response::new(async_graphql::Value::Null)), "ok");
        let mut error = async_graphql::ServerError::new("boom", None);
        assert_eq!(
            outcome(&Response::from_errors(vec![error.clone()])),
            "error"
        );
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "NOT_FOUND");
        assert_eq!(
            outcome(&Response::from_errors(vec![error.clone()])),
            "NOT_FOUND"
        );
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "user text <script>");
        assert_eq!(outcome(&Response::from_errors(vec![error])), "error");
    }
}
