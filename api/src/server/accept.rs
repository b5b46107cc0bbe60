//! The accept loop and one task per connection: admission against the
//! connection caps, hyper's HTTP/1 and HTTP/2 with upgrades, the
//! connection's watchdog, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::activity::{Activity, RequestBody, ResponseBody, Timeouts};
use super::connections::{Class, Connections, OpenConnection};
use super::io::ConnectionIo;
use crate::metrics::REFUSED_MAX_CONNECTIONS;

/// Paths a probe-only connection (over the cap) may ask for.
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];
/// Longest a probe-only connection has to send its request.
const PROBE_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts connections until `stopping`, then drops the listener (new
/// connections are refused) and asks every connection to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Connections,
    timeouts: Timeouts,
    stopping: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of file descriptors, most likely: the pending
                    // connections wait in the backlog meanwhile.
                    tracing::error!(error = %err, "accepting a connection failed; retrying in a second");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = stopping.cancelled() => break,
                    }
                }
            },
            () = stopping.cancelled() => break,
        };
        let open = match connections.admit(peer.ip()) {
            Ok(open) => open,
            Err(reason) => {
                crate::metrics::connection_refused(reason);
                tracing::debug!(%peer, reason, "refused a connection over its cap");
                continue;
            }
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            open,
            router.clone(),
            timeouts,
            stopping.clone(),
        ));
    }
    Ok(())
}

fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    open: OpenConnection,
    router: Router,
    timeouts: Timeouts,
    stopping: CancellationToken,
) {
    let probe_only = open.class() == Class::ProbeOnly;
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(ConnectionIo::new(stream, open, activity.clone()));
    let service = ConnectionService {
        router,
        peer,
        activity: activity.clone(),
        probe_only,
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // WebSockets over HTTP/2, as axum::serve allows them.
    builder.http2().enable_connect_protocol();
    let timeouts = if probe_only {
        builder.http1().keep_alive(false);
        Timeouts {
            header_read: timeouts.header_read.min(PROBE_HEADER_READ_TIMEOUT),
            ..timeouts
        }
    } else {
        timeouts
    };
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let expired = activity.expired(timeouts);
    tokio::pin!(expired);
    let mut finishing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::trace!(error = %err, "connection ended with an error");
                }
                return;
            }
            expired = &mut expired => {
                crate::metrics::connection_timed_out(expired.label());
                tracing::debug!(%peer, timeout = expired.label(), "closed a connection that was too slow or idle");
                return;
            }
            () = stopping.cancelled(), if !finishing => {
                // Idle connections close now, busy ones after their response.
                connection.as_mut().graceful_shutdown();
                finishing = true;
            }
        }
    }
}

/// The router, as hyper calls it for each request of one connection.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    probe_only: bool,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.activity.on_request(!request.body().is_end_stream());
        let connect = request.method() == Method::CONNECT;
        let mut request =
            request.map(|body| Body::new(RequestBody::new(body, self.activity.clone())));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        let probe_only = self.probe_only;
        Box::pin(async move {
            let response = if probe_only && !PROBE_PATHS.contains(&request.uri().path()) {
                over_capacity()
            } else {
                let Ok(response) = router.oneshot(request).await;
                response
            };
            let status = response.status();
            if status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success()) {
                busy.activity().on_upgrade();
            }
            Ok(response.map(|body| ResponseBody::new(body, busy)))
        })
    }
}

/// A request on a probe-only connection that is not a probe.
fn over_capacity() -> Response<Body> {
    crate::metrics::connection_refused(REFUSED_MAX_CONNECTIONS);
    let body = serde_json::json!({
        "errors": [{
            "message": "the server has too many connections open; retry shortly",
            "extensions": { "code": "SERVICE_UNAVAILABLE" },
        }]
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
