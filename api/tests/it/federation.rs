//! The service as an Apollo Federation v2 subgraph: `_service { sdl }`, and
//! `_entities` resolving the caller's own tasks, categories and user while
//! another owner's representations answer null, like missing ones.

use serde_json::{Value, json};

use crate::common::{Backend, TestApp};
use crate::sign_in::{data_as, hs256_app, post_as};
use crate::tokens::{claims, hs256};

crate::on_both_backends!(service_sdl_is_the_federation_sdl);

async fn service_sdl_is_the_federation_sdl(app: TestApp) {
    let data = app.data("{ _service { sdl } }", json!({})).await;
    assert!(
        data["_service"]["sdl"].as_str() == Some(api::graphql::federation_sdl().as_str()),
        "_service.sdl differs from `api schema --federation`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sdl_is_closed_with_introspection() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("GRAPHQL_INTROSPECTION", "false")]).await;
    let body = app.gql("{ _service { sdl } }", json!({})).await;
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert!(!body.to_string().contains("@key"), "{body}");
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { __typename
  ... on Task { id description owner { id } }
  ... on Category { id name owner { id } }
  ... on User { id tasks(first: 10) { totalCount nodes { description } }
                categories(first: 10) { nodes { name } } } } }";

/// Creates a category and a task in it as `token`; their ids.
async fn arrange(app: &TestApp, token: &str, tag: &str) -> (String, String) {
    let created = data_as(
        app,
        token,
        "mutation($n: String!) { createCategory(input: {name: $n}) { category { id } } }",
        json!({ "n": format!("{tag} list") }),
    )
    .await;
    let category = created["createCategory"]["category"]["id"].clone();
    let created = data_as(
        app,
        token,
        "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }",
        json!({ "i": { "description": format!("{tag} task"), "categoryIds": [category] } }),
    )
    .await;
    let task = created["createTask"]["task"]["id"].clone();
    (
        task.as_str().unwrap_or_default().to_owned(),
        category.as_str().unwrap_or_default().to_owned(),
    )
}

async fn entities_are_the_callers_own(app: TestApp) {
    let (a, b) = (hs256(&claims("owner-a")), hs256(&claims("owner-b")));
    let (a_task, a_category) = arrange(&app, &a, "A").await;
    let (b_task, b_category) = arrange(&app, &b, "B").await;
    let representations = json!([
        { "__typename": "Task", "id": b_task },
        { "__typename": "Category", "id": b_category },
        { "__typename": "User", "id": "owner-b" },
        { "__typename": "Task", "id": a_task },
        { "__typename": "Category", "id": a_category },
        { "__typename": "User", "id": "owner-a" },
    ]);
    let data = data_as(&app, &b, ENTITIES, json!({ "r": representations })).await;
    let entities = data["_entities"].as_array().expect("_entities");
    assert_eq!(
        entities[..3],
        [
            json!({ "__typename": "Task", "id": b_task, "description": "B task",
                "owner": { "id": "owner-b" } }),
            json!({ "__typename": "Category", "id": b_category, "name": "B list",
                "owner": { "id": "owner-b" } }),
            json!({ "__typename": "User", "id": "owner-b",
                "tasks": { "totalCount": 1, "nodes": [{ "description": "B task" }] },
                "categories": { "nodes": [{ "name": "B list" }] } }),
        ],
        "{data:#}"
    );
    // A's task, category and user are null for B, as missing ones are.
    assert_eq!(
        entities[3..],
        [Value::Null, Value::Null, Value::Null],
        "{data:#}"
    );

    // A bad id in a representation is the client's mistake, as in `task(id:)`.
    let (status, _, body) = post_as(
        &app,
        Some(&format!("Bearer {b}")),
        ENTITIES,
        json!({ "r": [{ "__typename": "Task", "id": "garbage" }] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_entities_are_the_callers_own() {
    entities_are_the_callers_own(hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_entities_are_the_callers_own() {
    entities_are_the_callers_own(hs256_app(Backend::Postgres, &[]).await).await;
}
