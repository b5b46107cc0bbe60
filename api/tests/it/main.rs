//! Integration tests: every behaviour through real HTTP and WebSocket, each
//! test on its own fresh database, on SQLite and on PostgreSQL.

mod common;

mod categories;
mod concurrency;
mod corpus;
mod cors;
mod events;
mod failures;
mod fuzz;
mod http;
mod limits;
mod lists;
mod migrate_concurrently;
mod migrations;
mod nplus1;
mod observability;
mod owners;
mod pages;
mod replicas;
mod schema;
mod search;
mod search_index;
mod shutdown;
mod sign_in;
mod soak;
mod subscriptions;
mod support;
mod tail;
mod tasks;
mod tokens;
