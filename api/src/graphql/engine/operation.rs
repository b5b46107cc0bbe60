//! One GraphQL operation, observed: a `graphql.operation` span (its name and
//! type, never its variables) and `graphql_operations_total` with its
//! latency histogram, labelled by operation, type and outcome.

use std::task::Poll;
use std::time::Instant;

use async_graphql::Response;
use async_graphql::parser::types::OperationType;
use futures_util::stream::{BoxStream, StreamExt};
use metrics::{counter, histogram};

use crate::metrics::{GRAPHQL_OPERATION_DURATION, GRAPHQL_OPERATIONS_TOTAL, OTHER};

pub(crate) struct Operation {
    span: tracing::Span,
    label: String,
    ty: &'static str,
    started: Instant,
}

fn type_label(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

impl Operation {
    /// An operation whose name and type are known (the document parsed and
    /// names it), or not (`None`: it was refused before that).
    pub(crate) fn start(selected: Option<(Option<&str>, OperationType)>) -> Self {
        let started = Instant::now();
        let Some((name, ty)) = selected else {
            return Self {
                span: tracing::info_span!(
                    "graphql.operation",
                    otel.name = "graphql",
                    outcome = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                ),
                label: OTHER.to_owned(),
                ty: "unknown",
                started,
            };
        };
        let label = crate::metrics::operation_label(name);
        let ty = type_label(ty);
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = format!("{ty} {label}"),
            graphql.operation.type = ty,
            // GraphQL names are ASCII: cut long ones for the logs.
            graphql.operation.name = name.map(|n| n.get(..128).unwrap_or(n)),
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        Self {
            span,
            label,
            ty,
            started,
        }
    }

    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records the operation with the outcome of `response`.
    pub(crate) fn finish(self, response: &Response) {
        self.finish_with(crate::metrics::outcome(response));
    }

    fn finish_with(self, outcome: String) {
        let elapsed = self.started.elapsed();
        self.span.record("outcome", outcome.as_str());
        if outcome != "ok" {
            self.span.record("otel.status_code", "error");
        }
        let _entered = self.span.enter();
        tracing::debug!(
            outcome = outcome.as_str(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "graphql operation finished"
        );
        let labels = [
            ("operation", self.label),
            ("type", self.ty.to_owned()),
            ("outcome", outcome),
        ];
        counter!(GRAPHQL_OPERATIONS_TOTAL, &labels).increment(1);
        histogram!(GRAPHQL_OPERATION_DURATION, &labels).record(elapsed.as_secs_f64());
    }

    /// A streamed operation (everything over WebSocket): each response is
    /// produced inside the span; recorded when the stream is dropped, with
    /// the first error's code if any.
    pub(crate) fn track(
        self,
        mut inner: BoxStream<'static, Response>,
    ) -> BoxStream<'static, Response> {
        let mut tracker = Tracker {
            operation: Some(self),
            outcome: None,
        };
        futures_util::stream::poll_fn(move |cx| {
            let span = tracker.operation.as_ref().map(|o| o.span.clone());
            let _entered = span.as_ref().map(tracing::Span::enter);
            let polled = inner.poll_next_unpin(cx);
            if let Poll::Ready(Some(response)) = &polled
                && tracker.outcome.is_none()
                && response.is_err()
            {
                tracker.outcome = Some(crate::metrics::outcome(response));
            }
            polled
        })
        .boxed()
    }
}

struct Tracker {
    operation: Option<Operation>,
    outcome: Option<String>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(operation) = self.operation.take() {
            let outcome = self.outcome.take().unwrap_or_else(|| "ok".to_owned());
            operation.finish_with(outcome);
        }
    }
}
