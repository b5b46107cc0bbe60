//! The process-wide Prometheus recorder: installed once, with every series
//! present from the first scrape, and rendered for `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use super::names::*;

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
pub(crate) fn install() -> Option<PrometheusHandle> {
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

/// The Prometheus text exposition, with the pool sampled now.
pub(crate) fn render(handle: &PrometheusHandle, db: &DatabaseConnection) -> String {
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
