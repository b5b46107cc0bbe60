//! Every GraphQL error gets a stable `extensions.code`, here and only here:
//! the service's errors by their kind, async-graphql's by the message table.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::parser::Pos;
use async_graphql::{Response, ServerError};

use super::messages::{self, Meaning};
use crate::error::AppError;

/// The codes the engine itself gives (the service's are `AppError::code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    ParseFailed,
    ValidationFailed,
    BadUserInput,
    LimitExceeded,
    Unauthenticated,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    PersistedQueryNotTrusted,
    Internal,
}

impl Code {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::PersistedQueryNotTrusted => "PERSISTED_QUERY_NOT_TRUSTED",
            Self::Internal => "INTERNAL",
        }
    }
}

pub(crate) fn set(error: &mut ServerError, code: Code) {
    set_extension(error, "code", code.as_str());
}

pub(crate) fn set_extension(error: &mut ServerError, key: &str, value: &str) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set(key, value);
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

/// Nothing was executed (validation or operation selection failed): no
/// data, and no error has a field path.
pub(crate) fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && response.is_err()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Codes every error of `response`. `variable_positions` are where the
/// document uses variables: a value error there is about a variable's value.
pub(crate) fn classify(response: &mut Response, variable_positions: &HashSet<Pos>) {
    if is_request_error(response) {
        classify_refusal(&mut response.errors, variable_positions);
    } else {
        response.errors.iter_mut().for_each(classify_field_error);
    }
}

/// Errors of a request that never ran.
fn classify_refusal(errors: &mut [ServerError], variable_positions: &HashSet<Pos>) {
    let about_defaults = errors
        .iter()
        .any(|e| messages::meaning(&e.message) == Some(Meaning::Default));
    for error in errors.iter_mut().filter(|e| !has_code(e)) {
        match messages::meaning(&error.message) {
            Some(Meaning::Limit(limit)) => {
                set(error, Code::LimitExceeded);
                set_extension(error, "limit", limit);
            }
            Some(Meaning::Operation) => set(error, Code::BadUserInput),
            Some(Meaning::Value)
                if !about_defaults
                    && error
                        .locations
                        .iter()
                        .any(|pos| variable_positions.contains(pos)) =>
            {
                set(error, Code::BadUserInput);
            }
            _ => set(error, Code::ValidationFailed),
        }
    }
}

/// An error raised while executing: the service's own, an argument that
/// did not coerce, or a fault, which the client only sees as INTERNAL.
fn classify_field_error(error: &mut ServerError) {
    let app_error = error
        .source::<AppError>()
        .or_else(|| error.source::<Arc<AppError>>().map(AsRef::as_ref));
    if let Some(app_error) = app_error {
        if let AppError::Internal(source) | AppError::Unavailable(source) = app_error {
            // The cause stays in the log; the client gets the generic message.
            tracing::error!(error = %source, path = ?error.path, "request failed");
        }
        let code = app_error.code();
        let field = app_error.field().map(str::to_owned);
        set_extension(error, "code", code);
        if let Some(field) = field {
            set_extension(error, "field", &field);
        }
        return;
    }
    if has_code(error) {
        return;
    }
    match messages::meaning(&error.message) {
        Some(Meaning::Value | Meaning::Operation) => set(error, Code::BadUserInput),
        _ => {
            tracing::error!(message = %error.message, path = ?error.path, "unclassified GraphQL error");
            error.message = "internal error".to_owned();
            set(error, Code::Internal);
        }
    }
}

/// A document that did not parse.
pub(crate) fn parse_failed(error: async_graphql::parser::Error) -> ServerError {
    let mut error = ServerError::from(error);
    set(&mut error, Code::ParseFailed);
    error
}

/// A request without a valid bearer token (where sign-in is required).
pub(crate) fn unauthenticated() -> ServerError {
    let mut error = ServerError::new("a valid bearer token is required", None);
    set(&mut error, Code::Unauthenticated);
    error
}

/// An error the engine raises itself, with its code.
pub(crate) fn error(code: Code, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    set(&mut error, code);
    error
}
