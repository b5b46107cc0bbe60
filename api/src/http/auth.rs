//! Sign-in on `/graphql` over HTTP: with sign-in configured, a request
//! without a valid bearer token is answered 401 before anything runs; the
//! token's owner goes with the request (for the limiter, then the engine).
//! WebSocket handshakes pass: their token travels in `connection_init`,
//! which the socket's guard checks.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::responses::{error_response, response_media_type};
use super::state::SharedState;

pub(crate) async fn require_token(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let handshake =
        request.method() == Method::GET && request.headers().contains_key(header::UPGRADE);
    if !state.auth.requires_tokens() || handshake {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.authenticate_header(authorization).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity.owner);
            next.run(request).await
        }
        Err(err) => {
            tracing::debug!(reason = %err, "refused a request without a valid token");
            let media = response_media_type(request.headers());
            let mut response = error_response(
                StatusCode::UNAUTHORIZED,
                media,
                &err.to_string(),
                "UNAUTHENTICATED",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            response
        }
    }
}
