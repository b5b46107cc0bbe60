//! The HTTP surface: GraphQL over HTTP and WebSocket, GraphiQL, SDL and health.

mod graphql;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(graphiql))
        .route(
            "/graphql",
            get(graphql::get_or_websocket).post(graphql::post),
        )
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("To-do GraphQL")
            .finish(),
    )
    .into_response()
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
