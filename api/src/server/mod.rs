//! `api serve` from start to stop: listening before the database is there,
//! and a bounded, graceful shutdown.
//!
//! The listener is bound first and answers `/healthz` (200) and `/readyz`
//! (503, with the reason) while the database is reached and migrated; once
//! the [`App`] is built, a gate forwards every request to its router. On the
//! shutdown signal the listener closes, in-flight requests finish, WebSockets
//! close (they watch [`App::shutdown`]) and, whatever is still open when the
//! grace period is over is left behind.
//!
//! The accept loop is our own (hyper's connection builder, as `axum::serve`
//! uses it) so that connections have caps, a header-read and an idle
//! timeout, and a lingering close after an early answer.

mod accept;
mod activity;
mod connections;
mod gate;
mod io;
pub(crate) mod settings;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db;
use crate::{App, StartupError};
use activity::Timeouts;
use connections::{Caps, Connections};
use gate::{Gate, Phase};

pub use connections::PROBE_RESERVE;
pub(crate) use settings::HttpLimits;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("serving failed: {0}")]
    Serve(#[from] std::io::Error),
    #[error(
        "the shutdown grace period ({grace:?}) ran out with {open} connection(s) still open; \
         stopped without them"
    )]
    GraceExpired { grace: Duration, open: usize },
}

/// Serves on `listener` at once, connects and migrates, serves the API until
/// `signal` resolves, then shuts down within `config.shutdown_grace`.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with(config, listener, signal, |_| {}).await
}

/// [`run`], with a look at the database pool once it is connected (tests
/// log its statements and share it to arrange data).
pub async fn run_with(
    config: Arc<Config>,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
    on_connected: impl FnOnce(&mut DatabaseConnection) + Send,
) -> Result<(), RunError> {
    let stopping = CancellationToken::new();
    tokio::spawn({
        let stopping = stopping.clone();
        async move {
            tokio::select! {
                () = signal => stopping.cancel(),
                () = stopping.cancelled() => {}
            }
        }
    });
    let gate = Gate::default();
    let limits = &config.http_limits;
    let connections = Connections::new(Caps {
        max: limits.max_connections,
        per_client: limits.max_connections_per_client,
        trusted: config.trusted_proxies.clone(),
    });
    let timeouts = Timeouts {
        header_read: limits.header_read_timeout,
        idle: limits.keepalive_timeout,
    };
    let server = tokio::spawn(accept::serve(
        listener,
        gate.router(),
        connections.clone(),
        timeouts,
        stopping.clone(),
    ));

    let started = tokio::select! {
        started = start(&config, &gate, on_connected) => Some(started),
        () = stopping.cancelled() => None,
    };
    let app = match started {
        Some(Ok(app)) => app,
        Some(Err(err)) => {
            // The caller reports `err`.
            stopping.cancel();
            drain(server, &connections, config.shutdown_grace).await?;
            return Err(err.into());
        }
        None => {
            tracing::info!("stopping before the service was ready");
            drain(server, &connections, config.shutdown_grace).await?;
            return Ok(());
        }
    };
    gate.open(app.router.clone());
    tracing::info!("ready: serving requests");

    stopping.cancelled().await;
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    app.shutdown.cancel();
    drain(server, &connections, config.shutdown_grace).await?;
    // Within what is left of the grace period too.
    if tokio::time::timeout_at(deadline, app.db.close())
        .await
        .is_err()
    {
        tracing::warn!("closing the database pool timed out");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connects (retrying), migrates and builds the app, telling `/readyz` what
/// it is waiting for.
async fn start(
    config: &Arc<Config>,
    gate: &Gate,
    on_connected: impl FnOnce(&mut DatabaseConnection),
) -> Result<App, StartupError> {
    gate.set_phase(Phase::Connecting);
    let mut db = db::connect_with_retry(config).await?;
    on_connected(&mut db);
    gate.set_phase(Phase::Migrating);
    db::prepare(&db, config).await?;
    App::start(config.clone(), db).await
}

/// Waits, up to `grace`, for the server to stop accepting and finish its
/// requests and for every connection (WebSockets too) to close.
async fn drain(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    connections: &Connections,
    grace: Duration,
) -> Result<(), RunError> {
    let since = Instant::now();
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        open_connections = connections.count(),
        "shutting down: no longer accepting connections, finishing in-flight requests"
    );
    let finished = tokio::time::timeout(grace, async {
        let served = server.await;
        connections.all_closed().await;
        served
    })
    .await;
    match finished {
        Ok(Ok(served)) => served?,
        Ok(Err(join)) => return Err(std::io::Error::other(join).into()),
        Err(_) => {
            let open = connections.count();
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                open_connections = open,
                "shutdown grace period is over; stopping with connections still open"
            );
            return Err(RunError::GraceExpired { grace, open });
        }
    }
    tracing::info!(
        took_ms = since.elapsed().as_millis() as u64,
        "all requests finished and connections closed"
    );
    Ok(())
}
