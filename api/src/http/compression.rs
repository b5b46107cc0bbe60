//! Compressed answers (gzip, br or zstd, as the client accepts) on the routes
//! whose answers grow with the data: `/graphql` over HTTP, the SDL and the
//! metrics. Health answers are a few bytes; GraphiQL's files are stored
//! gzipped already (`graphiql.rs`); WebSocket frames are not HTTP bodies.

use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Answers below this many bytes go as they are: they fit in a packet or
/// two either way, and compressing them would cost more CPU than it saves.
pub const MIN_SIZE: u16 = 1024;

/// Compresses answers of `MIN_SIZE` bytes or more for clients that accept
/// it; those answers (and only those) say `Vary: accept-encoding`.
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .zstd(true)
        // Answers are produced per request, never stored: a fast level.
        .quality(CompressionLevel::Precise(LEVEL))
        .compress_when(SizeAbove::new(MIN_SIZE).and(not_switching_protocols))
}

/// The same level for each (gzip 4, brotli 4, zstd 4). Brotli's default,
/// 11, is meant for files compressed once and served many times: tens of
/// times slower for a few percent fewer bytes. gzip's (6) and zstd's (3)
/// are close to this.
const LEVEL: i32 = 4;

/// A WebSocket handshake's answer has no body, and its stream is the
/// socket's: never compressed, whatever a browser's `Accept-Encoding` says.
fn not_switching_protocols(status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions) -> bool {
    status != StatusCode::SWITCHING_PROTOCOLS
}
