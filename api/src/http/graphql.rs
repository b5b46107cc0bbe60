//! GraphQL over HTTP (POST and query-only GET) and over WebSocket, on `/graphql`.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, FromRequestParts, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower::ServiceBuilder;

use super::request::{BodyError, is_json, parse_body, parse_get_request};
use super::responses::{
    JSON, ResponseBody, http_error, json_response, respond, response_media_type,
};
use super::state::SharedState;
use super::throttle::Throttle;
use crate::graphql::engine::limit_error;
use crate::rate_limit::Verdict;
use crate::service::Owner;

/// Bytes read from a WebSocket at once.
const WS_READ_BUFFER: usize = 4 * 1024;
/// Output a slow WebSocket client may leave unread before writes fail.
const WS_MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// `/graphql` with its transport limits (the router adds sign-in outside
/// them). Only this route is limited: health probes and metrics must answer
/// even when the api sheds load.
pub(crate) fn route(state: &SharedState) -> MethodRouter<SharedState> {
    let limits = &state.config.http_limits;
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(limits.max_concurrent_requests)
        .timeout(limits.request_timeout);
    let mut route = get(get_or_websocket)
        .post(post)
        .layer::<_, std::convert::Infallible>(limited)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    // Inside sign-in (a signed-in client is its owner: the router adds it),
    // before the body is read and before load shedding: a client over its
    // limit costs little.
    if state.limiter.is_some() {
        route = route.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::throttle::limit,
        ));
    }
    route
}

/// Load shedding and the request timeout end here: both are the server's
/// state, not the client's fault, and worth a retry later.
async fn overloaded(error: tower::BoxError) -> Response {
    let message = if error.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("a request hit HTTP_REQUEST_TIMEOUT_SECS");
        "the request took too long and was cancelled"
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        "the server is busy; retry shortly"
    } else {
        tracing::error!(%error, "request failed in the transport layer");
        "the server could not handle the request"
    };
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": "SERVICE_UNAVAILABLE" } }]
    });
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, JSON, &body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(crate) async fn post(
    State(state): State<SharedState>,
    owner: Option<Extension<Owner>>,
    throttle: Option<Extension<Throttle>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let media = response_media_type(&headers);
    // Checked first: a browser's cross-site "simple" request (form or
    // text/plain) never reaches the executor.
    if !is_json(&headers) {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "send the request as application/json",
        );
    }
    let key = match super::idempotency::key(&headers) {
        Ok(key) => key,
        Err(message) => return super::idempotency::bad_key(media, &message),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the request body is larger than {} bytes",
                state.config.http_limits.max_body_bytes
            );
            return http_error(StatusCode::PAYLOAD_TOO_LARGE, media, &message);
        }
        Err(rejection) => {
            return http_error(StatusCode::BAD_REQUEST, media, &rejection.body_text());
        }
    };
    let batch = match parse_body(&body, state.max_batch()) {
        Ok(batch) => batch,
        Err(BodyError::Invalid(message)) => {
            return http_error(StatusCode::BAD_REQUEST, media, &message);
        }
        Err(BodyError::BatchTooLarge(message)) => {
            let refusal = async_graphql::Response::from_errors(vec![limit_error("batch", message)]);
            return json_response(StatusCode::BAD_REQUEST, media, &ResponseBody::of(&refusal));
        }
    };
    // The first operation was counted before the body was read.
    let mut allowance = None;
    if let (BatchRequest::Batch(requests), Some(Extension(throttle))) = (&batch, &throttle)
        && requests.len() > 1
    {
        match throttle.check(requests.len() - 1) {
            Verdict::Allowed(left) => allowance = Some(left),
            Verdict::Refused(refusal) => return super::throttle::too_many(media, refusal),
        }
    }
    let mut response = match key {
        Some(key) if super::idempotency::applies(&state.engine, &batch) => {
            let owner_id = owner
                .as_ref()
                .map_or_else(Owner::single_user, |o| o.0.clone());
            let batch = with_owner(batch, owner);
            super::idempotency::run(
                &state,
                owner_id.as_str().to_owned(),
                key,
                &body,
                batch,
                media,
            )
            .await
        }
        // Queries with a key just run: they change nothing.
        _ => super::execute::execute(&state, with_owner(batch, owner), media).await,
    };
    if let Some(allowance) = allowance {
        super::throttle::set_allowance(response.headers_mut(), allowance);
    }
    response
}

/// The signed-in owner goes with every operation (none: the single user).
fn with_owner(batch: BatchRequest, owner: Option<Extension<Owner>>) -> BatchRequest {
    let Some(Extension(owner)) = owner else {
        return batch;
    };
    match batch {
        BatchRequest::Single(request) => BatchRequest::Single(request.data(owner)),
        BatchRequest::Batch(requests) => BatchRequest::Batch(
            requests
                .into_iter()
                .map(|r| r.data(owner.clone()))
                .collect(),
        ),
    }
}

pub(crate) async fn get_or_websocket(
    State(state): State<SharedState>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return websocket(state, &mut parts).await;
    }
    let media = response_media_type(&parts.headers);
    let mut request = match parse_get_request(&parts.uri) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, media, &message),
    };
    if let Some(owner) = parts.extensions.get::<Owner>() {
        request = request.data(owner.clone());
    }
    let prepared = match state.engine.prepare(request, None) {
        Ok(prepared) => prepared,
        Err(refusal) => return respond(BatchResponse::Single(*refusal), media),
    };
    // Mutations and subscriptions change state or hold a stream: never
    // over GET. A name that selects nothing is the executor's to report.
    if prepared
        .operation_type()
        .is_some_and(|ty| ty != OperationType::Query)
    {
        let mut response = http_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "only queries can be sent with GET; use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let response = state.engine.run(prepared).await;
    respond(BatchResponse::Single(response), media)
}

async fn websocket(state: SharedState, parts: &mut axum::http::request::Parts) -> Response {
    let Some(protocol) = super::websocket::negotiate(&parts.headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "offer the graphql-transport-ws (or legacy graphql-ws) subprotocol",
        )
            .into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Counted per `subscribe`: by address until `connection_init` names
    // the owner (with sign-in).
    let throttle = state.limiter.clone().map(|limiter| Throttle {
        limiter,
        key: super::throttle::client_key(
            &state.config.trusted_proxies,
            &parts.extensions,
            &parts.headers,
        ),
    });
    let engine = state.engine.clone();
    let auth = state.auth.clone();
    let http_limits = state.config.http_limits.clone();
    let shutdown = state.shutdown.clone();
    let max_message = http_limits.max_body_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // Small buffers (the defaults are 128 KiB each way): thousands of
        // mostly idle subscribers fit in little memory, and a client message
        // is bounded like an HTTP body.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| {
            crate::metrics::WsConnection::track(super::websocket::serve(
                socket,
                engine,
                auth,
                protocol,
                http_limits,
                throttle,
                shutdown,
            ))
        })
}
