//! Seeds a migrated, empty database with the benchmark's data set
//! (`api::seed::bulk`: 100k tasks by default, 1k categories, all the single
//! user's, the same rows on every run and on both backends).
//!
//! Usage: `seed DATABASE_URL [TASKS]` (run `migration up` on it first). The
//! scale run seeds 1M this way.

use std::process::ExitCode;
use std::time::Instant;

use api::seed::bulk::{self, DataSet};
use sea_orm::Database;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let set = match args.get(1).map(|n| n.parse::<u32>()) {
        None => Some(DataSet::default()),
        Some(Ok(n)) if n >= bulk::MIN_TASKS => Some(DataSet::new(n)),
        Some(_) => None,
    };
    let (Some(url), Some(set), true) = (args.first(), set, args.len() <= 2) else {
        eprintln!(
            "usage: seed DATABASE_URL [TASKS (at least {}, default {})]",
            bulk::MIN_TASKS,
            bulk::TASKS
        );
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let result = async {
        let db = Database::connect(url).await?;
        let loaded = bulk::load(&db, set).await?;
        eprintln!("{loaded}");
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
