//! GraphQL over HTTP (POST and query-only GET) and over WebSocket, on `/graphql`.

use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Variables};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use crate::graphql::loaders::Loaders;

/// How many operations one HTTP request may batch.
pub const MAX_BATCH: usize = 10;

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let media = response_media_type(&headers);
    if !is_json(&headers) {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "send the request as application/json",
        );
    }
    let batch = match parse_body(&body) {
        Ok(batch) => batch,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, media, &message),
    };
    execute(&state, batch, media).await
}

pub async fn get_or_websocket(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return websocket(state, &mut parts).await;
    }
    let media = response_media_type(&parts.headers);
    let request = match parse_get_request(&parts.uri) {
        Ok(request) => request,
        Err(message) => return http_error(StatusCode::BAD_REQUEST, media, &message),
    };
    if !is_query(&request) {
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
    execute(&state, BatchRequest::Single(request), media).await
}

async fn websocket(state: AppState, parts: &mut axum::http::request::Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(parts, &state).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .keepalive_timeout(Duration::from_secs(30))
                .serve()
                .await
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
    let query = params.query.ok_or("the `query` parameter is required")?;
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
    if let Some(extensions) = params.extensions {
        request.extensions = serde_json::from_str(&extensions)
            .map_err(|e| format!("`extensions` is not a valid JSON object: {e}"))?;
    }
    Ok(request)
}

/// Mutations and subscriptions change state or hold a stream: never over GET.
/// A query that does not parse is left to the executor to report.
fn is_query(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty.is_none_or(|ty| ty == OperationType::Query)
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
fn response_media_type(headers: &HeaderMap) -> &'static str {
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

fn parse_body(body: &[u8]) -> Result<BatchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let parse_one = |value: serde_json::Value| -> Result<Request, String> {
        if !value.is_object() {
            return Err("a GraphQL request must be a JSON object".into());
        }
        if !value.get("query").is_some_and(serde_json::Value::is_string) {
            return Err("`query` must be a string".into());
        }
        serde_json::from_value(value).map_err(|e| format!("invalid GraphQL request: {e}"))
    };
    match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(format!("a batch must hold 1 to {MAX_BATCH} requests"));
            }
            Ok(BatchRequest::Batch(
                items.into_iter().map(parse_one).collect::<Result<_, _>>()?,
            ))
        }
        single => Ok(BatchRequest::Single(parse_one(single)?)),
    }
}

async fn execute(state: &AppState, batch: BatchRequest, media: &'static str) -> Response {
    // Each operation gets its own caching loaders: rows are loaded once per
    // request and never served to another.
    let with_loaders = |request: Request| request.data(Loaders::per_request(&state.db));
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(with_loaders(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(with_loaders).collect())
        }
    };
    let operation = match &batch {
        BatchRequest::Single(r) => r.operation_name.clone(),
        BatchRequest::Batch(rs) => rs.first().and_then(|r| r.operation_name.clone()),
    };
    let span = tracing::info_span!(
        "graphql",
        operation = operation.as_deref().unwrap_or("anonymous")
    );
    let response = state.schema.execute_batch(batch).instrument(span).await;
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

/// Nothing was executed (parsing, validation or variable coercion failed):
/// no data, and no error has a field path.
fn is_request_error(r: &async_graphql::Response) -> bool {
    r.data == async_graphql::Value::Null && r.is_err() && r.errors.iter().all(|e| e.path.is_empty())
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
        _ => "BAD_REQUEST",
    };
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    json_response(status, media, &body)
}
