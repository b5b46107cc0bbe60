//! Configuration, declared once: every setting is an environment variable
//! (read after `.env`), with its default, checked when the process starts.
//! `api serve --help` lists them all; `.env.example` documents each one (a
//! test keeps the two in step).
//!
//! The same declaration serves two sources: the process environment (the
//! binary) and any lookup function (tests and the bench pass maps), so no
//! other module reads the environment.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::error::Error as _;

pub use crate::net::TrustedProxies;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue};
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser};
use secrecy::{ExposeSecret, SecretString};

/// `todo.db` in the working directory, created if missing (the `migration`
/// tool's default too).
pub const DEFAULT_DATABASE_URL: &str = migration::DEFAULT_DATABASE_URL;

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
    pub host: IpAddr,

    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Pool size. Default: 1 on SQLite (one writer), 10 on PostgreSQL.
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_name = "DB_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: Option<u32>,

    /// Seconds to keep retrying an unreachable database at start.
    #[arg(long = "db-connect-timeout-secs", env = "DB_CONNECT_TIMEOUT_SECS", value_name = "DB_CONNECT_TIMEOUT_SECS",
          default_value = "30", value_parser = parse_secs)]
    pub db_connect_timeout: Duration,

    /// Apply pending migrations at start on PostgreSQL too (SQLite always does).
    #[arg(long, env = "AUTO_MIGRATE", value_name = "AUTO_MIGRATE", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub auto_migrate: bool,

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
    pub app_env: AppEnv,

    /// Log filter (tracing's EnvFilter syntax), e.g. info,api=debug.
    #[arg(long = "rust-log", env = "RUST_LOG", value_name = "RUST_LOG", default_value = DEFAULT_LOG_FILTER)]
    pub log_filter: String,

    /// pretty (for people) or json (for log pipelines).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Prometheus text at GET /metrics.
    #[arg(long, env = "METRICS_ENABLED", value_name = "METRICS_ENABLED", default_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub metrics_enabled: bool,

    #[command(flatten)]
    pub graphiql: GraphiqlSettings,

    /// Origins whose pages may call the API from a browser, comma-separated
    /// (scheme://host[:port]); `*` alone for any; empty for none.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = parse_origins)]
    pub cors_allowed_origins: CorsOrigins,

    /// Serve the example front-end under /app/.
    #[arg(long, env = "SERVE_EXAMPLE_APP", value_name = "SERVE_EXAMPLE_APP", default_value = "false", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub serve_example_app: bool,

    #[command(flatten)]
    pub graphql_limits: GraphqlLimits,

    #[command(flatten)]
    pub http_limits: HttpLimits,

    #[command(flatten)]
    pub persisted: PersistedSettings,

    #[command(flatten)]
    pub rate_limit: RateLimitSettings,

    /// Proxies (CIDR ranges or addresses, comma-separated) whose
    /// X-Forwarded-For names the client; they are exempt from the
    /// per-client connection cap. Empty: none.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", default_value = "",
          value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long = "shutdown-grace-secs", env = "SHUTDOWN_GRACE_SECS", value_name = "SHUTDOWN_GRACE_SECS", default_value = "20",
          value_parser = parse_secs)]
    pub shutdown_grace: Duration,

    /// Hours events are kept for subscribers to resume from (fractions
    /// allowed); older cursors get CURSOR_EXPIRED.
    #[arg(long = "event-retention-hours", env = "EVENT_RETENTION_HOURS", value_name = "EVENT_RETENTION_HOURS",
          default_value = "168", value_parser = parse_hours)]
    pub event_retention: Duration,

    /// Recent events each replica keeps in memory for its subscribers; one
    /// further behind reads the rest from the table.
    #[arg(long = "event-buffer-size", env = "EVENT_BUFFER_SIZE", value_name = "EVENT_BUFFER_SIZE",
          default_value = "4096", value_parser = parse_limit)]
    pub event_buffer: usize,

    /// Hours a POST's `Idempotency-Key` is remembered (fractions allowed):
    /// a repeat within them gets the stored response; later, it runs again.
    #[arg(long = "idempotency-key-ttl-hours", env = "IDEMPOTENCY_KEY_TTL_HOURS", value_name = "IDEMPOTENCY_KEY_TTL_HOURS",
          default_value = "24", value_parser = parse_hours)]
    pub idempotency_key_ttl: Duration,

    #[command(flatten)]
    pub auth: AuthSettings,

    /// PostgreSQL only: enforce owners with row-level security too, as
    /// defence in depth (every statement then runs in a transaction that
    /// names its owner). Change it on all replicas at once.
    #[arg(long = "db-row-level-security", env = "DB_ROW_LEVEL_SECURITY", value_name = "DB_ROW_LEVEL_SECURITY",
          default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub db_row_level_security: bool,

    /// Language of task search: a text search configuration (english,
    /// simple for no stemming, german, ...; SQLite: english or simple). The
    /// search index is built in it when the migration runs, so the
    /// `migration` tool must get the same value; a different one stops the
    /// start.
    #[arg(long = "search-language", env = "SEARCH_LANGUAGE", value_name = "SEARCH_LANGUAGE",
          default_value = migration::SearchLanguage::DEFAULT, value_parser = migration::SearchLanguage::parse)]
    pub search_language: migration::SearchLanguage,

    #[command(flatten)]
    pub otel: OtelSettings,

    #[command(flatten)]
    pub relay: crate::events::relay::RelaySettings,

    #[command(flatten)]
    pub reminders: crate::service::reminders::ReminderSettings,
}

/// Sign-in with bearer tokens; none of the key settings: single-user mode.
/// Turning sign-in on leaves the rows of single-user mode with the built-in
/// owner, out of every token's reach, until `api transfer-owner` moves them.
#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// HS256 secret (at least 32 bytes) that tokens are signed with. With
    /// any key setting, the rows written without sign-in stay the built-in
    /// owner's, invisible to tokens, until `api transfer-owner --to SUBJECT`.
    #[arg(long = "auth-jwt-secret", env = "AUTH_JWT_SECRET", value_name = "AUTH_JWT_SECRET",
          default_value = "", value_parser = parse_secret, hide_env_values = true,
          hide_default_value = true)]
    pub jwt_secret: Secret,
    /// An identity provider's JWK set (RS256, ES256, EdDSA keys by kid):
    /// fetched at start, fetched again for an unknown kid (at most once a minute).
    #[arg(long = "auth-jwks-url", env = "AUTH_JWKS_URL", value_name = "AUTH_JWKS_URL",
          default_value = "", value_parser = parse_optional)]
    pub jwks_url: Optional,
    /// The same kind of JWK set, from a file.
    #[arg(long = "auth-jwks-file", env = "AUTH_JWKS_FILE", value_name = "AUTH_JWKS_FILE",
          default_value = "", value_parser = parse_optional)]
    pub jwks_file: Optional,
    /// Required `iss` of tokens, if set.
    #[arg(long = "auth-issuer", env = "AUTH_ISSUER", value_name = "AUTH_ISSUER",
          default_value = "", value_parser = parse_optional)]
    pub issuer: Optional,
    /// Required `aud` of tokens, if set.
    #[arg(long = "auth-audience", env = "AUTH_AUDIENCE", value_name = "AUTH_AUDIENCE",
          default_value = "", value_parser = parse_optional)]
    pub audience: Optional,
    /// Seconds of clock skew allowed on `exp` and `nbf`; an open WebSocket
    /// is closed when its token's `exp` plus this has passed.
    #[arg(long = "auth-leeway-secs", env = "AUTH_LEEWAY_SECS", value_name = "AUTH_LEEWAY_SECS",
          default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub leeway_secs: u64,
}

pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppEnv {
    #[value(alias = "dev")]
    Development,
    #[value(alias = "prod")]
    Production,
}

/// The GraphiQL page at `/`.
#[derive(Debug, Clone, Args)]
pub struct GraphiqlSettings {
    /// Serve GraphiQL at /. Default: on in development, off in production.
    #[arg(long = "graphiql", env = "GRAPHIQL", value_name = "GRAPHIQL", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub enabled: Option<bool>,

    /// Base URL (npm-CDN layout) or path to load GraphiQL's files from
    /// instead of the api itself.
    #[arg(long = "graphiql-assets-url", env = "GRAPHIQL_ASSETS_URL", value_name = "GRAPHIQL_ASSETS_URL", default_value = "",
          value_parser = parse_assets_url)]
    pub assets_url: AssetsUrl,
}

/// `GRAPHIQL_ASSETS_URL`: without a trailing slash; `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetsUrl(pub Option<String>);

/// Abuse limits on GraphQL documents, checked before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct GraphqlLimits {
    /// Nesting of selection sets.
    #[arg(long = "graphql-max-depth", env = "GRAPHQL_MAX_DEPTH", value_name = "GRAPHQL_MAX_DEPTH", default_value = "10",
          value_parser = parse_limit)]
    pub max_depth: usize,
    /// Each field costs 1; a connection costs its page size (first/last,
    /// default 20) times its selection.
    #[arg(long = "graphql-max-complexity", env = "GRAPHQL_MAX_COMPLEXITY", value_name = "GRAPHQL_MAX_COMPLEXITY", default_value = "5000",
          value_parser = parse_limit)]
    pub max_complexity: usize,
    /// Nesting the parser accepts (fragments, lists, objects).
    #[arg(long = "graphql-max-recursive-depth", env = "GRAPHQL_MAX_RECURSIVE_DEPTH", value_name = "GRAPHQL_MAX_RECURSIVE_DEPTH",
          default_value = "32", value_parser = parse_limit)]
    pub max_recursive_depth: usize,
    /// Directives on one field.
    #[arg(long = "graphql-max-directives", env = "GRAPHQL_MAX_DIRECTIVES", value_name = "GRAPHQL_MAX_DIRECTIVES", default_value = "10",
          value_parser = parse_limit)]
    pub max_directives: usize,
    /// Aliases in the whole document.
    #[arg(long = "graphql-max-aliases", env = "GRAPHQL_MAX_ALIASES", value_name = "GRAPHQL_MAX_ALIASES", default_value = "30",
          value_parser = parse_limit)]
    pub max_aliases: usize,
    /// Fields selected at the root of an operation.
    #[arg(long = "graphql-max-root-fields", env = "GRAPHQL_MAX_ROOT_FIELDS", value_name = "GRAPHQL_MAX_ROOT_FIELDS", default_value = "20",
          value_parser = parse_limit)]
    pub max_root_fields: usize,
    /// Size of the query text in bytes.
    #[arg(long = "graphql-max-document-bytes", env = "GRAPHQL_MAX_DOCUMENT_BYTES", value_name = "GRAPHQL_MAX_DOCUMENT_BYTES",
          default_value = "16384", value_parser = parse_limit)]
    pub max_document_bytes: usize,
    /// Lexical tokens in the query text.
    #[arg(long = "graphql-max-tokens", env = "GRAPHQL_MAX_TOKENS", value_name = "GRAPHQL_MAX_TOKENS", default_value = "2000",
          value_parser = parse_limit)]
    pub max_tokens: usize,
    /// Operations in one batched HTTP request.
    #[arg(long = "graphql-max-batch", env = "GRAPHQL_MAX_BATCH", value_name = "GRAPHQL_MAX_BATCH", default_value = "10",
          value_parser = parse_limit)]
    pub max_batch: usize,
    /// `__schema`/`__type` queries, and the SDL at GET /schema.graphql (404
    /// while off). Default: on in development, off in production.
    #[arg(long = "graphql-introspection", env = "GRAPHQL_INTROSPECTION", value_name = "GRAPHQL_INTROSPECTION", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub introspection: Option<bool>,
    /// "Did you mean ...?" hints in validation errors. Default: as introspection.
    #[arg(long = "graphql-suggestions", env = "GRAPHQL_SUGGESTIONS", value_name = "GRAPHQL_SUGGESTIONS", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub suggestions: Option<bool>,
}

/// Limits on the HTTP and WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HttpLimits {
    /// Larger request bodies get 413.
    #[arg(long = "http-max-body-bytes", env = "HTTP_MAX_BODY_BYTES", value_name = "HTTP_MAX_BODY_BYTES", default_value = "262144",
          value_parser = parse_limit)]
    pub max_body_bytes: usize,
    /// Seconds a /graphql request may take before it gets 503.
    #[arg(long = "http-request-timeout-secs", env = "HTTP_REQUEST_TIMEOUT_SECS", value_name = "HTTP_REQUEST_TIMEOUT_SECS",
          default_value = "30", value_parser = parse_secs)]
    pub request_timeout: Duration,
    /// /graphql requests served at once; more are shed with 503.
    #[arg(long = "http-max-concurrent-requests", env = "HTTP_MAX_CONCURRENT_REQUESTS", value_name = "HTTP_MAX_CONCURRENT_REQUESTS",
          default_value = "512", value_parser = parse_limit)]
    pub max_concurrent_requests: usize,
    /// Seconds a WebSocket has to send connection_init (close 4408 after).
    #[arg(long = "ws-init-timeout-secs", env = "WS_INIT_TIMEOUT_SECS", value_name = "WS_INIT_TIMEOUT_SECS", default_value = "10",
          value_parser = parse_secs)]
    pub ws_init_timeout: Duration,
    /// Operations running at once on one WebSocket.
    #[arg(long = "ws-max-subscriptions", env = "WS_MAX_SUBSCRIPTIONS", value_name = "WS_MAX_SUBSCRIPTIONS", default_value = "20",
          value_parser = parse_limit)]
    pub ws_max_subscriptions: usize,
    /// Seconds between server pings on a WebSocket; a peer silent for three
    /// intervals is dropped.
    #[arg(long = "ws-keepalive-secs", env = "WS_KEEPALIVE_SECS", value_name = "WS_KEEPALIVE_SECS", default_value = "30",
          value_parser = parse_secs)]
    pub ws_keepalive: Duration,
    /// Seconds a client has to send a request's headers, from its first
    /// byte (from the connection's start for the first request).
    #[arg(long = "http-header-read-timeout-secs", env = "HTTP_HEADER_READ_TIMEOUT_SECS", value_name = "HTTP_HEADER_READ_TIMEOUT_SECS",
          default_value = "10", value_parser = parse_secs)]
    pub header_read_timeout: Duration,
    /// Seconds a connection may wait, idle, for its next request; keep it
    /// above the idle timeout of the load balancer in front.
    #[arg(long = "http-keepalive-timeout-secs", env = "HTTP_KEEPALIVE_TIMEOUT_SECS", value_name = "HTTP_KEEPALIVE_TIMEOUT_SECS",
          default_value = "75", value_parser = parse_secs)]
    pub keepalive_timeout: Duration,
    /// Open connections (WebSockets included); more are closed at once.
    #[arg(long = "http-max-connections", env = "HTTP_MAX_CONNECTIONS", value_name = "HTTP_MAX_CONNECTIONS",
          default_value = "10000", value_parser = parse_limit)]
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64); trusted
    /// proxies are exempt.
    #[arg(long = "http-max-connections-per-client", env = "HTTP_MAX_CONNECTIONS_PER_CLIENT",
          value_name = "HTTP_MAX_CONNECTIONS_PER_CLIENT", default_value = "1000", value_parser = parse_limit)]
    pub max_connections_per_client: usize,
}

/// Per-client rate limits on GraphQL operations; off unless
/// `RATE_LIMIT_PER_SECOND` is set.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct RateLimitSettings {
    /// Operations per second each client may run on average (fractions
    /// allowed); unset: no rate limit.
    #[arg(long = "rate-limit-per-second", env = "RATE_LIMIT_PER_SECOND", value_name = "RATE_LIMIT_PER_SECOND",
          value_parser = parse_rate)]
    pub per_second: Option<f64>,
    /// Operations a client may run at once after a quiet spell. Default: one
    /// second's worth (at least 1).
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", value_name = "RATE_LIMIT_BURST",
          requires = "per_second", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub burst: Option<u32>,
    /// Clients the limiter keeps a bucket for at once; new clients beyond
    /// it share one bucket until buckets of quiet clients are dropped.
    #[arg(long = "rate-limit-max-clients", env = "RATE_LIMIT_MAX_CLIENTS", value_name = "RATE_LIMIT_MAX_CLIENTS",
          default_value = "100000", value_parser = parse_limit)]
    pub max_clients: usize,
}

impl RateLimitSettings {
    /// The bucket size in force, `None` when rate limiting is off.
    pub fn effective_burst(&self) -> Option<u32> {
        let rate = self.per_second?;
        Some(
            self.burst
                .unwrap_or_else(|| rate.ceil().clamp(1.0, 1_000_000.0) as u32),
        )
    }
}

/// Persisted documents: automatic persisted queries (APQ) and a manifest of
/// trusted documents.
#[derive(Debug, Clone, Args)]
pub struct PersistedSettings {
    /// Documents registered by hash (automatic persisted queries) that each
    /// replica keeps, least recently used dropped first; 0 turns APQ off.
    #[arg(long = "apq-cache-size", env = "APQ_CACHE_SIZE", value_name = "APQ_CACHE_SIZE", default_value = "1000",
          value_parser = parse_cache_size)]
    pub apq_cache_size: usize,
    /// A JSON manifest of trusted documents (sha256 hash -> document), as
    /// @graphql-codegen/client-preset writes with persistedDocuments.
    #[arg(long = "trusted-documents", env = "TRUSTED_DOCUMENTS", value_name = "TRUSTED_DOCUMENTS",
          default_value = "", value_parser = parse_optional)]
    pub manifest: Optional,
    /// off, allow (other documents run and are counted) or only (other
    /// documents are refused). Default: allow with a manifest, else off.
    #[arg(
        long = "trusted-documents-mode",
        env = "TRUSTED_DOCUMENTS_MODE",
        value_name = "TRUSTED_DOCUMENTS_MODE",
        value_enum,
        ignore_case = true
    )]
    pub mode: Option<TrustedMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustedMode {
    Off,
    Allow,
    Only,
}

impl PersistedSettings {
    pub fn trusted_mode(&self) -> TrustedMode {
        self.mode.unwrap_or(if self.manifest.0.is_some() {
            TrustedMode::Allow
        } else {
            TrustedMode::Off
        })
    }
}

/// Trace export (builds with the `otlp` feature).
#[derive(Debug, Clone, Args)]
pub struct OtelSettings {
    /// OTLP/HTTP collector base URL (/v1/traces is appended). Unset: no export.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
          default_value = "", value_parser = parse_optional)]
    pub endpoint: Optional,
    /// Full traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long = "otel-exporter-otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
          default_value = "", value_parser = parse_optional)]
    pub traces_endpoint: Optional,
    /// Service name on exported spans.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        value_name = "OTEL_SERVICE_NAME",
        default_value = "todo-api"
    )]
    pub service_name: String,
}

/// A text setting where empty means unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Optional(pub Option<String>);

/// A secret setting where empty means unset: never shown by `Debug` (nor
/// in logs, which only ever format settings through it).
#[derive(Debug, Clone, Default)]
pub struct Secret(pub Option<SecretString>);

impl Secret {
    pub fn get(&self) -> Option<&str> {
        self.0.as_ref().map(ExposeSecret::expose_secret)
    }
}

/// `DATABASE_URL`: shown without its password.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: &str) -> Self {
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

/// `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Unset or empty: no cross-origin access from browsers.
    #[default]
    None,
    /// `*`: any origin (never with credentials).
    Any,
    /// Exactly these origins, as browsers send them: `scheme://host[:port]`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Whether a browser on `origin` (its `Origin` header) may call the api.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::None => false,
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// Loads `.env` if present, then reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        load_dotenv();
        Self::try_parse_from(["api"]).map_err(|err| config_error(&Self::command(), &err))
    }

    /// Builds a configuration from any variable source (tests pass a map),
    /// exactly as [`Config::from_env`] would from the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let command = Self::command();
        let mut argv: Vec<OsString> = vec!["api".into()];
        for arg in command.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(value) = var.to_str().and_then(&get) {
                argv.push(format!("--{long}={value}").into());
            }
        }
        // Values come from `get` only: the environment is not read again.
        let command = command.mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|err| config_error(&Self::command(), &err))?;
        Self::from_arg_matches(&matches).map_err(|err| config_error(&Self::command(), &err))
    }

    /// Every variable with its default, in declaration order.
    pub fn variables() -> Vec<(String, Option<String>)> {
        Self::command()
            .get_arguments()
            .filter_map(|arg| {
                let var = arg.get_env()?.to_string_lossy().into_owned();
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned());
                Some((var, default))
            })
            .collect()
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }

    fn open_by_default(&self) -> bool {
        self.app_env == AppEnv::Development
    }

    pub fn introspection(&self) -> bool {
        self.graphql_limits
            .introspection
            .unwrap_or_else(|| self.open_by_default())
    }

    pub fn suggestions(&self) -> bool {
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

/// `.env` in the working directory, if there is one. A missing file is
/// normal; a malformed one is worth a warning only.
pub fn load_dotenv() {
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("warning: ignoring .env: {err}");
    }
}

/// Turns clap's error about a value into one that names the variable;
/// `None` for other errors (help, version, usage).
pub fn describe_error(err: &clap::Error) -> Option<ConfigError> {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::ValueValidation
        | ErrorKind::InvalidValue
        | ErrorKind::NoEquals
        | ErrorKind::MissingRequiredArgument => Some(config_error(&Config::command(), err)),
        _ => None,
    }
}

/// Turns clap's error into one that names the variable.
fn config_error(command: &clap::Command, err: &clap::Error) -> ConfigError {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        // A missing argument: the first one named.
        Some(ContextValue::Strings(s)) => s.first().cloned(),
        _ => None,
    };
    // "--port <PORT>" → the argument whose long name that is.
    let var = context(ContextKind::InvalidArg)
        .and_then(|shown| {
            let long = shown
                .trim_start_matches("--")
                .split([' ', '='])
                .next()?
                .to_owned();
            command
                .get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))
                .and_then(|a| a.get_env())
                .map(|v| v.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "configuration".to_owned());
    let value = context(ContextKind::InvalidValue).unwrap_or_default();
    let value = if var == "DATABASE_URL" {
        redact(&value)
    } else {
        value
    };
    // clap's own sentence, without its "error:" prefix and usage lines.
    let reason = if err.kind() == clap::error::ErrorKind::MissingRequiredArgument {
        "must be set too: a setting that was given needs it".to_owned()
    } else {
        err.source().map(ToString::to_string).unwrap_or_else(|| {
            let rendered = err.render().to_string();
            rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        })
    };
    ConfigError { var, value, reason }
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

/// A positive whole number (a limit of 0 would refuse everything).
fn parse_limit(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a whole number greater than 0".into())
}

/// A number of cache entries: 0 (off) up to a million.
fn parse_cache_size(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= 1_000_000)
        .ok_or_else(|| "expected a whole number from 0 (off) to 1000000".into())
}

/// Seconds, fractions allowed (`0.5`), greater than 0 and at most a day.
pub(crate) fn parse_secs(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "expected seconds greater than 0 (fractions allowed), at most 86400".into())
}

/// Operations per second, fractions allowed, greater than 0.
fn parse_rate(value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|r| *r >= 0.001 && *r <= 1_000_000.0)
        .ok_or_else(|| "expected operations per second from 0.001 to 1000000".into())
}

/// Hours, fractions allowed, greater than 0 and at most ten years.
fn parse_hours(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|h| *h > 0.0 && *h <= 87_600.0)
        .map(|h| Duration::from_secs_f64(h * 3600.0))
        .ok_or_else(|| "expected hours greater than 0 (fractions allowed), at most 87600".into())
}

pub(crate) fn parse_secret(value: &str) -> Result<Secret, String> {
    let value = value.trim();
    Ok(Secret((!value.is_empty()).then(|| value.into())))
}

fn parse_optional(value: &str) -> Result<Optional, String> {
    let value = value.trim();
    Ok(Optional((!value.is_empty()).then(|| value.to_owned())))
}

/// A comma-separated list of exact origins, or `*` alone.
fn parse_origins(value: &str) -> Result<CorsOrigins, String> {
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(CorsOrigins::Any)
        } else {
            Err("`*` (any origin) must stand alone".into())
        };
    }
    let mut origins = Vec::with_capacity(entries.len());
    for entry in entries {
        let origin = parse_origin(entry).map_err(|reason| format!("{entry:?}: {reason}"))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(if origins.is_empty() {
        CorsOrigins::None
    } else {
        CorsOrigins::List(origins)
    })
}

/// One origin as a browser serialises it: `http(s)://host[:port]`, lower
/// case, no path, no default port.
fn parse_origin(entry: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected scheme://host[:port], e.g. https://app.example.com";
    let lower = entry.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or(EXPECTED)?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return Err(format!("the scheme must be http or https; {EXPECTED}")),
    };
    if rest.contains(['/', '?', '#']) {
        return Err(format!(
            "an origin has no path (nor a trailing slash); {EXPECTED}"
        ));
    }
    if rest.contains('@') {
        return Err(format!("an origin has no user name; {EXPECTED}"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (address, after) = v6.split_once(']').ok_or(EXPECTED)?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("[{address}] is not an IPv6 address"))?;
        match after {
            "" => (&rest[..address.len() + 2], None),
            _ => (
                &rest[..address.len() + 2],
                Some(after.strip_prefix(':').ok_or(EXPECTED)?),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.starts_with('[')
            || (host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !host.starts_with(['.', '-'])
                && !host.ends_with(['.', '-'])));
    if !valid_host {
        return Err(format!(
            "invalid host {host:?} (write international names in punycode); {EXPECTED}"
        ));
    }
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(format!("invalid port {port:?}; {EXPECTED}"));
        }
        if port == default_port {
            return Err(format!(
                "browsers leave out the default port :{port} of {scheme}; drop it"
            ));
        }
    }
    Ok(lower)
}

/// `http(s)://host[:port][/path]` or an absolute path on this host (`/npm`);
/// no query or fragment. Kept without the trailing slash; empty is unset.
fn parse_assets_url(value: &str) -> Result<AssetsUrl, String> {
    let url = value.trim().trim_end_matches('/');
    const EXPECTED: &str = "expected a base URL such as https://cdn.example.com/npm or /npm";
    if url.is_empty() {
        return Ok(AssetsUrl(None));
    }
    if url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>`?#\\".contains(c)) {
        return Err(format!("no spaces, quotes, query or fragment; {EXPECTED}"));
    }
    let host = match url.split_once("://") {
        Some(("http" | "https", rest)) => rest.split('/').next().unwrap_or_default(),
        Some(_) => return Err(format!("the scheme must be http or https; {EXPECTED}")),
        None if url.starts_with('/') && !url.starts_with("//") => {
            return Ok(AssetsUrl(Some(url.to_owned())));
        }
        None => return Err(EXPECTED.into()),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("a host is required and no user name; {EXPECTED}"));
    }
    Ok(AssetsUrl(Some(url.to_owned())))
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

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
    fn errors_name_the_variable() {
        let err = config(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert_eq!(err.value, "eighty");
        let err = config(&[("DATABASE_URL", "mysql://u:secret@x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = config(&[("AUTO_MIGRATE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("AUTO_MIGRATE"), "{err}");
        let err = config(&[("DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(err.var, "DB_MAX_CONNECTIONS");
        let err = config(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.var, "LOG_FORMAT");
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
    fn cors_allowed_origins_are_exact_origins() {
        let origins =
            |v: &str| config(&[("CORS_ALLOWED_ORIGINS", v)]).map(|c| c.cors_allowed_origins);
        assert_eq!(origins(" , ").unwrap(), CorsOrigins::None);
        assert_eq!(origins("*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            origins("https://App.Example.com, http://127.0.0.1:5173,http://[::1]:8080,https://app.example.com,").unwrap(),
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://127.0.0.1:5173".into(),
                "http://[::1]:8080".into(),
            ])
        );
        for bad in [
            "*,https://a.example",
            "app.example.com",
            "ftp://a.example",
            "https://a.example/",
            "https://a.example/app",
            "https://a.example:443",
            "http://a.example:80",
            "http://a.example:0",
            "http://a.example:99999",
            "http://a.example:",
            "http://user@a.example",
            "http://",
            "http://a_b.example",
            "http://[::1",
            "http://[zz]:80",
            "null",
        ] {
            let err = origins(bad).expect_err(bad);
            assert_eq!(err.var, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn graphiql_assets_url_is_a_base_url() {
        let url = |v: &str| config(&[("GRAPHIQL_ASSETS_URL", v)]).map(|c| c.graphiql.assets_url.0);
        assert_eq!(
            url("https://cdn.example.com/npm/").unwrap().as_deref(),
            Some("https://cdn.example.com/npm")
        );
        assert_eq!(
            url("http://127.0.0.1:9000").unwrap().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(url("/static/npm").unwrap().as_deref(), Some("/static/npm"));
        for bad in [
            "cdn.example.com",
            "ftp://x/npm",
            "https:///npm",
            "https://x/npm?v=1",
            "//x/npm",
            "https://x/\"a",
        ] {
            let err = url(bad).expect_err(bad);
            assert_eq!(err.var, "GRAPHIQL_ASSETS_URL", "{bad}");
        }
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
    fn limits_are_positive_numbers() {
        let c = config(&[
            ("GRAPHQL_MAX_DEPTH", "4"),
            ("HTTP_REQUEST_TIMEOUT_SECS", "0.5"),
        ])
        .unwrap();
        assert_eq!(c.graphql_limits.max_depth, 4);
        assert_eq!(c.http_limits.request_timeout, Duration::from_millis(500));
        for (var, bad) in [
            ("GRAPHQL_MAX_DEPTH", "0"),
            ("GRAPHQL_MAX_ALIASES", "-1"),
            ("HTTP_MAX_BODY_BYTES", "1MB"),
            ("HTTP_REQUEST_TIMEOUT_SECS", "0"),
            ("WS_INIT_TIMEOUT_SECS", "NaN"),
            ("SHUTDOWN_GRACE_SECS", "inf"),
        ] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
    }

    #[test]
    fn connection_limits_default_on_and_rate_limits_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http_limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.http_limits.keepalive_timeout, Duration::from_secs(75));
        assert_eq!(c.http_limits.max_connections, 10_000);
        assert_eq!(c.http_limits.max_connections_per_client, 1000);
        assert_eq!(c.rate_limit.per_second, None);
        assert_eq!(c.rate_limit.effective_burst(), None);
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn rate_limits_take_a_rate_and_an_optional_burst() {
        let c = config(&[("RATE_LIMIT_PER_SECOND", "2.5")]).unwrap();
        assert_eq!(c.rate_limit.per_second, Some(2.5));
        assert_eq!(
            c.rate_limit.effective_burst(),
            Some(3),
            "one second's worth"
        );
        let c = config(&[("RATE_LIMIT_PER_SECOND", "0.1")]).unwrap();
        assert_eq!(c.rate_limit.effective_burst(), Some(1));
        let c = config(&[("RATE_LIMIT_PER_SECOND", "10"), ("RATE_LIMIT_BURST", "40")]).unwrap();
        assert_eq!(c.rate_limit.effective_burst(), Some(40));
        for (var, bad) in [
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("RATE_LIMIT_PER_SECOND", ""),
            ("RATE_LIMIT_PER_SECOND", "fast"),
            ("RATE_LIMIT_MAX_CLIENTS", "0"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "none"),
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "0"),
            ("HTTP_KEEPALIVE_TIMEOUT_SECS", "-1"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
        ] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
        let burst_alone = config(&[("RATE_LIMIT_BURST", "5")]).unwrap_err();
        assert!(
            burst_alone.to_string().contains("RATE_LIMIT_PER_SECOND"),
            "{burst_alone}"
        );
        assert_eq!(
            config(&[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "0")])
                .unwrap_err()
                .var,
            "RATE_LIMIT_BURST"
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
    fn every_variable_is_documented_in_env_example() {
        let example = include_str!("../../.env.example");
        let documented: Vec<&str> = example
            .lines()
            .map(|line| line.trim_start_matches('#').trim_start())
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .filter(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        let declared: Vec<String> = Config::variables().into_iter().map(|(v, _)| v).collect();
        for var in &declared {
            assert!(
                documented.contains(&var.as_str()),
                "{var} is read by the api but not in .env.example"
            );
        }
        // Variables for other readers: docker compose, the build, the tests.
        const NOT_THE_API: &[&str] = &[
            "TODO_IMAGE",
            "API_PORT",
            "POSTGRES_IMAGE",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
            "COMPOSE_PROJECT_NAME",
            "TEST_DATABASE_URL",
        ];
        for var in documented {
            assert!(
                declared.iter().any(|d| d == var) || NOT_THE_API.contains(&var),
                "{var} is in .env.example but the api does not read it"
            );
        }
    }

    /// What `.env.example` sets is what the api does without it: every
    /// uncommented `VAR=value` of the api's is its default, and every
    /// non-empty default is written there (set, or commented out as is).
    #[test]
    fn env_example_states_the_defaults() {
        let example = include_str!("../../.env.example");
        let assignments: Vec<(bool, &str, &str)> = example
            .lines()
            .filter_map(|line| {
                let commented = line.starts_with('#');
                let (name, value) = line.trim_start_matches('#').trim().split_once('=')?;
                Some((commented, name, value.trim()))
            })
            .collect();
        for (var, default) in Config::variables() {
            let default = default.unwrap_or_default();
            for (commented, name, value) in &assignments {
                if !commented && *name == var {
                    assert_eq!(
                        *value, default,
                        ".env.example sets {var}={value}, but its default is {default:?}"
                    );
                }
            }
            if !default.is_empty() {
                assert!(
                    assignments
                        .iter()
                        .any(|(_, name, value)| *name == var && *value == default),
                    ".env.example does not state {var}'s default {default:?}"
                );
            }
        }
    }

    #[test]
    fn persisted_documents_settings() {
        let c = config(&[]).unwrap();
        assert_eq!(c.persisted.apq_cache_size, 1000);
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Off);
        let c = config(&[
            ("TRUSTED_DOCUMENTS", "manifest.json"),
            ("APQ_CACHE_SIZE", "0"),
        ])
        .unwrap();
        assert_eq!(c.persisted.apq_cache_size, 0);
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Allow);
        let c = config(&[("TRUSTED_DOCUMENTS_MODE", "ONLY")]).unwrap();
        assert_eq!(c.persisted.trusted_mode(), TrustedMode::Only);
        for (var, bad) in [
            ("APQ_CACHE_SIZE", "-1"),
            ("APQ_CACHE_SIZE", "1000001"),
            ("APQ_CACHE_SIZE", "lots"),
            ("TRUSTED_DOCUMENTS_MODE", "strict"),
        ] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
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
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://todo.db"), "sqlite://todo.db");
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
