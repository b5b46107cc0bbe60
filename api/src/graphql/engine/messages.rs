//! async-graphql's error messages that the engine reads, in one table. The
//! engine has no codes of its own, so this is where its errors get theirs;
//! each entry has a test below that makes async-graphql say it, so an
//! upgrade that rewords one fails the test named after it instead of
//! silently changing a code.

/// What one of async-graphql's errors means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// A limit async-graphql enforces, reported under our name for it.
    Limit(&'static str),
    /// The request names an operation the document lacks, or needs a
    /// name, or sends a subscription over plain HTTP: the client's input.
    Operation,
    /// A value that does not fit its type: the client's input when it came
    /// in a variable, a bad document when it is written in the document.
    Value,
    /// A default value in the document that does not fit its type.
    Default,
}

/// `(how the message starts, what it means)`.
const MESSAGES: &[(&str, Meaning)] = &[
    ("Query is too complex.", Meaning::Limit("complexity")),
    ("Query is nested too deep.", Meaning::Limit("depth")),
    (
        "The recursion depth of the query cannot be greater than",
        Meaning::Limit("recursiveDepth"),
    ),
    (
        "The number of directives on the field",
        Meaning::Limit("directives"),
    ),
    ("Unknown operation named", Meaning::Operation),
    ("Operation name required in request.", Meaning::Operation),
    (
        "Subscriptions are not supported on this transport.",
        Meaning::Operation,
    ),
    ("Invalid default value for argument", Meaning::Default),
    ("Invalid value for argument", Meaning::Value),
    ("Expected input type", Meaning::Value),
    ("Failed to parse", Meaning::Value),
];

pub(crate) fn meaning(message: &str) -> Option<Meaning> {
    MESSAGES
        .iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, meaning)| *meaning)
}

#[cfg(test)]
mod tests {
    //! Each message, produced by async-graphql itself over our schema
    //! (no engine in between), and read back through the table.

    use async_graphql::{Request, Variables};
    use serde_json::json;

    use migration::MigratorTrait;

    use super::*;
    use crate::config::Config;

    async fn raw_errors(vars: &[(&str, &str)], request: Request) -> Vec<String> {
        let config = Config::from_lookup(|v| {
            vars.iter()
                .find(|(k, _)| *k == v)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap();
        // An app over an empty in-memory database, for its schema only.
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let wake = crate::events::Wake::default();
        let hub = crate::events::Hub::open(db.clone(), false, 16, wake.clone())
            .await
            .unwrap();
        let store = crate::service::Store::new(db, wake);
        let schema = crate::graphql::build_schema(store, hub, &config);
        let response = schema.execute(request).await;
        response.errors.into_iter().map(|e| e.message).collect()
    }

    async fn assert_means(vars: &[(&str, &str)], request: Request, expected: Meaning) {
        let errors = raw_errors(vars, request).await;
        assert!(!errors.is_empty(), "no error");
        for message in &errors {
            assert_eq!(meaning(message), Some(expected), "{message}");
        }
    }

    #[tokio::test]
    async fn too_complex() {
        let request = Request::new("{ tasks(first: 100) { nodes { id description } } }");
        let vars = [("GRAPHQL_MAX_COMPLEXITY", "10")];
        assert_means(&vars, request, Meaning::Limit("complexity")).await;
    }

    #[tokio::test]
    async fn nested_too_deep() {
        let request = Request::new("{ tasks { nodes { parent { parent { id } } } } }");
        let vars = [("GRAPHQL_MAX_DEPTH", "3")];
        assert_means(&vars, request, Meaning::Limit("depth")).await;
    }

    #[tokio::test]
    async fn recursion_depth() {
        let request =
            Request::new("{ ... on Query { ... on Query { ... on Query { __typename } } } }");
        let vars = [("GRAPHQL_MAX_RECURSIVE_DEPTH", "2")];
        assert_means(&vars, request, Meaning::Limit("recursiveDepth")).await;
    }

    #[tokio::test]
    async fn too_many_directives() {
        let request = Request::new("{ __typename @skip(if: false) @include(if: true) }");
        let vars = [("GRAPHQL_MAX_DIRECTIVES", "1")];
        assert_means(&vars, request, Meaning::Limit("directives")).await;
    }

    #[tokio::test]
    async fn unknown_operation() {
        let request = Request::new("query A { __typename }").operation_name("B");
        assert_means(&[], request, Meaning::Operation).await;
    }

    #[tokio::test]
    async fn operation_name_required() {
        let request = Request::new("query A { __typename } query B { __typename }");
        assert_means(&[], request, Meaning::Operation).await;
    }

    #[tokio::test]
    async fn subscription_over_http() {
        let request = Request::new("subscription { taskEvents { kind } }");
        assert_means(&[], request, Meaning::Operation).await;
    }

    #[tokio::test]
    async fn invalid_default() {
        let request = Request::new("query($f: Int = \"x\") { tasks(first: $f) { totalCount } }");
        let errors = raw_errors(&[], request).await;
        assert!(
            errors.iter().any(|m| meaning(m) == Some(Meaning::Default)),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn invalid_argument_value() {
        let request = Request::new("{ tasks(first: \"ten\") { totalCount } }");
        assert_means(&[], request, Meaning::Value).await;
    }

    #[tokio::test]
    async fn expected_input_type() {
        let request = Request::new(
            "mutation($d: DateTime) { createTask(input: {description: \"x\", dueAt: $d}) { task { id } } }",
        )
        .variables(Variables::from_json(json!({ "d": 5 })));
        assert_means(&[], request, Meaning::Value).await;
    }

    #[tokio::test]
    async fn failed_to_parse() {
        let request = Request::new(
            "mutation($d: DateTime) { createTask(input: {description: \"x\", dueAt: $d}) { task { id } } }",
        )
        .variables(Variables::from_json(json!({ "d": "soon" })));
        assert_means(&[], request, Meaning::Value).await;
    }
}
