//! The to-do service as a library: configuration, database, service layer,
//! GraphQL schema and HTTP router. The `api` binary is a thin shell around it.

#![forbid(unsafe_code)]

pub mod admin;
pub(crate) mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod metrics;
pub(crate) mod net;
pub(crate) mod rate_limit;
pub mod seed;
pub mod server;
pub mod service;
pub(crate) mod store;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sea_orm::{DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::service::Store;

/// Why the api could not start: a setting, the database, the sign-in keys
/// or the trusted documents. Defined here, where the process starts, so the
/// modules that fail at start (db among them) need not know each other.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not reach the database at {url} within {waited:.1?}: {source}")]
    Unreachable {
        url: String,
        waited: Duration,
        #[source]
        source: DbErr,
    },
    #[error(
        "the database schema is behind: {pending} migration(s) pending. \
         Run `migration up` (with Docker: `docker compose run --rm migration up`) \
         or start the api with AUTO_MIGRATE=true"
    )]
    SchemaBehind { pending: usize },
    #[error("migrating the database failed: {0}")]
    Migration(#[source] DbErr),
    #[error("reading the event log failed: {0}")]
    Events(#[source] error::AppError),
    #[error("sign-in: {0}")]
    Auth(#[from] auth::AuthSetupError),
    #[error("trusted documents: {0}")]
    TrustedDocuments(#[from] graphql::engine::TrustedDocumentsError),
    #[error("DB_ROW_LEVEL_SECURITY: {0}")]
    RowLevelSecurity(String),
    #[error("SEARCH_LANGUAGE: {0}")]
    SearchLanguage(String),
    #[error("{var}: {reason}")]
    Setting { var: &'static str, reason: String },
}

/// Every setting that can be checked without the network or the database,
/// checked: the binary runs this before it listens or opens the database,
/// so a bad setting stops the start before anything is bound or created.
/// (What needs the network or the database, fetching a JWK set or the
/// database role, is checked when the app starts.)
pub fn check_settings(config: &Config) -> Result<(), StartupError> {
    Authenticator::check_settings(&config.auth)?;
    // Refused, not replaced by the default with a warning: the logs asked
    // for, or no start.
    tracing_subscriber::EnvFilter::try_new(&config.log_filter).map_err(|e| {
        StartupError::Setting {
            var: "RUST_LOG",
            reason: format!("{:?} is not a log filter: {e}", config.log_filter),
        }
    })?;
    graphql::Engine::load_trusted(config)?;
    config
        .otel
        .check()
        .map_err(|(var, reason)| StartupError::Setting { var, reason })?;
    config
        .relay
        .check()
        .map_err(|(var, reason)| StartupError::Setting { var, reason })?;
    if config.is_sqlite() {
        if config.db_row_level_security {
            return Err(StartupError::RowLevelSecurity(
                "row-level security needs PostgreSQL; unset it on SQLite".into(),
            ));
        }
        config
            .search_language
            .sqlite_tokenizer()
            .map_err(StartupError::SearchLanguage)?;
    }
    Ok(())
}

/// Everything the api serves, over a connected and migrated database.
pub struct App {
    pub router: Router,
    pub(crate) db: DatabaseConnection,
    /// Cancelled when shutdown begins (WebSockets watch it to close cleanly,
    /// the event tasks stop).
    pub shutdown: CancellationToken,
}

impl App {
    /// Builds the app and starts its event tasks (they stop on `shutdown`).
    pub async fn start(config: Arc<Config>, db: DatabaseConnection) -> Result<Self, StartupError> {
        let auth = Arc::new(Authenticator::from_settings(&config.auth).await?);
        let trusted = graphql::Engine::load_trusted(&config)?;
        let shutdown = CancellationToken::new();
        if config.metrics_enabled {
            // Before the event tasks start: their first series (the sinks'
            // zeros among them) must reach the recorder.
            metrics::install();
        }
        let hub = events::start(
            db.clone(),
            config.db_row_level_security,
            config.event_buffer,
            config.event_retention,
            &shutdown,
        )
        .await
        .map_err(StartupError::Events)?;
        events::relay::start(&hub, &config.relay, &shutdown).map_err(|reason| {
            StartupError::Setting {
                var: "EVENTS_WEBHOOK_URL",
                reason,
            }
        })?;
        let store = Store {
            db: db.clone(),
            wake: hub.commits().clone(),
            row_level_security: config.db_row_level_security,
            search_language: config.search_language.clone(),
        };
        service::reminders::spawn(store.clone(), config.reminders.clone(), &shutdown);
        let schema = graphql::build_schema(store.clone(), hub.clone(), &config);
        let single_user = !auth.requires_tokens();
        let sdl = graphql::sdl().into();
        let engine = graphql::Engine::new(schema, store, &config, single_user, trusted);
        let limiter = rate_limit::RateLimiter::from_settings(&config.rate_limit).map(Arc::new);
        if let Some(limiter) = &limiter {
            limiter.start_upkeep(&shutdown);
        }
        http::idempotency::start_expiry(db.clone(), config.idempotency_key_ttl, &shutdown);
        let state = http::AppState {
            sdl,
            engine,
            db: db.clone(),
            events: hub,
            auth,
            shutdown: shutdown.clone(),
            limiter,
            config,
        };
        Ok(Self {
            router: http::router(Arc::new(state)),
            db,
            shutdown,
        })
    }
}
