//! Categories and their links to tasks.

use serde_json::json;

use crate::common::{TestApp, descriptions};

crate::on_both_backends!(
    categories_are_created_renamed_and_deleted,
    names_are_unique_regardless_of_case,
    names_are_validated,
    tasks_are_linked_and_unlinked,
    categories_list_filters_orders_and_paginates,
);

const RENAME: &str = "mutation($id: ID!, $name: String!) { renameCategory(input: {id: $id, name: $name, clientMutationId: \"r\"}) {
    clientMutationId category { id name } } }";
const DELETE: &str = "mutation($id: ID!) { deleteCategory(input: {id: $id, clientMutationId: \"d\"}) { clientMutationId deletedCategoryId } }";

async fn categories_are_created_renamed_and_deleted(app: TestApp) {
    let data = app
        .data(
            "mutation { createCategory(input: {name: \"  Errands \", clientMutationId: \"c\"}) { clientMutationId category { id name createdAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["createCategory"]["clientMutationId"], "c");
    let category = &data["createCategory"]["category"];
    assert_eq!(category["name"], "Errands");

    let data = app
        .data(RENAME, json!({ "id": category["id"], "name": "Shopping" }))
        .await;
    assert_eq!(data["renameCategory"]["clientMutationId"], "r");
    assert_eq!(data["renameCategory"]["category"]["name"], "Shopping");
    // Renaming to another case of its own name is allowed.
    let data = app
        .data(RENAME, json!({ "id": category["id"], "name": "SHOPPING" }))
        .await;
    assert_eq!(data["renameCategory"]["category"]["name"], "SHOPPING");

    let data = app.data(DELETE, json!({ "id": category["id"] })).await;
    assert_eq!(data["deleteCategory"]["deletedCategoryId"], category["id"]);
    assert_eq!(data["deleteCategory"]["clientMutationId"], "d");
    let gone = app
        .data(
            "query($id: ID!) { category(id: $id) { id } }",
            json!({ "id": category["id"] }),
        )
        .await;
    assert!(gone["category"].is_null());
    for (query, vars) in [
        (DELETE, json!({ "id": category["id"] })),
        (RENAME, json!({ "id": category["id"], "name": "x" })),
    ] {
        let (code, field) = app.error(query, vars).await;
        assert_eq!((code.as_str(), field.as_deref()), ("NOT_FOUND", Some("id")));
    }
}

async fn names_are_unique_regardless_of_case(app: TestApp) {
    app.create_category("Work").await;
    let other = app.create_category("Home").await;
    let create =
        "mutation($name: String!) { createCategory(input: {name: $name}) { category { id } } }";
    for name in ["work", "WORK", " Work "] {
        let (code, field) = app.error(create, json!({ "name": name })).await;
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("CONFLICT", Some("name")),
            "{name}"
        );
    }
    let (code, field) = app
        .error(RENAME, json!({ "id": other["id"], "name": "wOrK" }))
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("CONFLICT", Some("name"))
    );
    let names = app
        .data("{ categories { totalCount nodes { name } } }", json!({}))
        .await;
    assert_eq!(names["categories"]["totalCount"], 2);
    assert_eq!(
        names["categories"]["nodes"],
        json!([{ "name": "Home" }, { "name": "Work" }])
    );
}

async fn names_are_validated(app: TestApp) {
    let create =
        "mutation($name: String!) { createCategory(input: {name: $name}) { category { id } } }";
    for name in ["", "   ", &"n".repeat(65)] {
        let (code, field) = app.error(create, json!({ "name": name })).await;
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("BAD_USER_INPUT", Some("name"))
        );
    }
    app.data(create, json!({ "name": "ü".repeat(64) })).await;
}

const ADD: &str = "mutation($task: ID!, $cats: [ID!]!) { addTaskCategories(input: {taskId: $task, categoryIds: $cats, clientMutationId: \"a\"}) {
    clientMutationId task { version categories { name } } } }";
const REMOVE: &str = "mutation($task: ID!, $cats: [ID!]!) { removeTaskCategories(input: {taskId: $task, categoryIds: $cats, clientMutationId: \"r\"}) {
    clientMutationId task { version categories { name } } } }";

async fn tasks_are_linked_and_unlinked(app: TestApp) {
    let work = app.create_category("Work").await;
    let home = app.create_category("home").await;
    let urgent = app.create_category("Urgent").await;
    let task = app
        .create_task(
            json!({ "description": "Fix sink", "categoryIds": [urgent["id"], urgent["id"]] }),
        )
        .await;

    let data = app
        .data(
            ADD,
            json!({ "task": task["id"], "cats": [work["id"], home["id"], urgent["id"]] }),
        )
        .await;
    let payload = &data["addTaskCategories"];
    assert_eq!(payload["clientMutationId"], "a");
    // Ordered by name, case-insensitively; adding an existing link is harmless.
    assert_eq!(
        payload["task"]["categories"],
        json!([{ "name": "home" }, { "name": "Urgent" }, { "name": "Work" }])
    );
    assert_eq!(payload["task"]["version"], 2);

    let data = app
        .data(REMOVE, json!({ "task": task["id"], "cats": [home["id"]] }))
        .await;
    assert_eq!(data["removeTaskCategories"]["clientMutationId"], "r");
    assert_eq!(
        data["removeTaskCategories"]["task"]["categories"],
        json!([{ "name": "Urgent" }, { "name": "Work" }])
    );
    assert_eq!(data["removeTaskCategories"]["task"]["version"], 3);

    // Unknown categories: nothing changes.
    let missing = "Q2F0ZWdvcnk6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA";
    let (code, field) = app
        .error(
            ADD,
            json!({ "task": task["id"], "cats": [home["id"], missing] }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("NOT_FOUND", Some("categoryIds"))
    );
    let (code, field) = app
        .error(ADD, json!({ "task": "VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA", "cats": [home["id"]] }))
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("NOT_FOUND", Some("taskId"))
    );

    // Deleting a category unlinks it and keeps the task.
    app.data(DELETE, json!({ "id": work["id"] })).await;
    let data = app
        .data(
            "query($id: ID!) { task(id: $id) { version categories { name } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(data["task"]["categories"], json!([{ "name": "Urgent" }]));
    assert_eq!(data["task"]["version"], 3);

    let data = app
        .data(
            "query($id: ID!) { category(id: $id) { tasks { totalCount nodes { description } } } }",
            json!({ "id": urgent["id"] }),
        )
        .await;
    assert_eq!(descriptions(&data["category"]["tasks"]), vec!["Fix sink"]);
}

async fn categories_list_filters_orders_and_paginates(app: TestApp) {
    for name in ["beta", "Alpha", "gamma", "Delta", "alphabet"] {
        app.create_category(name).await;
    }
    let query = "query($filter: CategoryFilter, $orderBy: [CategoryOrder!], $first: Int, $after: String, $last: Int, $before: String) {
        categories(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
          totalCount nodes { name } edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["categories"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.data(query, json!({})).await;
    assert_eq!(
        names(&all),
        vec!["Alpha", "alphabet", "beta", "Delta", "gamma"]
    );
    let desc = app
        .data(
            query,
            json!({ "orderBy": [{ "field": "NAME", "direction": "DESC" }] }),
        )
        .await;
    assert_eq!(
        names(&desc),
        vec!["gamma", "Delta", "beta", "alphabet", "Alpha"]
    );
    let created = app
        .data(
            query,
            json!({ "orderBy": [{ "field": "CREATED_AT", "direction": "DESC" }] }),
        )
        .await;
    assert_eq!(
        names(&created),
        vec!["alphabet", "Delta", "gamma", "Alpha", "beta"]
    );
    let search = app
        .data(query, json!({ "filter": { "search": "ALPHA" } }))
        .await;
    assert_eq!(names(&search), vec!["Alpha", "alphabet"]);
    assert_eq!(search["categories"]["totalCount"], 2);

    let page1 = app.data(query, json!({ "first": 2 })).await;
    assert_eq!(names(&page1), vec!["Alpha", "alphabet"]);
    assert_eq!(page1["categories"]["pageInfo"]["hasNextPage"], true);
    let page2 = app
        .data(
            query,
            json!({ "first": 2, "after": page1["categories"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(names(&page2), vec!["beta", "Delta"]);
    let back = app
        .data(
            query,
            json!({ "last": 2, "before": page2["categories"]["pageInfo"]["startCursor"] }),
        )
        .await;
    assert_eq!(names(&back), vec!["Alpha", "alphabet"]);
    assert_eq!(back["categories"]["pageInfo"]["hasPreviousPage"], false);

    let (code, field) = app.error(query, json!({ "first": 500 })).await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("first"))
    );
}
