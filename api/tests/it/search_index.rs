//! The search index: kept in step with every change (on SQLite by
//! triggers, checked against the FTS5 table itself), built for existing
//! tasks by the migration and removed by its `down`, and built in
//! SEARCH_LANGUAGE, which the api checks at start.

use api::StartupError;
use api::server::RunError;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, config_with, descriptions};

crate::on_both_backends!(
    the_index_follows_edits_deletes_and_cascades,
    the_migration_indexes_existing_tasks_and_goes_down,
);

const SEARCH: &str =
    "query($s: String) { tasks(filter: {search: $s}) { totalCount nodes { description } } }";
const UPDATE: &str = "mutation($id: ID!, $d: String!) { updateTask(input: {id: $id, description: $d}) { task { id } } }";
const DELETE: &str = "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }";

async fn found(app: &TestApp, text: &str) -> Vec<String> {
    descriptions(&app.data(SEARCH, json!({ "s": text })).await["tasks"])
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .expect(sql)
        .expect("a row");
    row.try_get_by_index(0).expect("a number")
}

/// On SQLite: FTS5 holds exactly one row per task, each with its task's
/// current description (a stale or orphaned row would still match).
async fn index_matches_tasks(app: &TestApp) {
    if app.db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let tasks = scalar(app, "SELECT COUNT(*) FROM tasks").await;
    assert_eq!(
        scalar(app, "SELECT COUNT(*) FROM task_search_rows").await,
        tasks
    );
    assert_eq!(scalar(app, "SELECT COUNT(*) FROM tasks_fts").await, tasks);
    let stale = scalar(
        app,
        "SELECT COUNT(*) FROM tasks t JOIN task_search_rows r ON r.task_id = t.id \
         JOIN tasks_fts f ON f.rowid = r.search_row WHERE f.description IS NOT t.description",
    )
    .await;
    assert_eq!(stale, 0);
}

async fn the_index_follows_edits_deletes_and_cascades(app: TestApp) {
    let id = |t: &Value| t["id"].clone();
    let parent = app
        .create_task(json!({ "description": "Plan the garden" }))
        .await;
    let child = app
        .create_task(json!({ "description": "Buy tulip bulbs", "parentId": parent["id"] }))
        .await;
    app.create_task(json!({ "description": "Water tulips", "parentId": child["id"] }))
        .await;
    let other = app
        .create_task(json!({ "description": "Walk the dog" }))
        .await;
    index_matches_tasks(&app).await;
    assert_eq!(
        found(&app, "tulip").await,
        vec!["Buy tulip bulbs", "Water tulips"]
    );

    // An edit: the old words go, the new ones come.
    app.data(UPDATE, json!({ "id": id(&other), "d": "Walk the cat" }))
        .await;
    assert_eq!(found(&app, "dog").await, Vec::<String>::new());
    assert_eq!(found(&app, "cat").await, vec!["Walk the cat"]);
    // Other changes leave the index alone.
    app.set_done(&other["id"], true).await;
    assert_eq!(found(&app, "cat").await, vec!["Walk the cat"]);
    index_matches_tasks(&app).await;

    // Deleting a task deletes its sub-tasks.
    app.data(DELETE, json!({ "id": id(&child) })).await;
    assert_eq!(found(&app, "tulip").await, Vec::<String>::new());
    index_matches_tasks(&app).await;

    // The database's own cascade (parent_id ON DELETE CASCADE), without
    // the service: the index follows it too.
    let root = app
        .create_task(json!({ "description": "Paint the fence" }))
        .await;
    app.create_task(json!({ "description": "Sand the fence", "parentId": root["id"] }))
        .await;
    let backend = app.db.get_database_backend();
    let root_id = crate::support::task_uuid(&root["id"]);
    let sql = match backend {
        DbBackend::Postgres => "DELETE FROM tasks WHERE id = $1",
        _ => "DELETE FROM tasks WHERE id = ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [root_id.into()],
        ))
        .await
        .expect("delete with cascade");
    assert_eq!(found(&app, "fence").await, Vec::<String>::new());
    index_matches_tasks(&app).await;
    assert_eq!(found(&app, "garden").await, vec!["Plan the garden"]);
}

async fn the_migration_indexes_existing_tasks_and_goes_down(app: TestApp) {
    for d in ["Renew the passport", "Passport photos", "Book flights"] {
        app.create_task(json!({ "description": d })).await;
    }
    // Down through the search migration and every one after it.
    let search = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261202_000002_task_search")
        .expect("the search migration");
    let through_search = (Migrator::migrations().len() - search) as u32;
    Migrator::down(&app.db, Some(through_search))
        .await
        .expect("down");
    let leftovers = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_name = 'tasks' AND column_name = 'search_vector'"
        }
        _ => {
            "SELECT COUNT(*) FROM sqlite_master \
             WHERE name IN ('tasks_fts', 'task_search_rows') OR name LIKE 'tasks_search_%'"
        }
    };
    assert_eq!(scalar(&app, leftovers).await, 0);
    // Tasks written while the index is gone...
    app.db
        .execute_unprepared("UPDATE tasks SET description = 'Renew the visa' WHERE description = 'Renew the passport'")
        .await
        .expect("update");
    // ...are found once it is back.
    Migrator::up(&app.db, None).await.expect("up again");
    index_matches_tasks(&app).await;
    assert_eq!(found(&app, "passport").await, vec!["Passport photos"]);
    assert_eq!(found(&app, "visa").await, vec!["Renew the visa"]);
    assert_eq!(found(&app, "flight").await, vec!["Book flights"]);
}

/// Starts the server as the binary does and stops it once ready, or
/// returns why it could not start.
async fn start(db: &TestDb, vars: &[(&str, &str)]) -> Result<(), RunError> {
    crate::migrations::start_and_stop(config_with(db, vars)).await
}

fn language_error(result: Result<(), RunError>) -> String {
    match result {
        Err(RunError::Startup(StartupError::SearchLanguage(message))) => message,
        other => panic!("expected a SEARCH_LANGUAGE error, got {other:?}"),
    }
}

async fn the_index_language_is_the_configured_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Migrated (at start) in simple, then started with it again.
    start(&db, &[("SEARCH_LANGUAGE", "simple")])
        .await
        .expect("simple");
    start(&db, &[("SEARCH_LANGUAGE", "SIMPLE")])
        .await
        .expect("simple again");
    // Another language than the index's stops the start, saying both.
    let message = language_error(start(&db, &[]).await);
    assert!(
        message.contains("english") && message.contains("simple"),
        "{message}"
    );
    assert!(message.contains("migration down"), "{message}");
    // Nothing was changed by the refused start.
    start(&db, &[("SEARCH_LANGUAGE", "simple")])
        .await
        .expect("simple still");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_index_language_is_the_configured_one() {
    the_index_language_is_the_configured_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_index_language_is_the_configured_one() {
    the_index_language_is_the_configured_one(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_searches_in_english_or_simple_only() {
    let db = TestDb::new(Backend::Sqlite).await;
    let message = language_error(start(&db, &[("SEARCH_LANGUAGE", "german")]).await);
    assert!(message.contains("german"), "{message}");
    assert!(message.contains("english (stemmed) or simple"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_configuration_it_does_not_have() {
    let db = TestDb::new(Backend::Postgres).await;
    // On a fresh database the migration itself refuses it...
    let err = start(&db, &[("SEARCH_LANGUAGE", "klingon")])
        .await
        .expect_err("klingon");
    assert!(err.to_string().contains("klingon"), "{err}");
    // ...and on a migrated one the check at start does.
    start(&db, &[]).await.expect("english");
    let message = language_error(start(&db, &[("SEARCH_LANGUAGE", "klingon")]).await);
    assert!(message.contains("klingon"), "{message}");
    // German is a configuration PostgreSQL ships: only its index is missing.
    let message = language_error(start(&db, &[("SEARCH_LANGUAGE", "german")]).await);
    assert!(message.contains("english"), "{message}");
}

async fn simple_does_not_stem_nor_drop_stop_words(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("SEARCH_LANGUAGE", "simple")]).await;
    for d in ["Buy milk", "Buying milkshakes", "Fix the bike"] {
        app.create_task(json!({ "description": d })).await;
    }
    assert_eq!(found(&app, "buying").await, vec!["Buying milkshakes"]);
    assert_eq!(found(&app, "\"buy\"").await, vec!["Buy milk"]);
    assert_eq!(
        found(&app, "milk").await,
        vec!["Buy milk", "Buying milkshakes"]
    );
    assert_eq!(found(&app, "the").await, vec!["Fix the bike"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_simple_does_not_stem_nor_drop_stop_words() {
    simple_does_not_stem_nor_drop_stop_words(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_simple_does_not_stem_nor_drop_stop_words() {
    simple_does_not_stem_nor_drop_stop_words(Backend::Postgres).await;
}
