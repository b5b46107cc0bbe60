//! GraphiQL at `/`, pinned and served by the api itself.
//!
//! The page is ours; it runs GraphiQL's production UMD build on React's.
//! `build.rs` downloads those exact npm versions, checks them and embeds them,
//! and they are served here under `/graphiql/<package>@<version>/<file>` (the
//! layout npm CDNs use), cached for good since a path never changes content.
//! A browser then needs nothing but the api. If the build could not embed
//! them, or `GRAPHIQL_ASSETS_URL` is set, the page loads the same files from
//! there (by default a public npm CDN); subresource integrity makes the
//! browser refuse anything but the pinned bytes either way.

use std::io::Read as _;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::state::SharedState;

/// One file of a pinned npm package.
pub struct Asset {
    pub package: &'static str,
    pub version: &'static str,
    /// Path inside the package.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Subresource integrity (sha384) of the file.
    pub integrity: &'static str,
    /// The file itself, gzipped, unless the build could not embed it.
    pub bytes: Option<&'static [u8]>,
}

/// Every pinned file; written by `build.rs`.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));

/// Where the page loads the files from when they are not embedded and
/// `GRAPHIQL_ASSETS_URL` is not set.
pub const DEFAULT_CDN: &str = "https://cdn.jsdelivr.net/npm";

/// The route prefix of the embedded files.
pub const ROUTE: &str = "/graphiql";

/// Whether this binary carries GraphiQL's files.
pub fn embedded() -> bool {
    ASSETS.iter().all(|a| a.bytes.is_some())
}

fn asset(package: &str, path: &str) -> &'static Asset {
    ASSETS
        .iter()
        .find(|a| a.package == package && a.path == path)
        .expect("pinned in build.rs")
}

/// The page. `assets_url` (GRAPHIQL_ASSETS_URL) wins; else the embedded
/// files, else the CDN.
pub fn page(assets_url: Option<&str>) -> String {
    let (base, source) = match assets_url {
        Some(url) => (url.trim_end_matches('/'), "configured"),
        // Relative, so that the page also works behind a path prefix.
        None if embedded() => (&ROUTE[1..], "embedded"),
        None => (DEFAULT_CDN, "cdn"),
    };
    let tag = |package: &str, path: &str| {
        let a = asset(package, path);
        let url = escape(&format!("{base}/{}@{}/{}", a.package, a.version, a.path));
        if path.ends_with(".css") {
            format!(
                r#"<link rel="stylesheet" href="{url}" integrity="{}" crossorigin="anonymous">"#,
                a.integrity
            )
        } else {
            format!(
                r#"<script src="{url}" integrity="{}" crossorigin="anonymous"></script>"#,
                a.integrity
            )
        }
    };
    let graphiql = asset("graphiql", "graphiql.min.js");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>To-do GraphQL</title>
<link rel="icon" href="data:,">
{css}
<style>
  html, body {{ height: 100%; margin: 0; }}
  #graphiql {{ height: 100vh; }}
  .todo-graphiql-message {{ font: 16px/1.5 system-ui, sans-serif; padding: 2rem; max-width: 40rem; }}
</style>
</head>
<body>
<div id="graphiql" data-assets="{source}" data-graphiql-version="{graphiql_version}">
  <p class="todo-graphiql-message">Loading GraphiQL&hellip;</p>
</div>
<noscript><p class="todo-graphiql-message">GraphiQL needs JavaScript. The GraphQL endpoint is <code>/graphql</code>.</p></noscript>
{react}
{react_dom}
{graphiql_js}
<script>
(function () {{
  'use strict';
  var root = document.getElementById('graphiql');
  var url = new URL('graphql', window.location.href).href;
  if (typeof window.GraphiQL !== 'function' || !window.ReactDOM || !window.React) {{
    root.innerHTML = '<p class="todo-graphiql-message"></p>';
    root.firstChild.textContent = 'GraphiQL could not be loaded (' + root.dataset.assets +
      ' assets). The API itself answers at ' + url + '.';
    return;
  }}
  var fetcher = GraphiQL.createFetcher({{
    url: url,
    subscriptionUrl: url.replace(/^http/, 'ws'),
  }});
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {{
      fetcher: fetcher,
      defaultQuery: {default_query},
    }}),
  );
}})();
</script>
</body>
</html>
"#,
        css = tag("graphiql", "graphiql.min.css"),
        react = tag("react", "umd/react.production.min.js"),
        react_dom = tag("react-dom", "umd/react-dom.production.min.js"),
        graphiql_js = tag("graphiql", "graphiql.min.js"),
        graphiql_version = graphiql.version,
        default_query = serde_json::to_string(DEFAULT_QUERY).expect("a string"),
    )
}

const DEFAULT_QUERY: &str =
    "# The to-do API. Run an operation with Ctrl-Enter (Cmd-Enter on a Mac);
# the Docs button on the left shows the whole schema.
#
#   mutation { createTask(input: {description: \"Write docs\"}) { task { id } } }
#   subscription { taskEvents { kind taskId task { description done } } }

query Tasks {
  tasks(first: 20) {
    totalCount
    nodes { id description done priority dueAt }
  }
}
";

/// `GET /graphiql/<package>@<version>/<file>`: an embedded file.
pub async fn serve_asset(
    State(state): State<SharedState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = ASSETS.iter().find_map(|a| {
        let bytes = a.bytes?;
        let (package, rest) = path.split_once('@')?;
        let (version, file) = rest.split_once('/')?;
        (a.package == package && a.version == version && a.path == file).then_some((a, bytes))
    });
    let Some((asset, gzipped)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = if accepts_gzip(&headers) {
        let mut response = gzipped.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        // Rare (browsers all take gzip): inflate for this client.
        let mut plain = Vec::with_capacity(gzipped.len() * 4);
        if let Err(err) = flate2::read::GzDecoder::new(gzipped).read_to_end(&mut plain) {
            tracing::error!(error = %err, "embedded asset does not inflate");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        plain.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The page itself is small and must follow upgrades: always revalidated.
pub fn page_response(assets_url: Option<&str>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page(assets_url),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `GET /`: the page, unless GraphiQL is switched off.
pub async fn serve_page(State(state): State<SharedState>) -> Response {
    if !state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    page_response(state.config.graphiql.assets_url.0.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_pins_every_file_with_integrity() {
        let page = page(None);
        for (package, path) in [
            ("graphiql", "graphiql.min.css"),
            ("graphiql", "graphiql.min.js"),
            ("react", "umd/react.production.min.js"),
            ("react-dom", "umd/react-dom.production.min.js"),
        ] {
            let a = asset(package, path);
            assert!(a.integrity.starts_with("sha384-"));
            assert!(
                page.contains(&format!("{package}@{}/{path}", a.version)),
                "{package}/{path} not pinned in the page"
            );
            assert!(page.contains(a.integrity));
        }
        if embedded() {
            assert!(page.contains(r#"src="graphiql/react@18.3.1/umd/react.production.min.js""#));
        } else {
            assert!(page.contains(DEFAULT_CDN));
        }
    }

    #[test]
    fn configured_assets_url_wins() {
        let page = page(Some("https://assets.example.com/npm/"));
        assert!(
            page.contains(r#"src="https://assets.example.com/npm/graphiql@4.1.2/graphiql.min.js""#)
        );
        assert!(page.contains(r#"data-assets="configured""#));
    }
}
