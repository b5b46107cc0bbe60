//! Writing GraphQL answers over HTTP: the media type a client asked for,
//! the status a request error gets, and the transport's own refusals.

use async_graphql::BatchResponse;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::graphql::engine::is_request_error;

pub(super) const JSON: &str = "application/json";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

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

pub(super) fn respond(response: BatchResponse, media: &'static str) -> Response {
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

/// One result as written: the GraphQL spec (and GraphQL over HTTP) wants no
/// `data` entry at all when an error was raised before execution began;
/// async-graphql would write `"data": null`.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub(super) enum ResponseBody<'a> {
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
    pub(super) fn of(r: &'a async_graphql::Response) -> Self {
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

pub(super) fn json_response(
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

pub(super) fn http_error(status: StatusCode, media: &'static str, message: &str) -> Response {
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
