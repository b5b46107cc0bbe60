//! Configuration, declared once: every setting is an environment variable
//! (read after `.env`), with its default, checked when the process starts.
//! `api serve --help` lists them all; `.env.example` documents each one (a
//! test keeps the two in step).
//!
//! Each subsystem declares its own settings beside its code (`AuthSettings`
//! in `auth/settings.rs`, `HttpLimits` in `server/settings.rs`, ...);
//! [`Config`] flattens them together with the settings that belong to the
//! process as a whole. `env.rs` reads them from the environment or from any
//! lookup, so no other module reads the environment; `values.rs` holds the
//! value types and parsers the declarations share.

mod env;
pub(crate) mod values;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub(crate) use crate::net::TrustedProxies;
pub use env::{describe_error, load_dotenv};
pub use values::redact;
pub(crate) use values::{parse_hours, parse_limit, parse_secs};

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use secrecy::{ExposeSecret, SecretString};

/// `todo.db` in the working directory, created if missing (the `migration`
/// tool's default too).
pub(crate) const DEFAULT_DATABASE_URL: &str = migration::DEFAULT_DATABASE_URL;

/// Every setting of the api.
#[derive(Debug, Clone, Parser)]
#[command(name = "api serve", about = None, long_about = None)]
pub struct Config {
    /// sqlite:PATH (the embedded default) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          value_parser = parse_database_url, hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Address to listen on; 0.0.0.0 in containers.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,

    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub(crate) port: u16,

    /// Pool size. Default: 1 on SQLite (one writer), 10 on PostgreSQL.
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_name = "DB_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) db_max_connections: Option<u32>,

    /// Seconds to keep retrying an unreachable database at start.
    #[arg(long = "db-connect-timeout-secs", env = "DB_CONNECT_TIMEOUT_SECS", value_name = "DB_CONNECT_TIMEOUT_SECS",
          default_value = "30", value_parser = parse_secs)]
    pub(crate) db_connect_timeout: Duration,

    /// Apply pending migrations at start on PostgreSQL too (SQLite always does).
    #[arg(long, env = "AUTO_MIGRATE", value_name = "AUTO_MIGRATE", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) auto_migrate: bool,

    /// development or production (production closes introspection,
    /// suggestions and GraphiQL unless they are switched on).
    #[arg(
        long,
        env = "APP_ENV",
        value_name = "APP_ENV",
        value_enum,
        default_value = "development",
        ignore_case = true
    )]
    pub(crate) app_env: AppEnv,

    /// Log filter (tracing's EnvFilter syntax), e.g. info,api=debug.
    #[arg(long = "rust-log", env = "RUST_LOG", value_name = "RUST_LOG", default_value = DEFAULT_LOG_FILTER)]
    pub(crate) log_filter: String,

    /// pretty (for people) or json (for log pipelines).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub(crate) log_format: LogFormat,

    /// Prometheus text at GET /metrics.
    #[arg(long, env = "METRICS_ENABLED", value_name = "METRICS_ENABLED", default_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) metrics_enabled: bool,

    #[command(flatten)]
    pub graphiql: crate::http::graphiql::settings::GraphiqlSettings,

    /// Origins whose pages may call the API from a browser, comma-separated
    /// (scheme://host[:port]); `*` alone for any; empty for none.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = crate::http::cors::origins::parse_origins)]
    pub(crate) cors_allowed_origins: crate::http::cors::origins::CorsOrigins,

    /// Serve the example front-end under /app/.
    #[arg(long, env = "SERVE_EXAMPLE_APP", value_name = "SERVE_EXAMPLE_APP", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) serve_example_app: bool,

    #[command(flatten)]
    pub(crate) graphql_limits: crate::graphql::engine::settings::GraphqlLimits,

    #[command(flatten)]
    pub(crate) http_limits: crate::server::settings::HttpLimits,

    #[command(flatten)]
    pub(crate) persisted: crate::graphql::engine::settings::PersistedSettings,

    #[command(flatten)]
    pub(crate) rate_limit: crate::rate_limit::settings::RateLimitSettings,

    /// Proxies (CIDR ranges or addresses, comma-separated) whose
    /// X-Forwarded-For names the client; they are exempt from the
    /// per-client connection cap. Empty: none.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", default_value = "",
          value_parser = TrustedProxies::parse)]
    pub(crate) trusted_proxies: TrustedProxies,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long = "shutdown-grace-secs", env = "SHUTDOWN_GRACE_SECS", value_name = "SHUTDOWN_GRACE_SECS", default_value = "20",
          value_parser = parse_secs)]
    pub(crate) shutdown_grace: Duration,

    /// Hours events are kept for subscribers to resume from (fractions
    /// allowed); older cursors get CURSOR_EXPIRED.
    #[arg(long = "event-retention-hours", env = "EVENT_RETENTION_HOURS", value_name = "EVENT_RETENTION_HOURS",
          default_value = "168", value_parser = parse_hours)]
    pub(crate) event_retention: Duration,

    /// Recent events each replica keeps in memory for its subscribers; one
    /// further behind reads the rest from the table.
    #[arg(long = "event-buffer-size", env = "EVENT_BUFFER_SIZE", value_name = "EVENT_BUFFER_SIZE",
          default_value = "4096", value_parser = parse_limit)]
    pub(crate) event_buffer: usize,

    /// Hours a POST's `Idempotency-Key` is remembered (fractions allowed):
    /// a repeat within them gets the stored response; later, it runs again.
    #[arg(long = "idempotency-key-ttl-hours", env = "IDEMPOTENCY_KEY_TTL_HOURS", value_name = "IDEMPOTENCY_KEY_TTL_HOURS",
          default_value = "24", value_parser = parse_hours)]
    pub(crate) idempotency_key_ttl: Duration,

    #[command(flatten)]
    pub(crate) auth: crate::auth::settings::AuthSettings,

    /// PostgreSQL only: enforce owners with row-level security too, as
    /// defence in depth (every statement then runs in a transaction that
    /// names its owner). Change it on all replicas at once.
    #[arg(long = "db-row-level-security", env = "DB_ROW_LEVEL_SECURITY", value_name = "DB_ROW_LEVEL_SECURITY",
          default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub(crate) db_row_level_security: bool,

    /// Language of task search: a text search configuration (english,
    /// simple for no stemming, german, ...; SQLite: english or simple). The
    /// search index is built in it when the migration runs, so the
    /// `migration` tool must get the same value; a different one stops the
    /// start.
    #[arg(long = "search-language", env = "SEARCH_LANGUAGE", value_name = "SEARCH_LANGUAGE",
          default_value = migration::SearchLanguage::DEFAULT, value_parser = migration::SearchLanguage::parse)]
    pub(crate) search_language: migration::SearchLanguage,

    #[command(flatten)]
    pub(crate) otel: crate::telemetry::settings::OtelSettings,

    #[command(flatten)]
    pub(crate) relay: crate::events::relay::settings::RelaySettings,

    #[command(flatten)]
    pub(crate) reminders: crate::service::reminders::ReminderSettings,
}

pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AppEnv {
    #[value(alias = "dev")]
    Development,
    #[value(alias = "prod")]
    Production,
}

/// `DATABASE_URL`: shown without its password.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub(crate) fn new(url: &str) -> Self {
        Self(url.into())
    }

    /// The URL, password included, for connecting.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact(self.expose()))
            .finish()
    }
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, String> {
    let url = url.trim();
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(DatabaseUrl::new(url))
    } else {
        Err("expected sqlite:PATH or postgres://USER@HOST/DB".into())
    }
}

impl Config {
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }

    fn open_by_default(&self) -> bool {
        self.app_env == AppEnv::Development
    }

    pub(crate) fn introspection(&self) -> bool {
        self.graphql_limits
            .introspection
            .unwrap_or_else(|| self.open_by_default())
    }

    pub(crate) fn suggestions(&self) -> bool {
        self.graphql_limits
            .suggestions
            .unwrap_or_else(|| self.introspection())
    }

    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql
            .enabled
            .unwrap_or_else(|| self.open_by_default())
    }
}

/// A configuration from `(variable, value)` pairs, for unit tests.
#[cfg(test)]
pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> Result<Config, env::ConfigError> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[cfg(test)]
mod tests {
    use super::values::Optional;
    use super::*;
    use crate::http::cors::CorsOrigins;
    use crate::http::graphiql::settings::AssetsUrl;
    use clap::CommandFactory;

    use super::from_pairs as config;

    #[test]
    fn the_declaration_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_to_sqlite_on_localhost() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(c.listen_addr().to_string(), "127.0.0.1:8080");
        assert!(c.is_sqlite());
        assert_eq!(c.db_connect_timeout, Duration::from_secs(30));
        assert_eq!(c.graphql_limits.max_depth, 10);
        assert_eq!(c.http_limits.max_body_bytes, 256 * 1024);
        assert_eq!(c.otel.service_name, "todo-api");
        assert_eq!(c.otel.endpoint, Optional(None));
        assert_eq!(c.idempotency_key_ttl, Duration::from_secs(24 * 3600));
        let short = config(&[("IDEMPOTENCY_KEY_TTL_HOURS", "0.5")]).unwrap();
        assert_eq!(short.idempotency_key_ttl, Duration::from_secs(1800));
        for bad in ["0", "-1", "soon"] {
            let err = config(&[("IDEMPOTENCY_KEY_TTL_HOURS", bad)]).unwrap_err();
            assert_eq!(err.var, "IDEMPOTENCY_KEY_TTL_HOURS", "{bad}");
        }
    }

    #[test]
    fn blank_lists_are_empty_and_blank_numbers_are_errors() {
        let c = config(&[("CORS_ALLOWED_ORIGINS", ""), ("GRAPHIQL_ASSETS_URL", " ")]).unwrap();
        assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
        assert_eq!(c.graphiql.assets_url, AssetsUrl(None));
        assert_eq!(config(&[("PORT", "")]).unwrap_err().var, "PORT");
    }

    #[test]
    fn new_settings_default_to_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
        assert!(!c.serve_example_app);
        assert_eq!(c.graphiql.assets_url, AssetsUrl(None));
    }

    #[test]
    fn metrics_are_on_unless_switched_off() {
        assert!(config(&[]).unwrap().metrics_enabled);
        assert!(
            !config(&[("METRICS_ENABLED", "false")])
                .unwrap()
                .metrics_enabled
        );
        assert_eq!(
            config(&[("METRICS_ENABLED", "maybe")]).unwrap_err().var,
            "METRICS_ENABLED"
        );
    }

    #[test]
    fn serve_example_app_is_a_bool() {
        assert!(
            config(&[("SERVE_EXAMPLE_APP", "true")])
                .unwrap()
                .serve_example_app
        );
        assert_eq!(
            config(&[("SERVE_EXAMPLE_APP", "sure")]).unwrap_err().var,
            "SERVE_EXAMPLE_APP"
        );
    }

    #[test]
    fn production_closes_introspection_and_graphiql_unless_asked() {
        let dev = config(&[]).unwrap();
        assert!(dev.graphiql_enabled() && dev.introspection() && dev.suggestions());
        let prod = config(&[("APP_ENV", "production")]).unwrap();
        assert_eq!(prod.app_env, AppEnv::Production);
        assert!(!prod.graphiql_enabled() && !prod.introspection());
        assert!(!prod.suggestions());
        assert_eq!(
            config(&[("APP_ENV", "PROD")]).unwrap().app_env,
            AppEnv::Production
        );
        let opened =
            config(&[("APP_ENV", "production"), ("GRAPHQL_INTROSPECTION", "true")]).unwrap();
        assert!(opened.introspection() && opened.suggestions());
        assert_eq!(
            config(&[("APP_ENV", "staging")]).unwrap_err().var,
            "APP_ENV"
        );
    }

    #[test]
    fn trusted_proxies_are_ranges() {
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).unwrap();
        assert!(c.trusted_proxies.trusts("10.9.8.7".parse().unwrap()));
        assert!(c.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
        assert!(!c.trusted_proxies.trusts("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn search_language_is_a_configuration_name() {
        assert_eq!(config(&[]).unwrap().search_language.as_str(), "english");
        let c = config(&[("SEARCH_LANGUAGE", "Simple")]).unwrap();
        assert_eq!(c.search_language.as_str(), "simple");
        for bad in ["", "english'", "english; drop table tasks", "en glish"] {
            assert_eq!(
                config(&[("SEARCH_LANGUAGE", bad)]).unwrap_err().var,
                "SEARCH_LANGUAGE",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn formatting_the_configuration_shows_no_secret() {
        let c = config(&[
            ("DATABASE_URL", "postgres://todo:s3cr3t-db@db:5432/todo"),
            ("AUTH_JWT_SECRET", "s3cr3t-jwt-s3cr3t-jwt-s3cr3t-jwt-s3cr3t"),
            (
                "EVENTS_WEBHOOK_URL",
                "https://hooks.example.com/todo?token=s3cr3t-hook",
            ),
            (
                "EVENTS_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            ("EVENTS_AMQP_URL", "amqp://todo:s3cr3t-amqp@rabbit:5672/%2f"),
            ("EVENTS_REDIS_URL", "redis://:s3cr3t-redis@redis:6379/0"),
            ("EVENTS_NATS_URL", "nats://todo:s3cr3t-nats@nats:4222"),
        ])
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in ["s3cr3t", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        // Still there for whoever needs them.
        assert!(
            shown.contains("postgres://todo:***@db:5432/todo"),
            "{shown}"
        );
        assert_eq!(c.auth.jwt_secret.get().map(str::len), Some(39));
    }
}
