//! What every handler shares, built once: handlers get it by `Arc`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::Hub;
use crate::graphql::Engine;
use crate::rate_limit::RateLimiter;

pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) engine: Engine,
    pub(crate) db: DatabaseConnection,
    /// This replica's view of the event log (readiness asks it).
    pub(crate) events: Arc<Hub>,
    /// Who a request is (bearer tokens), or the single user.
    pub(crate) auth: Arc<Authenticator>,
    /// The SDL, rendered once.
    pub(crate) sdl: Arc<str>,
    /// Cancelled when shutdown begins: long-lived sockets close themselves.
    pub(crate) shutdown: CancellationToken,
    /// Per-client rate limits; `None` when off.
    pub(crate) limiter: Option<Arc<RateLimiter>>,
}

impl AppState {
    /// Operations one batched request may hold: `GRAPHQL_MAX_BATCH`, and
    /// never more than a rate-limit bucket, which could never take them.
    pub(crate) fn max_batch(&self) -> usize {
        let max = self.config.graphql_limits.max_batch;
        match &self.limiter {
            Some(limiter) => max.min(usize::try_from(limiter.burst()).unwrap_or(usize::MAX)),
            None => max,
        }
    }
}

pub(crate) type SharedState = Arc<AppState>;
