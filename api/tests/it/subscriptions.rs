//! `taskEvents` over both WebSocket subprotocols.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::common::ws::{connect, next_event, receive, send, wait_until_live};

crate::on_both_backends!(
    graphql_transport_ws_sees_every_kind_after_commit,
    legacy_graphql_ws_protocol_works,
    filters_select_events,
    operations_that_ran_and_failed_answer_with_their_errors,
    sockets_with_the_same_subscription_each_get_every_event_once_in_order,
);

const EVENTS: &str = "subscription($filter: TaskEventFilter) { taskEvents(filter: $filter) { kind taskId task { description done version } } }";

async fn graphql_transport_ws_sees_every_kind_after_commit(app: TestApp) {
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "s1", "type": "subscribe", "payload": { "query": EVENTS, "variables": { "filter": null } } }),
    )
    .await;
    wait_until_live(&app, &mut socket).await;

    let task = app
        .create_task(json!({ "description": "Water plants" }))
        .await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["taskId"], task["id"]);
    assert_eq!(event["task"]["description"], "Water plants");

    app.set_done(&task["id"], true).await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "UPDATED");
    assert_eq!(event["task"]["done"], true);
    assert_eq!(event["task"]["version"], 2);

    // A failed change publishes nothing: the next event is the delete.
    let (code, _) = app
        .error(
            "mutation($id: ID!) { updateTask(input: {id: $id, expectedVersion: 1, done: false}) { task { id } } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    app.data(
        "mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }",
        json!({ "id": task["id"] }),
    )
    .await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "DELETED");
    assert_eq!(event["taskId"], task["id"]);
    assert!(event["task"].is_null());

    send(&mut socket, json!({ "id": "s1", "type": "complete" })).await;
    socket.close(None).await.expect("close");
}

async fn legacy_graphql_ws_protocol_works(app: TestApp) {
    let mut socket = connect(&app.ws_url(), "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "start", "payload": { "query": EVENTS } }),
    )
    .await;
    wait_until_live(&app, &mut socket).await;

    let task = app
        .create_task(json!({ "description": "Legacy client" }))
        .await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["taskId"], task["id"]);

    send(&mut socket, json!({ "id": "1", "type": "stop" })).await;
    let complete = receive(&mut socket).await;
    assert_eq!(complete["type"], "complete");
    assert_eq!(complete["id"], "1");
}

async fn filters_select_events(app: TestApp) {
    let parent = app.create_task(json!({ "description": "Parent" })).await;
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    // Only updates of sub-tasks of `parent`.
    send(
        &mut socket,
        json!({ "id": "f", "type": "subscribe", "payload": { "query": EVENTS,
            "variables": { "filter": { "kinds": ["UPDATED"], "parentId": parent["id"] } } } }),
    )
    .await;
    // Probe: a sub-task updated until the subscription delivers.
    let probe = app
        .create_task(json!({ "description": "probe", "parentId": parent["id"] }))
        .await;
    let mut live = false;
    for i in 0..50 {
        app.set_done(&probe["id"], i % 2 == 0).await;
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            live = true;
            break;
        }
    }
    assert!(live, "subscription never delivered an event");

    let outside = app.create_task(json!({ "description": "Outside" })).await;
    app.set_done(&outside["id"], true).await; // wrong parent
    let child = app
        .create_task(json!({ "description": "Child", "parentId": parent["id"] }))
        .await; // wrong kind
    app.set_done(&child["id"], true).await; // matches
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "UPDATED");
    assert_eq!(event["taskId"], child["id"]);
}

/// A mutation over a socket that ran and failed (a missing id, a stale
/// version, a bad input) answers as over HTTP: its result, `data` with
/// `errors`, then `complete`. Only a request that could not start (here, a
/// validation error) gets the protocol's `error` message.
async fn operations_that_ran_and_failed_answer_with_their_errors(app: TestApp) {
    use base64::Engine as _;
    let task = app.create_task(json!({ "description": "versioned" })).await;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("Task:{}", uuid::Uuid::now_v7().simple()));
    let update = "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { task { id } } }";
    let create = "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }";
    let cases = [
        (
            update,
            json!({ "i": { "id": missing, "done": true } }),
            "NOT_FOUND",
        ),
        (
            update,
            json!({ "i": { "id": task["id"], "done": true, "expectedVersion": 7 } }),
            "CONFLICT",
        ),
        (
            create,
            json!({ "i": { "description": "" } }),
            "BAD_USER_INPUT",
        ),
    ];
    for (protocol, start, result) in [
        ("graphql-transport-ws", "subscribe", "next"),
        ("graphql-ws", "start", "data"),
    ] {
        let mut socket = connect(&app.ws_url(), protocol).await;
        send(&mut socket, json!({ "type": "connection_init" })).await;
        assert_eq!(receive(&mut socket).await["type"], "connection_ack");
        for (n, (query, variables, code)) in cases.iter().enumerate() {
            let id = n.to_string();
            send(
                &mut socket,
                json!({ "id": id, "type": start,
                    "payload": { "query": query, "variables": variables } }),
            )
            .await;
            let answer = receive(&mut socket).await;
            assert_eq!(answer["type"], result, "{protocol} {code}: {answer}");
            assert_eq!(answer["id"], id.as_str(), "{answer}");
            assert!(answer["payload"]["data"].is_null(), "{answer}");
            assert_eq!(
                answer["payload"]["errors"][0]["extensions"]["code"], *code,
                "{protocol}: {answer}"
            );
            assert!(
                answer["payload"]["errors"][0]["path"].is_array(),
                "{answer}"
            );
            let complete = receive(&mut socket).await;
            assert_eq!(
                complete["type"], "complete",
                "{protocol} {code}: {complete}"
            );
            assert_eq!(complete["id"], id.as_str(), "{complete}");
        }
        // Nothing ran: the protocol's `error`, and no `complete` after it.
        send(
            &mut socket,
            json!({ "id": "v", "type": start, "payload": { "query": "{ noSuchField }" } }),
        )
        .await;
        let refused = receive(&mut socket).await;
        assert_eq!(refused["type"], "error", "{protocol}: {refused}");
        assert_eq!(refused["id"], "v", "{refused}");
        assert_eq!(
            refused["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{protocol}: {refused}"
        );
        // The socket still serves; the next answer is the next operation's.
        send(
            &mut socket,
            json!({ "id": "w", "type": start, "payload": { "query": "{ viewer { id } }" } }),
        )
        .await;
        let next = receive(&mut socket).await;
        assert_eq!(
            next["id"], "w",
            "{protocol}: a message followed the error: {next}"
        );
        assert!(
            next["payload"]["data"]["viewer"]["id"].is_string(),
            "{next}"
        );
    }
}

/// Sockets making the same live subscription share one execution on the
/// server. Each still gets every event once, in order: those there from the
/// start all of them, those joining while events flow every event from
/// some point on, without a gap, through the last.
async fn sockets_with_the_same_subscription_each_get_every_event_once_in_order(app: TestApp) {
    async fn subscribe(app: &TestApp) -> crate::common::ws::Socket {
        let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init" })).await;
        assert_eq!(receive(&mut socket).await["type"], "connection_ack");
        send(
            &mut socket,
            json!({ "id": "shared", "type": "subscribe", "payload": {
                "query": EVENTS, "variables": { "filter": { "kinds": ["CREATED"] } } } }),
        )
        .await;
        socket
    }
    let mut early = Vec::new();
    for _ in 0..6 {
        let mut socket = subscribe(&app).await;
        wait_until_live(&app, &mut socket).await;
        early.push(socket);
    }
    let mut late = Vec::new();
    let written: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
    for (i, description) in written.iter().enumerate() {
        app.create_task(json!({ "description": description })).await;
        if i % 10 == 4 {
            late.push(subscribe(&app).await);
        }
    }
    app.create_task(json!({ "description": "end" })).await;
    let mut all = written.clone();
    all.push("end".into());

    async fn until_end(socket: &mut crate::common::ws::Socket) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let event = next_event(socket).await;
            let description = event["task"]["description"].as_str().unwrap_or_default();
            seen.push(description.to_owned());
            if description == "end" {
                return seen;
            }
        }
    }
    for socket in &mut early {
        assert_eq!(
            until_end(socket).await,
            all,
            "a socket there from the start"
        );
    }
    for socket in &mut late {
        let seen = until_end(socket).await;
        assert!(
            all.ends_with(&seen),
            "a socket that joined midway got {seen:?}, not a suffix of {all:?}"
        );
    }
}
