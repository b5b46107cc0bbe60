//! Limits on the HTTP and WebSocket transport: bodies, timeouts,
//! connections and WebSocket operations.

use std::time::Duration;

use clap::Args;

use crate::config::values::{parse_limit, parse_secs};

/// Limits on the HTTP and WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct HttpLimits {
    /// Larger request bodies get 413.
    #[arg(long = "http-max-body-bytes", env = "HTTP_MAX_BODY_BYTES", value_name = "HTTP_MAX_BODY_BYTES", default_value = "262144",
          value_parser = parse_limit)]
    pub(crate) max_body_bytes: usize,
    /// Seconds a /graphql request may take before it gets 503.
    #[arg(long = "http-request-timeout-secs", env = "HTTP_REQUEST_TIMEOUT_SECS", value_name = "HTTP_REQUEST_TIMEOUT_SECS",
          default_value = "30", value_parser = parse_secs)]
    pub(crate) request_timeout: Duration,
    /// /graphql requests served at once; more are shed with 503.
    #[arg(long = "http-max-concurrent-requests", env = "HTTP_MAX_CONCURRENT_REQUESTS", value_name = "HTTP_MAX_CONCURRENT_REQUESTS",
          default_value = "512", value_parser = parse_limit)]
    pub(crate) max_concurrent_requests: usize,
    /// Seconds a WebSocket has to send connection_init (close 4408 after).
    #[arg(long = "ws-init-timeout-secs", env = "WS_INIT_TIMEOUT_SECS", value_name = "WS_INIT_TIMEOUT_SECS", default_value = "10",
          value_parser = parse_secs)]
    pub(crate) ws_init_timeout: Duration,
    /// Operations running at once on one WebSocket.
    #[arg(long = "ws-max-subscriptions", env = "WS_MAX_SUBSCRIPTIONS", value_name = "WS_MAX_SUBSCRIPTIONS", default_value = "20",
          value_parser = parse_limit)]
    pub(crate) ws_max_subscriptions: usize,
    /// Seconds between server pings on a WebSocket; a peer silent for three
    /// intervals is dropped.
    #[arg(long = "ws-keepalive-secs", env = "WS_KEEPALIVE_SECS", value_name = "WS_KEEPALIVE_SECS", default_value = "30",
          value_parser = parse_secs)]
    pub(crate) ws_keepalive: Duration,
    /// Seconds a client has to send a request's headers, from its first
    /// byte (from the connection's start for the first request).
    #[arg(long = "http-header-read-timeout-secs", env = "HTTP_HEADER_READ_TIMEOUT_SECS", value_name = "HTTP_HEADER_READ_TIMEOUT_SECS",
          default_value = "10", value_parser = parse_secs)]
    pub(crate) header_read_timeout: Duration,
    /// Seconds a connection may wait, idle, for its next request; keep it
    /// above the idle timeout of the load balancer in front.
    #[arg(long = "http-keepalive-timeout-secs", env = "HTTP_KEEPALIVE_TIMEOUT_SECS", value_name = "HTTP_KEEPALIVE_TIMEOUT_SECS",
          default_value = "75", value_parser = parse_secs)]
    pub(crate) keepalive_timeout: Duration,
    /// Open connections (WebSockets included); more are closed at once.
    #[arg(long = "http-max-connections", env = "HTTP_MAX_CONNECTIONS", value_name = "HTTP_MAX_CONNECTIONS",
          default_value = "10000", value_parser = parse_limit)]
    pub(crate) max_connections: usize,
    /// Open connections from one client address (an IPv6 /64); trusted
    /// proxies are exempt.
    #[arg(long = "http-max-connections-per-client", env = "HTTP_MAX_CONNECTIONS_PER_CLIENT",
          value_name = "HTTP_MAX_CONNECTIONS_PER_CLIENT", default_value = "1000", value_parser = parse_limit)]
    pub(crate) max_connections_per_client: usize,
}

#[cfg(test)]
mod tests {
    use crate::config::from_pairs as config;
    use std::time::Duration;

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
}
