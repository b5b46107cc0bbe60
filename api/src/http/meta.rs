//! The small routes: health, readiness, the SDL and the metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;

use super::state::SharedState;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the database answers, its schema is current, and live events
/// arrive (the replica's listener is connected).
pub(crate) async fn readyz(State(state): State<SharedState>) -> Response {
    if !crate::db::is_ready(&state.db).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable or schema behind",
        )
            .into_response();
    }
    if !state.events.is_listening() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the event listener is reconnecting",
        )
            .into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

pub(crate) async fn schema_sdl(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}

/// Prometheus text, with the pool sampled now.
pub(crate) async fn metrics(handle: PrometheusHandle, state: SharedState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&handle, &state.db),
    )
        .into_response()
}
