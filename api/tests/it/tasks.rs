//! Creating, changing and deleting tasks.

use serde_json::json;

use crate::common::TestApp;

crate::on_both_backends!(
    create_applies_defaults_and_trims,
    create_echoes_client_mutation_id_and_is_fetchable,
    update_is_partial_and_null_clears,
    done_sets_and_clears_completed_at,
    stale_expected_version_is_a_conflict,
    subtasks_and_parents,
    a_task_cannot_become_its_own_ancestor,
    delete_removes_subtasks_and_links,
    set_tasks_done_is_all_or_nothing,
    delete_completed_tasks_removes_done_ones,
    description_is_validated,
    dates_are_validated,
    ids_are_checked,
    node_resolves_tasks_and_categories,
);

async fn create_applies_defaults_and_trims(app: TestApp) {
    let task = app
        .create_task(json!({ "description": "  Buy milk \n" }))
        .await;
    assert_eq!(task["description"], "Buy milk");
    assert_eq!(task["priority"], "NONE");
    assert_eq!(task["done"], false);
    assert_eq!(task["version"], 1);
    assert!(task["completedAt"].is_null());
    assert!(task["startAt"].is_null() && task["dueAt"].is_null());
    assert!(task["parent"].is_null());
    assert_eq!(task["createdAt"], task["updatedAt"]);
}

async fn create_echoes_client_mutation_id_and_is_fetchable(app: TestApp) {
    let data = app
        .data(
            r#"mutation { createTask(input: {clientMutationId: "m-1", description: "Write report",
                 priority: HIGH, startAt: "2026-12-01T09:00:00Z", dueAt: "2026-12-02T17:30:00.123456Z"}) {
                 clientMutationId task { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["createTask"]["clientMutationId"], "m-1");
    let id = &data["createTask"]["task"]["id"];
    let fetched = app
        .data(
            "query($id: ID!) { task(id: $id) { id description priority startAt dueAt } }",
            json!({ "id": id }),
        )
        .await;
    let task = &fetched["task"];
    assert_eq!(&task["id"], id);
    assert_eq!(task["description"], "Write report");
    assert_eq!(task["priority"], "HIGH");
    assert_eq!(task["startAt"], "2026-12-01T09:00:00Z");
    assert_eq!(task["dueAt"], "2026-12-02T17:30:00.123456Z");
}

const UPDATE: &str = "mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
    clientMutationId task { id description priority startAt dueAt done completedAt version parent { id } } } }";

async fn update_is_partial_and_null_clears(app: TestApp) {
    let task = app
        .create_task(json!({ "description": "Plan trip", "priority": "LOW",
            "startAt": "2026-12-01T00:00:00Z", "dueAt": "2026-12-10T00:00:00Z" }))
        .await;
    let id = &task["id"];

    let data = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "description": "Plan the trip", "clientMutationId": "u1" } }),
        )
        .await;
    let updated = &data["updateTask"]["task"];
    assert_eq!(data["updateTask"]["clientMutationId"], "u1");
    assert_eq!(updated["description"], "Plan the trip");
    assert_eq!(updated["priority"], "LOW");
    assert_eq!(updated["startAt"], "2026-12-01T00:00:00Z");
    assert_eq!(updated["dueAt"], "2026-12-10T00:00:00Z");
    assert_eq!(updated["version"], 2);

    let data = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "dueAt": null, "priority": "MEDIUM" } }),
        )
        .await;
    let updated = &data["updateTask"]["task"];
    assert!(updated["dueAt"].is_null());
    assert_eq!(updated["startAt"], "2026-12-01T00:00:00Z");
    assert_eq!(updated["priority"], "MEDIUM");
    assert_eq!(updated["version"], 3);

    // Required fields cannot be cleared.
    for field in ["description", "priority", "done"] {
        let (code, bad) = app
            .error(UPDATE, json!({ "input": { "id": id, field: null } }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT");
        assert_eq!(bad.as_deref(), Some(field));
    }
    let unchanged = app
        .data(
            "query($id: ID!) { task(id: $id) { version description } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(unchanged["task"]["version"], 3);
}

async fn done_sets_and_clears_completed_at(app: TestApp) {
    let task = app.create_task(json!({ "description": "Call mom" })).await;
    let done = app.set_done(&task["id"], true).await;
    assert_eq!(done["done"], true);
    assert!(done["completedAt"].is_string());
    // Marking done again keeps the original completion time.
    let again = app.set_done(&task["id"], true).await;
    assert_eq!(again["completedAt"], done["completedAt"]);
    let undone = app.set_done(&task["id"], false).await;
    assert_eq!(undone["done"], false);
    assert!(undone["completedAt"].is_null());
    assert_eq!(undone["version"], 4);
}

async fn stale_expected_version_is_a_conflict(app: TestApp) {
    let task = app.create_task(json!({ "description": "v1" })).await;
    let id = &task["id"];
    let data = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "expectedVersion": 1, "description": "v2" } }),
        )
        .await;
    assert_eq!(data["updateTask"]["task"]["version"], 2);

    let (code, field) = app
        .error(
            UPDATE,
            json!({ "input": { "id": id, "expectedVersion": 1, "description": "lost" } }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    assert_eq!(field.as_deref(), Some("expectedVersion"));
    let now = app
        .data(
            "query($id: ID!) { task(id: $id) { description version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(now["task"]["description"], "v2");
    assert_eq!(now["task"]["version"], 2);
}

async fn subtasks_and_parents(app: TestApp) {
    let parent = app
        .create_task(json!({ "description": "Move house" }))
        .await;
    let child = app
        .create_task(json!({ "description": "Pack books", "parentId": parent["id"] }))
        .await;
    assert_eq!(child["parent"]["id"], parent["id"]);
    let grandchild = app
        .create_task(json!({ "description": "Buy boxes", "parentId": child["id"] }))
        .await;

    let data = app
        .data(
            "query($id: ID!) { task(id: $id) { subtasks { totalCount nodes { description parent { id }
               subtasks { nodes { description } } } } } }",
            json!({ "id": parent["id"] }),
        )
        .await;
    let subtasks = &data["task"]["subtasks"];
    assert_eq!(subtasks["totalCount"], 1);
    assert_eq!(subtasks["nodes"][0]["description"], "Pack books");
    assert_eq!(subtasks["nodes"][0]["parent"]["id"], parent["id"]);
    assert_eq!(
        subtasks["nodes"][0]["subtasks"]["nodes"][0]["description"],
        "Buy boxes"
    );

    // Moving to the top level with an explicit null.
    let data = app
        .data(
            UPDATE,
            json!({ "input": { "id": grandchild["id"], "parentId": null } }),
        )
        .await;
    assert!(data["updateTask"]["task"]["parent"].is_null());
    // And back under another task.
    let data = app
        .data(
            UPDATE,
            json!({ "input": { "id": grandchild["id"], "parentId": parent["id"] } }),
        )
        .await;
    assert_eq!(data["updateTask"]["task"]["parent"]["id"], parent["id"]);

    let (code, field) = app
        .error(
            "mutation($p: ID!) { createTask(input: {description: \"orphan\", parentId: $p}) { task { id } } }",
            json!({ "p": "VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA" }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("NOT_FOUND", Some("parentId"))
    );
}

async fn a_task_cannot_become_its_own_ancestor(app: TestApp) {
    let a = app.create_task(json!({ "description": "a" })).await;
    let b = app
        .create_task(json!({ "description": "b", "parentId": a["id"] }))
        .await;
    let c = app
        .create_task(json!({ "description": "c", "parentId": b["id"] }))
        .await;
    for new_parent in [&a["id"], &b["id"], &c["id"]] {
        let (code, field) = app
            .error(
                UPDATE,
                json!({ "input": { "id": a["id"], "parentId": new_parent } }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT");
        assert_eq!(field.as_deref(), Some("parentId"));
    }
    let still = app
        .data(
            "query($id: ID!) { task(id: $id) { parent { id } version } }",
            json!({ "id": a["id"] }),
        )
        .await;
    assert!(still["task"]["parent"].is_null());
    assert_eq!(still["task"]["version"], 1);
}

async fn delete_removes_subtasks_and_links(app: TestApp) {
    let home = app.create_category("Home").await;
    let parent = app
        .create_task(json!({ "description": "Clean", "categoryIds": [home["id"]] }))
        .await;
    let child = app
        .create_task(json!({ "description": "Kitchen", "parentId": parent["id"], "categoryIds": [home["id"]] }))
        .await;
    let grandchild = app
        .create_task(json!({ "description": "Oven", "parentId": child["id"] }))
        .await;
    let other = app.create_task(json!({ "description": "Other" })).await;

    let data = app
        .data(
            "mutation($id: ID!) { deleteTask(input: {id: $id, clientMutationId: \"d\"}) { clientMutationId deletedTaskIds } }",
            json!({ "id": parent["id"] }),
        )
        .await;
    assert_eq!(data["deleteTask"]["clientMutationId"], "d");
    let mut deleted: Vec<String> =
        serde_json::from_value(data["deleteTask"]["deletedTaskIds"].clone()).unwrap();
    deleted.sort();
    let mut expected: Vec<String> = [&parent, &child, &grandchild]
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(deleted, expected);

    let after = app
        .data(
            "query($id: ID!, $cat: ID!) { task(id: $id) { id } tasks { totalCount }
               category(id: $cat) { name tasks { totalCount } } }",
            json!({ "id": child["id"], "cat": home["id"] }),
        )
        .await;
    assert!(after["task"].is_null());
    assert_eq!(after["tasks"]["totalCount"], 1);
    assert_eq!(after["category"]["name"], "Home");
    assert_eq!(after["category"]["tasks"]["totalCount"], 0);

    let (code, _) = app
        .error(
            "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
            json!({ "id": parent["id"] }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let _ = other;
}

const SET_DONE: &str = "mutation($ids: [ID!]!, $done: Boolean!) { setTasksDone(input: {ids: $ids, done: $done, clientMutationId: \"s\"}) {
    clientMutationId tasks { id done completedAt version } } }";

async fn set_tasks_done_is_all_or_nothing(app: TestApp) {
    let a = app.create_task(json!({ "description": "a" })).await;
    let b = app.create_task(json!({ "description": "b" })).await;
    let missing = "VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA";

    let (code, field) = app
        .error(
            SET_DONE,
            json!({ "ids": [a["id"], missing, b["id"]], "done": true }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("NOT_FOUND", Some("ids"))
    );
    let none_done = app
        .data("{ tasks(filter: {done: true}) { totalCount } }", json!({}))
        .await;
    assert_eq!(none_done["tasks"]["totalCount"], 0);

    let data = app
        .data(
            SET_DONE,
            json!({ "ids": [b["id"], a["id"], a["id"]], "done": true }),
        )
        .await;
    let payload = &data["setTasksDone"];
    assert_eq!(payload["clientMutationId"], "s");
    let tasks = payload["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "duplicates are applied once");
    assert_eq!(tasks[0]["id"], b["id"]);
    assert!(
        tasks
            .iter()
            .all(|t| t["done"] == true && t["completedAt"].is_string() && t["version"] == 2)
    );
}

async fn delete_completed_tasks_removes_done_ones(app: TestApp) {
    let keep = app.create_task(json!({ "description": "keep" })).await;
    let done = app.create_task(json!({ "description": "done" })).await;
    let under_done = app
        .create_task(json!({ "description": "under done", "parentId": done["id"] }))
        .await;
    app.set_done(&done["id"], true).await;

    let data = app
        .data("mutation { deleteCompletedTasks(input: {clientMutationId: \"c\"}) { clientMutationId deletedTaskIds } }", json!({}))
        .await;
    assert_eq!(data["deleteCompletedTasks"]["clientMutationId"], "c");
    let mut deleted: Vec<String> =
        serde_json::from_value(data["deleteCompletedTasks"]["deletedTaskIds"].clone()).unwrap();
    deleted.sort();
    let mut expected = vec![
        done["id"].as_str().unwrap().to_owned(),
        under_done["id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(deleted, expected);

    let left = app.data("{ tasks { nodes { id } } }", json!({})).await;
    assert_eq!(left["tasks"]["nodes"], json!([{ "id": keep["id"] }]));

    // Nothing left to clear: an empty list, and the input may be omitted.
    let data = app
        .data(
            "mutation { deleteCompletedTasks { deletedTaskIds } }",
            json!({}),
        )
        .await;
    assert_eq!(data["deleteCompletedTasks"]["deletedTaskIds"], json!([]));
}

const CREATE: &str =
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id description } } }";

async fn description_is_validated(app: TestApp) {
    for bad in ["", "   \t\n ", &"x".repeat(1001)] {
        let (code, field) = app
            .error(CREATE, json!({ "input": { "description": bad } }))
            .await;
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("BAD_USER_INPUT", Some("description"))
        );
    }
    // 1000 characters (not bytes) is the limit.
    let long = "é".repeat(1000);
    let data = app
        .data(CREATE, json!({ "input": { "description": long } }))
        .await;
    assert_eq!(
        data["createTask"]["task"]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1000
    );

    let task = app.create_task(json!({ "description": "ok" })).await;
    let (code, field) = app
        .error(
            UPDATE,
            json!({ "input": { "id": task["id"], "description": " " } }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("description"))
    );
    // A variable value that does not fit its type is the client's input.
    let (code, _) = app.error(CREATE, json!({ "input": {} })).await;
    assert_eq!(code, "BAD_USER_INPUT", "a missing required field");
}

async fn dates_are_validated(app: TestApp) {
    let (code, field) = app
        .error(
            CREATE,
            json!({ "input": { "description": "x", "startAt": "2026-12-02T00:00:00Z", "dueAt": "2026-12-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("startAt"))
    );

    // The check uses the stored value of the field not being changed.
    let task = app
        .create_task(json!({ "description": "x", "dueAt": "2026-12-01T00:00:00Z" }))
        .await;
    let (code, _) = app
        .error(
            UPDATE,
            json!({ "input": { "id": task["id"], "startAt": "2026-12-05T00:00:00Z" } }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    // Equal start and due is fine.
    app.data(
        UPDATE,
        json!({ "input": { "id": task["id"], "startAt": "2026-12-01T00:00:00Z" } }),
    )
    .await;

    let (code, _) = app
        .error(
            CREATE,
            json!({ "input": { "description": "x", "dueAt": "tomorrow" } }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

async fn ids_are_checked(app: TestApp) {
    let category = app.create_category("Work").await;
    let task = app.create_task(json!({ "description": "t" })).await;
    let missing_task = "VGFzazowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA";

    // Malformed and foreign ids are bad input; well-formed unknown ids are null or NOT_FOUND.
    for (query, vars, expected) in [
        (
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": "nope" }),
            ("BAD_USER_INPUT", "id"),
        ),
        (
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": category["id"] }),
            ("BAD_USER_INPUT", "id"),
        ),
        (
            "query($id: ID!) { category(id: $id) { id } }",
            json!({ "id": task["id"] }),
            ("BAD_USER_INPUT", "id"),
        ),
        (
            UPDATE,
            json!({ "input": { "id": missing_task, "done": true } }),
            ("NOT_FOUND", "id"),
        ),
        (
            "mutation($id: ID!) { createTask(input: {description: \"x\", categoryIds: [$id]}) { task { id } } }",
            json!({ "id": task["id"] }),
            ("BAD_USER_INPUT", "categoryIds"),
        ),
    ] {
        let (code, field) = app.error(query, vars).await;
        assert_eq!(
            (code.as_str(), field.as_deref()),
            (expected.0, Some(expected.1)),
            "{query}"
        );
    }
    let data = app
        .data(
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": missing_task }),
        )
        .await;
    assert!(data["task"].is_null());
}

async fn node_resolves_tasks_and_categories(app: TestApp) {
    let category = app.create_category("Errands").await;
    let task = app
        .create_task(json!({ "description": "Post office" }))
        .await;
    let data = app
        .data(
            "query($t: ID!, $c: ID!) {
               t: node(id: $t) { __typename id ... on Task { description } }
               c: node(id: $c) { __typename id ... on Category { name } }
               both: nodes(ids: [$t, $c, \"Q2F0ZWdvcnk6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA\"]) { id }
             }",
            json!({ "t": task["id"], "c": category["id"] }),
        )
        .await;
    assert_eq!(data["t"]["__typename"], "Task");
    assert_eq!(data["t"]["description"], "Post office");
    assert_eq!(data["c"]["__typename"], "Category");
    assert_eq!(data["c"]["name"], "Errands");
    assert_eq!(
        data["both"],
        json!([{ "id": task["id"] }, { "id": category["id"] }, null])
    );
    assert_ne!(task["id"], category["id"]);
}
