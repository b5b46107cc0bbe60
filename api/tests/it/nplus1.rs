//! Nested fields load through DataLoaders: the number of SQL statements per
//! request does not grow with the page size.

use api::graphql::ids::{self, NodeKind};
use api::service::tasks::{self, NewTask};
use serde_json::{Value, json};

use crate::common::TestApp;

crate::on_both_backends!(
    statements_do_not_grow_with_page_size,
    nodes_load_once_per_type
);

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

/// What is asked of each node: a task's parent and categories load in
/// batches too.
const NODE_FIELDS: &str =
    "id ... on Task { description parent { id } categories { name } } ... on Category { name }";

/// The same, on the `_Entity` union (which has no `id` of its own).
const ENTITY_FIELDS: &str = "... on Task { id description parent { id } categories { name } } \
     ... on Category { id name }";

async fn nodes_load_once_per_type(app: TestApp) {
    let store = app.store();
    let owner = api::service::Owner::single_user();
    let scope = store.scoped(&owner);
    let mut categories = Vec::new();
    for name in ["home", "work", "errands", "garden", "kids"] {
        let category = api::service::categories::create(&scope, name)
            .await
            .expect("category");
        categories.push(category.id);
    }
    // Sub-tasks only: their parents are never among the requested nodes,
    // so the parents are one more batch whatever the number of ids.
    let mut subtasks = Vec::new();
    for i in 0..40 {
        let picked = vec![categories[i % 5], categories[(i + 1) % 5]];
        let parent = tasks::create(
            &scope,
            NewTask {
                description: format!("parent {i}"),
                ..NewTask::default()
            },
        )
        .await
        .expect("task");
        let subtask = tasks::create(
            &scope,
            NewTask {
                description: format!("sub-task {i}"),
                parent_id: Some(parent.id),
                category_ids: picked,
                ..NewTask::default()
            },
        )
        .await
        .expect("sub-task");
        subtasks.push(ids::encode(NodeKind::Task, subtask.id).0);
    }
    let categories: Vec<String> = categories
        .iter()
        .map(|id| ids::encode(NodeKind::Category, *id).0)
        .collect();

    // `nodes(ids:)`, and a federation gateway's `_entities` (the same ids as
    // representations): one statement per type, then one per nested field.
    let nodes = format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {NODE_FIELDS} }} }}");
    let entities = format!(
        "query($ids: [_Any!]!) {{ nodes: _entities(representations: $ids) {{ {ENTITY_FIELDS} }} }}"
    );
    for (root, query) in [("nodes", &nodes), ("_entities", &entities)] {
        let mut counts = Vec::new();
        for (t, c) in [(2, 1), (40, 5)] {
            let ids: Vec<Value> = if root == "nodes" {
                let ids = subtasks[..t].iter().chain(&categories[..c]);
                ids.map(|id| json!(id)).collect()
            } else {
                let tasks = subtasks[..t].iter().map(|id| ("Task", id));
                let categories = categories[..c].iter().map(|id| ("Category", id));
                (tasks.chain(categories))
                    .map(|(typename, id)| json!({ "__typename": typename, "id": id }))
                    .collect()
            };
            let (data, sql) = app
                .count_statements(app.data(query, json!({ "ids": ids })))
                .await;
            let nodes = data["nodes"].as_array().expect("nodes");
            assert_eq!(nodes.len(), t + c);
            assert_nodes(&nodes[..t], &nodes[t..]);
            assert!(
                sql.len() <= 4,
                "{root} of {t} tasks and {c} categories: {} statements:\n{}",
                sql.len(),
                sql.join("\n")
            );
            counts.push(sql.len());
        }
        assert_eq!(
            counts[0], counts[1],
            "{root}: statements grew with the number of ids"
        );
    }

    // Sibling root fields (`node`, `task`, `category`) share the batches.
    let mut counts = Vec::new();
    for n in [2, 6] {
        let fields: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "n{i}: node(id: \"{}\") {{ {NODE_FIELDS} }} \
                     t{i}: task(id: \"{}\") {{ id }} \
                     c{i}: category(id: \"{}\") {{ name }}",
                    subtasks[i],
                    subtasks[subtasks.len() - 1 - i],
                    categories[i % categories.len()]
                )
            })
            .collect();
        let (data, sql) = app
            .count_statements(app.data(&format!("{{ {} }}", fields.join(" ")), json!({})))
            .await;
        let nodes: Vec<Value> = (0..n).map(|i| data[format!("n{i}")].clone()).collect();
        assert_nodes(&nodes, &[]);
        assert!((0..n).all(|i| data[format!("t{i}")]["id"] == subtasks[subtasks.len() - 1 - i]));
        assert!((0..n).all(|i| data[format!("c{i}")]["name"].is_string()));
        assert!(
            sql.len() <= 4,
            "{n} of each root field: {} statements:\n{}",
            sql.len(),
            sql.join("\n")
        );
        counts.push(sql.len());
    }
    assert_eq!(counts[0], counts[1], "statements grew with the root fields");
}

/// Sub-task nodes with their parent and two categories, then categories.
fn assert_nodes(tasks: &[Value], categories: &[Value]) {
    for task in tasks {
        assert!(
            task["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("sub-task")),
            "{task:#}"
        );
        assert!(task["parent"]["id"].is_string(), "{task:#}");
        assert_eq!(
            task["categories"].as_array().map(Vec::len),
            Some(2),
            "{task:#}"
        );
    }
    for category in categories {
        assert!(category["name"].is_string(), "{category:#}");
    }
}
