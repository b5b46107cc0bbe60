//! `Query.taskEvents`: the subscription's events and cursors in pages, for
//! clients that poll. Pages equal the subscription's replay; walking them
//! lists the log once; nobody sees another owner's events (row-level
//! security included); filters; expired and malformed cursors and page
//! sizes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Backend, TestApp};
use crate::sign_in::{hs256_app, post_as};
use crate::tail::{Tail, from_the_start, logged};
use crate::tokens::{claims, hs256};

crate::on_both_backends!(
    pages_equal_the_subscription_replay,
    filters_by_kind_task_and_parent,
    bad_cursors_and_page_sizes_are_bad_user_input,
);

const PAGE: &str = "query($after: String, $first: Int, $filter: TaskEventFilter) {
  taskEvents(after: $after, first: $first, filter: $filter) {
    edges { cursor node { cursor kind taskId version task { description parent { id } } } }
    nodes { cursor }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  } }";

/// One listed event: (cursor, kind, task id, version, description).
type Listed = (String, String, String, i64, Option<String>);

fn listed(connection: &Value) -> Vec<Listed> {
    let edges = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection:#}"));
    let nodes = connection["nodes"].as_array().expect("nodes");
    assert_eq!(edges.len(), nodes.len(), "{connection:#}");
    edges
        .iter()
        .zip(nodes)
        .map(|(edge, node)| {
            let cursor = edge["cursor"].as_str().expect("cursor").to_owned();
            assert_eq!(edge["node"]["cursor"], cursor, "edge and node agree");
            assert_eq!(node["cursor"], cursor, "edges and nodes agree");
            (
                cursor,
                edge["node"]["kind"].as_str().expect("kind").to_owned(),
                edge["node"]["taskId"].as_str().expect("taskId").to_owned(),
                edge["node"]["version"].as_i64().expect("version"),
                edge["node"]["task"]["description"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect()
}

/// Runs `query` (as `token`'s holder, or the single user) and returns the
/// response.
async fn run(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let (status, _, body) = post_as(app, bearer.as_deref(), query, variables).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn page(app: &TestApp, token: Option<&str>, variables: Value) -> Value {
    let body = run(app, token, PAGE, variables).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["taskEvents"].clone()
}

/// Walks every page of `first` events after `after`; checks each page's
/// `endCursor` is its last event's and only the last says there is no
/// next; ends with an empty page whose `endCursor` is the last one.
async fn walk(
    app: &TestApp,
    token: Option<&str>,
    after: Option<&str>,
    first: i64,
    filter: Value,
) -> Vec<Listed> {
    let mut all = Vec::new();
    let mut after = after.map(str::to_owned);
    loop {
        let connection = page(
            app,
            token,
            json!({ "after": after, "first": first, "filter": filter }),
        )
        .await;
        let events = listed(&connection);
        let info = &connection["pageInfo"];
        assert_eq!(info["hasPreviousPage"], false);
        assert!(events.len() as i64 <= first, "{connection:#}");
        let has_next = info["hasNextPage"].as_bool().expect("hasNextPage");
        match events.last() {
            Some(last) => assert_eq!(info["endCursor"], last.0, "{connection:#}"),
            // Nothing new: the cursor the poller gave comes back.
            None => {
                assert_eq!(info["endCursor"], json!(after), "{connection:#}");
                assert!(!has_next, "{connection:#}");
            }
        }
        if has_next {
            assert_eq!(events.len() as i64, first, "a short page with more to come");
        }
        let empty = events.is_empty();
        all.extend(events);
        if empty {
            return all;
        }
        after = info["endCursor"].as_str().map(str::to_owned);
    }
}

/// Polls from the start until an event about `marker` is listed (the
/// replica's tail reads new events a moment after they commit).
async fn until_listed(app: &TestApp, token: Option<&str>, marker: &str) -> Vec<Listed> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let all = walk(app, token, None, 100, Value::Null).await;
        if all.iter().any(|e| e.4.as_deref() == Some(marker)) {
            return all;
        }
        assert!(Instant::now() < until, "{marker:?} never listed: {all:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn update(app: &TestApp, token: Option<&str>, id: &Value, description: &str) {
    let body = run(
        app,
        token,
        "mutation($id: ID!, $d: String!) { updateTask(input: {id: $id, description: $d}) { task { id } } }",
        json!({ "id": id, "d": description }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

async fn delete(app: &TestApp, token: Option<&str>, id: &Value) {
    let body = run(
        app,
        token,
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
        json!({ "id": id }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

async fn create(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    let body = run(
        app,
        token,
        "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }",
        json!({ "i": input }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["createTask"]["task"]["id"].clone()
}

/// Some creations, updates and deletions, ending with a task `marker`.
async fn history(app: &TestApp, token: Option<&str>, tag: &str, marker: &str) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(create(app, token, json!({ "description": format!("{tag} {i}") })).await);
    }
    update(app, token, &ids[1], &format!("{tag} 1 again")).await;
    delete(app, token, &ids[2]).await;
    update(app, token, &ids[0], &format!("{tag} 0 again")).await;
    ids.push(create(app, token, json!({ "description": marker })).await);
    ids
}

async fn pages_equal_the_subscription_replay(app: TestApp) {
    // Nothing yet: an empty page, no cursor to keep.
    let empty = page(&app, None, json!({})).await;
    assert_eq!(listed(&empty), []);
    assert_eq!(empty["pageInfo"]["endCursor"], Value::Null);
    assert_eq!(empty["pageInfo"]["hasNextPage"], false);

    history(&app, None, "replay", "replay marker").await;
    let tail = Tail::start(
        &app.url(""),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    tail.wait_for("replay marker", Duration::from_secs(10))
        .await;
    let replayed: Vec<Listed> = tail
        .seen()
        .into_iter()
        .map(|s| (s.cursor, s.kind, s.task_id, s.version, s.description))
        .collect();
    assert_eq!(replayed.len(), 8, "{replayed:?}");

    // Two at a time, one at a time, all at once, by default: the replay,
    // each event once, the whole log.
    for first in [2, 1, 3, 100] {
        let walked = walk(&app, None, None, first, Value::Null).await;
        assert_eq!(walked, replayed, "first: {first}");
    }
    let by_default = page(&app, None, json!({})).await;
    assert_eq!(listed(&by_default), replayed);
    let log: Vec<(i64, String, String, i64)> = logged(&app.db).await;
    let walked: Vec<(i64, String, String, i64)> = walk(&app, None, None, 2, Value::Null)
        .await
        .into_iter()
        .map(|(cursor, kind, task, version, _)| {
            let position = api::events::cursor::decode(&cursor, "cursor").expect("ours");
            (position, kind, task, version)
        })
        .collect();
    assert_eq!(walked, log, "the whole log, in order, once");

    // After any cursor: the rest of the replay, exactly.
    for (i, event) in replayed.iter().enumerate() {
        let rest = walk(&app, None, Some(&event.0), 2, Value::Null).await;
        assert_eq!(rest, replayed[i + 1..], "after event {i}");
    }

    // A poller that kept the last cursor gets what came since, and the
    // subscription from the same cursor agrees.
    let last = replayed.last().expect("events").0.clone();
    history(&app, None, "later", "later marker").await;
    let since = until_listed(&app, None, "later marker").await;
    let new = walk(&app, None, Some(&last), 2, Value::Null).await;
    assert_eq!(new, since[replayed.len()..]);
    let resumed = Tail::start(&app.url(""), &last, "graphql-transport-ws", Duration::ZERO).await;
    resumed
        .wait_for("later marker", Duration::from_secs(10))
        .await;
    let resumed: Vec<Listed> = resumed
        .seen()
        .into_iter()
        .map(|s| (s.cursor, s.kind, s.task_id, s.version, s.description))
        .collect();
    assert_eq!(new, resumed);
}

async fn filters_by_kind_task_and_parent(app: TestApp) {
    let parent = create(&app, None, json!({ "description": "parent" })).await;
    let child = create(
        &app,
        None,
        json!({ "description": "child", "parentId": parent }),
    )
    .await;
    let other = create(&app, None, json!({ "description": "other" })).await;
    update(&app, None, &child, "child again").await;
    update(&app, None, &other, "other again").await;
    let second = create(
        &app,
        None,
        json!({ "description": "second child", "parentId": parent }),
    )
    .await;
    delete(&app, None, &other).await;
    create(&app, None, json!({ "description": "filters marker" })).await;
    let all = until_listed(&app, None, "filters marker").await;
    assert_eq!(all.len(), 8, "{all:?}");

    let kinds = |kinds: &[&str]| -> Vec<Listed> {
        all.iter()
            .filter(|e| kinds.contains(&e.1.as_str()))
            .cloned()
            .collect()
    };
    let of = |tasks: &[&Value]| -> Vec<Listed> {
        all.iter()
            .filter(|e| tasks.iter().any(|t| t.as_str() == Some(e.2.as_str())))
            .cloned()
            .collect()
    };
    for first in [1, 2, 50] {
        let got = walk(&app, None, None, first, json!({ "kinds": ["UPDATED"] })).await;
        assert_eq!(got, kinds(&["UPDATED"]));
        assert_eq!(got.len(), 2);
        let got = walk(
            &app,
            None,
            None,
            first,
            json!({ "kinds": ["CREATED", "DELETED"] }),
        )
        .await;
        assert_eq!(got, kinds(&["CREATED", "DELETED"]));
        let got = walk(&app, None, None, first, json!({ "taskIds": [other] })).await;
        assert_eq!(got, of(&[&other]));
        assert_eq!(
            got.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
            ["CREATED", "UPDATED", "DELETED"]
        );
        let got = walk(
            &app,
            None,
            None,
            first,
            json!({ "taskIds": [child, other], "kinds": ["UPDATED"] }),
        )
        .await;
        assert_eq!(
            got.iter().map(|e| e.4.clone()).collect::<Vec<_>>(),
            [Some("child again".into()), Some("other again".into())]
        );
        // Direct sub-tasks of `parent`: its own events are not among them.
        let got = walk(&app, None, None, first, json!({ "parentId": parent })).await;
        assert_eq!(got, of(&[&child, &second]));
        assert_eq!(got.len(), 3);
        // Nothing matches: an empty list, or a filter with no such event.
        assert_eq!(
            walk(&app, None, None, first, json!({ "kinds": [] })).await,
            []
        );
        assert_eq!(
            walk(&app, None, None, first, json!({ "parentId": child })).await,
            []
        );
    }
    // The filter applies after a cursor too.
    let after = &all[2].0;
    let got = walk(&app, None, Some(after), 1, json!({ "kinds": ["UPDATED"] })).await;
    assert_eq!(got, kinds(&["UPDATED"]));
    let got = walk(
        &app,
        None,
        Some(&all[4].0),
        1,
        json!({ "kinds": ["UPDATED"] }),
    )
    .await;
    assert_eq!(got, []);
}

/// `(code, field)` of the first error of a `taskEvents` page.
async fn refused(app: &TestApp, variables: Value) -> (String, String) {
    let body = run(app, None, PAGE, variables).await;
    let error = &body["errors"][0];
    assert!(error.is_object(), "expected an error: {body:#}");
    assert_eq!(body["data"], Value::Null, "{body:#}");
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        error["extensions"]["field"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

async fn bad_cursors_and_page_sizes_are_bad_user_input(app: TestApp) {
    create(&app, None, json!({ "description": "bad input marker" })).await;
    until_listed(&app, None, "bad input marker").await;
    let task_cursor = app
        .data("{ tasks(first: 1) { edges { cursor } } }", json!({}))
        .await["tasks"]["edges"][0]["cursor"]
        .clone();
    let bad_input = |field: &str| ("BAD_USER_INPUT".to_owned(), field.to_owned());
    for after in [
        json!(""),
        json!("garbage"),
        json!("ZXYxOi0x"), // ev1:-1
        json!("ZXYxOmFi"), // ev1:ab
        task_cursor,
    ] {
        assert_eq!(
            refused(&app, json!({ "after": after })).await,
            bad_input("after"),
            "{after}"
        );
    }
    for first in [0, -1, -100, 101, i64::from(i32::MAX)] {
        assert_eq!(
            refused(&app, json!({ "first": first })).await,
            bad_input("first"),
            "{first}"
        );
    }
    assert_eq!(
        refused(&app, json!({ "filter": { "taskIds": ["nope"] } })).await,
        bad_input("filter.taskIds")
    );
    let category = app.create_category("not a task").await["id"].clone();
    assert_eq!(
        refused(&app, json!({ "filter": { "parentId": category } })).await,
        bad_input("filter.parentId")
    );
    // The bounds themselves are fine.
    for first in [1, 100] {
        page(&app, None, json!({ "first": first })).await;
    }
}

async fn owners_see_only_their_own(app: &TestApp) {
    let (a, b) = (hs256(&claims("owner-a")), hs256(&claims("owner-b")));
    let a_ids = history(app, Some(&a), "A secret", "A marker").await;
    let b_ids = history(app, Some(&b), "B own", "B marker").await;
    let a_all = until_listed(app, Some(&a), "A marker").await;
    let b_all = until_listed(app, Some(&b), "B marker").await;
    let ids = |ids: &[Value]| -> BTreeSet<String> {
        ids.iter()
            .map(|v| v.as_str().expect("id").to_owned())
            .collect()
    };
    let listed_ids =
        |events: &[Listed]| -> BTreeSet<String> { events.iter().map(|e| e.2.clone()).collect() };
    assert_eq!(listed_ids(&a_all), ids(&a_ids));
    assert_eq!(listed_ids(&b_all), ids(&b_ids));
    assert_eq!(a_all.len(), 8);
    assert_eq!(b_all.len(), 8);
    for (token, all) in [(&a, &a_all), (&b, &b_all)] {
        assert_eq!(walk(app, Some(token), None, 2, Value::Null).await, *all);
    }
    // B with A's cursors, or A's tasks in its filter: still only B's.
    for event in &a_all {
        let got = walk(app, Some(&b), Some(&event.0), 3, Value::Null).await;
        assert!(got.iter().all(|e| b_all.contains(e)), "{got:?}");
    }
    let a_task = a_ids[0].clone();
    let b_task = b_ids[0].clone();
    for filter in [
        json!({ "taskIds": [a_task] }),
        json!({ "parentId": a_task }),
        json!({ "taskIds": [a_task, b_task] }),
    ] {
        let got = walk(app, Some(&b), None, 2, filter.clone()).await;
        assert!(
            got.iter().all(|e| b_all.contains(e) && e.2 != a_task),
            "{filter}: {got:?}"
        );
    }
    let body = run(app, Some(&b), PAGE, json!({ "first": 100 })).await;
    assert!(!body.to_string().contains("A secret"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_owners_see_only_their_own() {
    owners_see_only_their_own(&hs256_app(Backend::Sqlite, &[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_owners_see_only_their_own() {
    owners_see_only_their_own(&hs256_app(Backend::Postgres, &[]).await).await;
}

/// With PostgreSQL's row-level security on (a role the policies bind), the
/// owner's read runs in the owner's scope and still finds its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_owners_see_only_their_own_with_row_level_security() {
    let rls = crate::owners::RlsDatabase::new().await;
    let app = hs256_app(
        Backend::Postgres,
        &[
            ("DATABASE_URL", &rls.url),
            ("DB_ROW_LEVEL_SECURITY", "true"),
        ],
    )
    .await;
    owners_see_only_their_own(&app).await;
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expired_cursor() {
    expired_cursor(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_expired_cursor() {
    expired_cursor(Backend::Postgres).await;
}

/// With a retention of about a second: a cursor from before what was
/// deleted is CURSOR_EXPIRED, one at the watermark is not, and without a
/// cursor a page starts at the oldest event kept.
async fn expired_cursor(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("EVENT_RETENTION_HOURS", "0.0003")]).await;
    create(&app, None, json!({ "description": "old 1" })).await;
    create(&app, None, json!({ "description": "old 2" })).await;
    let old = until_listed(&app, None, "old 2").await;
    let first = old[old.len() - 2].0.clone();
    let second = api::events::cursor::decode(&old[old.len() - 1].0, "after").expect("ours");
    let pruned = app.wait_until_pruned(second).await;
    assert_eq!(
        refused(&app, json!({ "after": first })).await,
        ("CURSOR_EXPIRED".to_owned(), "after".to_owned())
    );
    // A cursor at the watermark is not expired: nothing after it was
    // deleted. (Asked at once: with this retention, events expire within
    // about a second.)
    let at_watermark = api::events::cursor::encode(pruned);
    create(&app, None, json!({ "description": "new" })).await;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = walk(&app, None, Some(&at_watermark), 2, Value::Null).await;
        let from_the_oldest = walk(&app, None, None, 2, Value::Null).await;
        if got.iter().any(|e| e.4.as_deref() == Some("new")) {
            assert!(
                got.iter()
                    .all(|e| api::events::cursor::decode(&e.0, "c").expect("ours") > pruned),
                "{got:?}"
            );
            assert_eq!(got.last().map(|e| e.1.as_str()), Some("CREATED"));
            // Without a cursor: from the oldest event kept, so never the
            // deleted ones.
            assert!(
                from_the_oldest
                    .iter()
                    .all(|e| e.4.as_deref() != Some("old 1")),
                "{from_the_oldest:?}"
            );
            break;
        }
        assert!(Instant::now() < until, "\"new\" never listed: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
