//! Cases that need their own configuration: every limit lowered (and the
//! parser nesting limit with the others raised), and production's closed
//! introspection. Each set runs on its own SQLite server.

use serde_json::{Value, json};

use super::Category::{Batch, Introspection, Limits, Pass, Payload};
use super::graphql_cases::{
    aliases, directives, document_of, fragment_chain, parent_chain, root_fields, tokens,
};
use super::http_cases::padded_body;
use super::{Case, Expect, GRAPHQL_RESPONSE_JSON, case, get, json_body, limit, q, raw, request};
use crate::common::{Backend, TestApp};

pub struct ConfigSet {
    pub vars: Vec<(&'static str, &'static str)>,
    pub cases: Vec<Case>,
    /// How the set's server is asked whether it still serves.
    pub authorization: Option<String>,
    /// The source address it is asked from (another client than the
    /// cases', whose bucket they emptied).
    pub serving_from: Option<&'static str>,
}

fn set(vars: &[(&'static str, &'static str)], cases: Vec<Case>) -> ConfigSet {
    ConfigSet {
        vars: vars.to_vec(),
        cases,
        authorization: None,
        serving_from: None,
    }
}

/// One limit lowered: a request just over it is refused, one at it is served.
fn lowered(
    var: &'static str,
    value: &'static str,
    which: &'static str,
    over: String,
    at: String,
) -> ConfigSet {
    set(
        &[(var, value)],
        vec![
            case(
                format!("{var}={value}: just over"),
                Limits,
                q(&over),
                limit(which),
            ),
            case(
                format!("{var}={value}: at the limit"),
                Pass,
                q(&at),
                Expect::Ok,
            ),
        ],
    )
}

fn batch(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|_| json!({ "query": "{ tasks { totalCount } }" }))
            .collect(),
    )
}

const INTROSPECTION: &str = "{ __schema { types { name } } }";

pub fn sets() -> Vec<ConfigSet> {
    let closed = request("GRAPHQL_VALIDATION_FAILED");
    let no_hint = || {
        Expect::Without(
            Box::new(request("GRAPHQL_VALIDATION_FAILED")),
            "Did you mean",
        )
    };
    let mut sets = vec![
        lowered(
            "GRAPHQL_MAX_DEPTH",
            "3",
            "depth",
            parent_chain(4),
            parent_chain(3),
        ),
        lowered(
            "GRAPHQL_MAX_COMPLEXITY",
            "50",
            "complexity",
            "{ tasks(first: 30) { nodes { id } } }".into(),
            "{ tasks(first: 24) { nodes { id } } }".into(),
        ),
        lowered(
            "GRAPHQL_MAX_ALIASES",
            "2",
            "aliases",
            aliases(3),
            aliases(2),
        ),
        lowered(
            "GRAPHQL_MAX_ROOT_FIELDS",
            "2",
            "rootFields",
            root_fields(3),
            root_fields(2),
        ),
        lowered(
            "GRAPHQL_MAX_DIRECTIVES",
            "1",
            "directives",
            directives(2, true),
            directives(1, false),
        ),
        lowered(
            "GRAPHQL_MAX_DOCUMENT_BYTES",
            "64",
            "documentBytes",
            document_of(65),
            document_of(64),
        ),
        lowered("GRAPHQL_MAX_TOKENS", "20", "tokens", tokens(21), tokens(20)),
        lowered(
            "GRAPHQL_MAX_RECURSIVE_DEPTH",
            "4",
            "recursiveDepth",
            fragment_chain(8),
            fragment_chain(3),
        ),
        set(
            &[("GRAPHQL_MAX_DEPTH", "3")],
            vec![case(
                "GRAPHQL_MAX_DEPTH=3: just over, graphql-response+json",
                Limits,
                q(&parent_chain(4)).accept(GRAPHQL_RESPONSE_JSON),
                Expect::Request {
                    status: 400,
                    code: "LIMIT_EXCEEDED",
                    limit: Some("depth"),
                },
            )],
        ),
        set(
            &[("GRAPHQL_MAX_BATCH", "2")],
            vec![
                case(
                    "GRAPHQL_MAX_BATCH=2: just over",
                    Batch,
                    json_body(&batch(3)),
                    Expect::HttpLimit {
                        status: 400,
                        code: "LIMIT_EXCEEDED",
                        limit: "batch",
                    },
                ),
                case(
                    "GRAPHQL_MAX_BATCH=2: at the limit",
                    Pass,
                    json_body(&batch(2)),
                    Expect::Batch(vec![Expect::Ok; 2]),
                ),
            ],
        ),
        set(
            &[("HTTP_MAX_BODY_BYTES", "1024")],
            vec![
                case(
                    "HTTP_MAX_BODY_BYTES=1024: just over",
                    Payload,
                    raw(padded_body(1025)),
                    super::http(413, "PAYLOAD_TOO_LARGE"),
                ),
                case(
                    "HTTP_MAX_BODY_BYTES=1024: just over, chunked",
                    Payload,
                    raw(padded_body(1025)).chunked(),
                    super::http(413, "PAYLOAD_TOO_LARGE"),
                ),
                case(
                    "HTTP_MAX_BODY_BYTES=1024: at the limit",
                    Pass,
                    raw(padded_body(1024)),
                    Expect::Ok,
                ),
            ],
        ),
        // The parser nesting limit on its own: depth and complexity raised.
        set(
            &[
                ("GRAPHQL_MAX_DEPTH", "100"),
                ("GRAPHQL_MAX_COMPLEXITY", "1000000"),
            ],
            vec![
                case(
                    "depth raised: selection nesting 40 is still too deep for the parser",
                    Limits,
                    q(&parent_chain(40)),
                    limit("recursiveDepth"),
                ),
                case(
                    "depth raised: depth 11 is served",
                    Pass,
                    q(&parent_chain(11)),
                    Expect::Ok,
                ),
                case(
                    "depth raised: selection nesting 30 is served",
                    Pass,
                    q(&parent_chain(30)),
                    Expect::Ok,
                ),
            ],
        ),
    ];

    let mut production = vec![
        ("__schema", q(INTROSPECTION)),
        ("__type", q("{ __type(name: \"Task\") { name } }")),
        (
            "aliased __schema",
            q("{ s: __schema { queryType { name } } }"),
        ),
        (
            "__schema in a fragment",
            q("{ ...F } fragment F on Query { __schema { queryType { name } } }"),
        ),
        (
            "__type in an inline fragment",
            q("{ ... on Query { __type(name: \"Task\") { fields { name } } } }"),
        ),
        (
            "__schema beside a field",
            q("{ tasks { totalCount } __schema { queryType { name } } }"),
        ),
        (
            "__type below the root",
            q("{ tasks { __type(name: \"Task\") { name } } }"),
        ),
        ("__schema over GET", get(&[("query", INTROSPECTION)])),
    ]
    .into_iter()
    .map(|(name, req)| {
        case(
            format!("production: {name} is refused"),
            Introspection,
            req,
            closed.clone(),
        )
    })
    .collect::<Vec<_>>();
    for (name, query) in [
        ("misspelt field", "{ tsks { totalCount } }"),
        ("misspelt argument", "{ tasks(frist: 1) { totalCount } }"),
        (
            "misspelt enum value",
            "{ tasks(orderBy: [{field: DESCRIPTON}]) { totalCount } }",
        ),
        (
            "misspelt type",
            "query($f: TaskFiltr) { tasks(filter: $f) { totalCount } }",
        ),
    ] {
        production.push(case(
            format!("production: {name} gets no suggestion"),
            Introspection,
            q(query),
            no_hint(),
        ));
    }
    production.push(case(
        "production: no GraphiQL",
        Introspection,
        super::Req::Path("/"),
        Expect::Status(404),
    ));
    production.push(case(
        "production: no SDL at /schema.graphql",
        Introspection,
        super::Req::Path("/schema.graphql"),
        Expect::Status(404),
    ));
    production.push(case(
        "production: __typename still works",
        Pass,
        q("{ __typename tasks { __typename totalCount } }"),
        Expect::Ok,
    ));
    sets.push(set(&[("APP_ENV", "production")], production));
    sets.push(sign_in());
    sets.push(apq_off());
    sets.push(rate_limited());
    sets.push(set(
        &[("APP_ENV", "production"), ("GRAPHQL_INTROSPECTION", "true")],
        vec![
            case(
                "production with GRAPHQL_INTROSPECTION: __schema",
                Pass,
                q(INTROSPECTION),
                Expect::Ok,
            ),
            case(
                "production with GRAPHQL_INTROSPECTION: __type",
                Pass,
                q("{ __type(name: \"Task\") { name fields { name } } }"),
                Expect::Ok,
            ),
        ],
    ));
    sets
}

pub fn all_cases() -> Vec<Case> {
    sets().into_iter().flat_map(|s| s.cases).collect()
}

pub async fn run() {
    let mut failures = Vec::new();
    let mut total = 0;
    for set in sets() {
        let app = TestApp::spawn_with(Backend::Sqlite, &set.vars).await;
        total += set.cases.len();
        failures.extend(super::run_cases(&app, &set.cases).await);
        let client = match set.serving_from {
            Some(ip) => reqwest::Client::builder()
                .local_address(ip.parse::<std::net::IpAddr>().expect("source address"))
                .build()
                .expect("client"),
            None => app.client.clone(),
        };
        let serving = super::still_serving_with(&app, &client, set.authorization.as_deref()).await;
        if let Err(e) = serving {
            failures.push(format!("  the server stopped answering: {e}"));
        }
        app.shutdown().await;
    }
    super::assert_no_failures("configured limits", total, &failures);
}

/// A client with a burst of 3 and no refill: what it sends once its bucket
/// is empty is 429 RATE_LIMITED, whatever else is wrong with it (the limit
/// is checked before the body is read).
fn rate_limited() -> ConfigSet {
    use super::Category::RateLimit;
    let refused = || super::http(429, "RATE_LIMITED");
    let over = |name: &str| format!("RATE_LIMIT_BURST=3: {name}");
    let cases = vec![
        case(
            over("a batch over the burst is refused as too large (1 taken)"),
            Batch,
            json_body(&batch(4)),
            Expect::HttpLimit {
                status: 400,
                code: "LIMIT_EXCEEDED",
                limit: "batch",
            },
        ),
        case(
            over("a query within it (2 taken)"),
            Pass,
            q("{ tasks { totalCount } }"),
            Expect::Ok,
        ),
        case(
            over("a batch of two with one left, refused whole"),
            RateLimit,
            json_body(&batch(2)),
            refused(),
        ),
        case(
            over("a query"),
            RateLimit,
            q("{ tasks { totalCount } }"),
            refused(),
        ),
        case(
            over("a query for a graphql-response+json client"),
            RateLimit,
            q("{ __typename }").accept(GRAPHQL_RESPONSE_JSON),
            refused(),
        ),
        case(
            over("a GET"),
            RateLimit,
            get(&[("query", "{ __typename }")]),
            refused(),
        ),
        case(
            over("a mutation over GET"),
            RateLimit,
            get(&[(
                "query",
                "mutation { deleteCompletedTasks { deletedTaskIds } }",
            )]),
            refused(),
        ),
        case(
            over("text/plain"),
            RateLimit,
            super::with_type(Some("text/plain"), "{}"),
            refused(),
        ),
        case(
            over("a body that is not JSON"),
            RateLimit,
            raw("{"),
            refused(),
        ),
        case(
            over("a body over HTTP_MAX_BODY_BYTES"),
            RateLimit,
            raw(padded_body(300 * 1024)),
            refused(),
        ),
        case(
            over("a chunked body over HTTP_MAX_BODY_BYTES"),
            RateLimit,
            raw(padded_body(300 * 1024)).chunked(),
            refused(),
        ),
    ];
    let mut set = set(
        &[
            ("RATE_LIMIT_PER_SECOND", "0.001"),
            ("RATE_LIMIT_BURST", "3"),
        ],
        cases,
    );
    set.serving_from = Some("127.0.0.2");
    set
}

/// Sign-in configured: every bad credential, over POST and GET, is 401
/// UNAUTHENTICATED; a good token is served.
fn sign_in() -> ConfigSet {
    use crate::tokens::{AUDIENCE, ISSUER, SECRET, claims, hs256};
    let mut cases = Vec::new();
    for (label, authorization) in crate::sign_in::bad_credentials() {
        for get in [false, true] {
            cases.push(case(
                format!("sign-in: {label} ({})", if get { "GET" } else { "POST" }),
                super::Category::SignIn,
                super::Req::Bearer {
                    authorization: authorization.clone(),
                    query: "{ viewer { id } }",
                    get,
                },
                super::http(401, "UNAUTHENTICATED"),
            ));
        }
    }
    cases.push(case(
        "sign-in: a good token",
        Pass,
        super::Req::Bearer {
            authorization: Some(format!("Bearer {}", hs256(&claims("corpus")))),
            query: "{ viewer { id } }",
            get: false,
        },
        Expect::Ok,
    ));
    let mut set = set(
        &[
            ("AUTH_JWT_SECRET", SECRET),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
        ],
        cases,
    );
    set.authorization = Some(format!("Bearer {}", hs256(&claims("corpus"))));
    set
}

/// `APQ_CACHE_SIZE=0`: a hash alone is not supported (Apollo's link then
/// stops sending hashes); a text with its hash still runs.
fn apq_off() -> ConfigSet {
    use sha2::{Digest, Sha256};
    let query = "{ tasks { totalCount } }";
    let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let not_supported = |status| Expect::Request {
        status,
        code: "PERSISTED_QUERY_NOT_SUPPORTED",
        limit: None,
    };
    set(
        &[("APQ_CACHE_SIZE", "0")],
        vec![
            case(
                "APQ_CACHE_SIZE=0: a hash alone",
                super::Category::Persisted,
                json_body(&json!({ "extensions": extensions })),
                not_supported(200),
            ),
            case(
                "APQ_CACHE_SIZE=0: a hash alone over GET, graphql-response+json",
                super::Category::Persisted,
                get(&[("extensions", &extensions.to_string())]).accept(GRAPHQL_RESPONSE_JSON),
                not_supported(400),
            ),
            case(
                "APQ_CACHE_SIZE=0: a text with its hash",
                Pass,
                json_body(&json!({ "query": query, "extensions": extensions })),
                Expect::Ok,
            ),
            case(
                "APQ_CACHE_SIZE=0: a text with another hash",
                super::Category::Persisted,
                json_body(&json!({ "query": "{ __typename }", "extensions": extensions })),
                request("BAD_USER_INPUT"),
            ),
        ],
    )
}
