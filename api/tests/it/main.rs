//! Integration tests: every behaviour through real HTTP and WebSocket, each
//! test on its own fresh database, on SQLite and on PostgreSQL.

mod common;

mod categories;
mod cors;
mod http;
mod lists;
mod migrations;
mod nplus1;
mod pages;
mod schema;
mod subscriptions;
mod tasks;
