//! The to-do service as a library: configuration, database, service layer,
//! GraphQL schema and HTTP router. The `api` binary is a thin shell around it.

pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod server;
pub mod service;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::InProcessBus;

/// Everything the api serves, over a connected and migrated database.
pub struct App {
    pub router: Router,
    pub db: DatabaseConnection,
    /// Cancelled when shutdown begins (WebSockets watch it to close cleanly).
    pub shutdown: CancellationToken,
}

impl App {
    pub fn new(config: Arc<Config>, db: DatabaseConnection) -> Self {
        let schema = graphql::build_schema(db.clone(), Arc::new(InProcessBus::default()), &config);
        let shutdown = CancellationToken::new();
        let state = http::AppState {
            sdl: graphql::sdl_of(&schema).into(),
            engine: graphql::Engine::new(schema, db.clone(), &config),
            db: db.clone(),
            shutdown: shutdown.clone(),
            config,
        };
        Self {
            router: http::router(Arc::new(state)),
            db,
            shutdown,
        }
    }
}
