//! Row-level security on a pool of two connections, under load that tries
//! to carry one owner's setting into another's checkout: two owners (one
//! whose name needs quoting) read at once, many of their requests are cut
//! off by the client mid-flight, and a sniffer keeps taking the api's own
//! connections for a statement that names no owner. No owner may see the
//! other's rows, none may miss its own, and no pooled connection may ever
//! name an owner or hold a row for the sniffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::common::Backend;
use crate::owners::RlsDatabase;
use crate::sign_in::{data_as, hs256_app};
use crate::tokens::{claims, hs256};

const LIST: &str = "{ tasks(first: 50) { totalCount edges { node { description } } } }";

struct Reader {
    token: String,
    prefix: &'static str,
    tasks: usize,
}

/// One full read: every description is this owner's, and all of them.
fn check(reader: &Reader, body: &Value) -> Result<(), String> {
    let tasks = &body["data"]["tasks"];
    let descriptions: Vec<&str> = tasks["edges"]
        .as_array()
        .ok_or_else(|| format!("no edges: {body}"))?
        .iter()
        .filter_map(|e| e["node"]["description"].as_str())
        .collect();
    if descriptions.len() != reader.tasks
        || tasks["totalCount"] != json!(reader.tasks)
        || descriptions.iter().any(|d| !d.starts_with(reader.prefix))
    {
        return Err(format!("{} read {body}", reader.prefix));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_row_level_security_never_carries_an_owner_across_checkouts() {
    let rls = RlsDatabase::new().await;
    let app = Arc::new(
        hs256_app(
            Backend::Postgres,
            &[
                ("DATABASE_URL", &rls.url),
                ("DB_ROW_LEVEL_SECURITY", "true"),
                ("DB_MAX_CONNECTIONS", "2"),
            ],
        )
        .await,
    );
    let readers = Arc::new([
        Reader {
            token: hs256(&claims("leak-a")),
            prefix: "a-",
            tasks: 3,
        },
        // Quotes, a backslash and SQL after them: the owner is a literal in
        // the read's BEGIN, and must stay one.
        Reader {
            token: hs256(&claims(
                r#"leak-b' \' \\'); SELECT set_config('app.owner_id', 'leak-a', false); --"#,
            )),
            prefix: "b-",
            tasks: 5,
        },
    ]);
    for reader in readers.iter() {
        for i in 0..reader.tasks {
            data_as(
                &app,
                &reader.token,
                "mutation($d: String!) { createTask(input: { description: $d }) { task { id } } }",
                json!({ "d": format!("{}{i}", reader.prefix) }),
            )
            .await;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sniffs = Arc::new(AtomicUsize::new(0));
    let sniffer = {
        let (app, stop, sniffs) = (app.clone(), stop.clone(), sniffs.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let row = app
                    .db
                    .query_one_raw(Statement::from_string(
                        app.db.get_database_backend(),
                        "SELECT coalesce(current_setting('app.owner_id', true), '') AS owner, \
                         (SELECT count(*) FROM tasks) AS tasks",
                    ))
                    .await
                    .expect("sniff")
                    .expect("row");
                let owner: String = row.try_get("", "owner").expect("owner");
                let tasks: i64 = row.try_get("", "tasks").expect("tasks");
                assert_eq!(
                    (owner.as_str(), tasks),
                    ("", 0),
                    "a pooled connection still named an owner"
                );
                sniffs.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let completed = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..12usize {
        let (app, readers) = (app.clone(), readers.clone());
        let (completed, cut) = (completed.clone(), cut.clone());
        workers.push(tokio::spawn(async move {
            // Its own client: a cut request closes its own connection.
            let client = reqwest::Client::new();
            for round in 0..40usize {
                let reader = &readers[(worker + round) % 2];
                let request = client
                    .post(app.url("/graphql"))
                    .bearer_auth(&reader.token)
                    .json(&json!({ "query": LIST }));
                // Half the workers give up after a few hundred
                // microseconds: mostly while the api is in the middle of
                // the read, its future then dropped with the connection.
                let request = if worker % 2 == 1 {
                    request.timeout(Duration::from_micros(200 + 150 * (round as u64 % 10)))
                } else {
                    request
                };
                match request.send().await {
                    Ok(response) => {
                        let body: Value = match response.json().await {
                            Ok(body) => body,
                            Err(_) => {
                                cut.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        };
                        if let Err(wrong) = check(reader, &body) {
                            panic!("{wrong}");
                        }
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.is_timeout() => {
                        cut.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("POST /graphql: {e}"),
                }
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    // The last cut requests' connections go back to the pool after this;
    // the sniffer meets each of them again before it stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sniffs.load(Ordering::Relaxed);
    while sniffs.load(Ordering::Relaxed) < before + 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    sniffer.await.expect("sniffer");

    // Both owners still read exactly their own, after all that.
    for reader in readers.iter() {
        let body = json!({ "data": data_as(&app, &reader.token, LIST, json!({})).await });
        check(reader, &body).expect("after the storm");
    }
    let (completed, cut, sniffs) = (
        completed.load(Ordering::Relaxed),
        cut.load(Ordering::Relaxed),
        sniffs.load(Ordering::Relaxed),
    );
    eprintln!("reads completed {completed}, cut off {cut}, unscoped sniffs {sniffs}");
    assert!(
        completed >= 240,
        "the uncut half all completed: {completed}"
    );
    assert!(cut > 0, "some requests were cut off");
    assert!(sniffs > 0);
    drop(app);
}
