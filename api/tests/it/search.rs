//! Full-text search of tasks, the same on both engines: one table of
//! searches and the tasks each must find; relevance order and its pages;
//! search with every other filter, in nested lists, and per owner.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{Backend, TestApp, descriptions};
use crate::sign_in::{data_as, hs256_app};
use crate::tokens::{claims, hs256};

crate::on_both_backends!(
    searches_find_the_same_tasks_on_both_engines,
    relevance_puts_the_best_match_first_and_breaks_ties_by_id,
    relevance_needs_a_search,
    relevance_pages_walk_every_match_once_while_tasks_are_added,
    search_works_with_every_filter_and_in_nested_lists,
    a_word_in_thousands_of_tasks_pages_like_the_plain_list,
);

const LIST: &str = "query($filter: TaskFilter, $orderBy: [TaskOrder!], $first: Int, $after: String, $last: Int, $before: String) {
  tasks(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    totalCountIsExact
    nodes { id description }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn search(app: &TestApp, text: &str) -> Value {
    app.data(LIST, json!({ "filter": { "search": text }, "first": 100 }))
        .await["tasks"]
        .clone()
}

const TASKS: [&str; 7] = [
    "Buy milk",
    "Buying milkshakes for the party",
    "Oat milk latte",
    "Call Zoë about the café menu",
    "Pay the electricity bill",
    "Fix the bike",
    "Plan the e-mail campaign",
];

async fn searches_find_the_same_tasks_on_both_engines(app: TestApp) {
    for d in TASKS {
        app.create_task(json!({ "description": d })).await;
    }
    let milk = vec![
        "Buy milk",
        "Buying milkshakes for the party",
        "Oat milk latte",
    ];
    let all: Vec<&str> = TASKS.to_vec();
    let none: Vec<&str> = vec![];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // Stemmed, every word required, the last one also a prefix.
        (
            "buying milk",
            vec!["Buy milk", "Buying milkshakes for the party"],
        ),
        ("buy", vec!["Buy milk", "Buying milkshakes for the party"]),
        ("MILK", milk.clone()),
        ("mil", milk.clone()),
        ("milkshake", vec!["Buying milkshakes for the party"]),
        // Only the last word is a prefix.
        ("milk buy", vec!["Buy milk"]),
        ("bill electricity", vec!["Pay the electricity bill"]),
        ("milk bill", none.clone()),
        ("mil buy", none.clone()),
        // Phrases: next to each other, in order; stop words inside count.
        ("\"oat milk\"", vec!["Oat milk latte"]),
        ("\"milk oat\"", none.clone()),
        ("\"fix the bike\"", vec!["Fix the bike"]),
        ("\"electricity bill", vec!["Pay the electricity bill"]),
        ("“oat milk”", vec!["Oat milk latte"]),
        // A quoted word is whole: no prefix.
        ("\"mil\"", none.clone()),
        // Exclusions (an excluded last word is no prefix, nor makes one).
        ("milk -oat", vec!["Buy milk"]),
        ("mil -oat", none.clone()),
        (
            "-oat mil",
            vec!["Buy milk", "Buying milkshakes for the party"],
        ),
        ("milk -\"oat milk\"", vec!["Buy milk"]),
        ("milk -\"milk oat\"", vec!["Buy milk", "Oat milk latte"]),
        (
            "-milk",
            vec![
                "Buying milkshakes for the party",
                "Call Zoë about the café menu",
                "Pay the electricity bill",
                "Fix the bike",
                "Plan the e-mail campaign",
            ],
        ),
        ("-milk -bill -bike -zoe -campaign -party", none.clone()),
        // Accents and case, both ways.
        ("zoe", vec!["Call Zoë about the café menu"]),
        ("CAFÉ", vec!["Call Zoë about the café menu"]),
        ("cafe zoë", vec!["Call Zoë about the café menu"]),
        // Punctuation separates words, in the text and in the search.
        ("e-mail", vec!["Plan the e-mail campaign"]),
        ("mail", vec!["Plan the e-mail campaign"]),
        ("bike;", vec!["Fix the bike"]),
        ("(bike)", vec!["Fix the bike"]),
        // Stop words are ignored; nothing but them finds nothing.
        ("the bike", vec!["Fix the bike"]),
        ("the", none.clone()),
        // Operators of either engine are words or nothing.
        ("NOT milk", milk.clone()),
        ("milk OR bill", none.clone()),
        ("milk & !oat", vec!["Oat milk latte"]),
        ("bill:*", vec!["Pay the electricity bill"]),
        ("bike*", vec!["Fix the bike"]),
        ("NEAR(fix bike)", none.clone()),
        ("description:bike", none.clone()),
        ("^fix", vec!["Fix the bike"]),
        // Nothing to look for: nothing; blank: no search at all.
        ("!!!", none.clone()),
        ("🥛", none.clone()),
        ("\"", none.clone()),
        ("-", none.clone()),
        ("   ", all.clone()),
        ("", all.clone()),
    ];
    for (text, expected) in cases {
        let tasks = search(&app, text).await;
        let mut found = descriptions(&tasks);
        found.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        assert_eq!(found, expected, "search {text:?}");
        assert_eq!(
            tasks["totalCount"],
            expected.len(),
            "totalCount of {text:?}"
        );
    }
}

fn relevance(direction: &str) -> Value {
    json!([{ "field": "RELEVANCE", "direction": direction }])
}

fn ids(tasks: &Value) -> Vec<String> {
    tasks["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn relevance_puts_the_best_match_first_and_breaks_ties_by_id(app: TestApp) {
    // Each mentions milk once: the shorter the description, the better the
    // match on both engines. The two "Milk tea" tie.
    let long = app
        .create_task(
            json!({ "description": "milk and a long list of other groceries for the weekend" }),
        )
        .await;
    let tea_1 = app.create_task(json!({ "description": "Milk tea" })).await;
    let latte = app
        .create_task(json!({ "description": "Oat milk latte" }))
        .await;
    let tea_2 = app.create_task(json!({ "description": "Milk tea" })).await;
    app.create_task(json!({ "description": "Fix the bike" }))
        .await;
    let id = |t: &Value| t["id"].as_str().expect("id").to_owned();
    // Ties go by id in the order's direction (ids grow with creation).
    let best_first = vec![id(&tea_2), id(&tea_1), id(&latte), id(&long)];
    for text in ["milk", "MILK", "mil"] {
        let desc = app
            .data(
                LIST,
                json!({ "filter": { "search": text }, "orderBy": relevance("DESC") }),
            )
            .await["tasks"]
            .clone();
        assert_eq!(ids(&desc), best_first, "{text:?} DESC");
        let asc = app
            .data(
                LIST,
                json!({ "filter": { "search": text }, "orderBy": relevance("ASC") }),
            )
            .await["tasks"]
            .clone();
        let mut worst_first = best_first.clone();
        worst_first.reverse();
        assert_eq!(ids(&asc), worst_first, "{text:?} ASC");
    }
    // Relevance before another order, and another order before relevance.
    let by_description = app
        .data(
            LIST,
            json!({ "filter": { "search": "milk" },
                    "orderBy": [{ "field": "DESCRIPTION" }, { "field": "RELEVANCE", "direction": "DESC" }] }),
        )
        .await["tasks"]
        .clone();
    assert_eq!(
        descriptions(&by_description),
        vec![
            "Milk tea",
            "Milk tea",
            "Oat milk latte",
            "milk and a long list of other groceries for the weekend"
        ]
    );
    // Exclusions alone rank nothing: every task ties, in id order.
    let unranked = app
        .data(
            LIST,
            json!({ "filter": { "search": "-bike" }, "orderBy": relevance("ASC") }),
        )
        .await["tasks"]
        .clone();
    assert_eq!(
        ids(&unranked),
        vec![id(&long), id(&tea_1), id(&latte), id(&tea_2)]
    );
}

async fn relevance_needs_a_search(app: TestApp) {
    app.create_task(json!({ "description": "Buy milk" })).await;
    for filter in [
        json!(null),
        json!({}),
        json!({ "search": null, "done": false }),
    ] {
        let (code, field) = app
            .error(
                LIST,
                json!({ "filter": filter, "orderBy": relevance("DESC") }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{filter}");
        assert_eq!(field.as_deref(), Some("orderBy"), "{filter}");
    }
    // A blank search is a search that keeps everything, all ranked alike.
    let blank = app
        .data(
            LIST,
            json!({ "filter": { "search": " " }, "orderBy": relevance("DESC") }),
        )
        .await["tasks"]
        .clone();
    assert_eq!(descriptions(&blank), vec!["Buy milk"]);
    // Too long for a search.
    let (code, field) = app
        .error(LIST, json!({ "filter": { "search": "milk ".repeat(33) } }))
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("filter.search"))
    );
}

/// Descriptions with "milk" once in texts of growing length (so the order
/// stays the same whatever else the table holds), in pairs that tie.
fn ranked_descriptions() -> Vec<String> {
    let filler = ["fresh", "organic", "whole", "cold", "local", "cheap"];
    let mut out = Vec::new();
    for n in 0..filler.len() {
        let text = format!("milk {}", filler[..=n].join(" "));
        out.push(text.clone());
        out.push(text);
    }
    out
}

async fn walk(
    app: &TestApp,
    direction: &str,
    backward: bool,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let vars = if backward {
            json!({ "filter": { "search": "milk" }, "orderBy": relevance(direction),
                    "last": 3, "before": cursor })
        } else {
            json!({ "filter": { "search": "milk" }, "orderBy": relevance(direction),
                    "first": 3, "after": cursor })
        };
        let tasks = app.data(LIST, vars).await["tasks"].clone();
        let mut page_ids = ids(&tasks);
        if backward {
            page_ids.reverse();
        }
        seen.extend(page_ids);
        let info = &tasks["pageInfo"];
        let more = if backward {
            info["hasPreviousPage"].as_bool()
        } else {
            info["hasNextPage"].as_bool()
        };
        if more != Some(true) {
            break;
        }
        cursor = info[if backward { "startCursor" } else { "endCursor" }]
            .as_str()
            .map(str::to_owned);
        between(page).await;
    }
    seen
}

async fn relevance_pages_walk_every_match_once_while_tasks_are_added(app: TestApp) {
    for d in ranked_descriptions() {
        app.create_task(json!({ "description": d })).await;
    }
    let all = app
        .data(
            LIST,
            json!({ "filter": { "search": "milk" }, "orderBy": relevance("DESC"), "first": 100 }),
        )
        .await["tasks"]
        .clone();
    let expected = ids(&all);
    assert_eq!(expected.len(), 12);

    // Between pages, tasks come and go, with and without the word: on
    // SQLite each changes every bm25 score a little.
    for (direction, backward) in [("DESC", false), ("ASC", false), ("DESC", true)] {
        let added = std::cell::RefCell::new(Vec::<String>::new());
        let seen = walk(&app, direction, backward, async |page| {
            let with = app
                .create_task(json!({ "description": format!("milk run {page} of many more words than any") }))
                .await;
            let without = app
                .create_task(json!({ "description": format!("unrelated chore number {page}") }))
                .await;
            added.borrow_mut().push(with["id"].as_str().expect("id").to_owned());
            app.data(
                "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
                json!({ "id": without["id"] }),
            )
            .await;
        })
        .await;
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{direction} backward={backward}: a task twice: {seen:?}"
        );
        let added = added.into_inner();
        let originals: Vec<String> = seen
            .iter()
            .filter(|id| !added.contains(id))
            .cloned()
            .collect();
        let mut want = expected.clone();
        if (direction == "ASC") != backward {
            want.reverse();
        }
        assert_eq!(originals, want, "{direction} backward={backward}");
        for id in added {
            app.data(
                "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
                json!({ "id": id }),
            )
            .await;
        }
    }

    // A cursor keeps the rank exactly: the page after the last one is empty.
    let last = app
        .data(
            LIST,
            json!({ "filter": { "search": "milk" }, "orderBy": relevance("DESC"), "last": 1 }),
        )
        .await["tasks"]
        .clone();
    let after_last = app
        .data(
            LIST,
            json!({ "filter": { "search": "milk" }, "orderBy": relevance("DESC"),
                    "after": last["pageInfo"]["endCursor"] }),
        )
        .await["tasks"]
        .clone();
    assert_eq!(ids(&after_last), Vec::<String>::new());
    // A relevance cursor is refused for another search's order signature.
    let (code, field) = app
        .error(
            LIST,
            json!({ "filter": { "search": "milk" }, "after": last["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("BAD_USER_INPUT", Some("after"))
    );
}

async fn search_works_with_every_filter_and_in_nested_lists(app: TestApp) {
    let home = app.create_category("Home").await;
    let parent = app
        .create_task(
            json!({ "description": "Groceries: buy milk", "priority": "HIGH",
            "dueAt": "2026-12-10T00:00:00Z", "categoryIds": [home["id"]] }),
        )
        .await;
    app.create_task(
        json!({ "description": "Buy oat milk", "parentId": parent["id"],
        "categoryIds": [home["id"]] }),
    )
    .await;
    let done = app
        .create_task(json!({ "description": "Buy milk again", "priority": "LOW" }))
        .await;
    app.set_done(&done["id"], true).await;
    app.create_task(json!({ "description": "Buy bread", "categoryIds": [home["id"]] }))
        .await;

    for (filter, expected) in [
        (
            json!({ "search": "milk", "done": true }),
            vec!["Buy milk again"],
        ),
        (
            json!({ "search": "milk", "priority": ["HIGH"] }),
            vec!["Groceries: buy milk"],
        ),
        (
            json!({ "search": "buy", "categoryIds": [home["id"]] }),
            vec!["Groceries: buy milk", "Buy oat milk", "Buy bread"],
        ),
        (
            json!({ "search": "milk", "parentId": parent["id"] }),
            vec!["Buy oat milk"],
        ),
        (
            json!({ "search": "milk", "topLevel": true }),
            vec!["Groceries: buy milk", "Buy milk again"],
        ),
        (
            json!({ "search": "milk", "dueBefore": "2026-12-31T00:00:00Z" }),
            vec!["Groceries: buy milk"],
        ),
    ] {
        let tasks = app.data(LIST, json!({ "filter": filter })).await["tasks"].clone();
        assert_eq!(descriptions(&tasks), expected, "{filter}");
        assert_eq!(tasks["totalCount"], expected.len(), "{filter}");
    }

    let nested = app
        .data(
            "query($id: ID!) { node(id: $id) { ... on Category {
                tasks(filter: {search: \"milk\"}, orderBy: [{field: RELEVANCE, direction: DESC}], first: 1) {
                  totalCount nodes { description subtasks(filter: {search: \"oat\"}) { totalCount nodes { description } } }
                  pageInfo { hasNextPage endCursor } } } } }",
            json!({ "id": home["id"] }),
        )
        .await;
    let tasks = &nested["node"]["tasks"];
    assert_eq!(tasks["totalCount"], 2);
    assert_eq!(descriptions(tasks), vec!["Buy oat milk"]);
    assert_eq!(tasks["pageInfo"]["hasNextPage"], true);
    let next = app
        .data(
            "query($id: ID!, $after: String) { node(id: $id) { ... on Category {
                tasks(filter: {search: \"milk\"}, orderBy: [{field: RELEVANCE, direction: DESC}], after: $after) {
                  nodes { description } pageInfo { hasNextPage } } } } }",
            json!({ "id": home["id"], "after": tasks["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        descriptions(&next["node"]["tasks"]),
        vec!["Groceries: buy milk"]
    );
    assert_eq!(next["node"]["tasks"]["pageInfo"]["hasNextPage"], false);
    let subtasks = &nested["node"]["tasks"]["nodes"][0]["subtasks"];
    assert_eq!(subtasks["totalCount"], 0);
}

async fn each_owner_searches_only_their_own(backend: Backend) {
    let app = hs256_app(backend, &[]).await;
    let alice = hs256(&claims("alice"));
    let bob = hs256(&claims("bob"));
    let create = "mutation($d: String!) { createTask(input: {description: $d}) { task { id } } }";
    data_as(&app, &alice, create, json!({ "d": "Alice buys milk" })).await;
    data_as(&app, &bob, create, json!({ "d": "Bob buys milk" })).await;
    for (token, mine) in [(&alice, "Alice buys milk"), (&bob, "Bob buys milk")] {
        for order in [json!(null), relevance("DESC")] {
            let tasks = data_as(
                &app,
                token,
                LIST,
                json!({ "filter": { "search": "milk" }, "orderBy": order }),
            )
            .await["tasks"]
                .clone();
            assert_eq!(descriptions(&tasks), vec![mine]);
            assert_eq!(tasks["totalCount"], 1);
        }
        let without = data_as(
            &app,
            token,
            LIST,
            json!({ "filter": { "search": "-bread" } }),
        )
        .await["tasks"]
            .clone();
        assert_eq!(descriptions(&without), vec![mine]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_owner_searches_only_their_own() {
    each_owner_searches_only_their_own(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_each_owner_searches_only_their_own() {
    each_owner_searches_only_their_own(Backend::Postgres).await;
}

/// What a list's count said: `totalCount` and `totalCountIsExact`.
type Counted = (u64, bool);

/// Every page of `filter` in `order`, first to last, 100 at a time.
async fn every_page(app: &TestApp, filter: Value, order: &Value) -> (Vec<String>, Counted) {
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let vars = json!({ "filter": filter, "orderBy": order, "first": 100, "after": cursor });
        let tasks = app.data(LIST, vars).await["tasks"].clone();
        seen.extend(ids(&tasks));
        if tasks["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            let counted = (
                tasks["totalCount"].as_u64().unwrap_or(0),
                tasks["totalCountIsExact"].as_bool().unwrap_or(false),
            );
            return (seen, counted);
        }
        cursor = tasks["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// Past 2000 matches SQLite walks the order's index and tests each task
/// (a shape of its own): the pages must be the plain list's, matches only.
/// A search counts up to 1000 matches and says when it stopped.
async fn a_word_in_thousands_of_tasks_pages_like_the_plain_list(app: TestApp) {
    const MATCHES: usize = 2100;
    // Exactly 1001 of the plumber tasks are about the boiler, the first
    // of them numbered #0.
    const BOILERS: usize = 1001;
    let (mut created, mut boilers) = (Vec::new(), 0);
    for i in 0..MATCHES + 60 {
        let description = if i % 37 == 36 {
            format!("Water the plants #{i}")
        } else if boilers < BOILERS {
            boilers += 1;
            format!("Call the plumber about the boiler #{i}")
        } else {
            format!("Call the plumber #{i}")
        };
        let due = (i % 3 == 0).then(|| format!("2027-01-{:02}T00:00:00Z", 1 + i % 28));
        created.push(app.create_task(json!({ "description": description, "dueAt": due })));
        if created.len() == 32 {
            futures_util::future::join_all(created.drain(..)).await;
        }
    }
    futures_util::future::join_all(created).await;
    for order in [
        json!([{ "field": "CREATED_AT", "direction": "DESC" }]),
        json!([{ "field": "DUE_AT", "direction": "ASC" }]),
        json!([{ "field": "PRIORITY", "direction": "DESC" }]),
    ] {
        let (all, all_counted) = every_page(&app, json!({}), &order).await;
        let (found, counted) = every_page(&app, json!({ "search": "plumbers" }), &order).await;
        let (plants, plants_counted) =
            every_page(&app, json!({ "search": "plants" }), &order).await;
        let expected: Vec<String> = all
            .iter()
            .filter(|id| !plants.contains(id))
            .cloned()
            .collect();
        assert!(found.len() > 2000, "{} matches", found.len());
        assert_eq!(counted, (1000, false), "totalCount under {order}");
        assert_eq!(found, expected, "search pages under {order}");
        // Without a search, and under the limit, counts are exact.
        assert_eq!(all_counted, (all.len() as u64, true), "under {order}");
        assert_eq!(plants_counted, (plants.len() as u64, true), "under {order}");
    }
    // At the limit the count is exact; one more and it says it stopped.
    let counted = |search: &'static str| {
        let app = &app;
        async move {
            let tasks = app.data(LIST, json!({ "filter": { "search": search }, "first": 1 }));
            let tasks = tasks.await["tasks"].clone();
            (
                tasks["totalCount"].clone(),
                tasks["totalCountIsExact"].clone(),
            )
        }
    };
    assert_eq!(counted("boiler").await, (json!(1000), json!(false)));
    assert_eq!(counted("boiler -0").await, (json!(1000), json!(true)));
    assert_eq!(counted("boiler -0 -1").await, (json!(999), json!(true)));
    assert_eq!(
        counted("\"the boiler\" plumber").await,
        (json!(1000), json!(false))
    );
}
