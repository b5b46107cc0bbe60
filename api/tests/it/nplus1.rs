//! Nested fields load through DataLoaders: the number of SQL statements per
//! request does not grow with the page size.

use api::service::tasks::{self, NewTask};
use serde_json::json;

use crate::common::TestApp;

crate::on_both_backends!(statements_do_not_grow_with_page_size);

const PAGE: &str = "query($first: Int!) { tasks(first: $first, filter: {topLevel: true}) { totalCount
  nodes { id description parent { id } categories { name }
    subtasks(first: 5) { totalCount nodes { description parent { id } categories { name } } } } } }";

const FLAT: &str =
    "query($first: Int!) { tasks(first: $first, filter: {topLevel: true}) { totalCount
  nodes { id description dueAt categories { id name } subtasks { totalCount } } } }";

async fn statements_do_not_grow_with_page_size(app: TestApp) {
    // Arranged through the service layer, as the single user.
    let store = app.store();
    let owner = api::service::Owner::single_user();
    let scope = store.scoped(&owner);
    let mut categories = Vec::new();
    for name in ["home", "work", "errands", "garden", "kids"] {
        categories.push(
            api::service::categories::create(&scope, name)
                .await
                .expect("category")
                .id,
        );
    }
    for i in 0..100 {
        let picked = vec![categories[i % 5], categories[(i + 1) % 5]];
        let parent = tasks::create(
            &scope,
            NewTask {
                description: format!("task {i}"),
                category_ids: picked.clone(),
                ..NewTask::default()
            },
        )
        .await
        .expect("task");
        for j in 0..2 {
            tasks::create(
                &scope,
                NewTask {
                    description: format!("task {i}.{j}"),
                    parent_id: Some(parent.id),
                    category_ids: picked.clone(),
                    ..NewTask::default()
                },
            )
            .await
            .expect("sub-task");
        }
    }

    let (small, small_sql) = app
        .count_statements(app.data(PAGE, json!({ "first": 10 })))
        .await;
    let (large, large_sql) = app
        .count_statements(app.data(PAGE, json!({ "first": 100 })))
        .await;
    assert_eq!(small["tasks"]["nodes"].as_array().unwrap().len(), 10);
    let nodes = large["tasks"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    assert_eq!(large["tasks"]["totalCount"], 100);
    assert!(nodes.iter().all(|n| {
        n["categories"].as_array().unwrap().len() == 2
            && n["subtasks"]["totalCount"] == 2
            && n["subtasks"]["nodes"][1]["categories"]
                .as_array()
                .unwrap()
                .len()
                == 2
            && n["subtasks"]["nodes"][0]["parent"]["id"] == n["id"]
    }));

    // The list-with-categories-and-sub-task-counts shape: the page, its
    // total, the categories of all rows and the sub-task counts of all rows.
    let (flat, flat_sql) = app
        .count_statements(app.data(FLAT, json!({ "first": 100 })))
        .await;
    assert_eq!(flat["tasks"]["nodes"].as_array().unwrap().len(), 100);
    assert!(
        flat_sql.len() <= 4,
        "{} statements:\n{}",
        flat_sql.len(),
        flat_sql.join("\n")
    );

    // Two levels deep: page, totalCount, categories, sub-task pages, sub-task
    // counts and sub-task categories (the sub-tasks' parents are the page's
    // rows, already in the request's cache).
    assert!(
        large_sql.len() <= 6,
        "{} statements:\n{}",
        large_sql.len(),
        large_sql.join("\n")
    );
    assert_eq!(
        small_sql.len(),
        large_sql.len(),
        "statements grew with the page size"
    );
}
