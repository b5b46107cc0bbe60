//! Migrations go up, down and up again on both backends, and the api refuses
//! to serve PostgreSQL with a schema that is behind.

use std::sync::Arc;
use std::time::Duration;

use api::StartupError;
use api::config::Config;
use api::server::RunError;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::net::TcpListener;

use crate::common::{Backend, TestDb};

async fn tables_exist(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT COUNT(*) FROM tasks, categories, task_categories")
        .await
        .is_ok()
}

async fn up_down_up(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    assert!(!tables_exist(&db).await);
    let all = Migrator::migrations().len();
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        all
    );

    Migrator::up(&db, None).await.expect("up");
    assert!(tables_exist(&db).await);
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    Migrator::down(&db, None).await.expect("down");
    assert!(!tables_exist(&db).await);
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        all
    );

    Migrator::up(&db, None).await.expect("up again");
    assert!(tables_exist(&db).await);
    db.close().await.ok();
}

#[tokio::test]
async fn sqlite_up_down_up() {
    up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_up_down_up() {
    up_down_up(Backend::Postgres).await;
}

fn config(url: &str, auto_migrate: bool) -> Config {
    let url = url.to_owned();
    Config::from_lookup(move |var| match var {
        "DATABASE_URL" => Some(url.clone()),
        "AUTO_MIGRATE" => Some(auto_migrate.to_string()),
        _ => None,
    })
    .unwrap()
}

/// Starts the server as the binary does and stops it as soon as it is
/// ready (or returns why it could not start).
pub async fn start_and_stop(config: Config) -> Result<(), RunError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ready = async move {
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    api::server::run(Arc::new(config), listener, ready).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_schema_refuses_to_start_unless_auto_migrate() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let err = start_and_stop(config(&test_db.url, false))
        .await
        .expect_err("started on an unmigrated database");
    let all = Migrator::migrations().len();
    assert!(
        matches!(
            err,
            RunError::Startup(StartupError::SchemaBehind { pending }) if pending == all
        ),
        "{err}"
    );
    assert!(err.to_string().contains("migration up"), "{err}");

    start_and_stop(config(&test_db.url, true))
        .await
        .expect("auto-migrated start");
    let db = test_db.connect().await;
    assert!(tables_exist(&db).await);
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_created_and_migrated_at_start() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    start_and_stop(config(&test_db.url, false))
        .await
        .expect("start");
    assert!(tables_exist(&test_db.connect().await).await);
}

#[tokio::test]
async fn unreachable_database_fails_after_the_deadline() {
    let config = Config::from_lookup(|var| match var {
        // Nothing listens on port 1.
        "DATABASE_URL" => Some("postgres://postgres@127.0.0.1:1/none".into()),
        "DB_CONNECT_TIMEOUT_SECS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let err = start_and_stop(config)
        .await
        .expect_err("connected to nothing");
    assert!(
        matches!(err, RunError::Startup(StartupError::Unreachable { .. })),
        "{err}"
    );
}

/// Names of the indexes on `tasks`.
async fn task_indexes(db: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'tasks'",
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
        }
    };
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("indexes");
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect()
}

/// The list indexes migration swaps the parent index, and its `down` swaps
/// it back.
async fn parent_index_up_and_down(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    let earlier = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261202_000001_list_indexes")
        .expect("the migration is registered") as u32;
    Migrator::up(&db, Some(earlier)).await.expect("up to it");
    let before = task_indexes(&db, backend).await;
    assert!(
        before.contains(&"idx_tasks_owner_parent_id".to_owned()),
        "{before:?}"
    );

    Migrator::up(&db, Some(1)).await.expect("up");
    let after = task_indexes(&db, backend).await;
    assert!(
        after.contains(&"idx_tasks_parent_id_owner".to_owned()),
        "{after:?}"
    );
    assert!(
        !after.contains(&"idx_tasks_owner_parent_id".to_owned()),
        "{after:?}"
    );
    assert_eq!(after.len(), before.len());

    Migrator::down(&db, Some(1)).await.expect("down one");
    let mut again = task_indexes(&db, backend).await;
    let mut before = before;
    again.sort();
    before.sort();
    assert_eq!(again, before);
    db.close().await.ok();
}

#[tokio::test]
async fn sqlite_parent_index_up_and_down() {
    parent_index_up_and_down(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_parent_index_up_and_down() {
    parent_index_up_and_down(Backend::Postgres).await;
}

/// SQLite's query planner gets statistics without anyone running ANALYZE:
/// a restart analyses tables that grew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gathers_statistics_at_start() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    start_and_stop(config(&test_db.url, false))
        .await
        .expect("start");
    let db = test_db.connect().await;
    let statistics = async |db: &DatabaseConnection| {
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM sqlite_stat1 WHERE tbl = 'tasks'",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .unwrap_or(0)
    };
    assert_eq!(statistics(&db).await, 0);
    db.execute_unprepared(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) \
         INSERT INTO tasks (id, owner_id, description, priority, done, created_at, updated_at, version) \
         SELECT randomblob(16), 'default', 'task ' || x, 0, 0, '2026-01-01', '2026-01-01', 1 FROM n",
    )
    .await
    .expect("insert");
    db.close().await.ok();

    start_and_stop(config(&test_db.url, false))
        .await
        .expect("restart");
    let db = test_db.connect().await;
    assert!(statistics(&db).await > 0);
    db.close().await.ok();
}
