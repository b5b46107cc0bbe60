//! Automatic persisted queries gone wrong: a hash that is not its text's, a
//! malformed `extensions.persistedQuery`, a version other than 1, a hash
//! that is not hex, and hashes the server does not know, over POST and GET.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Category::{Pass, Persisted};
use super::{Case, Expect, GRAPHQL_RESPONSE_JSON, case, get, http, json_body, request};

/// Were it run, a category would be created and the final snapshot show it.
const WRITE: &str = "mutation { createCategory(input: {name: \"persisted\"}) { category { id } } }";
const READ: &str = "{ tasks { totalCount } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn with(query: Option<&str>, persisted_query: Value) -> Value {
    let mut body = json!({ "extensions": { "persistedQuery": persisted_query } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    body
}

fn v1(hash: &str) -> Value {
    json!({ "version": 1, "sha256Hash": hash })
}

pub fn cases() -> Vec<Case> {
    let bad = request("BAD_USER_INPUT");
    let bad_for_new_clients = Expect::Request {
        status: 400,
        code: "BAD_USER_INPUT",
        limit: None,
    };
    let hash = sha256(WRITE);
    let malformed: Vec<(&str, Value)> = vec![
        ("a number", json!(1)),
        ("a string", json!(hash)),
        ("a list", json!([1, hash])),
        ("an empty object", json!({})),
        ("without version", json!({ "sha256Hash": hash })),
        ("version 2", json!({ "version": 2, "sha256Hash": hash })),
        ("version 0", json!({ "version": 0, "sha256Hash": hash })),
        (
            "version \"1\"",
            json!({ "version": "1", "sha256Hash": hash }),
        ),
        ("version 1.5", json!({ "version": 1.5, "sha256Hash": hash })),
        ("without sha256Hash", json!({ "version": 1 })),
        (
            "sha256Hash a number",
            json!({ "version": 1, "sha256Hash": 42 }),
        ),
        (
            "sha256Hash null",
            json!({ "version": 1, "sha256Hash": null }),
        ),
        ("sha256Hash not hex", v1(&"zz".repeat(32))),
        ("sha256Hash too short", v1(&hash[..63])),
        ("sha256Hash too long", v1(&format!("{hash}0"))),
        ("sha256Hash empty", v1("")),
        ("sha256Hash base64", v1("3q2+7w==")),
        (
            "sha256Hash with another prefix",
            v1(&format!("sha1:{hash}")),
        ),
    ];
    let mut cases = Vec::new();
    for (name, extension) in &malformed {
        cases.push(case(
            format!("persistedQuery {name}, with the query"),
            Persisted,
            json_body(&with(Some(WRITE), extension.clone())),
            bad.clone(),
        ));
        cases.push(case(
            format!("persistedQuery {name}, hash only"),
            Persisted,
            json_body(&with(None, extension.clone())),
            bad.clone(),
        ));
        cases.push(case(
            format!("GET persistedQuery {name}"),
            Persisted,
            get(&[(
                "extensions",
                &json!({ "persistedQuery": extension }).to_string(),
            )]),
            bad.clone(),
        ));
    }
    cases.push(case(
        "persistedQuery version 2 asking for graphql-response+json",
        Persisted,
        json_body(&with(None, json!({ "version": 2, "sha256Hash": hash })))
            .accept(GRAPHQL_RESPONSE_JSON),
        bad_for_new_clients.clone(),
    ));

    // The hash of another document: checked, refused, nothing registered.
    let wrong = v1(&sha256(READ));
    cases.push(case(
        "a write sent with the hash of another document",
        Persisted,
        json_body(&with(Some(WRITE), wrong.clone())),
        bad.clone(),
    ));
    cases.push(case(
        "a write sent with the hash of another document, graphql-response+json",
        Persisted,
        json_body(&with(Some(WRITE), wrong.clone())).accept(GRAPHQL_RESPONSE_JSON),
        bad_for_new_clients,
    ));
    cases.push(case(
        "a query sent with the hash of its text plus a space",
        Persisted,
        json_body(&with(Some(READ), v1(&sha256(&format!("{READ} "))))),
        bad.clone(),
    ));
    cases.push(case(
        "GET with the hash of another document",
        Persisted,
        get(&[
            ("query", READ),
            (
                "extensions",
                &json!({ "persistedQuery": v1(&hash) }).to_string(),
            ),
        ]),
        bad,
    ));

    // Unknown hashes: the handshake's first step, never a write.
    let not_found = request("PERSISTED_QUERY_NOT_FOUND");
    cases.push(case(
        "the hash alone of a write never sent",
        Persisted,
        json_body(&with(None, v1(&hash))),
        not_found.clone(),
    ));
    cases.push(case(
        "the hash alone of a write never sent, with \"query\": null",
        Persisted,
        json_body(&json!({ "query": null, "extensions": { "persistedQuery": v1(&hash) } })),
        not_found.clone(),
    ));
    cases.push(case(
        "the hash alone over GET, graphql-response+json",
        Persisted,
        get(&[(
            "extensions",
            &json!({ "persistedQuery": v1(&hash) }).to_string(),
        )])
        .accept(GRAPHQL_RESPONSE_JSON),
        Expect::Request {
            status: 400,
            code: "PERSISTED_QUERY_NOT_FOUND",
            limit: None,
        },
    ));
    cases.push(case(
        "persistedQuery null is no hash: the query is still required",
        Persisted,
        json_body(&json!({ "extensions": { "persistedQuery": null } })),
        http(400, "BAD_REQUEST"),
    ));

    cases.push(case(
        "a query with its own hash runs",
        Pass,
        json_body(&with(Some(READ), v1(&sha256(READ)))),
        Expect::Ok,
    ));
    cases
}
