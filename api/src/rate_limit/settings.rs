//! The rate limiter's settings.

use clap::Args;

use crate::config::values::parse_limit;

/// Per-client rate limits on GraphQL operations; off unless
/// `RATE_LIMIT_PER_SECOND` is set.
#[derive(Debug, Clone, PartialEq, Args)]
pub(crate) struct RateLimitSettings {
    /// Operations per second each client may run on average (fractions
    /// allowed); unset: no rate limit.
    #[arg(long = "rate-limit-per-second", env = "RATE_LIMIT_PER_SECOND", value_name = "RATE_LIMIT_PER_SECOND",
          value_parser = parse_rate)]
    pub(crate) per_second: Option<f64>,
    /// Operations a client may run at once after a quiet spell. Default: one
    /// second's worth (at least 1).
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", value_name = "RATE_LIMIT_BURST",
          requires = "per_second", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) burst: Option<u32>,
    /// Clients the limiter keeps a bucket for at once; new clients beyond
    /// it share one bucket until buckets of quiet clients are dropped.
    #[arg(long = "rate-limit-max-clients", env = "RATE_LIMIT_MAX_CLIENTS", value_name = "RATE_LIMIT_MAX_CLIENTS",
          default_value = "100000", value_parser = parse_limit)]
    pub(crate) max_clients: usize,
}

impl RateLimitSettings {
    /// The bucket size in force, `None` when rate limiting is off.
    pub(crate) fn effective_burst(&self) -> Option<u32> {
        let rate = self.per_second?;
        Some(
            self.burst
                .unwrap_or_else(|| rate.ceil().clamp(1.0, 1_000_000.0) as u32),
        )
    }
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

#[cfg(test)]
mod tests {
    use crate::config::from_pairs as config;

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
}
