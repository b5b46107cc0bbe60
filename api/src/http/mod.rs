//! The HTTP surface: GraphQL over HTTP and WebSocket, GraphiQL, SDL and health.

mod cors;
mod example_app;
pub mod graphiql;
mod graphql;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

use crate::graphql::AppSchema;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    /// The SDL, rendered once.
    pub sdl: std::sync::Arc<str>,
    pub graphiql: bool,
    /// GRAPHIQL_ASSETS_URL: load GraphiQL's files from there.
    pub graphiql_assets_url: Option<std::sync::Arc<str>>,
    /// SERVE_EXAMPLE_APP: the example front-end under `/app/`.
    pub serve_example_app: bool,
    /// CORS_ALLOWED_ORIGINS.
    pub cors_allowed_origins: crate::config::CorsOrigins,
    pub graphql_limits: crate::config::GraphqlLimits,
    pub http_limits: crate::config::HttpLimits,
    /// Cancelled when shutdown begins: long-lived sockets close themselves.
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(graphiql))
        .route(
            &format!("{}/{{*path}}", graphiql::ROUTE),
            get(graphiql::serve_asset),
        )
        .route(
            "/graphql",
            get(graphql::get_or_websocket).post(graphql::post),
        )
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.serve_example_app {
        router = router.merge(example_app::routes());
    }
    // Browsers apply no CORS to WebSockets: the same origins, checked here.
    router = router.layer(axum::middleware::from_fn_with_state(
        state.cors_allowed_origins.clone(),
        cors::websocket_origin,
    ));
    // Inside the trace layer, so that preflights are traced too.
    if let Some(cors) = cors::layer(&state.cors_allowed_origins) {
        router = router.layer(cors);
    }
    router.layer(TraceLayer::new_for_http()).with_state(state)
}

async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    graphiql::page_response(state.graphiql_assets_url.as_deref())
}

async fn schema_sdl(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
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
