//! What every handler shares, built once: handlers get it by `Arc`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::Hub;
use crate::graphql::Engine;

pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Engine,
    pub db: DatabaseConnection,
    /// This replica's view of the event log (readiness asks it).
    pub events: Arc<Hub>,
    /// Who a request is (bearer tokens), or the single user.
    pub auth: Arc<Authenticator>,
    /// The SDL, rendered once.
    pub sdl: Arc<str>,
    /// Cancelled when shutdown begins: long-lived sockets close themselves.
    pub shutdown: CancellationToken,
}

pub type SharedState = Arc<AppState>;
