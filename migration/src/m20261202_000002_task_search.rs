//! Full-text search of task descriptions, in the language chosen when this
//! migration runs (see [`crate::search_language`]); existing tasks are
//! indexed on `up`.
//!
//! - PostgreSQL: a stored generated `tasks.search_vector` with a GIN index,
//!   `to_tsvector(task_search_config(), task_search_text(description))`.
//!   `task_search_config()` names the language (the api reads it at start
//!   and builds its queries with it); `task_search_text()` folds accents
//!   with the `unaccent` extension and turns ASCII punctuation into spaces,
//!   so `milk/eggs`, `e-mail` or `3.14` are words as FTS5 sees them, not
//!   PostgreSQL's file paths, hyphenated words and numbers.
//! - SQLite: an FTS5 table `tasks_fts`, kept in step by triggers on every
//!   insert, description change and delete (foreign-key cascades fire them
//!   too). FTS5 rows are addressed by integer rowid, and a task's implicit
//!   rowid is not stable (VACUUM may renumber a table without an INTEGER
//!   PRIMARY KEY), so `task_search_rows` gives each task a rowid of its own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::search_language::chosen;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Folded to spaces before PostgreSQL's parser sees a description or a query.
const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => up_postgres(manager).await,
            _ => up_sqlite(manager).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            // The unaccent extension stays: it may have been there before, and
            // other schemas may use it.
            DbBackend::Postgres => &[
                "DROP INDEX IF EXISTS idx_tasks_search",
                "ALTER TABLE tasks DROP COLUMN IF EXISTS search_vector",
                "DROP FUNCTION IF EXISTS task_search_text(text)",
                "DROP FUNCTION IF EXISTS task_search_config()",
            ],
            _ => &[
                "DROP TRIGGER IF EXISTS tasks_search_insert",
                "DROP TRIGGER IF EXISTS tasks_search_update",
                "DROP TRIGGER IF EXISTS tasks_search_delete",
                "DROP TABLE IF EXISTS tasks_fts",
                "DROP TABLE IF EXISTS task_search_rows",
            ],
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

async fn up_postgres(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let language = chosen();
    // Fails here, with PostgreSQL's own message, for a configuration the
    // server does not have; qualified, so the function does not depend on
    // the search_path it runs under.
    let config = text_of(
        db,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.cfgname) AS v \
         FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace \
         WHERE c.oid = $1::regconfig",
        language.as_str(),
    )
    .await?;
    // A trusted extension (PostgreSQL 13+): the database owner may create it.
    db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS unaccent")
        .await?;
    let unaccent = text_of(
        db,
        "SELECT quote_ident(n.nspname) AS v FROM pg_extension e \
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
        "unaccent",
    )
    .await?;
    db.execute_unprepared(&format!(
        "CREATE FUNCTION task_search_config() RETURNS regconfig \
         LANGUAGE sql IMMUTABLE PARALLEL SAFE \
         AS $fn$ SELECT '{config}'::regconfig $fn$"
    ))
    .await?;
    // unaccent() is only STABLE: it looks its dictionary up by name, which
    // could change with search_path or a new rules file. Here the
    // dictionary is named with its schema, and its rules change only when
    // PostgreSQL is upgraded, so declaring the wrapper IMMUTABLE (which a
    // generated column requires) is honest; after changing unaccent.rules,
    // re-create the column (down and up) to index every row anew. The
    // alternative, a trigger-maintained column, would do the same work on
    // every write with more moving parts.
    let spaces = " ".repeat(ASCII_PUNCTUATION.len());
    let punctuation = ASCII_PUNCTUATION.replace('\\', "\\\\").replace('\'', "\\'");
    db.execute_unprepared(&format!(
        "CREATE FUNCTION task_search_text(text) RETURNS text \
         LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE \
         AS $fn$ SELECT pg_catalog.translate(\
             {unaccent}.unaccent('{unaccent}.unaccent'::regdictionary, $1), \
             E'{punctuation}', '{spaces}') $fn$"
    ))
    .await?;
    // Adding a stored generated column rewrites the table: every existing
    // task is indexed here.
    db.execute_unprepared(
        "ALTER TABLE tasks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS \
         (to_tsvector(task_search_config(), task_search_text(description))) STORED",
    )
    .await?;
    db.execute_unprepared("CREATE INDEX idx_tasks_search ON tasks USING gin (search_vector)")
        .await?;
    Ok(())
}

async fn up_sqlite(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let tokenizer = chosen().sqlite_tokenizer().map_err(DbErr::Migration)?;
    let statements = [
        "CREATE TABLE task_search_rows (\
             search_row INTEGER PRIMARY KEY, \
             task_id BLOB NOT NULL UNIQUE)"
            .to_owned(),
        format!("CREATE VIRTUAL TABLE tasks_fts USING fts5(description, tokenize = '{tokenizer}')"),
        "INSERT INTO task_search_rows (task_id) SELECT id FROM tasks".to_owned(),
        "INSERT INTO tasks_fts (rowid, description) \
         SELECT r.search_row, t.description FROM task_search_rows r \
         JOIN tasks t ON t.id = r.task_id"
            .to_owned(),
        "CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN \
             INSERT INTO task_search_rows (task_id) VALUES (new.id); \
             INSERT INTO tasks_fts (rowid, description) \
             SELECT search_row, new.description FROM task_search_rows WHERE task_id = new.id; \
         END"
        .to_owned(),
        "CREATE TRIGGER tasks_search_update AFTER UPDATE OF description ON tasks \
         WHEN old.description IS NOT new.description BEGIN \
             DELETE FROM tasks_fts WHERE rowid = \
                 (SELECT search_row FROM task_search_rows WHERE task_id = old.id); \
             INSERT INTO tasks_fts (rowid, description) \
             SELECT search_row, new.description FROM task_search_rows WHERE task_id = new.id; \
         END"
        .to_owned(),
        "CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN \
             DELETE FROM tasks_fts WHERE rowid = \
                 (SELECT search_row FROM task_search_rows WHERE task_id = old.id); \
             DELETE FROM task_search_rows WHERE task_id = old.id; \
         END"
        .to_owned(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// The one text column `v` of a PostgreSQL query with one parameter.
async fn text_of<C: ConnectionTrait>(db: &C, sql: &str, value: &str) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [value.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("{sql}: no row for {value}")))?;
    row.try_get("", "v")
}
