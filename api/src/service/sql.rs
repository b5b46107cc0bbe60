//! Small helpers for the few statements sea-query does not express well
//! (recursive CTEs), written once for both backends.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::error::AppResult;

/// Runs `sql`, written with `?` placeholders, on any backend.
pub async fn query_all<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> AppResult<Vec<QueryResult>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => numbered_placeholders(sql),
        _ => sql.to_owned(),
    };
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?)
}

/// `?, ?` becomes `$1, $2` (no statement here has a literal `?`).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// `?, ?, ?` for an IN list of `n` values.
pub fn list_placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A LIKE pattern matching `needle` anywhere, with its wildcards escaped (use
/// with `ESCAPE '\\'`), lower-cased for case-insensitive search.
pub fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
