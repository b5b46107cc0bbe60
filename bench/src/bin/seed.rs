//! Seeds a migrated, empty database with the benchmark's data set: 100k tasks
//! (70 % top-level, 30 % their sub-tasks; 60 % with a due date, some with a
//! start date, 30 % done, all four priorities), 1k categories and 0-3
//! categories per task, all the single user's. Deterministic: the same rows
//! on every run and on both backends, written with the api's own encodings
//! (sea-orm values).
//!
//! Usage: `seed DATABASE_URL` (run `migration up` on it first).

use std::process::ExitCode;
use std::time::Instant;

use bench::{CATEGORIES, TASKS, TOP_LEVEL, category_id, task_id};
use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{category, task, task_category};
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Iterable, TransactionTrait,
    Value,
};

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

/// Every row belongs to the single user (the api without sign-in).
fn owner() -> String {
    api::service::Owner::single_user().as_str().to_owned()
}

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

/// Category ids of task `n`: 0 to 3 distinct ones.
fn categories_of(n: u32) -> impl Iterator<Item = u32> {
    let k = (hash(n) >> 24) % 4;
    (0..k).map(move |j| 1 + (n * 7 + j * 331) % CATEGORIES)
}

fn task_row(n: u32) -> Vec<Expr> {
    let h = hash(n);
    let created = base() + Duration::seconds(i64::from(n) * 37);
    let parent = (n > TOP_LEVEL).then(|| task_id(1 + h % TOP_LEVEL));
    let due = ((h >> 8) % 10 < 6).then(|| {
        base() + Duration::days(i64::from((h >> 12) % 400)) + Duration::hours(i64::from(h % 10))
    });
    let start = due
        .filter(|_| (h >> 16).is_multiple_of(3))
        .map(|d| d - Duration::days(3));
    let done = (h >> 20) % 10 < 3;
    let completed = done.then(|| created + Duration::days(2));
    let values: Vec<Value> = vec![
        task_id(n).into(),
        owner().into(),
        format!("{} #{n}", PHRASES[(h % 16) as usize]).into(),
        (((h >> 4) % 4) as i16).into(),
        start.into(),
        due.into(),
        done.into(),
        completed.into(),
        created.into(),
        completed.unwrap_or(created).into(),
        (if done { 2 } else { 1 }).into(),
        parent.into(),
    ];
    values.into_iter().map(Expr::val).collect()
}

async fn seed(db: &DatabaseConnection) -> Result<(), DbErr> {
    let existing = db
        .query_one(
            &Query::select()
                .expr(Func::count(Expr::col(task::Column::Id)))
                .from(task::Entity)
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
    let txn = db.begin().await?;

    let mut insert = Query::insert();
    insert
        .into_table(category::Entity)
        .columns(category::Column::iter());
    for m in 1..=CATEGORIES {
        let name = format!("{} {m:04}", TOPICS[(m % 10) as usize]);
        let values: Vec<Value> = vec![
            category_id(m).into(),
            owner().into(),
            name.clone().into(),
            name.to_lowercase().into(),
            (base() + Duration::seconds(i64::from(m))).into(),
        ];
        insert
            .values(values.into_iter().map(Expr::val))
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    txn.execute(&insert).await?;

    // 12 values a row: 1000 rows stay below every backend's parameter limit.
    for chunk in (1..=TASKS).collect::<Vec<_>>().chunks(1000) {
        let mut insert = Query::insert();
        insert
            .into_table(task::Entity)
            .columns(task::Column::iter());
        for &n in chunk {
            insert
                .values(task_row(n))
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        txn.execute(&insert).await?;
    }

    let links: Vec<(u32, u32)> = (1..=TASKS)
        .flat_map(|n| categories_of(n).map(move |c| (n, c)))
        .collect();
    for chunk in links.chunks(5000) {
        let mut insert = Query::insert();
        insert
            .into_table(task_category::Entity)
            .columns(task_category::Column::iter());
        for &(n, c) in chunk {
            let values: Vec<Value> = vec![task_id(n).into(), category_id(c).into(), owner().into()];
            insert
                .values(values.into_iter().map(Expr::val))
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        txn.execute(&insert).await?;
    }
    txn.commit().await?;

    // Fresh statistics, as after any bulk load.
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    eprintln!(
        "seeded {TASKS} tasks ({TOP_LEVEL} top-level), {CATEGORIES} categories, {} links",
        links.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: seed DATABASE_URL");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let result = async {
        let db = Database::connect(&url).await?;
        seed(&db).await?;
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
