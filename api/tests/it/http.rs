//! The HTTP surface: GraphQL over HTTP rules, health, SDL and GraphiQL.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::common::TestApp;

crate::on_both_backends!(
    get_runs_queries_but_never_mutations,
    post_requires_json,
    malformed_requests_get_400,
    graphql_response_json_gets_status_codes,
    batches_are_bounded,
    health_sdl_and_graphiql,
);

async fn get_runs_queries_but_never_mutations(app: TestApp) {
    app.create_task(json!({ "description": "via GET" })).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ tasks { nodes { description } } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["tasks"]["nodes"][0]["description"], "via GET");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { deleteCompletedTasks { deletedTaskIds } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[ALLOW], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "METHOD_NOT_ALLOWED"
    );

    // The operation picked by name decides.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query Q { tasks { totalCount } } mutation M { deleteCompletedTasks { deletedTaskIds } }"),
            ("operationName", "M"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let tasks = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(tasks["tasks"]["totalCount"], 1);
}

async fn post_requires_json(app: TestApp) {
    let body =
        r#"{"query":"mutation { createTask(input: {description: \"csrf\"}) { task { id } } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = app.client.post(app.url("/graphql")).body(body);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let tasks = app.data("{ tasks { totalCount } }", json!({})).await;
    assert_eq!(tasks["tasks"]["totalCount"], 0, "nothing was created");

    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn post_raw(app: &TestApp, body: &'static str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn malformed_requests_get_400(app: TestApp) {
    for body in [
        "{",
        "",
        "null",
        "42",
        r#"{"variables": {}}"#,
        r#"{"query": 42}"#,
        r#"{"query": "{ tasks { totalCount } }", "variables": "nope"}"#,
        "[]",
    ] {
        let (status, json) = post_raw(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{body}"
        );
    }
    // Well-formed HTTP, bad GraphQL: 200 with codes (application/json clients).
    let (status, json) = post_raw(&app, r#"{"query": "{ tasks { "}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    let (status, json) = post_raw(&app, r#"{"query": "{ tasks { nope } }"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let (_, json) = post_raw(&app, r#"{"query": "query($n: Int) { tasks(first: $n) { totalCount } }", "variables": {"n": "ten"}}"#).await;
    let code = json["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default();
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "wrong variable type: {json}"
    );
}

async fn graphql_response_json_gets_status_codes(app: TestApp) {
    let send = |query: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/graphql-response+json")
            .body(json!({ "query": query }).to_string())
            .send()
    };
    let response = send("{ tasks {").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/graphql-response+json"
    );
    let response = send("{ tasks { totalCount } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/graphql-response+json"
    );
    // A field error is still a 200: the request was executed.
    let response = send("{ task(id: \"bad\") { id } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["path"], json!(["task"]));
}

async fn batches_are_bounded(app: TestApp) {
    let batch = json!([
        { "query": "mutation { createTask(input: {description: \"one\"}) { task { description } } }" },
        { "query": "{ tasks { totalCount } }" }
    ]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["createTask"]["task"]["description"], "one");
    assert_eq!(body[1]["data"]["tasks"]["totalCount"], 1);

    let too_many: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ tasks { totalCount } }" }))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn health_sdl_and_graphiql(app: TestApp) {
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), api::graphql::sdl());

    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"), "GraphiQL page");
    assert!(page.contains("/graphql"));
}
