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
    pub graphiql: bool,
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
        Ok(Self {
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
            graphiql: parse_bool(&get, "GRAPHIQL", true)?,
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
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://todo.db"), "sqlite://todo.db");
    }
}
