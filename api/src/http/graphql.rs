//! GraphQL over HTTP (POST and query-only GET) and over WebSocket, on `/graphql`.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Executor, Request, Variables};
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, FromRequestParts, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower::ServiceBuilder;
use tracing::Instrument;

use super::state::SharedState;
use super::throttle::Throttle;
use crate::graphql::engine::{is_request_error, limit_error};
use crate::rate_limit::Verdict;
use crate::service::Owner;

const JSON: &str = "application/json";
/// Bytes read from a WebSocket at once.
const WS_READ_BUFFER: usize = 4 * 1024;
/// Output a slow WebSocket client may leave unread before writes fail.
const WS_MAX_WRITE_BUFFER: usize = 1024 * 1024;
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// `/graphql` with its transport limits (the router adds sign-in outside
/// them). Only this route is limited: health probes and metrics must answer
/// even when the api sheds load.
pub fn route(state: &SharedState) -> MethodRouter<SharedState> {
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

pub async fn post(
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
        _ => execute(&state, with_owner(batch, owner), media).await,
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

pub async fn get_or_websocket(
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

/// The GraphQL-over-HTTP GET parameters (`operationName`, JSON-encoded
/// `variables` and `extensions`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn parse_get_request(uri: &axum::http::Uri) -> Result<Request, String> {
    let Query(params) = Query::<GetParams>::try_from_uri(uri)
        .map_err(|e| format!("invalid query string: {}", e.body_text()))?;
    let extensions: Option<async_graphql::Extensions> = params
        .extensions
        .map(|extensions| {
            serde_json::from_str(&extensions)
                .map_err(|e| format!("`extensions` is not a valid JSON object: {e}"))
        })
        .transpose()?;
    let hash_only = extensions.as_ref().is_some_and(|e| {
        e.get("persistedQuery")
            .is_some_and(|p| *p != async_graphql::Value::Null)
    });
    let query = match params.query {
        Some(query) => query,
        // Automatic persisted queries: the hash stands for the text.
        None if hash_only => String::new(),
        None => return Err("the `query` parameter is required".into()),
    };
    let mut request = Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        let value: serde_json::Value = serde_json::from_str(&variables)
            .map_err(|e| format!("`variables` is not valid JSON: {e}"))?;
        if !value.is_object() && !value.is_null() {
            return Err("`variables` must be a JSON object".into());
        }
        request = request.variables(Variables::from_json(value));
    }
    if let Some(extensions) = extensions {
        request.extensions = extensions;
    }
    Ok(request)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON))
}

/// GraphQL over HTTP: clients that accept `application/graphql-response+json`
/// get it (with 4xx for requests that could not be executed); others get
/// `application/json` with 200, as they have always expected.
pub(super) fn response_media_type(headers: &HeaderMap) -> &'static str {
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let mut media = JSON;
    for accepted in accepts {
        if accepted == GRAPHQL_RESPONSE_JSON {
            return GRAPHQL_RESPONSE_JSON;
        }
        if accepted == JSON {
            media = JSON;
        }
    }
    media
}

enum BodyError {
    Invalid(String),
    BatchTooLarge(String),
}

impl From<String> for BodyError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

fn parse_body(body: &[u8], max_batch: usize) -> Result<BatchRequest, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let parse_one = |mut value: serde_json::Value| -> Result<Request, String> {
        let Some(object) = value.as_object_mut() else {
            return Err("a GraphQL request must be a JSON object".into());
        };
        let no_query = object.get("query").is_none_or(serde_json::Value::is_null);
        let hash_only = no_query
            && object
                .get("extensions")
                .and_then(|e| e.get("persistedQuery"))
                .is_some_and(|p| !p.is_null());
        if hash_only {
            // Automatic persisted queries: the hash stands for the text.
            object.remove("query");
        } else if !object
            .get("query")
            .is_some_and(serde_json::Value::is_string)
        {
            return Err("`query` must be a string".into());
        }
        serde_json::from_value(value).map_err(|e| format!("invalid GraphQL request: {e}"))
    };
    match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(BodyError::Invalid("a batch must not be empty".into()));
            }
            if items.len() > max_batch {
                return Err(BodyError::BatchTooLarge(format!(
                    "a batch may hold at most {max_batch} operations"
                )));
            }
            Ok(BatchRequest::Batch(
                items.into_iter().map(parse_one).collect::<Result<_, _>>()?,
            ))
        }
        single => Ok(BatchRequest::Single(parse_one(single)?)),
    }
}

pub(super) async fn execute(
    state: &SharedState,
    batch: BatchRequest,
    media: &'static str,
) -> Response {
    // Each operation gets its own `graphql.operation` span from the engine;
    // this one only groups a batch.
    let size = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(rs) => rs.len(),
    };
    let span = tracing::debug_span!("graphql.batch", size);
    let response = execute_in_order(state, batch).instrument(span).await;
    respond(response, media)
}

fn respond(response: BatchResponse, media: &'static str) -> Response {
    let executed = match &response {
        BatchResponse::Single(r) => !is_request_error(r),
        BatchResponse::Batch(rs) => !rs.iter().any(is_request_error),
    };
    if executed {
        // async-graphql-axum's responder, in the media type the client asked
        // for (it would always say application/graphql-response+json).
        let mut out = async_graphql_axum::GraphQLResponse::from(response).into_response();
        out.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        return out;
    }
    match &response {
        // A request error is the client's: 400 for clients that understand
        // the newer media type.
        BatchResponse::Single(r) => {
            let status = if media == GRAPHQL_RESPONSE_JSON && is_request_error(r) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            json_response(status, media, &ResponseBody::of(r))
        }
        BatchResponse::Batch(rs) => {
            let bodies: Vec<_> = rs.iter().map(ResponseBody::of).collect();
            json_response(StatusCode::OK, media, &bodies)
        }
    }
}

/// A batch runs one operation after the other, as written: a query after a
/// mutation in the same batch sees what the mutation did.
async fn execute_in_order(state: &SharedState, batch: BatchRequest) -> BatchResponse {
    match batch {
        BatchRequest::Single(request) => BatchResponse::Single(state.engine.execute(request).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(state.engine.execute(request).await);
            }
            BatchResponse::Batch(responses)
        }
    }
}

/// One result as written: the GraphQL spec (and GraphQL over HTTP) wants no
/// `data` entry at all when an error was raised before execution began;
/// async-graphql would write `"data": null`.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ResponseBody<'a> {
    Executed(&'a async_graphql::Response),
    NotExecuted {
        errors: &'a [async_graphql::ServerError],
        #[serde(skip_serializing_if = "is_empty")]
        extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
    },
}

fn is_empty(extensions: &&std::collections::BTreeMap<String, async_graphql::Value>) -> bool {
    extensions.is_empty()
}

impl<'a> ResponseBody<'a> {
    fn of(r: &'a async_graphql::Response) -> Self {
        if is_request_error(r) {
            Self::NotExecuted {
                errors: &r.errors,
                extensions: &r.extensions,
            }
        } else {
            Self::Executed(r)
        }
    }
}

fn json_response(
    status: StatusCode,
    media: &'static str,
    body: &impl serde::Serialize,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, media)], Body::from(bytes)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "serialising a response failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn http_error(status: StatusCode, media: &'static str, message: &str) -> Response {
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        _ => "BAD_REQUEST",
    };
    error_response(status, media, message, code)
}

/// A refusal by the transport: one GraphQL error with its code.
pub(super) fn error_response(
    status: StatusCode,
    media: &'static str,
    message: &str,
    code: &str,
) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    json_response(status, media, &body)
}
