//! Configuration, read once at start: `.env` (if any), then the environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db?mode=rwc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub host: IpAddr,
    pub port: u16,
    /// Pool size; `None` picks a default per backend.
    pub db_max_connections: Option<u32>,
    /// How long to keep retrying the database at start before giving up.
    pub db_connect_timeout: Duration,
    /// Apply pending migrations at start on PostgreSQL too (SQLite always does).
    pub auto_migrate: bool,
    pub log_format: LogFormat,
    /// METRICS_ENABLED: Prometheus text at `GET /metrics`.
    pub metrics_enabled: bool,
    pub graphiql: bool,
    /// Where the GraphiQL page loads GraphiQL and React from instead of the
    /// api itself: a base URL in npm-CDN layout
    /// (`<base>/<package>@<version>/<file>`), without a trailing slash.
    pub graphiql_assets_url: Option<String>,
    /// Serve the example front-end under `/app/`.
    pub serve_example_app: bool,
    /// Origins whose pages may call the API from a browser (CORS).
    pub cors_allowed_origins: CorsOrigins,
    /// `APP_ENV`: production turns introspection, suggestions and GraphiQL
    /// off unless they are switched on explicitly.
    pub app_env: AppEnv,
    /// What one GraphQL document may ask for.
    pub graphql_limits: GraphqlLimits,
    /// What one HTTP request or WebSocket may take.
    pub http_limits: HttpLimits,
    /// How long shutdown waits for in-flight requests before it gives up.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// Abuse limits on GraphQL documents, checked before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// GRAPHQL_MAX_DEPTH: nesting of selection sets.
    pub max_depth: usize,
    /// GRAPHQL_MAX_COMPLEXITY: each field costs 1; a connection costs its
    /// page size (`first`/`last`, default 20) times its selection.
    pub max_complexity: usize,
    /// GRAPHQL_MAX_RECURSIVE_DEPTH: nesting the parser accepts (fragments,
    /// lists, objects).
    pub max_recursive_depth: usize,
    /// GRAPHQL_MAX_DIRECTIVES: directives on one field.
    pub max_directives: usize,
    /// GRAPHQL_MAX_ALIASES: aliases in the whole document.
    pub max_aliases: usize,
    /// GRAPHQL_MAX_ROOT_FIELDS: fields selected at the root of an operation.
    pub max_root_fields: usize,
    /// GRAPHQL_MAX_DOCUMENT_BYTES: size of the query text.
    pub max_document_bytes: usize,
    /// GRAPHQL_MAX_TOKENS: lexical tokens in the query text.
    pub max_tokens: usize,
    /// GRAPHQL_MAX_BATCH: operations in one batched HTTP request.
    pub max_batch: usize,
    /// GRAPHQL_INTROSPECTION: `__schema`/`__type` queries.
    pub introspection: bool,
    /// GRAPHQL_SUGGESTIONS: "did you mean ...?" in validation errors.
    pub suggestions: bool,
}

/// Limits on the HTTP and WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// HTTP_MAX_BODY_BYTES: larger bodies get 413.
    pub max_body_bytes: usize,
    /// HTTP_REQUEST_TIMEOUT_SECS: a request running longer gets 503.
    pub request_timeout: Duration,
    /// HTTP_MAX_CONCURRENT_REQUESTS: more at once are shed with 503.
    pub max_concurrent_requests: usize,
    /// WS_INIT_TIMEOUT_SECS: a socket must send `connection_init` by then.
    pub ws_init_timeout: Duration,
    /// WS_MAX_SUBSCRIPTIONS: operations running at once on one socket.
    pub ws_max_subscriptions: usize,
    /// WS_KEEPALIVE_SECS: interval of server pings on idle sockets.
    pub ws_keepalive: Duration,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 5000,
            max_recursive_depth: 32,
            max_directives: 10,
            max_aliases: 30,
            max_root_fields: 20,
            max_document_bytes: 16 * 1024,
            max_tokens: 2000,
            max_batch: 10,
            introspection: true,
            suggestions: true,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            ws_init_timeout: Duration::from_secs(10),
            ws_max_subscriptions: 20,
            ws_keepalive: Duration::from_secs(30),
        }
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

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// Loads `.env` if present, then reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth a warning only.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            eprintln!("warning: ignoring .env: {err}");
        }
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Builds a configuration from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                value: redact(&database_url),
                reason: "expected sqlite:PATH or postgres://USER@HOST/DB".into(),
            });
        }
        let app_env = match get("APP_ENV")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("development" | "dev") => AppEnv::Development,
            Some("production" | "prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError {
                    var: "APP_ENV",
                    value: other.into(),
                    reason: "expected `development` or `production`".into(),
                });
            }
        };
        let open_by_default = app_env == AppEnv::Development;
        let graphql_defaults = GraphqlLimits::default();
        let introspection = parse_bool(&get, "GRAPHQL_INTROSPECTION", open_by_default)?;
        let graphql_limits = GraphqlLimits {
            max_depth: parse_limit(&get, "GRAPHQL_MAX_DEPTH", graphql_defaults.max_depth)?,
            max_complexity: parse_limit(
                &get,
                "GRAPHQL_MAX_COMPLEXITY",
                graphql_defaults.max_complexity,
            )?,
            max_recursive_depth: parse_limit(
                &get,
                "GRAPHQL_MAX_RECURSIVE_DEPTH",
                graphql_defaults.max_recursive_depth,
            )?,
            max_directives: parse_limit(
                &get,
                "GRAPHQL_MAX_DIRECTIVES",
                graphql_defaults.max_directives,
            )?,
            max_aliases: parse_limit(&get, "GRAPHQL_MAX_ALIASES", graphql_defaults.max_aliases)?,
            max_root_fields: parse_limit(
                &get,
                "GRAPHQL_MAX_ROOT_FIELDS",
                graphql_defaults.max_root_fields,
            )?,
            max_document_bytes: parse_limit(
                &get,
                "GRAPHQL_MAX_DOCUMENT_BYTES",
                graphql_defaults.max_document_bytes,
            )?,
            max_tokens: parse_limit(&get, "GRAPHQL_MAX_TOKENS", graphql_defaults.max_tokens)?,
            max_batch: parse_limit(&get, "GRAPHQL_MAX_BATCH", graphql_defaults.max_batch)?,
            introspection,
            suggestions: parse_bool(&get, "GRAPHQL_SUGGESTIONS", introspection)?,
        };
        let http_defaults = HttpLimits::default();
        let http_limits = HttpLimits {
            max_body_bytes: parse_limit(&get, "HTTP_MAX_BODY_BYTES", http_defaults.max_body_bytes)?,
            request_timeout: parse_secs(
                &get,
                "HTTP_REQUEST_TIMEOUT_SECS",
                http_defaults.request_timeout,
            )?,
            max_concurrent_requests: parse_limit(
                &get,
                "HTTP_MAX_CONCURRENT_REQUESTS",
                http_defaults.max_concurrent_requests,
            )?,
            ws_init_timeout: parse_secs(
                &get,
                "WS_INIT_TIMEOUT_SECS",
                http_defaults.ws_init_timeout,
            )?,
            ws_max_subscriptions: parse_limit(
                &get,
                "WS_MAX_SUBSCRIPTIONS",
                http_defaults.ws_max_subscriptions,
            )?,
            ws_keepalive: parse_secs(&get, "WS_KEEPALIVE_SECS", http_defaults.ws_keepalive)?,
        };
        Ok(Self {
            app_env,
            graphql_limits,
            http_limits,
            shutdown_grace: parse_secs(&get, "SHUTDOWN_GRACE_SECS", Duration::from_secs(20))?,
            database_url,
            host: parse(&get, "HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?,
            port: parse(&get, "PORT", 8080)?,
            db_max_connections: match get("DB_MAX_CONNECTIONS") {
                None => None,
                Some(v) => Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| ConfigError {
                            var: "DB_MAX_CONNECTIONS",
                            value: v.clone(),
                            reason: "expected a whole number from 1 to 1000".into(),
                        })?,
                ),
            },
            db_connect_timeout: Duration::from_secs(parse(&get, "DB_CONNECT_TIMEOUT_SECS", 30)?),
            auto_migrate: parse_bool(&get, "AUTO_MIGRATE", false)?,
            log_format: match get("LOG_FORMAT").as_deref() {
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError {
                        var: "LOG_FORMAT",
                        value: other.into(),
                        reason: "expected `pretty` or `json`".into(),
                    });
                }
            },
            graphiql: parse_bool(&get, "GRAPHIQL", open_by_default)?,
            graphiql_assets_url: match get("GRAPHIQL_ASSETS_URL") {
                None => None,
                Some(v) => Some(parse_assets_url(&v).map_err(|reason| ConfigError {
                    var: "GRAPHIQL_ASSETS_URL",
                    value: v.clone(),
                    reason,
                })?),
            },
            serve_example_app: parse_bool(&get, "SERVE_EXAMPLE_APP", false)?,
            metrics_enabled: parse_bool(&get, "METRICS_ENABLED", true)?,
            cors_allowed_origins: match get("CORS_ALLOWED_ORIGINS") {
                None => CorsOrigins::None,
                Some(v) => parse_origins(&v).map_err(|reason| ConfigError {
                    var: "CORS_ALLOWED_ORIGINS",
                    value: v.clone(),
                    reason,
                })?,
            },
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError {
            var,
            value: v.clone(),
            reason: e.to_string(),
        }),
    }
}

/// A positive whole number (a limit of 0 would refuse everything).
fn parse_limit(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError {
                var,
                value: v.clone(),
                reason: "expected a whole number greater than 0".into(),
            }),
    }
}

/// Seconds, fractions allowed (`0.5`), greater than 0 and at most a day.
fn parse_secs(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 && *s <= 86_400.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| ConfigError {
                var,
                value: v.clone(),
                reason: "expected seconds greater than 0 (fractions allowed), at most 86400".into(),
            }),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError {
            var,
            value: other.into(),
            reason: "expected true or false".into(),
        }),
    }
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
/// no query or fragment. Returned without the trailing slash.
fn parse_assets_url(value: &str) -> Result<String, String> {
    let url = value.trim().trim_end_matches('/');
    const EXPECTED: &str = "expected a base URL such as https://cdn.example.com/npm or /npm";
    if url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>`?#\\".contains(c)) {
        return Err(format!("no spaces, quotes, query or fragment; {EXPECTED}"));
    }
    let host = match url.split_once("://") {
        Some(("http" | "https", rest)) => rest.split('/').next().unwrap_or_default(),
        Some(_) => return Err(format!("the scheme must be http or https; {EXPECTED}")),
        None if url.starts_with('/') && !url.starts_with("//") => return Ok(url.to_owned()),
        None if url.is_empty() => return Err(EXPECTED.into()),
        None => return Err(EXPECTED.into()),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("a host is required and no user name; {EXPECTED}"));
    }
    Ok(url.to_owned())
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
    fn defaults_to_sqlite_on_localhost() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.listen_addr().to_string(), "127.0.0.1:8080");
        assert!(c.is_sqlite());
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.var, "PORT");
        let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        let err = config(&[("AUTO_MIGRATE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("AUTO_MIGRATE"));
        let err = config(&[("DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(err.var, "DB_MAX_CONNECTIONS");
    }

    #[test]
    fn new_settings_default_to_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
        assert!(!c.serve_example_app);
        assert_eq!(c.graphiql_assets_url, None);
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
        let url = |v: &str| config(&[("GRAPHIQL_ASSETS_URL", v)]).map(|c| c.graphiql_assets_url);
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
        assert!(dev.graphiql && dev.graphql_limits.introspection && dev.graphql_limits.suggestions);
        let prod = config(&[("APP_ENV", "production")]).unwrap();
        assert_eq!(prod.app_env, AppEnv::Production);
        assert!(!prod.graphiql && !prod.graphql_limits.introspection);
        assert!(!prod.graphql_limits.suggestions);
        let opened =
            config(&[("APP_ENV", "production"), ("GRAPHQL_INTROSPECTION", "true")]).unwrap();
        assert!(opened.graphql_limits.introspection && opened.graphql_limits.suggestions);
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
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://todo.db"), "sqlite://todo.db");
    }
}
