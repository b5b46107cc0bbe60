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
    #[error(
        "this event cursor is older than the events kept; fetch what you need and subscribe \
         again without `after`"
    )]
    CursorExpired,
    #[error("the database is unavailable, try again later")]
    Unavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] DbErr),
}

pub(crate) type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub(crate) fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found_in(entity: &'static str, field: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            field: Some(field.into()),
        }
    }

    pub(crate) fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The stable code clients switch on (`extensions.code`).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            Self::NotFound { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            Self::BadInput { field, .. } => Some(field),
            Self::CursorExpired => Some("after"),
            Self::Unavailable(_) | Self::Internal(_) => None,
        }
    }

    /// A unique-constraint violation, which callers turn into a CONFLICT.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Internal(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))))
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if is_connection_error(&err) {
            Self::Unavailable(err)
        } else if is_collision(&err) {
            Self::conflict(None, "the change collided with a concurrent one; try again")
        } else {
            Self::Internal(err)
        }
    }
}

/// PostgreSQL gave up one of two colliding transactions (a deadlock or a
/// serialization failure): nothing was changed, and a retry succeeds.
fn is_collision(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = e.as_ref() else {
        return false;
    };
    db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| matches!(pg.code(), "40P01" | "40001"))
}

/// Errors that mean "the database cannot be reached right now", as opposed to
/// a bad statement: those are worth a retry by the client.
fn is_connection_error(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            is_unavailable(e)
        }
        _ => false,
    }
}

fn is_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    match err {
        // The connection broke (the server went away mid-statement), or no
        // connection could be had in time.
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed
        | SqlxError::Tls(_) => true,
        SqlxError::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
                is_unavailable_sqlstate(pg.code())
            } else if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                db.code().is_some_and(|code| is_sqlite_busy(&code))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL: the server is stopping, restarting, not accepting connections
/// yet, or has no connection slot left. The message a stopping server sends
/// each session (57P01 "terminating connection due to administrator
/// command") is the first thing a pooled connection sees of an outage.
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection_exception
        || matches!(
            code,
            "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now
            | "53300" // too_many_connections
        )
}

/// SQLite: another process held the database locked for longer than the
/// busy timeout (SQLITE_BUSY and SQLITE_LOCKED, with their extended codes).
fn is_sqlite_busy(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailability_is_told_from_bad_statements() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "57014"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["5", "6", "517", "261", "262"] {
            assert!(is_sqlite_busy(code), "{code}");
        }
        for code in ["1", "19", "2067", "11"] {
            assert!(!is_sqlite_busy(code), "{code}");
        }
        assert!(matches!(
            AppError::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            AppError::Unavailable(_)
        ));
        assert!(matches!(
            AppError::from(DbErr::Custom("bad".into())),
            AppError::Internal(_)
        ));
    }
}
