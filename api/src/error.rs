//! One error type for the whole service, mapped once to GraphQL error codes.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{entity} not found")]
    NotFound {
        entity: &'static str,
        /// The input field that named the missing object, if any.
        field: Option<String>,
    },
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error("the database is unavailable, try again later")]
    Unavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] DbErr),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound {
            entity,
            field: None,
        }
    }

    pub fn not_found_in(entity: &'static str, field: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            field: Some(field.into()),
        }
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The stable code clients switch on (`extensions.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::NotFound { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            Self::BadInput { field, .. } => Some(field),
            Self::Unavailable(_) | Self::Internal(_) => None,
        }
    }

    /// A unique-constraint violation, which callers turn into a CONFLICT.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Internal(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))))
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if is_connection_error(&err) {
            Self::Unavailable(err)
        } else {
            Self::Internal(err)
        }
    }
}

/// Errors that mean "the database cannot be reached right now", as opposed to
/// a bad statement: those are worth a retry by the client.
fn is_connection_error(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                SqlxError::Io(_)
                    | SqlxError::PoolTimedOut
                    | SqlxError::PoolClosed
                    | SqlxError::WorkerCrashed
                    | SqlxError::Tls(_)
            )
        }
        _ => false,
    }
}
