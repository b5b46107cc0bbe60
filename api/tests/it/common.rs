//! Test harness: a real server on a random port over a fresh database, on
//! SQLite or PostgreSQL, driven through real HTTP and WebSocket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api::config::Config;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database; removed again when dropped.
pub struct TestDb {
    pub url: String,
    name: String,
    sqlite_dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let name = format!("todo_test_{}", uuid::Uuid::now_v7().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}/todo.db?mode=rwc", dir.display());
                Self {
                    url,
                    name,
                    sqlite_dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for these tests ({e}). Start it or set \
                         TEST_DATABASE_URL=postgres://USER@HOST:PORT/postgres"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base.to_owned())
                    .expect("TEST_DATABASE_URL has a database path");
                Self {
                    url: format!("{base}/{name}"),
                    name,
                    sqlite_dir: None,
                }
            }
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let name = self.name.clone();
        // Drop runs outside async: a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// The test configuration with some variables set (they win over the defaults).
pub fn config_with(db: &TestDb, vars: &[(&str, &str)]) -> Config {
    let url = db.url.clone();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(move |var| {
        if let Some((_, value)) = vars.iter().find(|(k, _)| k == var) {
            return Some(value.clone());
        }
        match var {
            "DATABASE_URL" => Some(url.clone()),
            "AUTO_MIGRATE" => Some("true".into()),
            "DB_CONNECT_TIMEOUT_SECS" => Some("5".into()),
            _ => None,
        }
    })
    .expect("test config")
}

/// Polls `/readyz` as a load balancer would, for up to 10 s.
pub async fn wait_until_ready(addr: SocketAddr) {
    let client = reqwest::Client::new();
    for _ in 0..1000 {
        if let Ok(response) = client.get(format!("http://{addr}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the server at {addr} did not become ready");
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The pool the server uses (for arranging data through the service layer).
    pub db: DatabaseConnection,
    /// Every SQL statement the server ran for requests, in order.
    pub statements: Arc<Mutex<Vec<String>>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    // Last, so the database goes after the server.
    _test_db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// A server with some configuration variables set, e.g.
    /// `&[("GRAPHQL_MAX_DEPTH", "3")]`, started as the binary starts it
    /// (`api::server::run`), ready when this returns.
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Self {
        Self::spawn_on(TestDb::new(backend).await, vars).await
    }

    /// [`TestApp::spawn_with`] on a database the test already prepared; it
    /// is removed with the app.
    pub async fn spawn_on(test_db: TestDb, vars: &[(&str, &str)]) -> Self {
        let config = Arc::new(config_with(&test_db, vars));
        let statements = Arc::new(Mutex::new(Vec::new()));
        let log = statements.clone();
        let (connected, pool) = oneshot::channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            api::server::run_with(config, listener, stop, move |db| {
                db.set_metric_callback(move |info| {
                    // The event tail reads the log, and the reminder poller
                    // looks for due reminders, on their own schedules;
                    // requests' statements are what tests count.
                    let sql = &info.statement.sql;
                    if sql.starts_with("SELECT") && sql.contains("FROM \"task_events\"")
                        || sql.contains(migration::PENDING_REMINDERS)
                    {
                        return;
                    }
                    if let Ok(mut log) = log.lock() {
                        log.push(sql.clone());
                    }
                });
                let _ = connected.send(db.clone());
            })
            .await
            .expect("serve");
        });
        let db = pool.await.expect("the server connected to its database");
        let app = Self {
            addr,
            client: reqwest::Client::new(),
            db,
            statements,
            shutdown: Some(tx),
            server: Some(server),
            _test_db: test_db,
        };
        wait_until_ready(addr).await;
        app
    }

    /// The service layer over the server's pool, for arranging data (the
    /// server's event tail finds the events on its own).
    pub fn store(&self) -> api::service::Store {
        api::service::Store::new(self.db.clone(), api::events::Wake::default())
    }

    /// The URL of the server's database (for other processes).
    pub fn database_url(&self) -> &str {
        &self._test_db.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    /// Waits (up to 10 s) until retention deleted every event up to
    /// `position`; returns how far it pruned.
    pub async fn wait_until_pruned(&self, position: i64) -> i64 {
        let mut pruned = 0;
        for _ in 0..100 {
            let row = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(
                    self.db.get_database_backend(),
                    "SELECT pruned_through FROM task_event_log",
                ))
                .await
                .expect("query")
                .expect("row");
            pruned = row.try_get::<i64>("", "pruned_through").expect("value");
            if pruned >= position {
                return pruned;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("retention never pruned through {position} ({pruned})");
    }

    /// How many SQL statements the server runs for `f`.
    pub async fn count_statements<F: std::future::Future>(&self, f: F) -> (F::Output, Vec<String>) {
        self.statements.lock().expect("log").clear();
        let out = f.await;
        let statements = std::mem::take(&mut *self.statements.lock().expect("log"));
        (out, statements)
    }

    /// POSTs a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        assert_eq!(response.status(), 200, "POST /graphql status");
        response.json().await.expect("JSON response")
    }

    /// Runs an operation that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.gql(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Runs an operation that must fail; returns the first error's
    /// `(extensions.code, extensions.field)`.
    pub async fn error(&self, query: &str, variables: Value) -> (String, Option<String>) {
        let response = self.gql(query, variables).await;
        let error = &response["errors"][0];
        assert!(error.is_object(), "expected an error: {response:#}");
        let code = error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error without code: {response:#}"))
            .to_owned();
        let field = error["extensions"]["field"].as_str().map(str::to_owned);
        (code, field)
    }

    /// Creates a task and returns it (`id`, `version` and the rest).
    pub async fn create_task(&self, input: Value) -> Value {
        let data = self
            .data(
                "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { ...TaskFields } } }
                 fragment TaskFields on Task { id description priority startAt dueAt done completedAt createdAt updatedAt version parent { id } }",
                json!({ "input": input }),
            )
            .await;
        data["createTask"]["task"].clone()
    }

    pub async fn create_category(&self, name: &str) -> Value {
        let data = self
            .data(
                "mutation($name: String!) { createCategory(input: {name: $name}) { category { id name createdAt } } }",
                json!({ "name": name }),
            )
            .await;
        data["createCategory"]["category"].clone()
    }

    /// Sets `done` on a task through updateTask.
    pub async fn set_done(&self, id: &Value, done: bool) -> Value {
        let data = self
            .data(
                "mutation($id: ID!, $done: Boolean!) { updateTask(input: {id: $id, done: $done}) { task { id done completedAt version } } }",
                json!({ "id": id, "done": done }),
            )
            .await;
        data["updateTask"]["task"].clone()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Descriptions of a connection's nodes, in order.
pub fn descriptions(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection:#}"))
        .iter()
        .map(|n| n["description"].as_str().expect("description").to_owned())
        .collect()
}

/// Declares each listed test twice: once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestApp::spawn($crate::common::Backend::Postgres).await).await;
                }
            )+
        }
    };
}

/// A GraphQL WebSocket client for the tests, on top of tokio-tungstenite.
pub mod ws {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::Value;
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

    /// Connects to `url` offering `protocol`, and checks the server chose it.
    pub async fn connect(url: &str, protocol: &'static str) -> Socket {
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        socket
    }

    pub async fn send(socket: &mut Socket, message: Value) {
        socket
            .send(Message::text(message.to_string()))
            .await
            .expect("ws send");
    }

    /// The next JSON message, skipping keep-alives, pings and pongs.
    pub async fn receive(socket: &mut Socket) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
                .await
                .expect("a message within 15 s")
                .expect("socket open")
                .expect("ws frame");
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                if !matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                    return value;
                }
            }
        }
    }

    /// The next task event that is not one of our probes.
    pub async fn next_event(socket: &mut Socket) -> Value {
        loop {
            let message = receive(socket).await;
            assert!(
                matches!(message["type"].as_str(), Some("next" | "data")),
                "{message}"
            );
            let event = message["payload"]["data"]["taskEvents"].clone();
            if event["task"]["description"] != "probe" {
                return event;
            }
        }
    }

    /// The server subscribes asynchronously: make probe changes until a
    /// probe is seen, so the test never races the subscription being set up.
    /// Whatever arrives before that probe (changes committed just before
    /// the subscription started, which it may still deliver) is read and
    /// dropped here, so the test's own changes come next. The subscription
    /// must deliver the probes' CREATED events with `task { description }`.
    pub async fn wait_until_live(app: &super::TestApp, socket: &mut Socket) {
        for _ in 0..50 {
            app.create_task(serde_json::json!({ "description": "probe" }))
                .await;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
            while let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout_at(deadline, socket.next()).await
            {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                let event = &value["payload"]["data"]["taskEvents"];
                if matches!(value["type"].as_str(), Some("next" | "data"))
                    && event["task"]["description"] == "probe"
                {
                    return;
                }
            }
        }
        panic!("subscription never delivered an event");
    }
}
