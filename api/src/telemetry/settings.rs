//! Trace export's settings, checked before anything starts.

use clap::Args;

use crate::config::values::{Optional, parse_optional};

/// Trace export (builds with the `otlp` feature).
#[derive(Debug, Clone, Args)]
pub(crate) struct OtelSettings {
    /// OTLP/HTTP collector base URL (/v1/traces is appended). Unset: no export.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
          default_value = "", value_parser = parse_optional)]
    pub(crate) endpoint: Optional,
    /// Full traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long = "otel-exporter-otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
          default_value = "", value_parser = parse_optional)]
    pub(crate) traces_endpoint: Optional,
    /// Service name on exported spans.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        value_name = "OTEL_SERVICE_NAME",
        default_value = "todo-api"
    )]
    pub(crate) service_name: String,
}

impl OtelSettings {
    /// Each endpoint, if set, an absolute http(s) URL with a host:
    /// `(variable, reason)` for the first that is not.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &self.endpoint),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &self.traces_endpoint),
        ] {
            if let Some(url) = &value.0 {
                check_http_url(url).map_err(|reason| {
                    (
                        var,
                        format!("{reason}; expected an http(s) URL such as http://127.0.0.1:4318"),
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// An absolute http(s) URL with a host (an OTLP/HTTP collector's).
fn check_http_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?}: the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} names no host"));
    }
    Ok(())
}
