//! `taskEvents` over both WebSocket subprotocols.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::common::ws::{Socket, connect, receive, send};

crate::on_both_backends!(
    graphql_transport_ws_sees_every_kind_after_commit,
    legacy_graphql_ws_protocol_works,
    filters_select_events,
);

const EVENTS: &str = "subscription($filter: TaskEventFilter) { taskEvents(filter: $filter) { kind taskId task { description done version } } }";

/// The next task event that is not one of our probes.
async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = receive(socket).await;
        assert!(
            matches!(message["type"].as_str(), Some("next" | "data")),
            "{message}"
        );
        let event = message["payload"]["data"]["taskEvents"].clone();
        if event["task"]["description"] != "probe" {
            return event;
        }
    }
}

/// The server subscribes asynchronously: make probe changes until one is seen,
/// so the test never races the subscription being set up.
async fn wait_until_live(app: &TestApp, socket: &mut Socket) {
    for _ in 0..50 {
        app.create_task(json!({ "description": "probe" })).await;
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            let value: Value = serde_json::from_str(&text).expect("JSON");
            if matches!(value["type"].as_str(), Some("next" | "data")) {
                return;
            }
        }
    }
    panic!("subscription never delivered an event");
}

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
