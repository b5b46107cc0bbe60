//! Logging and tracing: `RUST_LOG` picks what, `LOG_FORMAT` picks how.
//!
//! Built with the `otlp` feature, spans are also exported over OTLP/HTTP
//! (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_SERVICE_NAME` names
//! the service (default `todo-api`). Keep the [`TelemetryGuard`] that
//! [`init`] returns until the end: dropping it flushes what is buffered.
//! A request with a W3C `traceparent` header (and `tracestate`) continues
//! its caller's trace: see [`continue_remote_trace`].

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub(crate) mod settings;

use crate::config::{Config, LogFormat};

/// How to set telemetry up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub log_filter: String,
    pub log_format: LogFormat,
    /// OTLP/HTTP base URL (`/v1/traces` is appended), as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` gives it. Only used with `otlp`.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full traces URL; wins.
    pub otlp_traces_endpoint: Option<String>,
    pub service_name: String,
}

impl Settings {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            log_filter: config.log_filter.clone(),
            log_format: config.log_format,
            otlp_endpoint: config.otel.endpoint.0.clone(),
            otlp_traces_endpoint: config.otel.traces_endpoint.0.clone(),
            service_name: config.otel.service_name.clone(),
        }
    }

    fn wants_otlp(&self) -> bool {
        self.otlp_endpoint.is_some() || self.otlp_traces_endpoint.is_some()
    }
}

/// Flushes and shuts the trace exporter down when dropped (a no-op without
/// one).
#[must_use = "dropping the guard shuts trace export down"]
pub struct TelemetryGuard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.provider.is_some();
        #[cfg(not(feature = "otlp"))]
        false
    }

    /// Sends the spans buffered so far. Blocks until the exporter answered
    /// (or timed out).
    pub fn flush(&self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = &self.provider
            && let Err(err) = provider.force_flush()
        {
            tracing::warn!(error = %err, "flushing spans failed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("warning: shutting trace export down failed: {err}");
        }
    }
}

/// Installs the process-wide subscriber as configured. A second call
/// (tests) keeps the first subscriber.
pub fn init(config: &Config) -> TelemetryGuard {
    init_with(Settings::from_config(config))
}

pub fn init_with(settings: Settings) -> TelemetryGuard {
    let filter = EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|err| {
        eprintln!(
            "warning: RUST_LOG={:?} is not a valid filter ({err}); using the default",
            settings.log_filter
        );
        EnvFilter::new(crate::config::DEFAULT_LOG_FILTER)
    });
    let fmt = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);

    #[cfg(feature = "otlp")]
    {
        let provider = if settings.wants_otlp() {
            match otlp::provider(&settings) {
                Ok(provider) => Some(provider),
                Err(err) => {
                    eprintln!("warning: OTLP trace export is off: {err}");
                    None
                }
            }
        } else {
            None
        };
        let layer = provider.as_ref().map(otlp::layer);
        if registry.with(layer).try_init().is_err() {
            // Another subscriber was first: nothing would reach this exporter.
            if let Some(provider) = provider {
                let _ = provider.shutdown();
            }
            return TelemetryGuard { provider: None };
        }
        if provider.is_some() {
            tracing::info!(service = %settings.service_name, "exporting traces over OTLP/HTTP");
        }
        TelemetryGuard { provider }
    }

    #[cfg(not(feature = "otlp"))]
    {
        let _ = registry.try_init();
        if settings.wants_otlp() {
            tracing::warn!(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but this build has no OTLP export \
                 (build with `--features otlp`)"
            );
        }
        TelemetryGuard {}
    }
}

/// Makes the caller's span, as a W3C `traceparent` header names it, the
/// parent of `span` (the request's), with the caller's `tracestate`; a
/// request without a valid `traceparent` keeps a trace of its own. Call it
/// before the span is entered.
#[cfg(feature = "otlp")]
pub(crate) fn continue_remote_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    // Used directly rather than as the global propagator: nothing else here
    // propagates (the service makes no outgoing requests).
    let remote = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    if remote.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed (export off)
        // or the span is filtered out: then there is no trace to continue.
        let _ = span.set_parent(remote);
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::registry::LookupSpan;

    use super::Settings;

    pub(crate) fn provider(
        settings: &Settings,
    ) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary);
        // The per-signal URL is used as is; the base URL gets the path.
        if let Some(url) = &settings.otlp_traces_endpoint {
            exporter = exporter.with_endpoint(url.clone());
        } else if let Some(base) = &settings.otlp_endpoint {
            exporter = exporter.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
        }
        let exporter = exporter.build()?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build())
    }

    pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("api"))
    }
}
