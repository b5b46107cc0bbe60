//! The example front-end (`api/static/app/`: plain ES modules, no build step),
//! compiled into the binary and served under `/app/` when
//! `SERVE_EXAMPLE_APP=true`. It calls this api unless `?api=URL` names another.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::state::SharedState;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        HTML,
        include_str!("../../static/app/index.html"),
    ),
    ("app.js", JS, include_str!("../../static/app/app.js")),
    (
        "graphql.js",
        JS,
        include_str!("../../static/app/graphql.js"),
    ),
    ("style.css", CSS, include_str!("../../static/app/style.css")),
];

/// Only the page's own files run; it may call any API (`?api=`).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src http: https: ws: wss:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        // Relative module imports need the trailing slash; keep `?api=`.
        .route(
            "/app",
            get(|RawQuery(query): RawQuery| async move {
                match query {
                    Some(q) => Redirect::permanent(&format!("app/?{q}")),
                    None => Redirect::permanent("app/"),
                }
            }),
        )
        .route("/app/", get(|| async { file("index.html") }))
        .route(
            "/app/{file}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    let Some(&(_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response();
    if content_type == HTML {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}
