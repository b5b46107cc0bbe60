//! Every metric the api exports: its name, its bounded label values and
//! its help text ([`describe`], run once when the recorder is installed).

use ::metrics::{describe_counter, describe_gauge, describe_histogram};

/// Distinct operation names kept as label values; later ones count as `other`.
pub(crate) const MAX_OPERATION_NAMES: usize = 200;
/// Longer operation names count as `other`.
pub(super) const MAX_OPERATION_NAME_LEN: usize = 100;
/// The label for anonymous, unknown and over-the-cap operations.
pub(crate) const OTHER: &str = "other";

pub(crate) const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
pub(crate) const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
pub(crate) const GRAPHQL_OPERATIONS_TOTAL: &str = "graphql_operations_total";
pub(crate) const GRAPHQL_OPERATION_DURATION: &str = "graphql_operation_duration_seconds";
pub(crate) const GRAPHQL_PERSISTED_QUERIES_TOTAL: &str = "graphql_persisted_queries_total";
pub(crate) const GRAPHQL_UNTRUSTED_DOCUMENTS_TOTAL: &str = "graphql_untrusted_documents_total";
pub(crate) const WS_CONNECTIONS: &str = "graphql_ws_connections";
pub(crate) const WS_CONNECTIONS_TOTAL: &str = "graphql_ws_connections_total";
pub(crate) const SUBSCRIPTIONS: &str = "graphql_subscriptions";
pub(crate) const SUBSCRIPTIONS_TOTAL: &str = "graphql_subscriptions_total";
pub(crate) const DB_POOL_SIZE: &str = "db_pool_size";
pub(crate) const DB_POOL_IDLE: &str = "db_pool_idle";
pub(crate) const DB_POOL_MAX_SIZE: &str = "db_pool_max_size";
pub(crate) const BUILD_INFO: &str = "api_build_info";
pub(crate) const HTTP_CONNECTIONS_OPEN: &str = "http_connections_open";
pub(crate) const HTTP_CONNECTIONS_REFUSED: &str = "http_connections_refused_total";
pub(crate) const HTTP_CONNECTIONS_TIMED_OUT: &str = "http_connections_timed_out_total";
pub(crate) const HTTP_RATE_LIMITED: &str = "http_rate_limited_total";
pub(crate) const RATE_LIMIT_CLIENTS: &str = "http_rate_limit_clients";
pub(crate) const RATE_LIMIT_OVERFLOW: &str = "http_rate_limit_overflow_total";
pub(crate) const EVENTS_DELIVERY_LAG: &str = "events_delivery_lag_seconds";
pub const EVENTS_LISTENER_RECONNECTS: &str = "events_listener_reconnects_total";
pub(crate) const EVENT_SINK_PUBLISHED: &str = "events_sink_published_total";
pub(crate) const EVENT_SINK_FAILURES: &str = "events_sink_failures_total";
pub(crate) const EVENT_SINK_LAG_EVENTS: &str = "events_sink_lag_events";
pub(crate) const EVENT_SINK_LAG_SECONDS: &str = "events_sink_lag_seconds";
pub(crate) const EVENT_SINK_LAST_SUCCESS: &str = "events_sink_last_success_timestamp_seconds";
pub(crate) const EVENT_SINK_STOPPED: &str = "events_sink_stopped";
pub(crate) const EVENT_SINK_PUBLISHING: &str = "events_sink_publishing";
pub(crate) const REMINDERS_FIRED: &str = "reminders_fired_total";
pub(crate) const REMINDERS_LATENESS: &str = "reminders_lateness_seconds";

/// Label values (statics, so that deploy/checks.py does not take them for
/// metric names). `reason` of a refused connection: the global cap, or one
/// address's.
pub(crate) static REFUSED_MAX_CONNECTIONS: &str = "max_connections";
pub(crate) static REFUSED_PER_CLIENT: &str = "max_connections_per_client";
/// `transport` of a rate-limited operation.
pub(crate) static TRANSPORT_HTTP: &str = "http";
pub(crate) static TRANSPORT_WEBSOCKET: &str = "websocket";
/// `phase` of a timed-out connection.
pub(crate) static TIMED_OUT_HEADERS: &str = "headers";
pub(crate) static TIMED_OUT_IDLE: &str = "idle";
/// `result` of a request that sent a persisted query's hash.
pub(crate) static PERSISTED_HIT: &str = "hit";
pub(crate) static PERSISTED_MISS: &str = "miss";
pub(crate) static PERSISTED_REGISTERED: &str = "registered";
/// `mode` of an untrusted document: refused (`only`) or run (`allow`).
pub(crate) static UNTRUSTED_REFUSED: &str = "only";
pub(crate) static UNTRUSTED_RUN: &str = "allow";

/// `status` of a counted HTTP response.
pub(super) const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// `type` of a counted GraphQL operation.
pub(super) const OPERATION_TYPES: [&str; 3] = ["query", "mutation", "subscription"];

pub(super) fn describe() {
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
