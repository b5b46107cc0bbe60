//! The benchmark's data set, loaded in bulk: by default 100k tasks (about
//! 70 % top-level, 30 % sub-tasks of earlier tasks, mixed through the
//! creation order, a tenth of them under 100 "project" tasks; 60 % with a
//! due date, some with a start date, 30 % done, all four priorities), 1k
//! categories and 0-3 categories per task, all the single user's.
//! Deterministic: the same rows on every run and on both backends, with ids
//! that the bench's probes and pgbench can name ([`task_id`]).
//!
//! PostgreSQL gets the rows through `COPY`, SQLite through multi-row
//! INSERTs, each in one transaction, into a migrated database that holds no
//! task yet. No `task_events` rows are written: a bulk load is not a change
//! any client subscribed to, and the event log's retention would drop a
//! million events unread anyway. Triggers on the tables (if a later
//! migration adds some) fire as for any insert.

mod rows;

use std::fmt;

use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait, Value};

use rows::{
    CATEGORY_COLUMNS, LINK_COLUMNS, TASK_COLUMNS, TaskRow, category_created, category_name, links,
    parent_of,
};
pub use rows::{DataSet, category_id, task_id};

/// Tasks of the default data set.
pub const TASKS: u32 = 100_000;
/// Categories of every data set.
pub const CATEGORIES: u32 = 1_000;
/// The fewest tasks a data set holds (its projects need room).
pub const MIN_TASKS: u32 = 1_000;
/// Whose the rows are: the single user's (the api without sign-in).
pub const OWNER: &str = migration::SINGLE_USER_OWNER;

/// PostgreSQL: task rows per `COPY` chunk sent.
const COPY_TASKS: usize = 20_000;
/// SQLite: rows per INSERT; 13 values a task row, so 1000 rows stay below
/// SQLite's parameter limit.
const INSERT_TASKS: usize = 1_000;
const INSERT_LINKS: usize = 5_000;

/// What one load wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub(crate) tasks: u32,
    pub(crate) top_level: usize,
    pub(crate) categories: u32,
    pub(crate) links: u64,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeded {} tasks ({} top-level), {} categories, {} links",
            self.tasks, self.top_level, self.categories, self.links
        )
    }
}

/// Loads `set` into `db` (migrated, no task yet), then refreshes the
/// planner's statistics as after any bulk load.
pub async fn load(db: &DatabaseConnection, set: DataSet) -> Result<Loaded, DbErr> {
    ensure_empty(db).await?;
    let links = match db.get_database_backend() {
        DbBackend::Postgres => load_postgres(db, set)
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?,
        _ => load_sqlite(db, set).await?,
    };
    // Fresh statistics (and PostgreSQL's visibility map, for index-only
    // scans), as after any bulk load.
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    Ok(Loaded {
        tasks: set.tasks,
        top_level: (1..=set.tasks)
            .filter(|&n| parent_of(set, n).is_none())
            .count(),
        categories: CATEGORIES,
        links,
    })
}

async fn ensure_empty(db: &DatabaseConnection) -> Result<(), DbErr> {
    let existing = db
        .query_one(
            &Query::select()
                .expr(Func::count(Expr::col(Alias::new("id"))))
                .from(Alias::new("tasks"))
                .to_owned(),
        )
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if existing > 0 {
        return Err(DbErr::Custom(format!(
            "the database already holds {existing} tasks: seed a fresh one"
        )));
    }
    Ok(())
}

/// PostgreSQL: every table through `COPY`, in one transaction.
async fn load_postgres(db: &DatabaseConnection, set: DataSet) -> Result<u64, sqlx::Error> {
    let mut conn = db.get_postgres_connection_pool().acquire().await?;
    let mut txn = conn.begin().await?;
    let mut lines = String::new();
    for m in 1..=CATEGORIES {
        let name = category_name(m);
        lines.push_str(&format!(
            "{}\t{}\t{name}\t{}\t{}\n",
            category_id(m),
            OWNER,
            name.to_lowercase(),
            category_created(m).format("%Y-%m-%d %H:%M:%S+00"),
        ));
    }
    copy(&mut txn, "categories", &CATEGORY_COLUMNS, &[lines]).await?;

    let chunks = (1..=set.tasks).collect::<Vec<_>>();
    let chunks = chunks.chunks(COPY_TASKS).map(|chunk| {
        let mut lines = String::with_capacity(chunk.len() * 200);
        for &n in chunk {
            TaskRow::new(set, n).copy_line(&mut lines);
        }
        lines
    });
    copy(&mut txn, "tasks", &TASK_COLUMNS, chunks).await?;

    let mut count = 0;
    let mut lines = String::new();
    for (n, c) in links(set) {
        lines.push_str(&format!("{}\t{}\t{}\n", task_id(n), category_id(c), OWNER));
        count += 1;
    }
    copy(&mut txn, "task_categories", &LINK_COLUMNS, &[lines]).await?;
    txn.commit().await?;
    Ok(count)
}

async fn copy<S: AsRef<str>>(
    conn: &mut sqlx::PgConnection,
    table: &str,
    columns: &[&str],
    chunks: impl IntoIterator<Item = S>,
) -> Result<(), sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
        .await?;
    for chunk in chunks {
        copy.send(chunk.as_ref().as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// SQLite: multi-row INSERTs in one transaction.
async fn load_sqlite(db: &DatabaseConnection, set: DataSet) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    // Index pages of a million rows stay in memory until the commit, rather
    // than spilling to the file mid-transaction (512 MiB, this connection).
    txn.execute_unprepared("PRAGMA cache_size = -524288")
        .await?;
    let insert = |table: &str, columns: &[&str], rows: Vec<Vec<Value>>| {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(*c)));
        for row in rows {
            insert
                .values(row.into_iter().map(Expr::val))
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        Ok::<_, DbErr>(insert)
    };

    let categories = (1..=CATEGORIES)
        .map(|m| {
            let name = category_name(m);
            vec![
                category_id(m).into(),
                OWNER.into(),
                name.clone().into(),
                name.to_lowercase().into(),
                category_created(m).into(),
            ]
        })
        .collect();
    txn.execute(&insert("categories", &CATEGORY_COLUMNS, categories)?)
        .await?;

    for chunk in (1..=set.tasks).collect::<Vec<_>>().chunks(INSERT_TASKS) {
        let rows = chunk
            .iter()
            .map(|&n| TaskRow::new(set, n).values())
            .collect();
        txn.execute(&insert("tasks", &TASK_COLUMNS, rows)?).await?;
    }

    let links: Vec<(u32, u32)> = links(set).collect();
    for chunk in links.chunks(INSERT_LINKS) {
        let rows = chunk
            .iter()
            .map(|&(n, c)| vec![task_id(n).into(), category_id(c).into(), OWNER.into()])
            .collect();
        txn.execute(&insert("task_categories", &LINK_COLUMNS, rows)?)
            .await?;
    }
    txn.commit().await?;
    Ok(links.len() as u64)
}
