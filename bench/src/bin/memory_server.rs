//! F: the api's own router and GraphQL schema (`api::App::start`),
//! over a sea-orm connection that answers every SQL statement from memory, so
//! what is left is the cost of the server itself.
//!
//! At start it records: each request of the read scenarios runs once against
//! the real, seeded PostgreSQL (`DATABASE_URL`), and each statement it issued
//! (SQL and values) runs once more to keep its rows, as sea-orm values. Then
//! it serves those rows from a hash map on `PORT`, with the api's
//! configuration read from the environment as the api would.
//! A statement it has not recorded fails (and is counted at
//! `GET /__bench/stats`). Values are compared as a multiset: DataLoader
//! batches list the same ids in another order each time.
//!
//! The connection is sea-orm's mock connection (feature "mock") with our own
//! `MockDatabaseTrait`: sea-orm 2.0.4's "proxy" feature does not build
//! alongside sqlx-sqlite.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use api::App;
use axum::routing::get;
use bench::Scenario;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{Column as _, Row as _, TypeInfo as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr, ExecResult,
    IntoMockRow, MockDatabase, MockDatabaseConnection, MockDatabaseTrait, MockRow, QueryResult,
    Statement, Transaction, Value,
};
use tokio::net::TcpListener;

/// The api binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A statement's identity: its SQL and the multiset of its values.
fn key(statement: &Statement) -> u64 {
    struct HashWriter(DefaultHasher);
    impl std::fmt::Write for HashWriter {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut values: Vec<u64> = statement
        .values
        .iter()
        .flat_map(|v| v.0.iter())
        .map(|value| {
            let mut w = HashWriter(DefaultHasher::new());
            let _ = std::fmt::write(&mut w, format_args!("{value:?}"));
            w.0.finish()
        })
        .collect();
    values.sort_unstable();
    let mut hasher = DefaultHasher::new();
    statement.sql.hash(&mut hasher);
    values.hash(&mut hasher);
    hasher.finish()
}

/// Answers recorded statements from memory.
#[derive(Debug)]
struct Replay {
    rows: Arc<HashMap<u64, Vec<MockRow>>>,
    stats: Arc<Stats>,
}

#[derive(Debug, Default)]
struct Stats {
    statements: AtomicU64,
    misses: AtomicU64,
}

impl MockDatabaseTrait for Replay {
    fn execute(&mut self, _counter: usize, _statement: Statement) -> Result<ExecResult, DbErr> {
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        Err(DbErr::Custom("the memory server answers reads only".into()))
    }

    fn query(&mut self, _counter: usize, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        // The event tail's own reads: an empty log (F serves no subscriptions).
        if statement.sql.contains("\"task_events\"") {
            return Ok(Vec::new());
        }
        self.stats.statements.fetch_add(1, Ordering::Relaxed);
        match self.rows.get(&key(&statement)) {
            // sea-orm's own mock turns rows into query results.
            Some(rows) => MockDatabase::new(DbBackend::Postgres)
                .append_query_results([rows.clone()])
                .query(0, statement),
            None => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                Err(DbErr::Custom(format!("not recorded: {}", statement.sql)))
            }
        }
    }

    fn begin(&mut self) {}

    fn commit(&mut self) {}

    fn rollback(&mut self) {}

    fn drain_transaction_log(&mut self) -> Vec<Transaction> {
        Vec::new()
    }

    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn ping(&self) -> Result<(), DbErr> {
        Ok(())
    }
}

/// A row as sea-orm values, typed by the column's PostgreSQL type.
fn to_mock_row(row: &PgRow) -> Result<MockRow, String> {
    let mut values = BTreeMap::new();
    for column in row.columns() {
        let i = column.ordinal();
        let get = |e: sea_orm::sqlx::Error| format!("column {}: {e}", column.name());
        let value = match column.type_info().name() {
            "BOOL" => Value::from(row.try_get::<Option<bool>, _>(i).map_err(get)?),
            "INT2" => Value::from(row.try_get::<Option<i16>, _>(i).map_err(get)?),
            "INT4" => Value::from(row.try_get::<Option<i32>, _>(i).map_err(get)?),
            "INT8" => Value::from(row.try_get::<Option<i64>, _>(i).map_err(get)?),
            "FLOAT4" => Value::from(row.try_get::<Option<f32>, _>(i).map_err(get)?),
            "FLOAT8" => Value::from(row.try_get::<Option<f64>, _>(i).map_err(get)?),
            "TEXT" | "VARCHAR" | "NAME" | "CHAR" => {
                Value::from(row.try_get::<Option<String>, _>(i).map_err(get)?)
            }
            "UUID" => Value::from(row.try_get::<Option<uuid::Uuid>, _>(i).map_err(get)?),
            "TIMESTAMPTZ" => Value::from(
                row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)
                    .map_err(get)?,
            ),
            other => {
                return Err(format!(
                    "column {}: type {other} not handled",
                    column.name()
                ));
            }
        };
        values.insert(column.name().to_owned(), value);
    }
    Ok(values.into_mock_row())
}

fn replay_connection(replay: Replay) -> DatabaseConnection {
    DatabaseConnectionType::MockDatabaseConnection(Arc::new(MockDatabaseConnection::new(replay)))
        .into()
}

/// Every request of every read scenario, with its scenario.
fn read_requests() -> Vec<(Scenario, String)> {
    Scenario::READS
        .into_iter()
        .flat_map(|s| s.bodies().into_iter().map(move |b| (s, b)))
        .collect()
}

async fn run() -> Result<(), String> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to the seeded PostgreSQL database")?;
    let config = bench::config(&url)?;
    let _telemetry = api::telemetry::init(&config);

    // Record: the statements of every read request, then their rows.
    let (db, log) = bench::connect_logged(&config).await?;
    let app = App::start(Arc::new(config.clone()), db.clone())
        .await
        .map_err(|e| e.to_string())?;
    let requests = read_requests();
    let mut per_scenario: Vec<(Scenario, u64, usize)> = Vec::new();
    let mut statements = Vec::new();
    for (scenario, body) in &requests {
        bench::post(&app.router, body.clone())
            .await
            .map_err(|e| format!("recording {}: {e}", scenario.name()))?;
        let issued = log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        match per_scenario.iter_mut().find(|(s, _, _)| s == scenario) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += issued.len();
            }
            None => per_scenario.push((*scenario, 1, issued.len())),
        }
        statements.extend(issued);
    }
    // `/readyz` (its migration check), so that readiness can be polled.
    if !bench::ready(&app.router).await {
        return Err("the database is not ready (migrated and seeded?)".into());
    }
    statements.extend(
        log.lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default(),
    );
    let mut rows = HashMap::new();
    for statement in statements {
        let key = key(&statement);
        let result = db
            .query_all_raw(statement)
            .await
            .map_err(|e| e.to_string())?;
        let mock_rows = result
            .iter()
            .map(|r| {
                r.try_as_pg_row()
                    .ok_or("not a PostgreSQL row".into())
                    .and_then(to_mock_row)
            })
            .collect::<Result<Vec<_>, String>>()?;
        rows.insert(key, mock_rows);
    }
    db.close().await.map_err(|e| e.to_string())?;
    for (scenario, requests, statements) in &per_scenario {
        eprintln!(
            "recorded {}: {requests} request(s), {:.2} statement(s) each",
            scenario.name(),
            *statements as f64 / *requests as f64
        );
    }

    // Replay, checked once before serving.
    let stats = Arc::new(Stats::default());
    let db = replay_connection(Replay {
        rows: Arc::new(rows),
        stats: stats.clone(),
    });
    let app = App::start(Arc::new(config.clone()), db)
        .await
        .map_err(|e| e.to_string())?;
    for (scenario, body) in &requests {
        bench::post(&app.router, body.clone())
            .await
            .map_err(|e| format!("replaying {}: {e}", scenario.name()))?;
    }
    if !bench::ready(&app.router).await {
        return Err("`/readyz` fails on the replay".into());
    }
    let shown = stats.clone();
    let router = app.router.route(
        "/__bench/stats",
        get(move || async move {
            format!(
                "{{\"statements\":{},\"misses\":{}}}",
                shown.statements.load(Ordering::Relaxed),
                shown.misses.load(Ordering::Relaxed)
            )
        }),
    );
    let listener = TcpListener::bind(config.listen_addr())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen_addr()))?;
    eprintln!("memory server ready on {}", config.listen_addr());
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "statements {}, misses {}",
        stats.statements.load(Ordering::Relaxed),
        stats.misses.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("memory-server: {err}");
            ExitCode::FAILURE
        }
    }
}
