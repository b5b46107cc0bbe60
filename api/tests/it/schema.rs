//! The exported schema and the binary's other subcommands.

use std::process::Command;

use crate::common::{Backend, TestApp};

fn checked_in_schema() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    std::fs::read_to_string(path).expect("schema.graphql at the repository root")
}

#[test]
fn schema_graphql_is_current() {
    assert!(
        api::graphql::sdl() == checked_in_schema(),
        "schema.graphql is out of date: regenerate it with\n    cargo run -p api -- schema > schema.graphql"
    );
}

#[test]
fn api_schema_prints_the_checked_in_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("schema")
        .output()
        .expect("run api schema");
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout) == checked_in_schema(),
        "`api schema` differs from schema.graphql: cargo run -p api -- schema > schema.graphql"
    );
}

#[test]
fn schema_federation_graphql_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.federation.graphql");
    let checked_in = std::fs::read_to_string(path).expect("schema.federation.graphql");
    assert!(
        api::graphql::federation_sdl() == checked_in,
        "schema.federation.graphql is out of date: regenerate it with\n    \
         cargo run -p api -- schema --federation > schema.federation.graphql"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["schema", "--federation"])
        .output()
        .expect("run api schema --federation");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout) == checked_in);
}

/// What the Relay lint in clients/ cannot check for all but one connection
/// (see clients/eslint.config.mjs): every connection field pages both ways
/// (`first`/`after` and `last`/`before`) and every edge's node is a `Node`,
/// except the forward-only event feed, whose nodes are events.
#[test]
fn connections_page_both_ways_over_nodes() {
    const FEED: &str = "TaskEvent";
    let sdl = checked_in_schema();
    let mut fields = 0;
    for line in sdl.lines().map(str::trim) {
        let Some((head, returned)) = line.rsplit_once("): ") else {
            continue;
        };
        let Some(item) = returned.strip_suffix("Connection!") else {
            continue;
        };
        if item == FEED {
            continue;
        }
        fields += 1;
        for argument in ["first: Int", "after: String", "last: Int", "before: String"] {
            assert!(head.contains(argument), "{line} lacks `{argument}`");
        }
    }
    assert!(fields >= 5, "only {fields} connection fields found");
    let mut edges = 0;
    let mut in_edge: Option<&str> = None;
    for line in sdl.lines() {
        if let Some(name) = line
            .strip_prefix("type ")
            .and_then(|rest| rest.strip_suffix("Edge {"))
        {
            in_edge = Some(name);
            continue;
        }
        let Some(edge) = in_edge else { continue };
        if line.starts_with('}') {
            in_edge = None;
            continue;
        }
        let Some(node) = line.trim().strip_prefix("node: ") else {
            continue;
        };
        if edge == FEED {
            continue;
        }
        edges += 1;
        let node = node.trim_end_matches('!');
        assert!(
            sdl.contains(&format!("type {node} implements Node")),
            "{edge}Edge.node is {node}, which does not implement Node"
        );
    }
    assert!(edges >= 2, "only {edges} edge types found");
}

#[test]
fn the_client_schema_has_no_federation_fields() {
    let sdl = checked_in_schema();
    for federation in ["_entities", "_service", "_Any", "@key", "@link"] {
        assert!(!sdl.contains(federation), "schema.graphql has {federation}");
    }
}

// The probe blocks this thread; the server runs on the other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_reports_the_server_state() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let check = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_api"))
            .arg("healthcheck")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", "sqlite://unused.db")
            .status()
            .expect("run api healthcheck")
    };
    assert!(check(app.addr.port()).success(), "healthy server");
    let port = app.addr.port();
    app.shutdown().await;
    assert_eq!(check(port).code(), Some(1), "stopped server");
}
