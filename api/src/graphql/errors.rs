//! Gives every GraphQL error a stable `extensions.code`, in one place.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::{BoxStream, StreamExt};

use crate::error::AppError;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(classify);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                response.errors.iter_mut().for_each(classify);
                response
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, "GRAPHQL_VALIDATION_FAILED"))
                .collect()
        })
    }
}

/// Sets the code unless a more specific one (e.g. `LIMIT_EXCEEDED`) is there.
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    if !has_code(&error) {
        set(&mut error, "code", code);
    }
    error
}

fn set(error: &mut ServerError, key: &str, value: &str) {
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

fn classify(error: &mut ServerError) {
    let app_error = error
        .source::<AppError>()
        .or_else(|| error.source::<Arc<AppError>>().map(AsRef::as_ref));
    if let Some(app_error) = app_error {
        match app_error {
            AppError::Internal(source) | AppError::Unavailable(source) => {
                // The cause stays in the log; the client gets the generic message.
                tracing::error!(error = %source, path = ?error.path, "request failed");
            }
            _ => {}
        }
        let code = app_error.code();
        let field = app_error.field().map(str::to_owned);
        set(error, "code", code);
        if let Some(field) = field {
            set(error, "field", &field);
        }
        return;
    }
    if has_code(error) {
        return;
    }
    // Left: errors async-graphql raised while coercing arguments and variables.
    // Also the request naming an operation the document lacks, or sending a
    // subscription over plain HTTP: the client's mistake either way.
    let code = if error.message.starts_with("Failed to parse")
        || error.message.starts_with("Invalid value")
        || error.message.to_ascii_lowercase().contains("variable")
        || error.message.starts_with("Expected input type")
        || error.message.starts_with("Unknown operation")
        || error.message.starts_with("Operation name required")
        || error.message.contains("not supported on this transport")
    {
        "BAD_USER_INPUT"
    } else {
        tracing::error!(message = %error.message, path = ?error.path, "unclassified GraphQL error");
        error.message = "internal error".to_owned();
        "INTERNAL"
    };
    set(error, "code", code);
}
