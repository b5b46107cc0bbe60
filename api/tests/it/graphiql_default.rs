//! The document GraphiQL opens with runs as it stands: each of its
//! operations, by name, against the real schema (a query with a filter, a
//! mutation and a subscription), and the page carries it.

use std::time::Duration;

use api::http::graphiql::DEFAULT_QUERY;
use async_graphql::parser::types::OperationType;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::ws::{connect, receive, send};

crate::on_both_backends!(every_operation_of_the_first_document_runs);

/// The document's operations, by kind; it holds exactly one of each.
fn operations() -> [String; 3] {
    let document = async_graphql::parser::parse_query(DEFAULT_QUERY)
        .unwrap_or_else(|e| panic!("GraphiQL's default document does not parse: {e}"));
    let named = |kind: OperationType| -> String {
        let names: Vec<String> = document
            .operations
            .iter()
            .filter(|(_, op)| op.node.ty == kind)
            .map(|(name, _)| name.expect("every operation is named").to_string())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "one {kind:?} in the document, not {names:?}"
        );
        names[0].clone()
    };
    [
        named(OperationType::Query),
        named(OperationType::Mutation),
        named(OperationType::Subscription),
    ]
}

/// Runs one operation of the document over HTTP, as GraphiQL sends it.
async fn run(app: &TestApp, operation: &str) -> Value {
    let response: Value = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": DEFAULT_QUERY, "operationName": operation }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON");
    assert!(
        response.get("errors").is_none(),
        "{operation} of GraphiQL's default document failed: {response:#}"
    );
    response["data"].clone()
}

async fn every_operation_of_the_first_document_runs(app: TestApp) {
    let [query, mutation, subscription] = operations();

    // The subscription, over the socket GraphiQL uses.
    let mut socket = connect(&app.ws_url(), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe",
                "payload": { "query": DEFAULT_QUERY, "operationName": subscription } }),
    )
    .await;

    let before = run(&app, &query).await;
    assert_eq!(before["tasks"]["totalCount"], 0, "{before:#}");

    // The mutation, until the subscription (set up asynchronously) hears it.
    let mut created = 0;
    let event = loop {
        let task = run(&app, &mutation).await;
        assert!(task["createTask"]["task"]["id"].is_string(), "{task:#}");
        created += 1;
        if let Ok(message) =
            tokio::time::timeout(Duration::from_millis(300), receive(&mut socket)).await
        {
            break message;
        }
        assert!(created < 50, "the subscription never delivered");
    };
    assert_eq!(event["type"], "next", "{event:#}");
    assert!(event["payload"].get("errors").is_none(), "{event:#}");
    assert_eq!(event["payload"]["data"]["taskEvents"]["kind"], "CREATED");
    assert_eq!(
        event["payload"]["data"]["taskEvents"]["task"]["description"],
        "Try GraphiQL"
    );

    // The query's filter and order leave the new, open tasks in.
    let after = run(&app, &query).await;
    assert_eq!(after["tasks"]["totalCount"], created, "{after:#}");
    assert_eq!(after["tasks"]["nodes"][0]["description"], "Try GraphiQL");

    // And the page opens with it.
    let page = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("defaultQuery: {}", Value::from(DEFAULT_QUERY))));
}
