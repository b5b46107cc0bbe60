//! CORS through real HTTP: preflights and responses for an allowed origin, a
//! refused one, `*`, and the default (no cross-origin access at all).
//!
//! No database is involved (preflights and `{ __typename }` never reach it),
//! so each server runs on an in-memory SQLite pool with the given settings.

use std::net::SocketAddr;
use std::sync::Arc;

use api::config::Config;
use reqwest::StatusCode;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    CONTENT_TYPE, HeaderMap, ORIGIN, VARY,
};
use tokio::net::TcpListener;

const ALLOWED: &str = "http://app.example.test:5173";
const OTHER: &str = "https://evil.example.test";

/// A server with these settings (on top of an in-memory database); stops
/// when the test's runtime ends.
pub(crate) async fn serve(vars: &[(&str, &str)]) -> SocketAddr {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_lookup(|var| match var {
        "DATABASE_URL" => Some("sqlite::memory:".into()),
        _ => vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
    })
    .expect("test config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(api::server::run(
        Arc::new(config),
        listener,
        std::future::pending(),
    ));
    crate::common::wait_until_ready(addr).await;
    addr
}

async fn preflight(addr: SocketAddr, origin: &str) -> (StatusCode, HeaderMap) {
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("http://{addr}/graphql"))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type,accept")
        .send()
        .await
        .expect("OPTIONS /graphql");
    (response.status(), response.headers().clone())
}

async fn post(addr: SocketAddr, origin: &str) -> HeaderMap {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .header(ORIGIN, origin)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["__typename"], "Query");
    headers
}

fn header<'a>(headers: &'a HeaderMap, name: &reqwest::header::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

#[tokio::test]
async fn allowed_origin_passes_preflight_and_reads_responses() {
    let addr = serve(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://other.example.test, http://app.example.test:5173",
    )])
    .await;

    let (status, headers) = preflight(addr, ALLOWED).await;
    assert!(status.is_success(), "preflight status {status}");
    assert_eq!(
        header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(ALLOWED)
    );
    let methods = header(&headers, &ACCESS_CONTROL_ALLOW_METHODS).expect("allow-methods");
    for method in ["GET", "POST", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed_headers = header(&headers, &ACCESS_CONTROL_ALLOW_HEADERS)
        .expect("allow-headers")
        .to_ascii_lowercase();
    for name in [
        "content-type",
        "accept",
        "authorization",
        "x-request-id",
        "idempotency-key",
    ] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert_eq!(header(&headers, &ACCESS_CONTROL_MAX_AGE), Some("3600"));
    assert!(
        headers.get_all(VARY).iter().any(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("origin")),
        "Vary: Origin, so caches keep answers per origin"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());

    let headers = post(addr, ALLOWED).await;
    assert_eq!(
        header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(ALLOWED)
    );
}

#[tokio::test]
async fn other_origins_are_refused() {
    let addr = serve(&[("CORS_ALLOWED_ORIGINS", ALLOWED)]).await;
    for origin in [
        OTHER,
        "http://app.example.test",       // another port
        "https://app.example.test:5173", // another scheme
        "null",
    ] {
        let (_, headers) = preflight(addr, origin).await;
        assert_eq!(
            header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "preflight from {origin}"
        );
        // The server still answers; the browser withholds it from the page.
        let headers = post(addr, origin).await;
        assert_eq!(
            header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn without_the_setting_no_origin_gets_in() {
    let addr = serve(&[]).await;
    let (_, headers) = preflight(addr, ALLOWED).await;
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_METHODS), None);
    let headers = post(addr, ALLOWED).await;
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn a_star_allows_any_origin_without_credentials() {
    let addr = serve(&[("CORS_ALLOWED_ORIGINS", "*")]).await;
    let (status, headers) = preflight(addr, OTHER).await;
    assert!(status.is_success(), "preflight status {status}");
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(headers.get("access-control-allow-credentials").is_none());
    let headers = post(addr, OTHER).await;
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
}

/// Opens a graphql-transport-ws WebSocket with this `Origin` (if any);
/// returns the handshake's status.
async fn websocket(addr: SocketAddr, origin: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .expect("ws request");
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(origin) = origin {
        headers.insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("WebSocket handshake failed: {err}"),
    }
}

#[tokio::test]
async fn websockets_from_browsers_need_an_allowed_or_the_same_origin() {
    let addr = serve(&[("CORS_ALLOWED_ORIGINS", ALLOWED)]).await;
    assert_eq!(websocket(addr, None).await, 101, "no Origin: not a browser");
    assert_eq!(websocket(addr, Some(ALLOWED)).await, 101);
    let own = format!("http://{addr}");
    assert_eq!(websocket(addr, Some(&own)).await, 101, "GraphiQL at /");
    assert_eq!(websocket(addr, Some(OTHER)).await, 403);
    assert_eq!(websocket(addr, Some("null")).await, 403);

    let addr = serve(&[]).await;
    assert_eq!(websocket(addr, Some(&format!("http://{addr}"))).await, 101);
    assert_eq!(websocket(addr, Some(ALLOWED)).await, 403);

    let addr = serve(&[("CORS_ALLOWED_ORIGINS", "*")]).await;
    assert_eq!(websocket(addr, Some(OTHER)).await, 101);
}
