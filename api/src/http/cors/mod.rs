//! CORS for browsers on other origins (`CORS_ALLOWED_ORIGINS`).
//!
//! Only what a GraphQL client needs is allowed: GET and POST with the usual
//! headers, never credentials (the api uses no cookies). Without the setting
//! no CORS header is sent, so browsers keep other origins out. Browsers do
//! not apply CORS to WebSockets, so [`websocket_origin`] applies the same
//! list to WebSocket handshakes.

pub(crate) mod origins;

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub(crate) use origins::CorsOrigins;

/// How long browsers may cache a preflight answer (Chromium caps it at 2 h).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(3600);

pub(crate) fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(_) => {
            let origins = origins.clone();
            AllowOrigin::predicate(move |origin, _| {
                origin.to_str().is_ok_and(|origin| origins.allows(origin))
            })
        }
    };
    let request_id = HeaderName::from_static("x-request-id");
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::AUTHORIZATION,
                request_id.clone(),
                HeaderName::from_static(super::idempotency::HEADER),
            ])
            .expose_headers([
                request_id,
                HeaderName::from_static(super::idempotency::REPLAYED),
            ])
            .max_age(MAX_AGE),
    )
}

/// Browsers do not apply CORS to WebSockets: they send `Origin` and leave
/// the decision to the server. Without this check a page on any origin could
/// run queries and mutations over `/graphql`'s WebSocket that CORS keeps it
/// from running over HTTP. So a handshake that carries an `Origin` must come
/// from the api's own origin (its `Host`, or `X-Forwarded-Host` behind a
/// proxy) or from one that `CORS_ALLOWED_ORIGINS` allows. Clients that send
/// no `Origin` (anything but a browser) are not affected.
pub(crate) async fn websocket_origin(
    State(origins): State<CorsOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !headers.contains_key(header::UPGRADE) {
        return next.run(request).await;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return next.run(request).await;
    };
    if origins.allows(origin) || same_origin(origin, headers) {
        return next.run(request).await;
    }
    tracing::info!(origin, "WebSocket refused: origin not allowed");
    (
        StatusCode::FORBIDDEN,
        format!(
            "WebSocket connections from {origin} are not allowed; add it to CORS_ALLOWED_ORIGINS\n"
        ),
    )
        .into_response()
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was
/// sent to. Browsers set `Host` themselves, so a page cannot fake it.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let normalize = |a: &str| {
        let a = a.trim().to_ascii_lowercase();
        a.strip_suffix(default_port).map(str::to_owned).unwrap_or(a)
    };
    let origin = normalize(authority);
    [header::HOST, HeaderName::from_static("x-forwarded-host")]
        .iter()
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .filter_map(|value| value.split(',').next())
        .any(|host| normalize(host) == origin)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn same_origin_compares_with_host_and_forwarded_host() {
        let h = headers(&[("host", "127.0.0.1:8080")]);
        assert!(same_origin("http://127.0.0.1:8080", &h));
        assert!(!same_origin("http://127.0.0.1:8081", &h));
        assert!(!same_origin("http://localhost:8080", &h));
        assert!(!same_origin("null", &h));

        let h = headers(&[("host", "todo.example.com")]);
        assert!(same_origin("https://todo.example.com", &h));
        assert!(same_origin("http://TODO.example.com", &h));

        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "todo.example.com:443, proxy.internal"),
        ]);
        assert!(same_origin("https://todo.example.com", &h));
        assert!(!same_origin("https://proxy.internal", &h));
    }
}
