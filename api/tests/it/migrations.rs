//! Migrations go up, down and up again on both backends, and the api refuses
//! to serve PostgreSQL with a schema that is behind.

use std::sync::Arc;
use std::time::Duration;

use api::config::Config;
use api::db::StartupError;
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
async fn start_and_stop(config: Config) -> Result<(), RunError> {
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
