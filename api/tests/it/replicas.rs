//! Events across real `api` processes on one PostgreSQL database: a
//! subscriber on one replica sees every change made through the others, in
//! log order, exactly once; it resumes on another replica; concurrent
//! writers leave no gap; a killed listener, a killed replica and a killed
//! sequencer lose nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::common::{Backend, TestDb};
use crate::support::{ApiProcess, CREATE_TASK, Outcome, post_graphql};
use crate::tail::{Tail, assert_exactly_the_log, assert_versions_increase, from_the_start, logged};

const READY: Duration = Duration::from_secs(30);
const DELIVERED: Duration = Duration::from_secs(30);

/// `n` replicas on one fresh database, ready.
async fn replicas(db: &TestDb, n: usize, extra: &[(&str, &str)]) -> Vec<ApiProcess> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut vars = vec![
            ("DATABASE_URL", db.url.as_str()),
            // The first migrates; the rest find the schema current.
            ("AUTO_MIGRATE", if i == 0 { "true" } else { "false" }),
            ("LOG_FORMAT", "json"),
        ];
        vars.extend_from_slice(extra);
        let api = ApiProcess::spawn(&vars);
        api.wait_for_status("/readyz", 200, READY).await;
        out.push(api);
    }
    out
}

async fn ok(client: &reqwest::Client, api: &ApiProcess, query: &str, variables: Value) -> Value {
    match post_graphql(client, &api.base(), query, variables).await {
        Outcome::Ok(data) => data,
        other => panic!("{query}: {other:?}"),
    }
}

async fn create(client: &reqwest::Client, api: &ApiProcess, input: Value) -> Value {
    ok(client, api, CREATE_TASK, json!({ "input": input })).await["createTask"]["task"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_replicas_changes_in_order_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let apis = replicas(&db, 3, &[]).await;
    let (a, b, c) = (&apis[0], &apis[1], &apis[2]);
    let tail = Tail::start(
        &a.base(),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    let legacy = Tail::start(&b.base(), &from_the_start(), "graphql-ws", Duration::ZERO).await;
    let client = reqwest::Client::new();

    let parent = create(&client, b, json!({ "description": "parent" })).await;
    let child = create(
        &client,
        c,
        json!({ "description": "child", "parentId": parent["id"] }),
    )
    .await;
    create(
        &client,
        b,
        json!({ "description": "grandchild", "parentId": child["id"] }),
    )
    .await;
    let other = create(&client, c, json!({ "description": "other" })).await;
    ok(
        &client,
        b,
        "mutation($id: ID!) { updateTask(input: {id: $id, description: \"renamed\"}) { task { id } } }",
        json!({ "id": other["id"] }),
    )
    .await;
    ok(
        &client,
        c,
        "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: true}) { tasks { id } } }",
        json!({ "ids": [other["id"], child["id"]] }),
    )
    .await;
    // A multi-row mutation that fails records nothing, anywhere.
    let failed = post_graphql(
        &client,
        &b.base(),
        "mutation($ids: [ID!]!) { setTasksDone(input: {ids: $ids, done: false}) { tasks { id } } }",
        json!({ "ids": [other["id"], "VGFzazowMTk4MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw"] }),
    )
    .await;
    assert!(matches!(failed, Outcome::Error(_)), "{failed:?}");
    // Cascaded: one deletion per task of the subtree.
    ok(
        &client,
        c,
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
        json!({ "id": parent["id"] }),
    )
    .await;
    create(&client, b, json!({ "description": "end" })).await;

    tail.wait_for("end", DELIVERED).await;
    legacy.wait_for("end", DELIVERED).await;
    let log = logged(&db.connect().await).await;
    let kinds: Vec<&str> = log.iter().map(|(_, k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CREATED", "CREATED", "CREATED", "CREATED", "UPDATED", "UPDATED", "UPDATED", "DELETED",
            "DELETED", "DELETED", "CREATED"
        ],
        "{log:?}"
    );
    assert_exactly_the_log("replica A", &tail.seen(), &log);
    assert_exactly_the_log("replica B, legacy protocol", &legacy.seen(), &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_replica_with_its_cursor() {
    let db = TestDb::new(Backend::Postgres).await;
    let apis = replicas(&db, 3, &[]).await;
    let (a, b, c) = (&apis[0], &apis[1], &apis[2]);
    let client = reqwest::Client::new();
    let first = Tail::start(
        &a.base(),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    for i in 0..5 {
        create(&client, b, json!({ "description": format!("first {i}") })).await;
    }
    first.wait_for("first 4", DELIVERED).await;
    let fifth = first.seen()[4].cursor.clone();
    drop(first);

    for i in 0..20 {
        create(
            &client,
            b,
            json!({ "description": format!("meanwhile {i}") }),
        )
        .await;
    }
    let resumed = Tail::start(&c.base(), &fifth, "graphql-transport-ws", Duration::ZERO).await;
    resumed.wait_for("meanwhile 19", DELIVERED).await;
    create(&client, b, json!({ "description": "live" })).await;
    resumed.wait_for("live", DELIVERED).await;
    let seen = resumed.seen();
    let descriptions: Vec<_> = seen.iter().filter_map(|s| s.description.clone()).collect();
    let mut expected: Vec<String> = (0..20).map(|i| format!("meanwhile {i}")).collect();
    expected.push("live".into());
    assert_eq!(
        descriptions, expected,
        "exactly the 20 missed, then the live one"
    );
    let log = logged(&db.connect().await).await;
    assert_exactly_the_log("resumed on C", &seen, &log[5..]);
}

/// Random delays inside the writers' transactions, from triggers: before
/// each task row is written, and after each event row got its id (the
/// window where a slower transaction holds a smaller id).
async fn slow_down_transactions(db: &sea_orm::DatabaseConnection) {
    for sql in [
        "CREATE FUNCTION todo_test_delay() RETURNS trigger AS $$ \
         BEGIN PERFORM pg_sleep(random() * TG_ARGV[0]::float); RETURN NEW; END $$ \
         LANGUAGE plpgsql",
        "CREATE TRIGGER todo_test_delay_tasks BEFORE INSERT OR UPDATE ON tasks \
         FOR EACH ROW EXECUTE FUNCTION todo_test_delay('0.02')",
        "CREATE TRIGGER todo_test_delay_events AFTER INSERT ON task_events \
         FOR EACH ROW EXECUTE FUNCTION todo_test_delay('0.005')",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_leave_no_gap() {
    let db = TestDb::new(Backend::Postgres).await;
    let apis = replicas(&db, 3, &[("DB_MAX_CONNECTIONS", "12")]).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let task = create(
            &client,
            &apis[1],
            json!({ "description": format!("shared {i}") }),
        )
        .await;
        ids.push(task["id"].clone());
    }
    let tail = Tail::start(
        &apis[0].base(),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    slow_down_transactions(&db.connect().await).await;

    let apis = Arc::new(apis);
    let ids = Arc::new(ids);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (apis, ids, acknowledged) = (apis.clone(), ids.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let api = &apis[1 + w % 2];
                for round in 0..15 {
                    let (query, variables) = {
                        let mut rng = rand::rng();
                        if (w + round) % 2 == 0 {
                            let id = &ids[rng.random_range(0..ids.len())];
                            (
                                "mutation($id: ID!, $d: String!) { updateTask(input: {id: $id, description: $d}) { task { id } } }",
                                json!({ "id": id, "d": format!("w{w} r{round}") }),
                            )
                        } else {
                            // Overlapping sets, in random order.
                            let start = rng.random_range(0..ids.len() - 4);
                            let mut set: Vec<Value> = ids[start..start + 4].to_vec();
                            if rng.random_bool(0.5) {
                                set.reverse();
                            }
                            (
                                "mutation($ids: [ID!]!, $done: Boolean!) { setTasksDone(input: {ids: $ids, done: $done}) { tasks { id } } }",
                                json!({ "ids": set, "done": rng.random_bool(0.5) }),
                            )
                        }
                    };
                    match post_graphql(&client, &api.base(), query, variables).await {
                        Outcome::Ok(_) => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        // Concurrent edits of one task may refuse each other,
                        // and a writer that waits too long for a connection
                        // is shed; neither changed anything.
                        Outcome::Error(code) if code == "CONFLICT" || code == "SERVICE_UNAVAILABLE" => {}
                        other => panic!("writer {w}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(
        acknowledged.load(Ordering::Relaxed) > 40,
        "too few writes went through"
    );
    create(&client, &apis[2], json!({ "description": "end" })).await;
    tail.wait_for("end", Duration::from_secs(60)).await;
    let log = logged(&db.connect().await).await;
    let seen = tail.seen();
    assert_exactly_the_log("tail on A", &seen, &log);
    assert_versions_increase("tail on A", &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_killed_by_the_database_loses_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    let apis = replicas(&db, 2, &[]).await;
    let (a, b) = (&apis[0], &apis[1]);
    let tail = Tail::start(
        &a.base(),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    let admin = db.connect().await;
    let writing = Arc::new(AtomicBool::new(true));
    let writer = tokio::spawn({
        let (base, writing) = (b.base(), writing.clone());
        async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while writing.load(Ordering::Relaxed) {
                let input = json!({ "input": { "description": format!("w{n}") } });
                assert!(matches!(
                    post_graphql(&client, &base, CREATE_TASK, input).await,
                    Outcome::Ok(_)
                ));
                n += 1;
            }
            n
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..2 {
        // Every replica's LISTEN connection.
        let killed = admin
            .query_all_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            ))
            .await
            .expect("terminate listeners");
        assert!(!killed.is_empty(), "no listener connection found");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    writing.store(false, Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(written > 10, "{written}");
    let client = reqwest::Client::new();
    create(&client, b, json!({ "description": "end" })).await;
    tail.wait_for("end", DELIVERED).await;
    assert_exactly_the_log("tail on A", &tail.seen(), &logged(&admin).await);
    a.wait_for_status("/readyz", 200, READY).await;
    let metrics = a.wait_for_status("/metrics", 200, READY).await;
    let reconnects = metrics
        .lines()
        .find(|l| l.starts_with(api::metrics::EVENTS_LISTENER_RECONNECTS))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(reconnects >= 2.0, "reconnects counted: {reconnects}");
    assert!(a.output().contains("event listener lost its connection"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_a_killed_replica_resume_elsewhere() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut apis = replicas(&db, 3, &[]).await;
    let client = reqwest::Client::new();
    let tails: Vec<Tail> = {
        let mut tails = Vec::new();
        for _ in 0..3 {
            tails.push(
                Tail::start(
                    &apis[0].base(),
                    &from_the_start(),
                    "graphql-transport-ws",
                    Duration::ZERO,
                )
                .await,
            );
        }
        tails
    };
    for i in 0..10 {
        create(
            &client,
            &apis[2],
            json!({ "description": format!("before {i}") }),
        )
        .await;
    }
    for tail in &tails {
        tail.wait_for("before 9", DELIVERED).await;
    }
    apis[0].signal("KILL");
    let _ = apis[0].wait_exit(Duration::from_secs(10)).await;
    // Changes while the clients are cut off.
    for i in 0..10 {
        create(
            &client,
            &apis[2],
            json!({ "description": format!("during {i}") }),
        )
        .await;
    }
    let mut resumed = Vec::new();
    for tail in &tails {
        for _ in 0..100 {
            if tail.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(tail.is_closed(), "the socket noticed its replica died");
        let cursor = tail.last_cursor().expect("a cursor");
        resumed.push(
            Tail::start(
                &apis[1].base(),
                &cursor,
                "graphql-transport-ws",
                Duration::ZERO,
            )
            .await,
        );
    }
    create(&client, &apis[2], json!({ "description": "end" })).await;
    for (tail, again) in tails.iter().zip(&resumed) {
        again.wait_for("end", DELIVERED).await;
        let mut all = tail.seen();
        all.extend(again.seen());
        assert_exactly_the_log(
            "before and after the kill",
            &all,
            &logged(&db.connect().await).await,
        );
    }
    // Read once "end" was delivered: events are numbered after they commit.
    let log = logged(&db.connect().await).await;
    assert!(log.len() >= 20);
    drop(apis.remove(0));
}

/// The message a replica logs when it takes the sequencer's lease.
const LEASE_TAKEN: &str = "sequencer lease taken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencers_replica_killed_under_writes_loses_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut apis = replicas(&db, 3, &[]).await;
    // The first replica took the lease before the others started.
    apis[0]
        .wait_for_output(LEASE_TAKEN, 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        apis[1].count_in_output(LEASE_TAKEN) + apis[2].count_in_output(LEASE_TAKEN),
        0
    );
    let tail = Tail::start(
        &apis[2].base(),
        &from_the_start(),
        "graphql-transport-ws",
        Duration::ZERO,
    )
    .await;
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, writing) = (apis[1 + w % 2].base(), writing.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                let mut n = 0;
                while writing.load(Ordering::Relaxed) {
                    let input = json!({ "input": { "description": format!("w{w} n{n}") } });
                    match post_graphql(&client, &base, CREATE_TASK, input).await {
                        Outcome::Ok(data) => {
                            acknowledged.push(data["createTask"]["task"]["id"].clone());
                        }
                        other => panic!("writer {w}: {other:?}"),
                    }
                    n += 1;
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    apis[0].signal("KILL");
    let _ = apis[0].wait_exit(Duration::from_secs(10)).await;
    // Another replica takes over while the writes go on.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while apis[1].count_in_output(LEASE_TAKEN) + apis[2].count_in_output(LEASE_TAKEN) == 0 {
        assert!(
            std::time::Instant::now() < until,
            "nobody took the lease within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    writing.store(false, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    let client = reqwest::Client::new();
    create(&client, &apis[1], json!({ "description": "end" })).await;
    tail.wait_for("end", DELIVERED).await;
    let seen = tail.seen();
    assert_exactly_the_log("tail on C", &seen, &logged(&db.connect().await).await);
    for id in &acknowledged {
        assert!(
            seen.iter()
                .any(|s| s.kind == "CREATED" && Some(s.task_id.as_str()) == id.as_str()),
            "the creation of {id} was acknowledged but never delivered"
        );
    }
    assert!(
        acknowledged.len() > 20,
        "only {} writes",
        acknowledged.len()
    );
    drop(apis.remove(0));
}
