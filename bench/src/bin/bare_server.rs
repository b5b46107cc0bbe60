//! F0: the framework's ceiling for `list20`. A bare async-graphql schema
//! behind async-graphql-axum's stock service on axum: no extensions, no
//! engine, no middleware, no database; the rows are borrowed, not built per
//! request. Whatever the api spends above this is its own.
//!
//! It answers `bench::LIST20` with the api's own JSON: at start it asks the
//! api once (in-process, over the seeded `DATABASE_URL`) for that answer,
//! keeps the rows in its own tiny types, and checks that its own answer is
//! the same JSON before it serves on `PORT` (`POST /graphql`; `GET /readyz`
//! for the bench's readiness poll).

use std::process::ExitCode;
use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Enum, ID, Object, Schema, SimpleObject};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::{get, post_service};
use serde::Deserialize;
use tokio::net::TcpListener;

/// The api binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Enum, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Priority {
    None,
    Low,
    Medium,
    High,
}

/// The api's `DateTime` scalar is an RFC 3339 string on the wire: so is
/// this one.
#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    id: ID,
    description: String,
    priority: Priority,
    start_at: Option<String>,
    due_at: Option<String>,
    done: bool,
    created_at: String,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskConnection {
    nodes: Vec<Task>,
    page_info: PageInfo,
}

struct Query(Arc<TaskConnection>);

#[Object]
impl Query {
    /// The one page there is, whatever `first` says.
    async fn tasks(&self, first: Option<i32>) -> &TaskConnection {
        let _ = first;
        &self.0
    }
}

type BareSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The api's answer to `list20` over `url`.
async fn api_answer(config: api::config::Config) -> Result<serde_json::Value, String> {
    let db = api::db::connect_with_retry(&config)
        .await
        .map_err(|e| e.to_string())?;
    let app = api::App::start(Arc::new(config), db.clone())
        .await
        .map_err(|e| e.to_string())?;
    let answer = bench::post(&app.router, bench::Scenario::List20.body(0)).await;
    app.shutdown.cancel();
    drop(app);
    db.close().await.map_err(|e| e.to_string())?;
    answer
}

async fn run() -> Result<(), String> {
    let url =
        std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the seeded database")?;
    let config = bench::config(&url)?;
    let addr = config.listen_addr();
    let expected = api_answer(config).await?;
    let page: TaskConnection = serde_json::from_value(expected["data"]["tasks"].clone())
        .map_err(|e| format!("the api's list20 answer: {e}"))?;
    let schema: BareSchema =
        Schema::build(Query(Arc::new(page)), EmptyMutation, EmptySubscription).finish();
    let router = Router::new()
        .route("/graphql", post_service(GraphQL::new(schema)))
        .route("/readyz", get(|| async { "ready" }));
    let own = bench::post(&router, bench::Scenario::List20.body(0)).await?;
    if own != expected {
        return Err(format!(
            "answers differ:\n  api:  {expected}\n  bare: {own}"
        ));
    }

    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    eprintln!("bare server ready on {addr}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bare-server: {err}");
            ExitCode::FAILURE
        }
    }
}
