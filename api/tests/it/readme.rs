//! README's commands, run: its curl examples against a fresh server, its
//! test-token one-liner against a server with sign-in, and its error table
//! against the codes the server sends.
//!
//! The examples are found by their shape: in a ```sh block, a command that
//! starts with `curl -s localhost:8080/graphql` (continuation lines joined),
//! and one that starts with `TOKEN=$(python3`. A curl example that uses
//! `$TOKEN` runs against the signed-in server, the others against an open
//! one. Each is run by `sh` as written, with `localhost:8080` pointed at
//! the test's server.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Backend, TestApp};
use crate::support::blocking;

const CURL: &str = "curl -s localhost:8080/graphql";
const TOKEN_LINE: &str = "TOKEN=$(python3";
/// Any secret of 32 bytes or more: the one-liner reads it from the environment.
const SECRET: &str = "the README test's secret, longer than 32 bytes";

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn readme() -> String {
    std::fs::read_to_string(repository().join("README.md")).expect("README.md")
}

/// The commands of README's ```sh blocks, continuation lines joined.
fn sh_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if !in_block {
            in_block = trimmed == "```sh";
            continue;
        }
        if trimmed == "```" {
            in_block = false;
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

fn curl_examples(readme: &str) -> Vec<String> {
    sh_commands(readme)
        .into_iter()
        .filter(|c| c.starts_with(CURL))
        .collect()
}

/// Runs `script` with `sh`, `localhost:8080` pointed at `addr`; its stdout.
fn run(script: &str, addr: SocketAddr, env: &[(&str, &str)]) -> String {
    let script = script.replace("localhost:8080", &addr.to_string());
    let output = blocking(|| {
        Command::new("sh")
            .args(["-c", &script])
            .envs(env.iter().copied())
            .output()
            .expect("run sh (the README test needs sh, curl and python3)")
    });
    assert!(
        output.status.success(),
        "README's command failed ({}): {script}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The answer of a README curl example: data, and no errors.
fn answer(example: &str, addr: SocketAddr, env: &[(&str, &str)]) -> Value {
    let out = run(example, addr, env);
    let body: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("README's example did not answer JSON ({e}): {example}\n{out}"));
    assert!(
        body.get("errors").is_none(),
        "README's example answered errors: {example}\n{body}"
    );
    assert!(
        body["data"].is_object(),
        "README's example answered no data: {example}\n{body}"
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_examples_answer_without_errors() {
    let readme = readme();
    let examples: Vec<String> = curl_examples(&readme)
        .into_iter()
        .filter(|e| !e.contains("$TOKEN"))
        .collect();
    assert!(
        examples.len() >= 3,
        "README's quick start has its curl examples (`{CURL}`): {examples:?}"
    );
    // A newcomer runs `seed` before creating a task: seed refuses an owner
    // who has tasks already.
    let seed = readme
        .find("cargo run -- seed")
        .expect("README says how to seed");
    let create = readme.find("createTask").expect("README creates a task");
    assert!(
        seed < create,
        "README must seed before its curl example creates a task"
    );

    let app = TestApp::spawn(Backend::Sqlite).await;
    for example in &examples {
        answer(example, app.addr, &[]);
    }
    // The create example's task is there to read back.
    let listed = app
        .data(
            "{ tasks(first: 100) { nodes { description } } }",
            Value::Null,
        )
        .await;
    assert!(
        listed.to_string().contains("Buy milk"),
        "the create example made its task: {listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_test_token_is_accepted_by_a_signed_in_server() {
    let readme = readme();
    let commands = sh_commands(&readme);
    let one_liner = commands
        .iter()
        .find(|c| c.starts_with(TOKEN_LINE))
        .unwrap_or_else(|| panic!("README has a test-token one-liner (`{TOKEN_LINE}`)"));
    let examples: Vec<String> = curl_examples(&readme)
        .into_iter()
        .filter(|e| e.contains("$TOKEN"))
        .collect();
    assert!(
        !examples.is_empty(),
        "README has a curl example with the token"
    );

    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTH_JWT_SECRET", SECRET)]).await;
    let token = run(
        &format!("{one_liner}\nprintf %s \"$TOKEN\""),
        app.addr,
        &[("AUTH_JWT_SECRET", SECRET)],
    );
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    for example in &examples {
        let body = answer(example, app.addr, &[("TOKEN", &token)]);
        assert_eq!(body["data"]["viewer"]["id"], "alice", "{example}: {body}");
    }
    // The same examples without a token are refused: sign-in is really on.
    let refused = run(&examples[0], app.addr, &[("TOKEN", "")]);
    assert!(refused.contains("UNAUTHENTICATED"), "{refused}");
}

/// The codes in the first column of README's error table.
fn documented_codes(readme: &str) -> BTreeSet<String> {
    let table = readme
        .split_once("\n## Errors\n")
        .expect("README has an Errors section")
        .1
        .split_once("\n| code |")
        .expect("the Errors section has a table of codes")
        .1;
    table
        .lines()
        .skip(2) // the rest of the header line, and the separator
        .take_while(|line| line.starts_with('|'))
        .filter_map(|row| row.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .collect()
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read api/src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The files whose `match` arms map to codes (`Code::as_str`,
/// `AppError::code`, the HTTP refusals' `http_error`).
const CODE_TABLES: [&str; 3] = ["graphql/engine/codes.rs", "error.rs", "http/responses.rs"];

/// Every `extensions.code` the server can send, read from its source (unit
/// tests left out): a `"code": "X"` pair, a code table's `=> "X"` arm, or
/// the code argument of `error_response(...)`.
fn codes_in_source() -> BTreeSet<String> {
    let src = repository().join("api/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut codes = BTreeSet::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .expect("under api/src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("read source");
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, literal) in upper_case_literals(text) {
            let before = &text[..at];
            let line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
            let recent = &before[before.char_indices().rev().nth(200).map_or(0, |(i, _)| i)..];
            let is_code = line.contains("\"code\"")
                || (line.trim_end().ends_with("=>") && CODE_TABLES.contains(&relative.as_str()))
                || (line.trim().is_empty() && recent.contains("error_response("));
            if is_code {
                codes.insert(literal.to_owned());
            }
        }
    }
    codes
}

/// `"LIKE_THIS"` string literals: where each starts, and its text.
fn upper_case_literals(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find('"').map(|i| rest + i) {
        let body = &text[open + 1..];
        let len = body
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(body.len());
        if len >= 3 && body[len..].starts_with('"') && body.starts_with(|c: char| c != '_') {
            found.push((open, &body[..len]));
            rest = open + len + 2;
        } else {
            rest = open + 1;
        }
    }
    found
}

#[test]
fn readme_error_table_lists_every_code_the_server_sends() {
    let documented = documented_codes(&readme());
    let known = codes_in_source();
    // The scan itself still finds the codes of each kind.
    for code in [
        "NOT_FOUND",
        "GRAPHQL_PARSE_FAILED",
        "METHOD_NOT_ALLOWED",
        "RATE_LIMITED",
    ] {
        assert!(
            known.contains(code),
            "the source scan lost {code}: {known:?}"
        );
    }
    let undocumented: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        undocumented.is_empty(),
        "codes the server sends that README's error table leaves out: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "codes in README's error table that the server never sends: {unknown:?}"
    );
}
