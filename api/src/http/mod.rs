//! The HTTP surface: GraphQL over HTTP and WebSocket, GraphiQL, SDL and health.

mod cors;
mod example_app;
pub mod graphiql;
mod graphql;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::config::Config;
use crate::graphql::Engine;

/// What every handler shares, built once (handlers get it by `Arc`).
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Engine,
    pub db: DatabaseConnection,
    /// The SDL, rendered once.
    pub sdl: Arc<str>,
    /// Cancelled when shutdown begins: long-lived sockets close themselves.
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    let config = state.config.clone();
    let mut router = Router::new()
        .route("/", get(graphiql))
        .route(
            &format!("{}/{{*path}}", graphiql::ROUTE),
            get(graphiql::serve_asset),
        )
        .route("/graphql", graphql::route(&config.http_limits))
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if config.serve_example_app {
        router = router.merge(example_app::routes());
    }
    if config.metrics_enabled
        && let Some(handle) = crate::metrics::install()
    {
        router = router.route(
            "/metrics",
            get(move |State(state): State<SharedState>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    crate::metrics::render(&handle, &state.db),
                )
            }),
        );
    }
    // Browsers apply no CORS to WebSockets: the same origins, checked here.
    router = router.layer(axum::middleware::from_fn_with_state(
        config.cors_allowed_origins.clone(),
        cors::websocket_origin,
    ));
    // Inside the trace layer, so that preflights are traced too.
    if let Some(cors) = cors::layer(&config.cors_allowed_origins) {
        router = router.layer(cors);
    }
    // Outermost last: a sane request id first, then the span that carries
    // it, then the in-flight gauge.
    router
        .layer(axum::middleware::from_fn(track_in_flight))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(|response: &Response, latency: Duration, span: &Span| {
                    let status = response.status().as_u16();
                    span.record("status", status);
                    tracing::debug!(
                        status,
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "request finished"
                    );
                }),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_invalid_request_id))
        .with_state(state)
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Incoming request ids are honoured when they look like ids: at most 128
/// characters of letters, digits and `-_.:`, sent once. Others are replaced
/// by a generated one (they end up in logs and response headers).
async fn drop_invalid_request_id(mut request: Request) -> Request {
    let mut ids = request.headers().get_all(&X_REQUEST_ID).iter();
    let valid = match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(id), None) => {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= 128
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        }
        (Some(_), Some(_)) => false,
    };
    if !valid {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

/// One span per request: method, route, path (never the query string, which
/// may carry GraphQL variables) and request id.
fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = request.method().as_str();
    tracing::info_span!(
        "http.request",
        otel.name = %match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        },
        otel.kind = "server",
        method,
        route = route.unwrap_or_default(),
        path = request.uri().path(),
        request_id,
        status = tracing::field::Empty,
    )
}

async fn track_in_flight(request: Request, next: Next) -> Response {
    let in_flight = crate::metrics::InFlight::start();
    let response = next.run(request).await;
    in_flight.finish(response.status().as_u16());
    response
}

async fn graphiql(State(state): State<SharedState>) -> Response {
    if !state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    graphiql::page_response(state.config.graphiql.assets_url.0.as_deref())
}

async fn schema_sdl(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}

async fn readyz(State(state): State<SharedState>) -> Response {
    if crate::db::is_ready(&state.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable or schema behind",
        )
            .into_response()
    }
}
