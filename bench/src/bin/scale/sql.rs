//! The SQL behind a request: the api's own statements, captured by running
//! the request once in-process over the same database, then timed and
//! explained straight on the database (no HTTP, no GraphQL), so a slow cell
//! shows whether its time went to the database.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use api::App;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;

pub struct Probe {
    app: App,
    log: Arc<Mutex<Vec<Statement>>>,
}

impl Probe {
    pub async fn start(url: &str) -> Result<Self, String> {
        let config = bench::config(url)?;
        let (db, log) = bench::connect_logged(&config).await?;
        let app = App::start(Arc::new(config), db)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { app, log })
    }

    /// The statements the api runs for `body`.
    pub async fn statements(&self, body: &Value) -> Result<Vec<Statement>, String> {
        self.take();
        bench::post(&self.app.router, body.to_string()).await?;
        // The event log's tail polls on its own; only the request's own.
        Ok(self
            .take()
            .into_iter()
            .filter(|s| !s.sql.contains("task_events"))
            .collect())
    }

    fn take(&self) -> Vec<Statement> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    pub fn stop(self) {
        self.app.shutdown.cancel();
    }
}

/// The median time of running `statements` one after another on `db`, ms.
pub async fn time(
    db: &DatabaseConnection,
    statements: &[Statement],
    repeats: usize,
) -> Result<f64, String> {
    let mut times = Vec::with_capacity(repeats);
    for round in 0..=repeats {
        let started = Instant::now();
        for statement in statements {
            db.query_all_raw(statement.clone())
                .await
                .map_err(|e| e.to_string())?;
        }
        // The first round warms the caches.
        if round > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times.get(repeats / 2).copied().unwrap_or_default())
}

/// Each statement with its plan: `EXPLAIN (ANALYZE, BUFFERS)` on
/// PostgreSQL, `EXPLAIN QUERY PLAN` (as a tree) on SQLite.
pub async fn explain(db: &DatabaseConnection, statements: &[Statement]) -> Result<String, String> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut out = String::new();
    for statement in statements {
        out.push_str(&format!("{}\n", statement.sql));
        let prefix = if postgres {
            "EXPLAIN (ANALYZE, BUFFERS) "
        } else {
            "EXPLAIN QUERY PLAN "
        };
        let plan = Statement {
            sql: format!("{prefix}{}", statement.sql),
            ..statement.clone()
        };
        let rows = db.query_all_raw(plan).await.map_err(|e| e.to_string())?;
        // SQLite's rows are (id, parent, detail): indent each below its parent.
        let mut depths: Vec<(i64, usize)> = Vec::new();
        for row in rows {
            if postgres {
                let line: String = row.try_get("", "QUERY PLAN").map_err(|e| e.to_string())?;
                out.push_str(&format!("{line}\n"));
                continue;
            }
            let detail: String = row.try_get("", "detail").map_err(|e| e.to_string())?;
            let id: i64 = row.try_get("", "id").unwrap_or_default();
            let parent: i64 = row.try_get("", "parent").unwrap_or_default();
            let depth = depths
                .iter()
                .find(|(i, _)| *i == parent)
                .map_or(0, |(_, d)| d + 1);
            depths.push((id, depth));
            out.push_str(&format!("{}{detail}\n", "  ".repeat(depth)));
        }
        out.push('\n');
    }
    Ok(out)
}
