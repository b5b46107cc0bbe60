//! The router served from the start: a health answer while the database is
//! reached and migrated, the app's router once it is ready.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Connecting = 0,
    Migrating = 1,
}

/// The router the server runs from the start: a health answer until the
/// app is ready, the app's router afterwards.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    app: OnceLock<Router>,
    phase: AtomicU8,
}

impl Gate {
    pub(crate) fn router(&self) -> Router {
        Router::new().fallback(route).with_state(self.clone())
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.0.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub(crate) fn open(&self, app: Router) {
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
