//! Decoding a GraphQL request from HTTP: a POST's JSON body (one operation
//! or a batch) and a GET's query string.

use async_graphql::{BatchRequest, Request, Variables};
use axum::extract::Query;
use axum::http::{HeaderMap, header};

use super::responses::JSON;

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

pub(super) fn parse_get_request(uri: &axum::http::Uri) -> Result<Request, String> {
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

pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON))
}

pub(super) enum BodyError {
    Invalid(String),
    BatchTooLarge(String),
}

impl From<String> for BodyError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

pub(super) fn parse_body(body: &[u8], max_batch: usize) -> Result<BatchRequest, BodyError> {
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
