//! `api serve` from start to stop: listening before the database is there,
//! and a bounded, graceful shutdown.
//!
//! The listener is bound first and answers `/healthz` (200) and `/readyz`
//! (503, with the reason) while the database is reached and migrated; once
//! the [`App`] is built, a gate forwards every request to its router. On the
//! shutdown signal the listener closes, in-flight requests finish, WebSockets
//! close (they watch [`App::shutdown`]) and, whatever is still open when the
//! grace period is over is left behind.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use sea_orm::DatabaseConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::App;
use crate::config::Config;
use crate::db;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Startup(#[from] db::StartupError),
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
    let connections = Connections::default();
    let server = tokio::spawn(
        axum::serve(
            Counted {
                inner: listener,
                connections: connections.clone(),
            },
            gate.router(),
        )
        .with_graceful_shutdown(stopping.clone().cancelled_owned())
        .into_future(),
    );

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
) -> Result<App, db::StartupError> {
    gate.set_phase(Phase::Connecting);
    let mut db = db::connect_with_retry(config).await?;
    on_connected(&mut db);
    gate.set_phase(Phase::Migrating);
    db::prepare_schema(&db, config).await?;
    db::prepare_row_level_security(&db, config.db_row_level_security).await?;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Connecting = 0,
    Migrating = 1,
}

/// The router `axum::serve` runs from the start: a health answer until the
/// app is ready, the app's router afterwards.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    app: OnceLock<Router>,
    phase: AtomicU8,
}

impl Gate {
    fn router(&self) -> Router {
        Router::new().fallback(route).with_state(self.clone())
    }

    fn set_phase(&self, phase: Phase) {
        self.0.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn open(&self, app: Router) {
        let _ = self.0.app.set(app);
    }

    fn waiting_for(&self) -> &'static str {
        if self.0.phase.load(Ordering::Relaxed) == Phase::Migrating as u8 {
            "checking and migrating the database schema"
        } else {
            "waiting for the database"
        }
    }
}

async fn route(State(gate): State<Gate>, request: Request) -> Response {
    if let Some(app) = gate.0.app.get() {
        // Past this point the request is the server's: shutdown waits for it.
        tracing::debug!(
            target: "api::requests",
            method = %request.method(),
            path = request.uri().path(),
            "request received"
        );
        let Ok(response) = app.clone().oneshot(request).await;
        return response;
    }
    let waiting_for = gate.waiting_for();
    match request.uri().path() {
        "/healthz" => "ok".into_response(),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: starting, {waiting_for}"),
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            format!("the service is starting ({waiting_for}); try again shortly"),
        )
            .into_response(),
    }
}

/// How many connections are open, WebSockets included (an upgraded socket
/// keeps its connection's IO).
#[derive(Clone)]
struct Connections(Arc<watch::Sender<usize>>);

impl Default for Connections {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Connections {
    fn open(&self) -> OpenConnection {
        self.0.send_modify(|n| *n += 1);
        OpenConnection(self.0.clone())
    }

    fn count(&self) -> usize {
        *self.0.borrow()
    }

    async fn all_closed(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

struct OpenConnection(Arc<watch::Sender<usize>>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A listener whose connections count themselves open until dropped.
struct Counted<L> {
    inner: L,
    connections: Connections,
}

impl<L: Listener> Listener for Counted<L> {
    type Io = CountedIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        let io = CountedIo {
            io,
            _open: self.connections.open(),
        };
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

struct CountedIo<T> {
    io: T,
    _open: OpenConnection,
}

impl<T: AsyncRead + Unpin> AsyncRead for CountedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
