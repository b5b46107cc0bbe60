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
use crate::error::AppResult;
use crate::service::Store;

/// Everything the api serves, over a connected and migrated database.
pub struct App {
    pub router: Router,
    pub db: DatabaseConnection,
    /// Cancelled when shutdown begins (WebSockets watch it to close cleanly,
    /// the event tasks stop).
    pub shutdown: CancellationToken,
}

impl App {
    /// Builds the app and starts its event tasks (they stop on `shutdown`).
    pub async fn start(config: Arc<Config>, db: DatabaseConnection) -> AppResult<Self> {
        let shutdown = CancellationToken::new();
        let hub = events::start(
            db.clone(),
            config.event_buffer,
            config.event_retention,
            &shutdown,
        )
        .await?;
        let store = Store {
            db: db.clone(),
            wake: hub.wake().clone(),
        };
        let schema = graphql::build_schema(store, hub.clone(), &config);
        let state = http::AppState {
            sdl: graphql::sdl_of(&schema).into(),
            engine: graphql::Engine::new(schema, db.clone(), &config),
            db: db.clone(),
            events: hub,
            shutdown: shutdown.clone(),
            config,
        };
        Ok(Self {
            router: http::router(Arc::new(state)),
            db,
            shutdown,
        })
    }
}
