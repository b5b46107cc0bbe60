//! What a newcomer meets in the first hour (issue 25): settings that mean
//! what they say, checked before anything is bound or created; tokens
//! refused with the claim named; the same expiry rule on HTTP and sockets;
//! handing the single user's rows to a subject; what a start and a stop
//! leave behind and say; the first /metrics scrape.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use api::service::{Owner, categories, tasks};
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{Socket, connect, receive, send};
use crate::common::{Backend, TestApp, TestDb};
use crate::sign_in::{hs256_app, post_as};
use crate::support::{ApiProcess, TempDir};
use crate::tokens::{self, AUDIENCE, ISSUER, claims, hs256};

const VIEWER: &str = "{ viewer { id } }";

// --- 1. The SDL follows introspection ------------------------------------

async fn sdl_status(vars: &[(&str, &str)]) -> u16 {
    let app = TestApp::spawn_with(Backend::Sqlite, vars).await;
    let status = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .expect("GET /schema.graphql")
        .status()
        .as_u16();
    app.shutdown().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdl_is_served_only_while_introspection_is_on() {
    assert_eq!(sdl_status(&[]).await, 200, "development");
    assert_eq!(
        sdl_status(&[("APP_ENV", "production")]).await,
        404,
        "production"
    );
    assert_eq!(
        sdl_status(&[("APP_ENV", "production"), ("GRAPHQL_INTROSPECTION", "true")]).await,
        200,
        "production with introspection switched on"
    );
    assert_eq!(
        sdl_status(&[("GRAPHQL_INTROSPECTION", "false")]).await,
        404,
        "development with introspection switched off"
    );
}

// --- 2. Row-level security refuses a role the policies do not bind --------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_refuses_a_superuser_before_migrating() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut api = ApiProcess::spawn(&[
        ("DATABASE_URL", &db.url),
        ("AUTO_MIGRATE", "true"),
        ("DB_ROW_LEVEL_SECURITY", "true"),
    ]);
    let status = api.wait_exit(Duration::from_secs(30)).await;
    let output = api.output();
    assert!(!status.success(), "refused; output:\n{output}");
    for needle in [
        "DB_ROW_LEVEL_SECURITY",
        "\"postgres\"",
        "a superuser",
        "NOSUPERUSER NOBYPASSRLS",
        "migration up",
    ] {
        assert!(output.contains(needle), "{needle:?} in:\n{output}");
    }
    assert!(!output.contains("row-level security on"), "{output}");
    // Refused before anything was migrated.
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 0, "no table made");
    conn.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_refuses_a_bypassrls_role() {
    let admin = Database::connect(crate::common::postgres_admin_url())
        .await
        .expect("admin");
    admin
        .execute_unprepared(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_bypass_test') \
             THEN CREATE ROLE todo_bypass_test LOGIN NOSUPERUSER BYPASSRLS; END IF; END $$",
        )
        .await
        .expect("role");
    let name = format!("todo_bypass_{}", uuid::Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE \"{name}\" OWNER todo_bypass_test"
        ))
        .await
        .expect("database");
    let base = crate::common::postgres_admin_url();
    let host = base
        .split_once('@')
        .map(|(_, rest)| rest.rsplit_once('/').map_or(rest, |(h, _)| h).to_owned())
        .expect("host in TEST_DATABASE_URL");
    let url = format!("postgres://todo_bypass_test@{host}/{name}");
    let mut api = ApiProcess::spawn(&[
        ("DATABASE_URL", &url),
        ("AUTO_MIGRATE", "true"),
        ("DB_ROW_LEVEL_SECURITY", "true"),
    ]);
    let status = api.wait_exit(Duration::from_secs(30)).await;
    let output = api.output();
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    admin.close().await.ok();
    assert!(!status.success(), "refused; output:\n{output}");
    for needle in [
        "\"todo_bypass_test\"",
        "a BYPASSRLS role",
        "NOSUPERUSER NOBYPASSRLS",
    ] {
        assert!(output.contains(needle), "{needle:?} in:\n{output}");
    }
}

// --- 3. Every setting checked before listening or opening the database ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_stops_the_start_before_it_listens_or_creates_the_database() {
    let jwks = TempDir::new("todo-jwks");
    let empty_set = jwks.path().join("empty.json");
    std::fs::write(&empty_set, r#"{"keys":[]}"#).expect("write");
    let empty_set = empty_set.display().to_string();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("AUTH_JWT_SECRET", vec![("AUTH_JWT_SECRET", "too short")]),
        (
            "AUTH_JWT_SECRET",
            vec![
                ("AUTH_JWT_SECRET", tokens::SECRET),
                ("AUTH_JWKS_FILE", "/etc/jwks.json"),
            ],
        ),
        (
            "AUTH_JWKS_URL",
            vec![("AUTH_JWKS_URL", "idp.example.test/jwks")],
        ),
        (
            "AUTH_JWKS_URL",
            vec![("AUTH_JWKS_URL", "ftp://idp.example.test/jwks")],
        ),
        (
            "AUTH_JWKS_FILE",
            vec![("AUTH_JWKS_FILE", "/nonexistent/jwks.json")],
        ),
        ("AUTH_JWKS_FILE", vec![("AUTH_JWKS_FILE", &empty_set)]),
        ("AUTH_ISSUER", vec![("AUTH_ISSUER", ISSUER)]),
        ("AUTH_AUDIENCE", vec![("AUTH_AUDIENCE", AUDIENCE)]),
        (
            "TRUSTED_DOCUMENTS",
            vec![("TRUSTED_DOCUMENTS", "/nonexistent/manifest.json")],
        ),
        (
            "TRUSTED_DOCUMENTS_MODE",
            vec![("TRUSTED_DOCUMENTS_MODE", "only")],
        ),
        (
            "DB_ROW_LEVEL_SECURITY",
            vec![("DB_ROW_LEVEL_SECURITY", "true")],
        ),
        ("SEARCH_LANGUAGE", vec![("SEARCH_LANGUAGE", "german")]),
        ("RUST_LOG", vec![("RUST_LOG", "info,api=loud")]),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
        ),
    ];
    for (var, vars) in cases {
        // The default database: todo.db in the process's working directory.
        let mut api = ApiProcess::spawn(&vars);
        let status = api.wait_exit(Duration::from_secs(20)).await;
        let output = api.output();
        assert!(!status.success(), "{vars:?} refused; output:\n{output}");
        assert!(output.contains(var), "{vars:?}: names {var}:\n{output}");
        assert!(
            !output.contains("listening"),
            "{vars:?}: listened:\n{output}"
        );
        assert!(
            !output.contains("connecting to the database"),
            "{vars:?}: touched the database:\n{output}"
        );
        let files = files_in(api.workdir());
        assert!(files.is_empty(), "{vars:?}: left {files:?}");
        if let Some(secret) = vars.iter().find(|(k, _)| *k == "AUTH_JWT_SECRET") {
            assert!(!output.contains(secret.1), "the secret is never printed");
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

// --- 4. Tokens: the claim named; one expiry rule ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_names_its_missing_or_wrong_claim() {
    let app = hs256_app(Backend::Sqlite, &[]).await;
    let without = |claim: &str| {
        let mut c = claims("a");
        c.as_object_mut().map(|o| o.remove(claim));
        c
    };
    let mut exp_as_text = claims("a");
    exp_as_text["exp"] = json!((tokens::now() + 3600).to_string());
    let mut sub_as_number = claims("a");
    sub_as_number["sub"] = json!(42);
    for (label, token, needle) in [
        ("no exp", without("exp"), "the exp claim is missing"),
        ("no sub", without("sub"), "the sub claim is missing"),
        ("exp as text", exp_as_text, "the exp claim must be a number"),
        (
            "sub as a number",
            sub_as_number,
            "the sub claim must be a string",
        ),
        (
            "the built-in owner",
            claims(migration::SINGLE_USER_OWNER),
            "the built-in single-user owner",
        ),
    ] {
        let authorization = format!("Bearer {}", hs256(&token));
        let (status, _, body) = post_as(&app, Some(&authorization), VIEWER, json!({})).await;
        assert_eq!(status, 401, "{label}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{label}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{label}: {message:?}");
    }
    app.shutdown().await;
}

async fn closed_with(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code.into(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_http_stops_accepting_its_token() {
    let app = hs256_app(Backend::Sqlite, &[("AUTH_LEEWAY_SECS", "2")]).await;
    let issued = Instant::now();
    let token = hs256(&json!({ "sub": "brief", "iss": ISSUER, "aud": AUDIENCE,
        "exp": tokens::now() + 1 }));
    let bearer = format!("Bearer {token}");
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": "subscription { taskEvents { kind } }" } }),
    )
    .await;
    // Past exp, within the leeway: HTTP accepts the token, the socket stays.
    tokio::time::sleep_until((issued + Duration::from_millis(2500)).into()).await;
    let (status, _, body) = post_as(&app, Some(&bearer), VIEWER, json!({})).await;
    assert_eq!(status, 200, "within the leeway: {body}");
    assert_eq!(closed_with(&mut socket).await, 4403);
    let closed_after = issued.elapsed();
    assert!(
        closed_after >= Duration::from_millis(2900),
        "not before exp + leeway: {closed_after:?}"
    );
    assert!(closed_after < Duration::from_secs(6), "{closed_after:?}");
    // Closed when HTTP stops accepting it too.
    let (status, _, body) = post_as(&app, Some(&bearer), VIEWER, json!({})).await;
    assert_eq!(status, 401, "after the leeway: {body}");
    app.shutdown().await;
}

// --- 5. Handing the single user's rows to a subject ------------------------

/// `api <args>` with only these variables, in a directory of its own.
fn api_command(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = TempDir::new("todo-api-command");
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    crate::support::blocking(|| command.output()).expect("run the api binary")
}

async fn subscribed_as(app: &TestApp, subject: &str) -> Socket {
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": hs256(&claims(subject)) } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "e", "type": "subscribe",
                "payload": { "query": "subscription { taskEvents { kind taskId task { description } } }" } }),
    )
    .await;
    socket
}

async fn next_events(socket: &mut Socket, n: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let message = receive(socket).await;
        assert_eq!(message["type"], "next", "{message}");
        events.push(message["payload"]["data"]["taskEvents"].clone());
    }
    events
}

async fn transfer_hands_the_single_users_rows_to_a_subject(backend: Backend) {
    let app = hs256_app(backend, &[]).await;
    // Written in single-user mode (the built-in owner's).
    let store = app.store();
    let builtin = Owner::single_user();
    let scope = store.scoped(&builtin);
    let home = categories::create(&scope, "Home").await.expect("category");
    let parent = tasks::create(
        &scope,
        tasks::NewTask {
            description: "Paint the hall".into(),
            category_ids: vec![home.id],
            ..Default::default()
        },
    )
    .await
    .expect("task");
    tasks::create(
        &scope,
        tasks::NewTask {
            description: "Buy paint".into(),
            parent_id: Some(parent.id),
            ..Default::default()
        },
    )
    .await
    .expect("sub-task");
    const LIST: &str = "{ tasks { totalCount nodes { description categories { name } } } \
                        categories { totalCount } }";
    let alice = hs256(&claims("alice"));
    let (_, _, before) = post_as(&app, Some(&format!("Bearer {alice}")), LIST, json!({})).await;
    assert_eq!(before["data"]["tasks"]["totalCount"], 0, "{before}");

    let mut alices_events = subscribed_as(&app, "alice").await;
    // Alice's subscription is live once a write after it is heard: her
    // task made and deleted again (she owns nothing after).
    let bearer = format!("Bearer {alice}");
    let (_, _, made) = post_as(
        &app,
        Some(&bearer),
        "mutation { createTask(input: {description: \"probe\"}) { task { id } } }",
        json!({}),
    )
    .await;
    let probe = made["data"]["createTask"]["task"]["id"].clone();
    let (_, _, deleted) = post_as(
        &app,
        Some(&bearer),
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { clientMutationId } }",
        json!({ "id": probe }),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    next_events(&mut alices_events, 2).await;
    let url = app.database_url().to_owned();
    let vars = [("DATABASE_URL", url.as_str())];
    let moved = api_command(&["transfer-owner", "--to", "alice"], &vars);
    let stdout = String::from_utf8_lossy(&moved.stdout);
    assert!(
        moved.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(
        stdout.contains("moved 2 task(s) and 1 categories"),
        "{stdout}"
    );

    let (_, _, after) = post_as(&app, Some(&bearer), LIST, json!({})).await;
    assert_eq!(after["data"]["tasks"]["totalCount"], 2, "{after}");
    assert_eq!(after["data"]["categories"]["totalCount"], 1, "{after}");
    assert!(
        after["data"]["tasks"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|t| t["categories"][0]["name"] == "Home"),
        "links moved too: {after}"
    );
    let appeared = next_events(&mut alices_events, 2).await;
    assert!(
        appeared.iter().all(|e| e["kind"] == "CREATED"),
        "{appeared:?}"
    );
    let builtin_count = tasks::count(&scope, &tasks::TaskFilter::default())
        .await
        .expect("count")
        .n;
    assert_eq!(builtin_count, 0, "nothing stays with the built-in owner");

    // Never merged: a subject with rows of its own is refused, nothing changes.
    // From a subject: its subscribers see the tasks leave.
    let again = api_command(&["transfer-owner", "--from", "alice", "--to", "bob"], &vars);
    assert!(again.status.success(), "to a new subject: {again:?}");
    let left = next_events(&mut alices_events, 2).await;
    assert!(left.iter().all(|e| e["kind"] == "DELETED"), "{left:?}");
    let bob = format!("Bearer {}", hs256(&claims("bob")));
    let (_, _, bobs) = post_as(&app, Some(&bob), LIST, json!({})).await;
    assert_eq!(bobs["data"]["tasks"]["totalCount"], 2, "{bobs}");
    let refused = api_command(&["transfer-owner", "--from", "bob", "--to", "bob"], &vars);
    assert!(!refused.status.success(), "{refused:?}");
    tasks::create(
        &scope,
        tasks::NewTask {
            description: "Mine again".into(),
            ..Default::default()
        },
    )
    .await
    .expect("task");
    let occupied = api_command(&["transfer-owner", "--to", "bob"], &vars);
    assert_eq!(occupied.status.code(), Some(3), "{occupied:?}");
    assert!(
        String::from_utf8_lossy(&occupied.stderr).contains("has tasks or categories already"),
        "{occupied:?}"
    );
    assert_eq!(
        tasks::count(&scope, &tasks::TaskFilter::default())
            .await
            .expect("count")
            .n,
        1,
        "nothing changed"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_transfer_hands_the_single_users_rows_to_a_subject() {
    transfer_hands_the_single_users_rows_to_a_subject(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_transfer_hands_the_single_users_rows_to_a_subject() {
    transfer_hands_the_single_users_rows_to_a_subject(Backend::Postgres).await;
}

/// With row-level security, whose policies let no statement change a
/// row's owner: the rows are written again as the subject's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_works_under_row_level_security() {
    let rls = crate::owners::RlsDatabase::new().await;
    let app = hs256_app(
        Backend::Postgres,
        &[
            ("DATABASE_URL", &rls.url),
            ("DB_ROW_LEVEL_SECURITY", "true"),
        ],
    )
    .await;
    let store = api::service::Store {
        row_level_security: true,
        ..app.store()
    };
    let builtin = Owner::single_user();
    let scope = store.scoped(&builtin);
    let home = categories::create(&scope, "Home").await.expect("category");
    let parent = tasks::create(
        &scope,
        tasks::NewTask {
            description: "Paint the hall".into(),
            category_ids: vec![home.id],
            ..Default::default()
        },
    )
    .await
    .expect("task");
    tasks::create(
        &scope,
        tasks::NewTask {
            description: "Buy paint".into(),
            parent_id: Some(parent.id),
            ..Default::default()
        },
    )
    .await
    .expect("sub-task");
    let vars = [
        ("DATABASE_URL", rls.url.as_str()),
        ("DB_ROW_LEVEL_SECURITY", "true"),
    ];
    let moved = api_command(&["transfer-owner", "--to", "alice"], &vars);
    let stdout = String::from_utf8_lossy(&moved.stdout);
    assert!(
        moved.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    assert!(
        stdout.contains("moved 2 task(s) and 1 categories"),
        "{stdout}"
    );
    let bearer = format!("Bearer {}", hs256(&claims("alice")));
    let (_, _, after) = post_as(
        &app,
        Some(&bearer),
        "{ tasks(orderBy: [{field: CREATED_AT, direction: ASC}]) { totalCount nodes { id description \
           parent { id } categories { name } } } categories { totalCount } }",
        json!({}),
    )
    .await;
    let nodes = after["data"]["tasks"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks: {after}"))
        .clone();
    assert_eq!(nodes.len(), 2, "{after}");
    assert_eq!(nodes[0]["categories"][0]["name"], "Home", "{after}");
    assert_eq!(
        nodes[1]["parent"]["id"], nodes[0]["id"],
        "the tree kept: {after}"
    );
    assert_eq!(after["data"]["categories"]["totalCount"], 1, "{after}");
    assert_eq!(
        tasks::count(&scope, &tasks::TaskFilter::default())
            .await
            .expect("count")
            .n,
        0
    );
    drop(app);
}

#[test]
fn help_says_what_happens_to_the_single_users_rows() {
    let help = api_command(&["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("transfer-owner"), "{text}");
    assert!(text.contains("invisible to every token"), "{text}");
}

// --- 6. and 7. The migration tool's default; no lock file left -------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_uses_the_apis_default_database_and_leaves_no_lock_file() {
    let binary = crate::migrate_concurrently::migration_binary();
    let dir = TempDir::new("todo-migration-default");
    let run = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        crate::support::blocking(|| command.output()).expect("run migration")
    };
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    for command in ["up", "down", "status", "fresh", "refresh", "reset"] {
        assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
    }
    for absent in ["init", "generate", "MySQL"] {
        assert!(!help.contains(absent), "{absent}: {help}");
    }
    assert!(help.contains("sqlite://todo.db"), "{help}");
    // `status` looks only: nothing is created.
    assert!(!run(&["status"]).status.success());
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    let up = run(&["up"]);
    assert!(up.status.success(), "{up:?}");
    assert_eq!(files_in(dir.path()), ["todo.db"], "the api's file, no lock");
    // The api finds it current.
    let url = format!("sqlite://{}/todo.db", dir.path().display());
    let db = Database::connect(&url).await.expect("connect");
    assert_eq!(api::db::pending_migrations(&db).await.expect("pending"), 0);
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_and_a_clean_stop_leave_the_database_only_and_metrics_are_there_from_the_first_scrape()
 {
    let mut api = ApiProcess::spawn(&[]);
    api.wait_for_output("ready: serving requests", 1, Duration::from_secs(30))
        .await;
    // The first request of all: every series is there at 0.
    let scrape = reqwest::get(format!("{}/metrics", api.base()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    for series in [
        r#"http_requests_total{status="2xx"} 0"#,
        r#"http_requests_total{status="5xx"} 0"#,
        r#"graphql_operations_total{operation="other",type="query",outcome="ok"} 0"#,
        r#"graphql_operations_total{operation="other",type="mutation",outcome="ok"} 0"#,
        r#"graphql_operation_duration_seconds_count{operation="other",type="query",outcome="ok"} 0"#,
        "# TYPE graphql_operation_duration_seconds histogram",
    ] {
        assert!(scrape.contains(series), "{series} in:\n{scrape}");
    }
    api.signal("TERM");
    assert!(api.wait_exit(Duration::from_secs(30)).await.success());
    let mut files = files_in(api.workdir());
    files.sort();
    assert!(
        !files.iter().any(|f| f.ends_with(".migrate.lock")),
        "{files:?}"
    );
    assert!(files.contains(&"todo.db".to_owned()), "{files:?}");
}

// --- 10. A planned shutdown says nothing alarming ------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_postgres_logs_no_warning_or_error() {
    let db = TestDb::new(Backend::Postgres).await;
    for round in 0..6 {
        let mut api = ApiProcess::spawn(&[("DATABASE_URL", &db.url), ("AUTO_MIGRATE", "true")]);
        api.wait_for_output("ready: serving requests", 1, Duration::from_secs(30))
            .await;
        // Some traffic, so the listener and the tail have work in flight.
        let client = reqwest::Client::new();
        for i in 0..3 {
            let response = client
                .post(format!("{}/graphql", api.base()))
                .json(&json!({ "query": "mutation($d: String!) { createTask(input: {description: $d}) { task { id } } }",
                               "variables": { "d": format!("round {round} task {i}") } }))
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status(), 200);
        }
        api.signal("TERM");
        let status = api.wait_exit(Duration::from_secs(30)).await;
        let output = api.output();
        assert!(status.success(), "round {round}:\n{output}");
        assert!(output.contains("stopped"), "round {round}:\n{output}");
        let alarming: Vec<&str> = output
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        assert!(alarming.is_empty(), "round {round}: {alarming:#?}");
    }
}
