//! Seeds a migrated, empty database with the benchmark's data set: by default
//! 100k tasks (about 70 % top-level, 30 % sub-tasks of earlier tasks, mixed
//! through the creation order, a tenth of them under 100 "project" tasks;
//! 60 % with a due date, some with a start date, 30 % done, all four
//! priorities), 1k categories and 0-3 categories per task, all the single
//! user's. Deterministic: the same rows on every run and on both backends.
//!
//! Usage: `seed DATABASE_URL [TASKS]` (run `migration up` on it first). The
//! scale run seeds 1M this way: PostgreSQL gets the rows through `COPY`,
//! SQLite through multi-row INSERTs, each in one transaction.
//!
//! No `task_events` rows are written: a seed is a bulk load, not a change any
//! client subscribed to, and the event log's retention would drop a million
//! events unread anyway. Triggers on the tables (if a later migration adds
//! some) fire as for any insert.

use std::process::ExitCode;
use std::time::Instant;

use bench::{CATEGORIES, DataSet, category_id, task_id};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Value};

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

/// The seeded columns, named: a column another migration adds (a search
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

    /// A manual-order key that sorts the sample in creation order within
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
            bench::OWNER.into(),
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
            bench::OWNER,
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
async fn seed_postgres(db: &DatabaseConnection, set: DataSet) -> Result<u64, sqlx::Error> {
    let mut conn = db.get_postgres_connection_pool().acquire().await?;
    let mut txn = conn.begin().await?;
    let mut lines = String::new();
    for m in 1..=CATEGORIES {
        let name = category_name(m);
        lines.push_str(&format!(
            "{}\t{}\t{name}\t{}\t{}\n",
            category_id(m),
            bench::OWNER,
            name.to_lowercase(),
            category_created(m).format("%Y-%m-%d %H:%M:%S+00"),
        ));
    }
    copy(&mut txn, "categories", &CATEGORY_COLUMNS, &[lines]).await?;

    let chunks = (1..=set.tasks).collect::<Vec<_>>();
    let chunks = chunks.chunks(20_000).map(|chunk| {
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
        lines.push_str(&format!(
            "{}\t{}\t{}\n",
            task_id(n),
            category_id(c),
            bench::OWNER
        ));
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
async fn seed_sqlite(db: &DatabaseConnection, set: DataSet) -> Result<u64, DbErr> {
    use sea_orm::TransactionTrait as _;
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
                bench::OWNER.into(),
                name.clone().into(),
                name.to_lowercase().into(),
                category_created(m).into(),
            ]
        })
        .collect();
    txn.execute(&insert("categories", &CATEGORY_COLUMNS, categories)?)
        .await?;

    // 12 values a row: 1000 rows stay below SQLite's parameter limit.
    for chunk in (1..=set.tasks).collect::<Vec<_>>().chunks(1000) {
        let rows = chunk
            .iter()
            .map(|&n| TaskRow::new(set, n).values())
            .collect();
        txn.execute(&insert("tasks", &TASK_COLUMNS, rows)?).await?;
    }

    let links: Vec<(u32, u32)> = links(set).collect();
    for chunk in links.chunks(5000) {
        let rows = chunk
            .iter()
            .map(|&(n, c)| {
                vec![
                    task_id(n).into(),
                    category_id(c).into(),
                    bench::OWNER.into(),
                ]
            })
            .collect();
        txn.execute(&insert("task_categories", &LINK_COLUMNS, rows)?)
            .await?;
    }
    txn.commit().await?;
    Ok(links.len() as u64)
}

async fn seed(db: &DatabaseConnection, set: DataSet) -> Result<(), DbErr> {
    ensure_empty(db).await?;
    let links = match db.get_database_backend() {
        DbBackend::Postgres => seed_postgres(db, set)
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?,
        _ => seed_sqlite(db, set).await?,
    };
    // Fresh statistics (and PostgreSQL's visibility map, for index-only
    // scans), as after any bulk load.
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    let top_level = (1..=set.tasks)
        .filter(|&n| parent_of(set, n).is_none())
        .count();
    eprintln!(
        "seeded {} tasks ({top_level} top-level), {CATEGORIES} categories, {links} links",
        set.tasks
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let set = match args.get(1).map(|n| n.parse::<u32>()) {
        None => Some(DataSet::default()),
        Some(Ok(n)) if n >= 1000 => Some(DataSet::new(n)),
        Some(_) => None,
    };
    let (Some(url), Some(set), true) = (args.first(), set, args.len() <= 2) else {
        eprintln!("usage: seed DATABASE_URL [TASKS (at least 1000, default 100000)]");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let result = async {
        let db = Database::connect(url).await?;
        seed(&db, set).await?;
        db.close().await
    }
    .await;
    match result {
        Ok(()) => {
            eprintln!("seed took {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("seed failed: {err}");
            ExitCode::FAILURE
        }
    }
}
