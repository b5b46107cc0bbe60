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

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{EventBus, InProcessBus};

/// A ready-to-serve application: the router and the pool behind it.
pub struct App {
    pub router: Router,
    pub db: DatabaseConnection,
    /// Cancelled when shutdown begins (WebSockets watch it to close cleanly).
    pub shutdown: CancellationToken,
}

impl App {
    /// Connects (waiting for the database), checks or applies migrations and
    /// builds the router.
    pub async fn build(config: &Config) -> Result<Self, db::StartupError> {
        let db = db::connect_with_retry(config).await?;
        db::prepare_schema(&db, config).await?;
        Ok(Self::with_database(
            config,
            db,
            Arc::new(InProcessBus::default()),
        ))
    }

    pub fn with_database(
        config: &Config,
        db: DatabaseConnection,
        events: Arc<dyn EventBus>,
    ) -> Self {
        let schema = graphql::build_schema(db.clone(), events, &config.graphql_limits);
        let shutdown = CancellationToken::new();
        let state = http::AppState {
            graphql_limits: config.graphql_limits.clone(),
            http_limits: config.http_limits.clone(),
            shutdown: shutdown.clone(),
            sdl: schema.sdl().into(),
            schema,
            db: db.clone(),
            graphiql: config.graphiql,
            graphiql_assets_url: config.graphiql_assets_url.as_deref().map(Into::into),
            serve_example_app: config.serve_example_app,
            cors_allowed_origins: config.cors_allowed_origins.clone(),
            metrics_enabled: config.metrics_enabled,
        };
        Self {
            router: http::router(state),
            db,
            shutdown,
        }
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shutdown.clone();
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                token.cancel();
            })
            .await
    }
}
