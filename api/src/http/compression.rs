//! Compressed answers (gzip, br or zstd, as the client accepts) on the routes
//! whose answers grow with the data: `/graphql` over HTTP, the SDL and the
//! metrics. Health answers are a few bytes; GraphiQL's files are stored
//! gzipped already (`graphiql/`); WebSocket frames are not HTTP bodies.

use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Answers below this many bytes go as they are: they fit in a packet or
/// two either way, and compressing them would cost more CPU than it saves.
pub(crate) const MIN_SIZE: u16 = 1024;

/// Compresses answers of `MIN_SIZE` bytes or more for clients that accept
/// it; those answers (and only those) say `Vary: accept-encoding`.
pub(crate) fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .zstd(true)
        .quality(CompressionLevel::Precise(LEVEL))
        .compress_when(SizeAbove::new(MIN_SIZE).and(not_switching_protocols))
}

/// Level 1 for each (gzip 1, brotli 1, zstd 1). Answers here are a few KB,
/// made once: the encoder's setup is most of the cost, and it grows with
/// the level (brotli's and zstd's tables), while a higher level makes such
/// answers hardly smaller (bench/RESULTS.md, "Compressed answers", has the
/// figures).
const LEVEL: i32 = 1;

/// A WebSocket handshake's answer has no body, and its stream is the
/// socket's: never compressed, whatever a browser's `Accept-Encoding` says.
fn not_switching_protocols(status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions) -> bool {
    status != StatusCode::SWITCHING_PROTOCOLS
}
