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

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait, Value};
use uuid::Uuid;

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

/// The shape of a data set of `tasks` tasks: about 30 % of them are
/// sub-tasks, spread over the creation order; a tenth of those belong to
/// one of 100 "project" tasks in the middle of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    pub tasks: u32,
}

impl Default for DataSet {
    fn default() -> Self {
        Self::new(TASKS)
    }
}

impl DataSet {
    /// Top-level tasks that hold a tenth of all sub-tasks between them, so
    /// that some parents have many (`parentId` lists worth paging).
    pub const PROJECTS: u32 = 100;

    pub fn new(tasks: u32) -> Self {
        Self { tasks }
    }

    /// The `k`-th project (0-based): in the middle of the creation order,
    /// away from the first pages the standard scenarios read.
    pub fn project(self, k: u32) -> u32 {
        self.tasks / 2 + k % Self::PROJECTS
    }

    pub fn is_project(self, n: u32) -> bool {
        (self.project(0)..self.project(0) + Self::PROJECTS).contains(&n)
    }
}

/// Task `n` (1-based): a fixed id, so pgbench can name it too.
pub fn task_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// Category `n` (1-based).
pub fn category_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_9000_0000_0000_0000 | u128::from(n))
}

/// What one load wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub tasks: u32,
    pub top_level: usize,
    pub categories: u32,
    pub links: u64,
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

const PHRASES: [&str; 16] = [
    "Buy milk",
    "Call the plumber",
    "Write the quarterly report",
    "Book flights",
    "Renew passport",
    "Water the plants",
    "Review pull request",
    "Pay the electricity bill",
    "Plan the team offsite",
    "Fix the garden fence",
    "Prepare slides for Monday",
    "Schedule dentist appointment",
    "Clean the garage",
    "Update the budget spreadsheet",
    "Reply to Anna's email",
    "Order printer ink",
];
const TOPICS: [&str; 10] = [
    "home", "work", "errands", "garden", "kids", "health", "finance", "travel", "car", "hobby",
];

/// The loaded columns, named: a column another migration adds (a search
/// vector, say) keeps its default or whatever its trigger writes.
const TASK_COLUMNS: [&str; 13] = [
    "id",
    "owner_id",
    "description",
    "priority",
    "start_at",
    "due_at",
    "done",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
    "parent_id",
    "position",
];
const CATEGORY_COLUMNS: [&str; 5] = ["id", "owner_id", "name", "name_key", "created_at"];
const LINK_COLUMNS: [&str; 3] = ["task_id", "category_id", "owner_id"];

/// A cheap deterministic mix of `n`.
fn hash(n: u32) -> u32 {
    let mut x = n.wrapping_mul(0x9E37_79B1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85EB_CA77);
    x ^ (x >> 13)
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The parent of task `n`, always a top-level task created before it (so
/// inserts in order never miss one), or none for about 70 % of the tasks.
fn parent_of(set: DataSet, n: u32) -> Option<u32> {
    if n <= 1 || set.is_project(n) || hash(n ^ 0x27D4_EB2F) % 10 >= 3 {
        return None;
    }
    if n > set.project(DataSet::PROJECTS - 1) && hash(n ^ 0x5BD1_E995).is_multiple_of(10) {
        return Some(set.project(n % DataSet::PROJECTS));
    }
    let m = 1 + hash(n ^ 0x68E3_1DA4) % (n - 1);
    Some(parent_of(set, m).unwrap_or(m))
}

/// Category ids of task `n`: 0 to 3 distinct ones.
fn categories_of(n: u32) -> impl Iterator<Item = u32> {
    let k = (hash(n) >> 24) % 4;
    (0..k).map(move |j| 1 + (n * 7 + j * 331) % CATEGORIES)
}

struct TaskRow {
    n: u32,
    description: String,
    priority: i16,
    start: Option<DateTime<Utc>>,
    due: Option<DateTime<Utc>>,
    done: bool,
    completed: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    parent: Option<u32>,
}

impl TaskRow {
    fn new(set: DataSet, n: u32) -> Self {
        let h = hash(n);
        let created = base() + Duration::seconds(i64::from(n) * 37);
        let parent = parent_of(set, n);
        let due = ((h >> 8) % 10 < 6).then(|| {
            base() + Duration::days(i64::from((h >> 12) % 400)) + Duration::hours(i64::from(h % 10))
        });
        let done = (h >> 20) % 10 < 3;
        Self {
            n,
            description: format!("{} #{n}", PHRASES[(h % 16) as usize]),
            priority: ((h >> 4) % 4) as i16,
            start: due
                .filter(|_| (h >> 16).is_multiple_of(3))
                .map(|d| d - Duration::days(3)),
            due,
            done,
            completed: done.then(|| created + Duration::days(2)),
            created,
            parent,
        }
    }

    fn updated(&self) -> DateTime<Utc> {
        self.completed.unwrap_or(self.created)
    }

    fn version(&self) -> i32 {
        if self.done { 2 } else { 1 }
    }

    /// A manual-order key that sorts the data set in creation order within
    /// every list: the migration's backfill of row `n + 1` (`81`, four
    /// base-255 digits as bytes 0x01 to 0xff, the terminator `80`).
    fn position(&self) -> String {
        let mut value = (u64::from(self.n) + 1) * 256;
        let mut digits = [0_u64; 4];
        for digit in digits.iter_mut().rev() {
            *digit = value % 255 + 1;
            value /= 255;
        }
        format!(
            "81{:02x}{:02x}{:02x}{:02x}80",
            digits[0], digits[1], digits[2], digits[3]
        )
    }

    fn values(&self) -> Vec<Value> {
        vec![
            task_id(self.n).into(),
            OWNER.into(),
            self.description.clone().into(),
            self.priority.into(),
            self.start.into(),
            self.due.into(),
            self.done.into(),
            self.completed.into(),
            self.created.into(),
            self.updated().into(),
            self.version().into(),
            self.parent.map(task_id).into(),
            self.position().into(),
        ]
    }

    /// One line of `COPY ... FROM STDIN` (text format; no field here holds a
    /// tab, newline or backslash).
    fn copy_line(&self, out: &mut String) {
        use std::fmt::Write as _;
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or_else(
                || "\\N".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            )
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            task_id(self.n),
            OWNER,
            self.description,
            self.priority,
            time(self.start),
            time(self.due),
            if self.done { 't' } else { 'f' },
            time(self.completed),
            time(Some(self.created)),
            time(Some(self.updated())),
            self.version(),
            self.parent
                .map_or_else(|| "\\N".to_owned(), |p| task_id(p).to_string()),
            self.position(),
        );
    }
}

fn category_name(m: u32) -> String {
    format!("{} {m:04}", TOPICS[(m % 10) as usize])
}

fn category_created(m: u32) -> DateTime<Utc> {
    base() + Duration::seconds(i64::from(m))
}

fn links(set: DataSet) -> impl Iterator<Item = (u32, u32)> {
    (1..=set.tasks).flat_map(|n| categories_of(n).map(move |c| (n, c)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_before_their_children_and_are_top_level() {
        let set = DataSet::new(MIN_TASKS * 5);
        for n in 1..=set.tasks {
            if let Some(p) = parent_of(set, n) {
                assert!(p < n, "task {n}'s parent {p} comes after it");
                assert_eq!(
                    parent_of(set, p),
                    None,
                    "task {n}'s parent {p} has a parent"
                );
            }
        }
    }

    #[test]
    fn positions_sort_in_creation_order() {
        let set = DataSet::default();
        let key = |n| TaskRow::new(set, n).position();
        for n in [1, 2, 254, 255, 256, 65_000, 99_999] {
            assert!(key(n) < key(n + 1), "{n}");
        }
    }
}
