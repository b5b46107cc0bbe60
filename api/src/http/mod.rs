//! The HTTP surface: GraphQL over HTTP and WebSocket, GraphiQL, SDL, health
//! and metrics, behind the layers every request passes.

mod auth;
mod compression;
pub(crate) mod cors;
mod example_app;
mod execute;
pub mod graphiql;
mod graphql;
pub(crate) mod idempotency;
mod layers;
mod meta;
mod request;
mod responses;
mod state;
mod throttle;
mod websocket;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub(crate) use state::{AppState, SharedState};

pub(crate) fn router(state: SharedState) -> Router {
    let config = state.config.clone();
    let mut router = Router::new()
        .route("/", get(graphiql::serve_page))
        .route(
            &format!("{}/{{*path}}", graphiql::ROUTE),
            get(graphiql::serve_asset),
        )
        // Sign-in first: a request without a valid token never queues for
        // the limits.
        .route(
            "/graphql",
            graphql::route(&state)
                .layer::<_, std::convert::Infallible>(axum::middleware::from_fn_with_state(
                    state.clone(),
                    auth::require_token,
                ))
                .layer(compression::layer()),
        )
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz));
    // The SDL tells what introspection would: served only while
    // introspection is on (off in production unless switched on), else 404.
    if config.introspection() {
        router = router.route(
            "/schema.graphql",
            get(meta::schema_sdl).layer(compression::layer()),
        );
    }
    if config.serve_example_app {
        router = router.merge(example_app::routes());
    }
    if config.metrics_enabled
        && let Some(handle) = crate::metrics::install()
    {
        // Prometheus asks for gzip; its scrape is tens of KB of text.
        router = router.route(
            "/metrics",
            get(move |State(state): State<SharedState>| meta::metrics(handle, state))
                .layer(compression::layer()),
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
        .layer(axum::middleware::from_fn(layers::track_in_flight))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(layers::request_span)
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
        .layer(PropagateRequestIdLayer::new(layers::X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(
            layers::X_REQUEST_ID,
            MakeRequestUuid,
        ))
        .layer(axum::middleware::map_request(
            layers::drop_invalid_request_id,
        ))
        .with_state(state)
}
