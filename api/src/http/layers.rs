//! Layers every route passes: a sane request id, the request's span, the
//! in-flight gauge.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Incoming request ids are honoured when they look like ids: at most 128
/// characters of letters, digits and `-_.:`, sent once. Others are replaced
/// by a generated one (they end up in logs and response headers).
pub(crate) async fn drop_invalid_request_id(mut request: Request) -> Request {
    let mut ids = request.headers().get_all(&X_REQUEST_ID).iter();
    let valid = match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(id), None) => {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= 128
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        }
        (Some(_), Some(_)) => false,
    };
    if !valid {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

/// One span per request: method, route, path (never the query string, which
/// may carry GraphQL variables) and request id. With the `otlp` feature it
/// continues the caller's trace (W3C `traceparent`).
pub(crate) fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = request.method().as_str();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        },
        otel.kind = "server",
        method,
        route = route.unwrap_or_default(),
        path = request.uri().path(),
        request_id,
        status = tracing::field::Empty,
    );
    #[cfg(feature = "otlp")]
    crate::telemetry::continue_remote_trace(&span, request.headers());
    span
}

pub(crate) async fn track_in_flight(request: Request, next: Next) -> Response {
    let in_flight = crate::metrics::InFlight::start();
    let response = next.run(request).await;
    in_flight.finish(response.status().as_u16());
    response
}
