//! The relay's settings: which sinks to publish to, and how.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use secrecy::{ExposeSecret, SecretSlice};

use crate::config::values::{Secret, redact};

/// Where committed task changes are published for other services; none
/// set: no relay.
#[derive(Debug, Clone, Args)]
pub struct RelaySettings {
    /// NATS server (nats://HOST:PORT): every change is published to
    /// JetStream and counts once the stream acknowledged it. Unset: off.
    #[arg(long = "events-nats-url", env = "EVENTS_NATS_URL", value_name = "EVENTS_NATS_URL",
          default_value = "", value_parser = parse_secret_url, hide_env_values = true)]
    pub nats_url: Secret,
    /// Subject prefix: changes go to PREFIX.created, PREFIX.updated and
    /// PREFIX.deleted, fired reminders to PREFIX.reminder_due.
    #[arg(long = "events-nats-subject", env = "EVENTS_NATS_SUBJECT", value_name = "EVENTS_NATS_SUBJECT",
          default_value = "todo.tasks", value_parser = parse_subject)]
    pub nats_subject: String,
    /// JetStream stream that captures PREFIX.>; created on start if missing.
    #[arg(long = "events-nats-stream", env = "EVENTS_NATS_STREAM", value_name = "EVENTS_NATS_STREAM",
          default_value = "TODO_TASKS", value_parser = parse_stream_name)]
    pub nats_stream: String,

    /// Redis server (redis://[:PASSWORD@]HOST:PORT[/DB]): every change is
    /// appended to a stream with XADD. Unset: off.
    #[arg(long = "events-redis-url", env = "EVENTS_REDIS_URL", value_name = "EVENTS_REDIS_URL",
          default_value = "", value_parser = parse_secret_url, hide_env_values = true)]
    pub redis_url: Secret,
    /// The Redis stream's key.
    #[arg(long = "events-redis-stream", env = "EVENTS_REDIS_STREAM", value_name = "EVENTS_REDIS_STREAM",
          default_value = "todo.tasks", value_parser = parse_name)]
    pub redis_stream: String,
    /// Entries the stream keeps, about (XADD MAXLEN ~).
    #[arg(long = "events-redis-maxlen", env = "EVENTS_REDIS_MAXLEN", value_name = "EVENTS_REDIS_MAXLEN",
          default_value = "1000000", value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_maxlen: u64,

    /// RabbitMQ (amqp://USER:PASSWORD@HOST:PORT/VHOST): every change is
    /// published to a durable topic exchange with publisher confirms.
    /// Unset: off.
    #[arg(long = "events-amqp-url", env = "EVENTS_AMQP_URL", value_name = "EVENTS_AMQP_URL",
          default_value = "", value_parser = parse_secret_url, hide_env_values = true)]
    pub amqp_url: Secret,
    /// The topic exchange (declared durable if missing); routing keys
    /// task.created, task.updated, task.deleted and task.reminder_due.
    #[arg(long = "events-amqp-exchange", env = "EVENTS_AMQP_EXCHANGE", value_name = "EVENTS_AMQP_EXCHANGE",
          default_value = "todo.events", value_parser = parse_name)]
    pub amqp_exchange: String,

    /// HTTP(S) endpoint that every change is POSTed to, signed as the
    /// Standard Webhooks specification says. Unset: off.
    #[arg(long = "events-webhook-url", env = "EVENTS_WEBHOOK_URL", value_name = "EVENTS_WEBHOOK_URL",
          default_value = "", value_parser = parse_secret_url, hide_env_values = true)]
    pub webhook_url: Secret,
    /// The webhook's signing secret: whsec_ then base64 of 24 to 64 random
    /// bytes. Required with EVENTS_WEBHOOK_URL.
    #[arg(long = "events-webhook-secret", env = "EVENTS_WEBHOOK_SECRET", value_name = "EVENTS_WEBHOOK_SECRET",
          default_value = "", value_parser = parse_webhook_secret, hide_env_values = true,
          hide_default_value = true)]
    pub webhook_secret: WebhookSecret,

    /// The CloudEvents `source` of every published event (a URI reference).
    #[arg(long = "events-source", env = "EVENTS_SOURCE", value_name = "EVENTS_SOURCE",
          default_value = "/todo", value_parser = parse_name)]
    pub source: String,
}

impl RelaySettings {
    /// Whether any sink is configured.
    pub fn any(&self) -> bool {
        [
            &self.nats_url,
            &self.redis_url,
            &self.amqp_url,
            &self.webhook_url,
        ]
        .iter()
        .any(|url| url.0.is_some())
    }

    /// What cannot be checked one setting at a time: `(variable, reason)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (&self.webhook_url.0, &self.webhook_secret.0) {
            (Some(_), None) => Err((
                "EVENTS_WEBHOOK_SECRET",
                "required with EVENTS_WEBHOOK_URL (whsec_ then base64 of 24 to 64 random bytes)"
                    .into(),
            )),
            (Some(url), Some(_)) => check_webhook_url(url.expose_secret())
                .map_err(|reason| ("EVENTS_WEBHOOK_URL", reason)),
            (None, _) => Ok(()),
        }
    }
}

/// The webhook's signing key (the bytes behind `whsec_...`).
#[derive(Debug, Clone, Default)]
pub struct WebhookSecret(pub Option<SecretSlice<u8>>);

/// A URL that may carry a password: kept as a secret (logs show it with
/// [`redact`]).
fn parse_secret_url(value: &str) -> Result<Secret, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Secret(None));
    }
    let url = reqwest::Url::parse(value)
        .map_err(|e| format!("{:?} is not a URL ({e})", redact(value)))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{:?} names no host", redact(value)));
    }
    Ok(Secret(Some(value.into())))
}

fn check_webhook_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    if matches!(parsed.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(format!(
            "{:?}: the scheme must be http or https",
            redact(url)
        ))
    }
}

/// `whsec_` (optional) and the base64 of the key, 24 to 64 bytes.
fn parse_webhook_secret(value: &str) -> Result<WebhookSecret, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(WebhookSecret(None));
    }
    let encoded = value.strip_prefix("whsec_").unwrap_or(value);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "expected whsec_ then base64 (the value is not base64)".to_owned())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "the key is {} bytes; Standard Webhooks keys are 24 to 64 bytes",
            key.len()
        ));
    }
    Ok(WebhookSecret(Some(key.into())))
}

/// NATS subject tokens: no spaces or wildcards, no empty token.
fn parse_subject(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '*' | '>'))
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err("expected dot-separated tokens without spaces, `*` or `>`, such as todo.tasks".into())
    }
}

/// A JetStream stream name: no spaces, dots, `*`, `>`, slashes.
fn parse_stream_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("expected a name without spaces, `.`, `*`, `>` or slashes, such as TODO_TASKS".into())
    }
}

fn parse_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 255 {
        Err("expected 1 to 255 characters".into())
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_are_standard_webhooks_keys() {
        let key = STANDARD.encode([7u8; 32]);
        let parsed = parse_webhook_secret(&format!("whsec_{key}")).unwrap();
        assert_eq!(parsed.0.unwrap().expose_secret(), &[7u8; 32]);
        assert!(parse_webhook_secret(&key).is_ok(), "the prefix is optional");
        assert!(parse_webhook_secret("").unwrap().0.is_none());
        assert!(parse_webhook_secret("whsec_not base64!").is_err());
        let short = STANDARD.encode([1u8; 16]);
        assert!(parse_webhook_secret(&format!("whsec_{short}")).is_err());
    }

    #[test]
    fn subjects_and_stream_names() {
        assert!(parse_subject("todo.tasks").is_ok());
        for bad in ["", "todo..tasks", "todo.*", "todo.>", "to do"] {
            assert!(parse_subject(bad).is_err(), "{bad:?}");
        }
        assert!(parse_stream_name("TODO_TASKS").is_ok());
        for bad in ["", "TODO.TASKS", "A B", "A/B"] {
            assert!(parse_stream_name(bad).is_err(), "{bad:?}");
        }
    }
}
