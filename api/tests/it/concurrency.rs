//! Concurrent edits: `expectedVersion` turns a lost update into CONFLICT, and
//! concurrent creates all land.

use std::collections::HashSet;
use std::sync::Arc;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::support::{CREATE_TASK, Outcome, post_graphql, task_uuid};

crate::on_both_backends!(
    one_of_many_updaters_with_the_same_version_wins,
    updaters_that_retry_on_conflict_lose_no_update,
    concurrent_creates_all_land,
);

const UPDATE: &str = "mutation($id: ID!, $version: Int!, $description: String!) {
    updateTask(input: {id: $id, expectedVersion: $version, description: $description}) {
        task { id version description } } }";
const READ: &str = "query($id: ID!) { task(id: $id) { version description } }";

async fn update(app: &TestApp, id: &Value, version: i64, description: &str) -> Outcome {
    post_graphql(
        &app.client,
        &app.url(""),
        UPDATE,
        json!({ "id": id, "version": version, "description": description }),
    )
    .await
}

async fn one_of_many_updaters_with_the_same_version_wins(app: TestApp) {
    let app = Arc::new(app);
    let task = app.create_task(json!({ "description": "start" })).await;
    assert_eq!(task["version"], 1);
    let updaters: Vec<_> = (0..20)
        .map(|i| {
            let (app, id) = (app.clone(), task["id"].clone());
            tokio::spawn(async move { update(&app, &id, 1, &format!("writer {i}")).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for updater in updaters {
        match updater.await.expect("updater") {
            Outcome::Ok(data) => winners.push(data["updateTask"]["task"].clone()),
            Outcome::Error(code) if code == "CONFLICT" => conflicts += 1,
            other => panic!("neither success nor CONFLICT: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(conflicts, 19);
    let stored = app.data(READ, json!({ "id": task["id"] })).await;
    assert_eq!(stored["task"]["version"], 2);
    assert_eq!(stored["task"]["description"], winners[0]["description"]);
}

/// Each updater adds one to a counter kept in the description, re-reading
/// and retrying whenever it loses: the counter ends at the number of
/// successful updates, which is the number of version bumps.
async fn updaters_that_retry_on_conflict_lose_no_update(app: TestApp) {
    const UPDATERS: usize = 8;
    const INCREMENTS: usize = 5;
    let app = Arc::new(app);
    let task = app.create_task(json!({ "description": "count 0" })).await;
    let updaters: Vec<_> = (0..UPDATERS)
        .map(|_| {
            let (app, id) = (app.clone(), task["id"].clone());
            tokio::spawn(async move {
                let (mut successes, mut conflicts) = (0usize, 0usize);
                while successes < INCREMENTS {
                    let current = app.data(READ, json!({ "id": id })).await;
                    let version = current["task"]["version"].as_i64().expect("version");
                    let count: usize = current["task"]["description"]
                        .as_str()
                        .and_then(|d| d.strip_prefix("count "))
                        .and_then(|n| n.parse().ok())
                        .expect("a counter");
                    match update(&app, &id, version, &format!("count {}", count + 1)).await {
                        Outcome::Ok(data) => {
                            assert_eq!(data["updateTask"]["task"]["version"], version + 1);
                            successes += 1;
                        }
                        Outcome::Error(code) if code == "CONFLICT" => conflicts += 1,
                        other => panic!("neither success nor CONFLICT: {other:?}"),
                    }
                }
                (successes, conflicts)
            })
        })
        .collect();
    let mut successes = 0;
    for updater in updaters {
        successes += updater.await.expect("updater").0;
    }
    assert_eq!(successes, UPDATERS * INCREMENTS);
    let stored = app.data(READ, json!({ "id": task["id"] })).await;
    assert_eq!(stored["task"]["description"], format!("count {successes}"));
    assert_eq!(stored["task"]["version"], 1 + successes);
}

async fn concurrent_creates_all_land(app: TestApp) {
    const N: usize = 50;
    let app = Arc::new(app);
    let creators: Vec<_> = (0..N)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let input = json!({ "input": { "description": format!("task {i}") } });
                post_graphql(&app.client, &app.url(""), CREATE_TASK, input).await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for creator in creators {
        match creator.await.expect("creator") {
            Outcome::Ok(data) => {
                ids.insert(task_uuid(&data["createTask"]["task"]["id"]));
            }
            other => panic!("create failed: {other:?}"),
        }
    }
    assert_eq!(ids.len(), N);
    let rows = entity::task::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(rows, N as u64);
    for id in ids {
        let found = entity::task::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .expect("find");
        assert!(found.is_some(), "{id}");
    }
}
