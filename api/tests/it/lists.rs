//! Filters, orders and Relay pagination of task lists, top-level and nested.

use serde_json::{Value, json};

use crate::common::{TestApp, descriptions};

crate::on_both_backends!(
    every_filter_narrows_the_list,
    search_is_case_insensitive_and_by_words,
    every_order_sorts_with_id_tie_break,
    due_dates_sort_nulls_last,
    due_date_pages_cross_the_null_boundary_both_ways,
    priority_filters_page_each_priority,
    forward_pagination_walks_every_row_once,
    backward_pagination_walks_every_row_once,
    cursors_stay_put_while_rows_are_inserted,
    bad_pagination_arguments_are_rejected,
    nested_lists_paginate_per_owner,
);

const LIST: &str = "query($filter: TaskFilter, $orderBy: [TaskOrder!], $first: Int, $after: String, $last: Int, $before: String) {
  tasks(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    nodes { description }
    edges { cursor node { description } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn list(app: &TestApp, vars: Value) -> Value {
    app.data(LIST, vars).await["tasks"].clone()
}

async fn every_filter_narrows_the_list(app: TestApp) {
    let work = app.create_category("Work").await;
    let home = app.create_category("Home").await;
    let parent = app
        .create_task(
            json!({ "description": "Quarterly report", "priority": "HIGH",
            "dueAt": "2026-12-10T00:00:00Z", "categoryIds": [work["id"]] }),
        )
        .await;
    app.create_task(json!({ "description": "Collect numbers", "priority": "MEDIUM",
        "dueAt": "2026-12-05T00:00:00Z", "parentId": parent["id"], "categoryIds": [work["id"], home["id"]] }))
        .await;
    let laundry = app
        .create_task(
            json!({ "description": "Laundry", "priority": "LOW", "categoryIds": [home["id"]] }),
        )
        .await;
    app.create_task(json!({ "description": "Nap", "dueAt": "2026-12-20T00:00:00Z" }))
        .await;
    app.set_done(&laundry["id"], true).await;

    let cases = [
        (
            json!({ "priority": ["HIGH", "LOW"] }),
            vec!["Quarterly report", "Laundry"],
        ),
        (json!({ "priority": [] }), vec![]),
        (json!({ "done": true }), vec!["Laundry"]),
        (
            json!({ "done": false }),
            vec!["Quarterly report", "Collect numbers", "Nap"],
        ),
        (
            json!({ "dueBefore": "2026-12-10T00:00:00Z" }),
            vec!["Collect numbers"],
        ),
        (
            json!({ "dueAfter": "2026-12-05T00:00:00Z" }),
            vec!["Quarterly report", "Nap"],
        ),
        (
            json!({ "dueAfter": "2026-12-01T00:00:00Z", "dueBefore": "2026-12-15T00:00:00Z" }),
            vec!["Quarterly report", "Collect numbers"],
        ),
        (
            json!({ "categoryIds": [work["id"]] }),
            vec!["Quarterly report", "Collect numbers"],
        ),
        (
            json!({ "categoryIds": [work["id"], home["id"]] }),
            vec!["Quarterly report", "Collect numbers", "Laundry"],
        ),
        (json!({ "parentId": parent["id"] }), vec!["Collect numbers"]),
        (
            json!({ "topLevel": true }),
            vec!["Quarterly report", "Laundry", "Nap"],
        ),
        (json!({ "topLevel": false }), vec!["Collect numbers"]),
        (
            json!({ "search": "report", "priority": ["HIGH"], "done": false }),
            vec!["Quarterly report"],
        ),
        (
            json!({}),
            vec!["Quarterly report", "Collect numbers", "Laundry", "Nap"],
        ),
    ];
    for (filter, expected) in cases {
        let tasks = list(&app, json!({ "filter": filter })).await;
        assert_eq!(descriptions(&tasks), expected, "filter {filter}");
        assert_eq!(
            tasks["totalCount"],
            expected.len(),
            "totalCount for {filter}"
        );
    }
}

async fn search_is_case_insensitive_and_by_words(app: TestApp) {
    for d in [
        "Buy MILK",
        "milkshake",
        "100% done",
        "100 percent",
        "snake_case",
        "snakeXcase",
    ] {
        app.create_task(json!({ "description": d })).await;
    }
    // Full-text search (tests/it/search.rs has the rest): punctuation
    // separates words, the last word is also a prefix.
    for (search, expected) in [
        ("milk", vec!["Buy MILK", "milkshake"]),
        ("Milk", vec!["Buy MILK", "milkshake"]),
        ("100%", vec!["100% done", "100 percent"]),
        ("snake case", vec!["snake_case"]),
        ("_", vec![]),
        (
            "  ",
            vec![
                "Buy MILK",
                "milkshake",
                "100% done",
                "100 percent",
                "snake_case",
                "snakeXcase",
            ],
        ),
        ("nothing like it", vec![]),
    ] {
        let tasks = list(&app, json!({ "filter": { "search": search } })).await;
        assert_eq!(descriptions(&tasks), expected, "search {search:?}");
    }
}

async fn every_order_sorts_with_id_tie_break(app: TestApp) {
    // Created in this order; priorities and descriptions tie on purpose.
    for (d, p) in [("b", "LOW"), ("a", "HIGH"), ("c", "LOW"), ("a", "NONE")] {
        app.create_task(json!({ "description": d, "priority": p }))
            .await;
    }
    let order = |field: &str, direction: &str| json!({ "orderBy": [{ "field": field, "direction": direction }] });
    let cases = [
        (order("CREATED_AT", "ASC"), vec!["b", "a", "c", "a"]),
        (order("CREATED_AT", "DESC"), vec!["a", "c", "a", "b"]),
        // Ties (the two LOWs) are broken by id in the direction of the last key.
        (order("PRIORITY", "DESC"), vec!["a", "c", "b", "a"]),
        (order("PRIORITY", "ASC"), vec!["a", "b", "c", "a"]),
        (order("DESCRIPTION", "ASC"), vec!["a", "a", "b", "c"]),
        (order("DESCRIPTION", "DESC"), vec!["c", "b", "a", "a"]),
        // New tasks go to the end of the owner's order.
        (order("POSITION", "ASC"), vec!["b", "a", "c", "a"]),
        (order("POSITION", "DESC"), vec!["a", "c", "a", "b"]),
    ];
    for (vars, expected) in cases {
        let tasks = list(&app, vars.clone()).await;
        assert_eq!(descriptions(&tasks), expected, "{vars}");
    }
    let tasks = list(&app, json!({ "orderBy": [{ "field": "PRIORITY" }, { "field": "DESCRIPTION", "direction": "DESC" }] })).await;
    assert_eq!(descriptions(&tasks), vec!["a", "c", "b", "a"]);

    // UPDATED_AT follows the latest change.
    let all = app
        .data("{ tasks { nodes { id description } } }", json!({}))
        .await;
    let oldest = &all["tasks"]["nodes"][0];
    app.set_done(&oldest["id"], true).await;
    let tasks = list(&app, order("UPDATED_AT", "DESC")).await;
    assert_eq!(descriptions(&tasks)[0], "b");
    let tasks = list(&app, order("UPDATED_AT", "ASC")).await;
    assert_eq!(descriptions(&tasks)[3], "b");
}

async fn due_dates_sort_nulls_last(app: TestApp) {
    app.create_task(json!({ "description": "none-1" })).await;
    app.create_task(json!({ "description": "late", "dueAt": "2026-12-31T00:00:00Z" }))
        .await;
    app.create_task(json!({ "description": "none-2" })).await;
    app.create_task(json!({ "description": "early", "dueAt": "2026-12-01T00:00:00Z" }))
        .await;
    let asc = list(&app, json!({ "orderBy": [{ "field": "DUE_AT" }] })).await;
    assert_eq!(
        descriptions(&asc),
        vec!["early", "late", "none-1", "none-2"]
    );
    let desc = list(
        &app,
        json!({ "orderBy": [{ "field": "DUE_AT", "direction": "DESC" }] }),
    )
    .await;
    assert_eq!(
        descriptions(&desc),
        vec!["late", "early", "none-2", "none-1"]
    );

    // Paging through the null group and across its boundary, both ways.
    for direction in ["ASC", "DESC"] {
        let order = json!([{ "field": "DUE_AT", "direction": direction }]);
        let all = list(&app, json!({ "orderBy": order })).await;
        let walked = walk_forward(&app, json!({ "orderBy": order }), 1).await;
        assert_eq!(walked, descriptions(&all), "forward {direction}");
        let walked = walk_backward(&app, json!({ "orderBy": order }), 1).await;
        assert_eq!(walked, descriptions(&all), "backward {direction}");
    }
}

async fn due_date_pages_cross_the_null_boundary_both_ways(app: TestApp) {
    // Two tasks share a due date (their order is the id's), four have none.
    for (d, due) in [
        ("n1", None),
        ("d2a", Some("2026-12-05T00:00:00Z")),
        ("d1", Some("2026-12-01T00:00:00Z")),
        ("n2", None),
        ("d2b", Some("2026-12-05T00:00:00Z")),
        ("n3", None),
        ("d3", Some("2026-12-09T00:00:00Z")),
        ("n4", None),
    ] {
        app.create_task(json!({ "description": d, "dueAt": due, "priority": "LOW" }))
            .await;
    }
    let orders = [
        json!([{ "field": "DUE_AT" }]),
        json!([{ "field": "DUE_AT", "direction": "DESC" }]),
        // The null group inside another key, and a key after it.
        json!([{ "field": "PRIORITY", "direction": "DESC" }, { "field": "DUE_AT" }]),
        json!([{ "field": "DUE_AT", "direction": "DESC" }, { "field": "DESCRIPTION" }]),
    ];
    for order in orders {
        let all = descriptions(&list(&app, json!({ "orderBy": order, "first": 100 })).await);
        let (dated, undated) = all.split_at(4);
        assert!(dated.iter().all(|d| d.starts_with('d')), "{order}: {all:?}");
        assert!(
            undated.iter().all(|d| d.starts_with('n')),
            "{order}: {all:?}"
        );
        if order[0]["field"] == "DUE_AT" {
            let (first, last) = if order[0]["direction"] == "DESC" {
                ("d3", "d1")
            } else {
                ("d1", "d3")
            };
            assert_eq!(
                (dated[0].as_str(), dated[3].as_str()),
                (first, last),
                "{order}"
            );
        }
        pages_agree_with_the_list(&app, json!({ "orderBy": order })).await;
    }

    // A due window leaves the undated out; a cursor at an undated task has
    // nothing after it there, in either direction.
    for direction in ["ASC", "DESC"] {
        let order = json!([{ "field": "DUE_AT", "direction": direction }]);
        let window = json!({ "dueAfter": "2026-12-02T00:00:00Z" });
        let vars = json!({ "orderBy": order, "filter": window });
        let mut dated = descriptions(&list(&app, vars.clone()).await);
        dated.sort();
        assert_eq!(dated, vec!["d2a", "d2b", "d3"], "{direction}");
        pages_agree_with_the_list(&app, vars).await;
        let unfiltered = list(&app, json!({ "orderBy": order, "first": 100 })).await;
        let after = list(
            &app,
            json!({ "orderBy": order, "filter": window, "after": unfiltered["edges"][5]["cursor"] }),
        )
        .await;
        assert_eq!(descriptions(&after), Vec::<String>::new(), "{direction}");
        let before = list(
            &app,
            json!({ "orderBy": order, "filter": window, "before": unfiltered["edges"][5]["cursor"] }),
        )
        .await;
        assert_eq!(descriptions(&before).len(), 3, "{direction}");
    }
}

/// Walks in pages of several sizes, both ways, and every window between two
/// cursors read from either end all give the rows of the whole list.
async fn pages_agree_with_the_list(app: &TestApp, vars: Value) {
    let mut whole = vars.clone();
    whole["first"] = json!(100);
    let whole = list(app, whole).await;
    let all = descriptions(&whole);
    for size in [1, 2, 3, 5] {
        assert_eq!(
            walk_forward(app, vars.clone(), size).await,
            all,
            "{vars} first {size}"
        );
        assert_eq!(
            walk_backward(app, vars.clone(), size).await,
            all,
            "{vars} last {size}"
        );
    }
    let edges = &whole["edges"];
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            let inside = all[i + 1..j].to_vec();
            let mut window = vars.clone();
            window["after"] = edges[i]["cursor"].clone();
            window["before"] = edges[j]["cursor"].clone();
            let mut first = window.clone();
            first["first"] = json!(100);
            assert_eq!(
                descriptions(&list(app, first).await),
                inside,
                "{vars} {i}..{j}"
            );
            let mut last = window;
            last["last"] = json!(2);
            let tail = inside[inside.len().saturating_sub(2)..].to_vec();
            let page = list(app, last).await;
            assert_eq!(descriptions(&page), tail, "{vars} {i}..{j} last 2");
            assert_eq!(page["pageInfo"]["hasPreviousPage"], inside.len() > 2);
        }
    }
}

async fn priority_filters_page_each_priority(app: TestApp) {
    for (d, p) in [
        ("h1", "HIGH"),
        ("l1", "LOW"),
        ("m1", "MEDIUM"),
        ("h2", "HIGH"),
        ("n1", "NONE"),
        ("l2", "LOW"),
        ("h3", "HIGH"),
        ("m2", "MEDIUM"),
    ] {
        app.create_task(json!({ "description": d, "priority": p }))
            .await;
    }
    for direction in ["ASC", "DESC"] {
        let order = json!([{ "field": "PRIORITY", "direction": direction }]);
        for (filter, letters) in [
            (json!(["HIGH", "LOW"]), "hl"),
            (json!(["MEDIUM"]), "m"),
            (json!(["NONE", "MEDIUM", "HIGH", "LOW"]), "hlmn"),
        ] {
            let vars = json!({ "orderBy": order, "filter": { "priority": filter } });
            let all = descriptions(&list(&app, vars.clone()).await);
            let mut firsts: Vec<char> = all.iter().filter_map(|d| d.chars().next()).collect();
            assert!(
                firsts.iter().all(|c| letters.contains(*c)),
                "{vars}: {all:?}"
            );
            firsts.dedup();
            let by_urgency = if direction == "ASC" { "nlmh" } else { "hmln" };
            let expected: Vec<char> = by_urgency
                .chars()
                .filter(|c| letters.contains(*c))
                .collect();
            assert_eq!(firsts, expected, "{vars}");
            pages_agree_with_the_list(&app, vars).await;
        }

        // A cursor at a MEDIUM task, from the unfiltered list, used on the
        // list of HIGH and LOW tasks: the rows after it there.
        let unfiltered = list(&app, json!({ "orderBy": order, "first": 100 })).await;
        let at = descriptions(&unfiltered)
            .iter()
            .position(|d| d == "m1")
            .expect("m1");
        let vars = json!({ "orderBy": order, "filter": { "priority": ["HIGH", "LOW"] },
            "after": unfiltered["edges"][at]["cursor"] });
        let after = descriptions(&list(&app, vars).await);
        let (letter, n) = if direction == "ASC" {
            ('h', 3)
        } else {
            ('l', 2)
        };
        assert_eq!(after.len(), n, "{after:?}");
        assert!(after.iter().all(|d| d.starts_with(letter)), "{after:?}");
    }
}

/// Follows `endCursor` with `first: size` until the end; returns all descriptions.
async fn walk_forward(app: &TestApp, mut vars: Value, size: i64) -> Vec<String> {
    let mut seen = Vec::new();
    vars["first"] = json!(size);
    for _ in 0..100 {
        let page = list(app, vars.clone()).await;
        let names = descriptions(&page);
        assert!(names.len() as i64 <= size);
        seen.extend(names);
        assert_eq!(
            page["pageInfo"]["hasPreviousPage"],
            vars.get("after").is_some()
        );
        if page["pageInfo"]["hasNextPage"] == false {
            return seen;
        }
        vars["after"] = page["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination did not end");
}

async fn walk_backward(app: &TestApp, mut vars: Value, size: i64) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    vars["last"] = json!(size);
    for _ in 0..100 {
        let page = list(app, vars.clone()).await;
        let mut names = descriptions(&page);
        names.extend(seen);
        seen = names;
        if page["pageInfo"]["hasPreviousPage"] == false {
            return seen;
        }
        vars["before"] = page["pageInfo"]["startCursor"].clone();
    }
    panic!("pagination did not end");
}

async fn create_numbered(app: &TestApp, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("task {i:02}");
        let priority = ["NONE", "LOW", "MEDIUM", "HIGH"][i % 4];
        app.create_task(json!({ "description": name, "priority": priority }))
            .await;
        names.push(name);
    }
    names
}

async fn forward_pagination_walks_every_row_once(app: TestApp) {
    let names = create_numbered(&app, 7).await;
    assert_eq!(walk_forward(&app, json!({}), 3).await, names);

    let first = list(&app, json!({ "first": 3 })).await;
    assert_eq!(first["totalCount"], 7);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(
        first["pageInfo"]["startCursor"],
        first["edges"][0]["cursor"]
    );
    assert_eq!(first["pageInfo"]["endCursor"], first["edges"][2]["cursor"]);

    // Multi-key orders paginate too.
    let order = json!([{ "field": "PRIORITY", "direction": "DESC" }, { "field": "DESCRIPTION" }]);
    let all = descriptions(&list(&app, json!({ "orderBy": order })).await);
    assert_eq!(all.len(), 7);
    assert_eq!(
        walk_forward(&app, json!({ "orderBy": order }), 2).await,
        all
    );

    // And the owner's order (tests/it/positions.rs pages it while tasks move).
    let order = json!([{ "field": "POSITION" }]);
    assert_eq!(
        walk_forward(&app, json!({ "orderBy": order }), 3).await,
        names
    );

    let empty = list(&app, json!({ "first": 0 })).await;
    assert_eq!(descriptions(&empty), Vec::<String>::new());
    assert_eq!(empty["pageInfo"]["hasNextPage"], true);
    assert!(empty["pageInfo"]["endCursor"].is_null());
}

async fn backward_pagination_walks_every_row_once(app: TestApp) {
    let names = create_numbered(&app, 7).await;
    assert_eq!(walk_backward(&app, json!({}), 3).await, names);
    let order = json!([{ "field": "PRIORITY" }, { "field": "CREATED_AT", "direction": "DESC" }]);
    let all = descriptions(&list(&app, json!({ "orderBy": order })).await);
    assert_eq!(
        walk_backward(&app, json!({ "orderBy": order }), 2).await,
        all
    );

    let order = json!([{ "field": "POSITION", "direction": "DESC" }]);
    let mut reversed = names.clone();
    reversed.reverse();
    assert_eq!(
        walk_backward(&app, json!({ "orderBy": order }), 3).await,
        reversed
    );

    let last = list(&app, json!({ "last": 2 })).await;
    assert_eq!(descriptions(&last), vec!["task 05", "task 06"]);
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["pageInfo"]["hasNextPage"], false);

    // after + before together bound a window.
    let all = list(&app, json!({})).await;
    let window = list(
        &app,
        json!({ "after": all["edges"][1]["cursor"], "before": all["edges"][5]["cursor"] }),
    )
    .await;
    assert_eq!(descriptions(&window), vec!["task 02", "task 03", "task 04"]);
}

async fn cursors_stay_put_while_rows_are_inserted(app: TestApp) {
    create_numbered(&app, 4).await;
    let newest_first = json!([{ "field": "CREATED_AT", "direction": "DESC" }]);
    let page1 = list(&app, json!({ "orderBy": newest_first, "first": 2 })).await;
    assert_eq!(descriptions(&page1), vec!["task 03", "task 02"]);
    // New rows land before the cursor in this order; the next page is unaffected.
    app.create_task(json!({ "description": "newer 1" })).await;
    app.create_task(json!({ "description": "newer 2" })).await;
    let page2 = list(
        &app,
        json!({ "orderBy": newest_first, "first": 2, "after": page1["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(descriptions(&page2), vec!["task 01", "task 00"]);
    assert_eq!(page2["pageInfo"]["hasNextPage"], false);
}

async fn bad_pagination_arguments_are_rejected(app: TestApp) {
    create_numbered(&app, 2).await;
    let page = list(&app, json!({ "first": 1 })).await;
    let cursor = page["pageInfo"]["endCursor"].clone();
    for (vars, field) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "last": 1000 }), "last"),
        (json!({ "first": 1, "last": 1 }), "last"),
        (json!({ "after": "not a cursor" }), "after"),
        (json!({ "before": "eyJ4IjoxfQ" }), "before"),
        // A cursor made for one order cannot be used with another.
        (
            json!({ "after": cursor, "orderBy": [{ "field": "DESCRIPTION" }] }),
            "after",
        ),
    ] {
        let (code, bad) = app.error(LIST, vars.clone()).await;
        assert_eq!(
            (code.as_str(), bad.as_deref()),
            ("BAD_USER_INPUT", Some(field)),
            "{vars}"
        );
    }
    let max = list(&app, json!({ "first": 100 })).await;
    assert_eq!(descriptions(&max).len(), 2);
}

async fn nested_lists_paginate_per_owner(app: TestApp) {
    let cat = app.create_category("Garden").await;
    let a = app.create_task(json!({ "description": "A" })).await;
    let b = app.create_task(json!({ "description": "B" })).await;
    for i in 0..5 {
        app.create_task(json!({ "description": format!("A{i}"), "parentId": a["id"], "categoryIds": [cat["id"]] }))
            .await;
    }
    for i in 0..2 {
        app.create_task(json!({ "description": format!("B{i}"), "parentId": b["id"] }))
            .await;
    }
    let query = "query($after: String) { tasks(filter: {topLevel: true}) { nodes { description
        subtasks(first: 2, after: $after) { totalCount nodes { description } pageInfo { hasNextPage endCursor } }
        done: subtasks(filter: {done: true}) { totalCount }
        lastOne: subtasks(last: 1) { nodes { description } pageInfo { hasPreviousPage } } } } }";
    let data = app.data(query, json!({})).await;
    let nodes = &data["tasks"]["nodes"];
    assert_eq!(descriptions(&nodes[0]["subtasks"]), vec!["A0", "A1"]);
    assert_eq!(nodes[0]["subtasks"]["totalCount"], 5);
    assert_eq!(nodes[0]["subtasks"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(descriptions(&nodes[1]["subtasks"]), vec!["B0", "B1"]);
    assert_eq!(nodes[1]["subtasks"]["totalCount"], 2);
    assert_eq!(nodes[1]["subtasks"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(nodes[0]["done"]["totalCount"], 0);
    assert_eq!(descriptions(&nodes[0]["lastOne"]), vec!["A4"]);
    assert_eq!(nodes[0]["lastOne"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(nodes.as_array().map(Vec::len), Some(2));

    // The same cursor continues A's sub-tasks.
    let cursor = nodes[0]["subtasks"]["pageInfo"]["endCursor"].clone();
    let next = app
        .data(
            "query($id: ID!, $after: String) { task(id: $id) { subtasks(first: 2, after: $after) { nodes { description } } } }",
            json!({ "id": a["id"], "after": cursor }),
        )
        .await;
    assert_eq!(descriptions(&next["task"]["subtasks"]), vec!["A2", "A3"]);

    // Category.tasks is paginated the same way.
    let data = app
        .data(
            "query($id: ID!) { category(id: $id) { tasks(first: 3, orderBy: [{field: DESCRIPTION, direction: DESC}]) {
               totalCount nodes { description } pageInfo { hasNextPage } } } }",
            json!({ "id": cat["id"] }),
        )
        .await;
    let tasks = &data["category"]["tasks"];
    assert_eq!(descriptions(tasks), vec!["A4", "A3", "A2"]);
    assert_eq!(tasks["totalCount"], 5);
    assert_eq!(tasks["pageInfo"]["hasNextPage"], true);
}
