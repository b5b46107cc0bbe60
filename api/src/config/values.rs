//! Value types and parsers that the settings of several modules share.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// A text setting where empty means unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Optional(pub Option<String>);

/// A secret setting where empty means unset: never shown by `Debug` (nor
/// in logs, which only ever format settings through it).
#[derive(Debug, Clone, Default)]
pub struct Secret(pub Option<SecretString>);

impl Secret {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_ref().map(ExposeSecret::expose_secret)
    }
}

/// A positive whole number (a limit of 0 would refuse everything).
pub(crate) fn parse_limit(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a whole number greater than 0".into())
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

/// Hours, fractions allowed, greater than 0 and at most ten years.
pub(crate) fn parse_hours(value: &str) -> Result<Duration, String> {
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

pub(crate) fn parse_optional(value: &str) -> Result<Optional, String> {
    let value = value.trim();
    Ok(Optional((!value.is_empty()).then(|| value.to_owned())))
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
    use super::super::from_pairs as config;
    use super::*;

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
