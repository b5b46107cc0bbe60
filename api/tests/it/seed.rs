//! `api seed`, run as the real binary on a fresh database, then read back
//! through GraphQL as a client would: the sample's shape, its events, the
//! same sample for the same seed, and the refusal of an owner's tasks
//! unless `--force`.

use std::process::{Command, Output, Stdio};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb};
use crate::support::{TempDir, blocking};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_seeded_sample_reads_back_through_graphql() {
    seeded_sample_reads_back_through_graphql(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seeded_sample_reads_back_through_graphql() {
    seeded_sample_reads_back_through_graphql(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_same_seed_same_sample() {
    same_seed_same_sample(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_same_seed_same_sample() {
    same_seed_same_sample(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_owner_with_tasks_is_refused_unless_forced() {
    an_owner_with_tasks_is_refused_unless_forced(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_owner_with_tasks_is_refused_unless_forced() {
    an_owner_with_tasks_is_refused_unless_forced(Backend::Postgres).await;
}

/// `api seed ARGS` on `db`, as an operator runs it (no `.env`, AUTO_MIGRATE
/// as the tests' servers have it); waits for it to finish.
fn seed(db: &TestDb, args: &[&str]) -> Output {
    seed_with(db, &[("AUTO_MIGRATE", "true")], args)
}

fn seed_with(db: &TestDb, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let workdir = TempDir::new("todo-api-seed");
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .arg("seed")
        .args(args)
        .current_dir(workdir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    blocking(|| command.output()).expect("run api seed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "api seed failed: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

const SAMPLE: &str = "{
    all: tasks { totalCount }
    topLevel: tasks(filter: {topLevel: true}) { totalCount }
    done: tasks(filter: {done: true}) { totalCount }
    due: tasks(filter: {dueAfter: \"2000-01-01T00:00:00Z\"}) { totalCount }
    categories(first: 20) { totalCount nodes { name tasks { totalCount } } }
    withSteps: tasks(first: 40, filter: {topLevel: true}) {
        nodes { description categories { name } subtasks(first: 5) { totalCount nodes { parent { description } } } }
    }
}";

async fn seeded_sample_reads_back_through_graphql(backend: Backend) {
    let db = TestDb::new(backend).await;
    let output = seed(&db, &["--tasks", "150", "--seed", "7"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("seeded 150 task(s)") && stdout(&output).contains("--seed 7"),
        "{}",
        stdout(&output)
    );
    // The sample is a function of the seed alone (its dates move with the
    // day, but which tasks are steps, due or done is drawn, not dated): the
    // counts are exact, and the seeder's own summary says the same.
    assert!(
        stdout(&output).contains("(43 of them steps of another, 56 done)"),
        "{}",
        stdout(&output)
    );

    let app = TestApp::spawn_on(db, &[]).await;
    let data = app.data(SAMPLE, json!({})).await;
    let count = |key: &str| data[key]["totalCount"].as_i64().expect("totalCount");
    assert_eq!(count("all"), 150);
    let top_level = count("topLevel");
    assert_eq!(top_level, 150 - 43, "{top_level} top-level tasks");
    assert_eq!(count("done"), 56, "{data:#}");
    assert_eq!(count("due"), 103, "{data:#}");

    // Six categories, each with tasks linked to it.
    let categories = data["categories"]["nodes"].as_array().expect("categories");
    let names: Vec<&str> = categories
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["Errands", "Finance", "Health", "Home", "Learning", "Work"]
    );
    for category in categories {
        assert!(
            category["tasks"]["totalCount"].as_i64() > Some(0),
            "{category}"
        );
    }

    // Steps hang off their task; top-level tasks are in a category.
    let tasks = data["withSteps"]["nodes"].as_array().expect("tasks");
    let with_steps: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["subtasks"]["totalCount"].as_i64() > Some(0))
        .collect();
    assert!(with_steps.len() >= 5, "{data:#}");
    for task in with_steps {
        for step in task["subtasks"]["nodes"].as_array().expect("steps") {
            assert_eq!(step["parent"]["description"], task["description"]);
        }
    }
    assert!(
        tasks
            .iter()
            .all(|t| !t["categories"].as_array().expect("categories").is_empty())
    );

    // Written as the mutations write: one event per creation and one per
    // task marked done.
    let events = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM task_events",
        ))
        .await
        .expect("count events")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(events, count("all") + count("done"));
}

/// Every task in creation order, as a client reads them.
async fn sample_of(app: &TestApp) -> Vec<Value> {
    let data = app
        .data(
            "{ tasks(first: 100, orderBy: [{field: CREATED_AT}]) {
                nodes { description priority done parent { description } categories { name } }
            } }",
            json!({}),
        )
        .await;
    data["tasks"]["nodes"].as_array().expect("nodes").clone()
}

async fn same_seed_same_sample(backend: Backend) {
    let mut samples = Vec::new();
    for seed_value in ["11", "11", "12"] {
        let db = TestDb::new(backend).await;
        assert_success(&seed(&db, &["--tasks", "60", "--seed", seed_value]));
        let app = TestApp::spawn_on(db, &[]).await;
        samples.push(sample_of(&app).await);
    }
    assert_eq!(samples[0].len(), 60);
    assert_eq!(samples[0], samples[1], "seed 11 twice");
    assert_ne!(samples[0], samples[2], "seeds 11 and 12");
}

async fn an_owner_with_tasks_is_refused_unless_forced(backend: Backend) {
    let db = TestDb::new(backend).await;
    assert_success(&seed(&db, &["--tasks", "20"]));

    let refused = seed(&db, &["--tasks", "20"]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message
            .contains("error: the owner \"default\" already has 20 task(s); nothing was changed")
            && message.contains("--force"),
        "{message}"
    );

    // Another owner's tasks do not count.
    assert_success(&seed(&db, &["--tasks", "5", "--owner", "alice"]));
    // An owner no token could name is refused before anything is written.
    let bad_owner = seed(&db, &["--owner", "*"]);
    assert_eq!(bad_owner.status.code(), Some(1), "{}", stderr(&bad_owner));
    assert!(
        stderr(&bad_owner).contains("--owner"),
        "{}",
        stderr(&bad_owner)
    );

    // --force adds to what is there, reusing the categories by name.
    let forced = seed(&db, &["--tasks", "10", "--force"]);
    assert_success(&forced);
    assert!(
        stdout(&forced).contains("seeded 10 task(s)"),
        "{}",
        stdout(&forced)
    );

    let app = TestApp::spawn_on(db, &[]).await;
    let data = app
        .data(
            "{ tasks { totalCount } categories { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["tasks"]["totalCount"], 30,
        "20, nothing from the refused run, then 10"
    );
    assert_eq!(data["categories"]["totalCount"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seed_needs_a_current_schema_as_serve_does() {
    let db = TestDb::new(Backend::Postgres).await;
    let refused = seed_with(&db, &[], &["--tasks", "5"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("migration(s) pending"),
        "{}",
        stderr(&refused)
    );
    // Nothing was created, not even the tables.
    let conn = db.connect().await;
    assert!(
        conn.execute_unprepared("SELECT 1 FROM tasks")
            .await
            .is_err()
    );
}
