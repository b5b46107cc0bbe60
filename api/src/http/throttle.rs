//! Rate limits on `/graphql` (see `crate::rate_limit`): who the client is,
//! the check before anything else runs, and the refusal a client can read.
//!
//! Every request takes one operation from its client's bucket before its
//! body is read; a batch takes the rest of its operations once it is parsed,
//! all or none. WebSocket handshakes are not counted: each `subscribe`
//! message on the socket is (websocket.rs). Health, readiness and metrics
//! are other routes, never limited.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::responses::{error_response, response_media_type};
use super::state::SharedState;
use crate::config::TrustedProxies;
use crate::metrics::TRANSPORT_HTTP;
use crate::net::client_prefix;
use crate::rate_limit::{Allowance, ClientKey, RateLimiter, Refusal, Verdict};
use crate::service::Owner;

pub(crate) const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub(crate) const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub(crate) const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// A client's limiter and bucket, for operations counted after the first.
#[derive(Clone)]
pub(crate) struct Throttle {
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) key: ClientKey,
}

impl Throttle {
    /// Takes `operations` more from the client's bucket.
    pub(crate) fn check(&self, operations: usize) -> Verdict {
        let operations = u32::try_from(operations).unwrap_or(u32::MAX);
        self.limiter.check(&self.key, operations)
    }
}

pub(crate) async fn limit(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = state.limiter.clone() else {
        return next.run(request).await;
    };
    if is_websocket_handshake(&request) {
        return next.run(request).await;
    }
    let key = client_key(
        &state.config.trusted_proxies,
        request.extensions(),
        request.headers(),
    );
    match limiter.check(&key, 1) {
        Verdict::Allowed(allowance) => {
            request.extensions_mut().insert(Throttle { limiter, key });
            let mut response = next.run(request).await;
            // A batch's handler has set them already, after its operations.
            if !response.headers().contains_key(RATELIMIT_LIMIT) {
                set_allowance(response.headers_mut(), allowance);
            }
            response
        }
        Verdict::Refused(refusal) => too_many(response_media_type(request.headers()), refusal),
    }
}

pub(crate) fn is_websocket_handshake(request: &Request) -> bool {
    (request.method() == Method::GET && request.headers().contains_key(header::UPGRADE))
        || request.method() == Method::CONNECT
}

/// The signed-in owner (sign-in put it there), else the client's address.
pub(crate) fn client_key(
    trusted: &TrustedProxies,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> ClientKey {
    match extensions.get::<Owner>() {
        Some(owner) => ClientKey::Owner(owner.clone()),
        None => ClientKey::Address(client_address(trusted, extensions, headers)),
    }
}

fn client_address(
    trusted: &TrustedProxies,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> IpAddr {
    // Every connection has one; a router driven without a server has none.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    client_prefix(trusted.client_address(peer, headers))
}

/// 429 with one `RATE_LIMITED` error and the headers that say when to retry.
pub(crate) fn too_many(media: &'static str, refusal: Refusal) -> Response {
    crate::metrics::rate_limited(TRANSPORT_HTTP);
    let retry_after = whole_seconds(refusal.retry_after).max(1);
    let message = format!("too many operations; retry in {retry_after} s");
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        media,
        &message,
        "RATE_LIMITED",
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(refusal.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(0));
    headers.insert(
        RATELIMIT_RESET,
        HeaderValue::from(whole_seconds(refusal.reset).max(1)),
    );
    response
}

/// The error a refused WebSocket `subscribe` gets.
pub(crate) fn rate_limited_error(refusal: Refusal) -> serde_json::Value {
    let retry_after = whole_seconds(refusal.retry_after).max(1);
    serde_json::json!({
        "message": format!("too many operations; retry in {retry_after} s"),
        "extensions": { "code": "RATE_LIMITED", "retryAfter": retry_after },
    })
}

pub(crate) fn set_allowance(headers: &mut HeaderMap, allowance: Allowance) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(allowance.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(allowance.remaining));
    headers.insert(
        RATELIMIT_RESET,
        HeaderValue::from(whole_seconds(allowance.reset)),
    );
}

/// Rounded up: a client that waits this long is not refused again.
fn whole_seconds(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}
