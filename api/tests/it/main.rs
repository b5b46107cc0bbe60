//! Integration tests: every behaviour through real HTTP and WebSocket, each
//! test on its own fresh database, on SQLite and on PostgreSQL.

// Test code: a failed unwrap is a failed test, helpers included (clippy.toml
// only exempts #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod brokers;

mod categories;
mod concurrency;
mod connections;
mod corpus;
mod cors;
mod events;
mod failures;
mod federation;
mod first_hour;
mod fuzz;
mod graphiql_default;
mod http;
mod idempotency;
mod layout;
mod limits;
mod lists;
mod migrate_concurrently;
mod migrations;
mod nplus1;
mod observability;
mod owners;
mod pages;
mod persisted;
mod positions;
mod rate_limits;
mod readme;
mod recurrence;
mod relay;
mod reminders;
mod replicas;
mod rls_leaks;
mod schema;
mod search;
mod search_index;
mod seed;
mod shutdown;
mod sign_in;
mod soak;
mod subscriptions;
mod support;
mod tail;
mod task_events_query;
mod tasks;
mod tokens;
mod wide_filters;
