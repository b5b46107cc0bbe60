//! Transport-level cases: content types, bodies that are not GraphQL
//! requests, methods, sizes and batches.

use reqwest::Method;
use serde_json::{Value, json};

use super::Category::{Batch, Body, ContentType, Method as MethodCase, Pass, Payload};
use super::{
    Case, Expect, GRAPHQL_RESPONSE_JSON, case, get, http, json_body, limit, raw, request, with_type,
};

/// What a browser form could post: were it accepted, a category would be
/// created and the final snapshot would show it.
const CSRF: &str =
    r#"{"query":"mutation { createCategory(input: {name: \"csrf\"}) { category { id } } }"}"#;
const OK_QUERY: &str = r#"{"query":"{ tasks { totalCount } }"}"#;

/// Default HTTP_MAX_BODY_BYTES.
const MAX_BODY: usize = 262_144;
/// Default GRAPHQL_MAX_BATCH.
const MAX_BATCH: usize = 10;

/// A valid request padded with trailing whitespace to exactly `len` bytes.
pub fn padded_body(len: usize) -> Vec<u8> {
    let mut body = OK_QUERY.as_bytes().to_vec();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

fn batch_of(n: usize, query: &str) -> Value {
    Value::Array((0..n).map(|_| json!({ "query": query })).collect())
}

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let unsupported = http(415, "UNSUPPORTED_MEDIA_TYPE");

    // --- Content types: only application/json (with parameters) is accepted.
    for (name, content_type) in [
        ("text/plain", Some("text/plain")),
        ("text/plain with charset", Some("text/plain; charset=utf-8")),
        ("form-urlencoded", Some("application/x-www-form-urlencoded")),
        ("multipart", Some("multipart/form-data; boundary=x")),
        ("application/graphql", Some("application/graphql")),
        ("no content type", None),
        ("empty content type", Some("")),
        ("text/json", Some("text/json")),
        ("application/json-seq", Some("application/json-seq")),
        ("application/jsonx", Some("application/jsonx")),
        (
            "graphql-response+json as request type",
            Some(GRAPHQL_RESPONSE_JSON),
        ),
        ("application/xml", Some("application/xml")),
        ("wildcard */*", Some("*/*")),
        ("bare json", Some("json")),
        ("a list of types", Some("application/json, text/plain")),
        (
            "json as a parameter",
            Some("text/plain; type=application/json"),
        ),
    ] {
        cases.push(case(
            format!("POST with content type {name}"),
            ContentType,
            with_type(content_type, CSRF),
            unsupported.clone(),
        ));
    }
    cases.push(case(
        "POST text/plain asking for graphql-response+json",
        ContentType,
        with_type(Some("text/plain"), CSRF).accept(GRAPHQL_RESPONSE_JSON),
        unsupported.clone(),
    ));
    for (name, content_type) in [
        ("json with charset", "application/json; charset=utf-8"),
        ("JSON in upper case", "APPLICATION/JSON"),
        (
            "json with spaced charset",
            "application/json ; charset=UTF-8",
        ),
    ] {
        cases.push(case(
            format!("POST with content type {name} is accepted"),
            Pass,
            with_type(Some(content_type), OK_QUERY),
            Expect::Ok,
        ));
    }

    // --- Bodies that are not a GraphQL request.
    let bad = http(400, "BAD_REQUEST");
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", b"{".to_vec()),
        ("empty body", b"".to_vec()),
        ("whitespace body", b"  \n ".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("JSON number", b"42".to_vec()),
        ("JSON true", b"true".to_vec()),
        ("JSON string", br#""{ tasks { totalCount } }""#.to_vec()),
        ("query missing", br#"{"variables": {}}"#.to_vec()),
        ("empty object", b"{}".to_vec()),
        ("query a number", br#"{"query": 42}"#.to_vec()),
        ("query null", br#"{"query": null}"#.to_vec()),
        ("query a list", br#"{"query": ["{ __typename }"]}"#.to_vec()),
        (
            "query an object",
            br#"{"query": {"text": "{ __typename }"}}"#.to_vec(),
        ),
        ("query a boolean", br#"{"query": true}"#.to_vec()),
        (
            "query key in other case",
            br#"{"Query": "{ __typename }"}"#.to_vec(),
        ),
        (
            "variables a string",
            br#"{"query": "{ __typename }", "variables": "{}"}"#.to_vec(),
        ),
        (
            "variables a number",
            br#"{"query": "{ __typename }", "variables": 42}"#.to_vec(),
        ),
        (
            "variables a list",
            br#"{"query": "{ __typename }", "variables": [1]}"#.to_vec(),
        ),
        (
            "variables a boolean",
            br#"{"query": "{ __typename }", "variables": true}"#.to_vec(),
        ),
        (
            "operationName a number",
            br#"{"query": "{ __typename }", "operationName": 42}"#.to_vec(),
        ),
        (
            "operationName an object",
            br#"{"query": "{ __typename }", "operationName": {}}"#.to_vec(),
        ),
        (
            "operationName a list",
            br#"{"query": "query A { __typename }", "operationName": ["A"]}"#.to_vec(),
        ),
        (
            "extensions a number",
            br#"{"query": "{ __typename }", "extensions": 5}"#.to_vec(),
        ),
        (
            "invalid UTF-8 byte",
            b"{\"query\": \"{ __typename } \xff\"}".to_vec(),
        ),
        (
            "overlong UTF-8 encoding",
            b"{\"query\": \"{ __typename \xc0\xaf }\"}".to_vec(),
        ),
        (
            "truncated UTF-8 sequence",
            b"{\"query\": \"{ __typename } \xe2\x82\"}".to_vec(),
        ),
        (
            "UTF-8 encoded surrogate",
            b"{\"query\": \"{ __typename } \xed\xa0\x80\"}".to_vec(),
        ),
        ("UTF-16 body", {
            let mut utf16 = vec![0xff, 0xfe];
            for unit in OK_QUERY.encode_utf16() {
                utf16.extend_from_slice(&unit.to_le_bytes());
            }
            utf16
        }),
        ("UTF-8 byte order mark", {
            let mut bom = vec![0xef, 0xbb, 0xbf];
            bom.extend_from_slice(OK_QUERY.as_bytes());
            bom
        }),
        (
            "lone surrogate escape",
            br#"{"query": "{ __typename } \ud800"}"#.to_vec(),
        ),
        (
            "trailing garbage",
            br#"{"query": "{ __typename }"} x"#.to_vec(),
        ),
        (
            "two JSON objects",
            br#"{"query": "{ __typename }"}{"query": "{ __typename }"}"#.to_vec(),
        ),
        (
            "raw control character in a string",
            b"{\"query\": \"{ __typename \x01 }\"}".to_vec(),
        ),
        (
            "number out of range",
            br#"{"query": "{ __typename }", "variables": {"n": 1e400}}"#.to_vec(),
        ),
        (
            "NaN",
            br#"{"query": "{ __typename }", "variables": {"n": NaN}}"#.to_vec(),
        ),
        ("single quotes", br#"{'query': '{ __typename }'}"#.to_vec()),
        (
            "trailing comma",
            br#"{"query": "{ __typename }",}"#.to_vec(),
        ),
        (
            "comment in JSON",
            b"{\"query\": \"{ __typename }\" // hi\n}".to_vec(),
        ),
        ("unquoted key", br#"{query: "{ __typename }"}"#.to_vec()),
        ("JSON nesting bomb", {
            let mut deep = br#"{"query": "{ __typename }", "variables": {"v": "#.to_vec();
            deep.extend(std::iter::repeat_n(b'[', 50_000));
            deep.extend(std::iter::repeat_n(b']', 50_000));
            deep.extend_from_slice(b"}}");
            deep
        }),
        ("NUL bytes", vec![0; 64]),
        ("empty batch", b"[]".to_vec()),
        ("batch of a number", b"[42]".to_vec()),
        ("batch of null", b"[null]".to_vec()),
        (
            "batch with a non-string query",
            br#"[{"query": 1}]"#.to_vec(),
        ),
        (
            "batch with one bad operation",
            br#"[{"query": "{ __typename }"}, 42]"#.to_vec(),
        ),
        (
            "nested batch",
            br#"[[{"query": "{ __typename }"}]]"#.to_vec(),
        ),
    ];
    for (name, body) in bodies {
        let category = if name.contains("batch") { Batch } else { Body };
        cases.push(case(
            format!("body: {name}"),
            category,
            raw(body),
            bad.clone(),
        ));
    }
    cases.push(case(
        "body: not JSON, asking for graphql-response+json",
        Body,
        raw("{").accept(GRAPHQL_RESPONSE_JSON),
        bad.clone(),
    ));
    cases.push(case(
        "body: variables null is accepted",
        Pass,
        raw(r#"{"query": "{ __typename }", "variables": null, "operationName": null}"#),
        Expect::Ok,
    ));

    // --- Methods and GET.
    cases.push(case(
        "GET with a mutation",
        MethodCase,
        get(&[(
            "query",
            "mutation { deleteCompletedTasks { deletedTaskIds } }",
        )]),
        Expect::MethodNotAllowed,
    ));
    cases.push(case(
        "GET with a mutation picked by operationName",
        MethodCase,
        get(&[
            (
                "query",
                "query Q { __typename } mutation M { deleteCompletedTasks { deletedTaskIds } }",
            ),
            ("operationName", "M"),
        ]),
        Expect::MethodNotAllowed,
    ));
    cases.push(case(
        "GET with a mutation that creates",
        MethodCase,
        get(&[(
            "query",
            "mutation { createCategory(input: {name: \"via GET\"}) { category { id } } }",
        )]),
        Expect::MethodNotAllowed,
    ));
    cases.push(case(
        "GET with a subscription",
        MethodCase,
        get(&[("query", "subscription { taskEvents { kind } }")]),
        Expect::MethodNotAllowed,
    ));
    for (name, params) in [
        ("GET without query", vec![]),
        ("GET with only operationName", vec![("operationName", "Q")]),
        (
            "GET with variables not JSON",
            vec![("query", "{ __typename }"), ("variables", "{nope")],
        ),
        (
            "GET with variables a list",
            vec![("query", "{ __typename }"), ("variables", "[1]")],
        ),
        (
            "GET with variables a number",
            vec![("query", "{ __typename }"), ("variables", "42")],
        ),
        (
            "GET with extensions not an object",
            vec![("query", "{ __typename }"), ("extensions", "[]")],
        ),
    ] {
        cases.push(case(name, MethodCase, get(&params), bad.clone()));
    }
    cases.push(case(
        "GET with a syntax error",
        MethodCase,
        get(&[("query", "{ tasks {")]),
        request("GRAPHQL_PARSE_FAILED"),
    ));
    cases.push(case(
        "GET with an unknown field",
        MethodCase,
        get(&[("query", "{ nope }")]),
        request("GRAPHQL_VALIDATION_FAILED"),
    ));
    cases.push(case(
        "GET with a depth bomb",
        MethodCase,
        get(&[("query", &super::graphql_cases::parent_chain(11))]),
        limit("depth"),
    ));
    cases.push(case(
        "GET query is still served",
        Pass,
        get(&[("query", "{ tasks { totalCount } }")]),
        Expect::Ok,
    ));
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        cases.push(case(
            format!("{method} /graphql"),
            MethodCase,
            super::Req::Method(method),
            Expect::Status(405),
        ));
    }

    // --- Sizes.
    let too_large = http(413, "PAYLOAD_TOO_LARGE");
    cases.push(case(
        "body one byte over HTTP_MAX_BODY_BYTES",
        Payload,
        raw(padded_body(MAX_BODY + 1)),
        too_large.clone(),
    ));
    cases.push(case(
        "body of 1 MiB",
        Payload,
        raw(padded_body(1024 * 1024)),
        too_large.clone(),
    ));
    cases.push(case(
        "oversize body that is not JSON",
        Payload,
        raw(vec![b'x'; MAX_BODY + 4096]),
        too_large.clone(),
    ));
    cases.push(case(
        "oversize body sent chunked",
        Payload,
        raw(padded_body(MAX_BODY + 64 * 1024)).chunked(),
        too_large.clone(),
    ));
    cases.push(case(
        "oversize body asking for graphql-response+json",
        Payload,
        raw(padded_body(MAX_BODY + 1)).accept(GRAPHQL_RESPONSE_JSON),
        too_large.clone(),
    ));
    cases.push(case(
        "oversize variables",
        Payload,
        json_body(&json!({
            "query": "query($s: String) { tasks(filter: {search: $s}) { totalCount } }",
            "variables": { "s": "x".repeat(MAX_BODY) },
        })),
        too_large,
    ));
    cases.push(case(
        "body of exactly HTTP_MAX_BODY_BYTES is accepted",
        Pass,
        raw(padded_body(MAX_BODY)),
        Expect::Ok,
    ));
    cases.push(case(
        "small body sent chunked is accepted",
        Pass,
        raw(OK_QUERY).chunked(),
        Expect::Ok,
    ));

    // --- Batches.
    let batch_limit = Expect::HttpLimit {
        status: 400,
        code: "LIMIT_EXCEEDED",
        limit: "batch",
    };
    cases.push(case(
        "batch one over GRAPHQL_MAX_BATCH",
        Batch,
        json_body(&batch_of(MAX_BATCH + 1, "{ __typename }")),
        batch_limit.clone(),
    ));
    cases.push(case(
        "batch bomb of 1000 operations",
        Batch,
        json_body(&batch_of(1000, "{ tasks { totalCount } }")),
        batch_limit.clone(),
    ));
    cases.push(case(
        "batch of 11 mutations",
        Batch,
        json_body(&Value::Array(
            (0..=MAX_BATCH)
                .map(|i| {
                    json!({ "query": format!(
                        "mutation {{ createCategory(input: {{name: \"batch {i}\"}}) {{ category {{ id }} }} }}"
                    ) })
                })
                .collect(),
        )),
        batch_limit,
    ));
    cases.push(case(
        "batch of depth bombs",
        Batch,
        json_body(&batch_of(
            MAX_BATCH,
            &super::graphql_cases::parent_chain(11),
        )),
        Expect::Batch(vec![limit("depth"); MAX_BATCH]),
    ));
    cases.push(case(
        "batch with a syntax error and a good query",
        Batch,
        json_body(&json!([{ "query": "{ tasks {" }, { "query": "{ __typename }" }])),
        Expect::Batch(vec![request("GRAPHQL_PARSE_FAILED"), Expect::Ok]),
    ));
    cases.push(case(
        "batch of GRAPHQL_MAX_BATCH is accepted",
        Pass,
        json_body(&batch_of(MAX_BATCH, "{ tasks { totalCount } }")),
        Expect::Batch(vec![Expect::Ok; MAX_BATCH]),
    ));
    cases
}
