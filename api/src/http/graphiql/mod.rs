//! GraphiQL at `/`, pinned and served by the api itself.
//!
//! The page is ours; it runs GraphiQL's production UMD build on React's.
//! Those exact npm files are vendored, gzipped, under `api/static/graphiql/`
//! (`scripts/refresh-graphiql` fetches and checks them), embedded at compile
//! time, and served here under `/graphiql/<package>@<version>/<file>` (the
//! layout npm CDNs use), cached for good since a path never changes content.
//! A browser then needs nothing but the api, and the build needs no network.
//! With `GRAPHIQL_ASSETS_URL` set the page loads the same files from there;
//! subresource integrity makes the browser refuse anything but the pinned
//! bytes either way.

pub(crate) mod settings;

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
    /// Subresource integrity (sha384) of the file, as
    /// `scripts/refresh-graphiql` prints it.
    pub integrity: &'static str,
    /// The file itself, gzipped.
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// One vendored file: `api/static/graphiql/<package>@<version>/<path>.gz`.
macro_rules! asset {
    ($package:literal, $version:literal, $path:literal, $content_type:expr, $integrity:literal) => {
        Asset {
            package: $package,
            version: $version,
            path: $path,
            content_type: $content_type,
            integrity: $integrity,
            bytes: include_bytes!(concat!(
                "../../../static/graphiql/",
                $package,
                "@",
                $version,
                "/",
                $path,
                ".gz"
            )),
        }
    };
}

/// Every pinned file; scripts in the order the page loads them (React,
/// then ReactDOM, then GraphiQL).
pub static ASSETS: &[Asset] = &[
    asset!(
        "react",
        "18.3.1",
        "umd/react.production.min.js",
        JS,
        "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z"
    ),
    asset!(
        "react",
        "18.3.1",
        "LICENSE",
        TEXT,
        "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks"
    ),
    asset!(
        "react-dom",
        "18.3.1",
        "umd/react-dom.production.min.js",
        JS,
        "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1"
    ),
    asset!(
        "react-dom",
        "18.3.1",
        "LICENSE",
        TEXT,
        "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks"
    ),
    asset!(
        "graphiql",
        "4.1.2",
        "graphiql.min.js",
        JS,
        "sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B"
    ),
    asset!(
        "graphiql",
        "4.1.2",
        "graphiql.min.css",
        CSS,
        "sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr"
    ),
    asset!(
        "graphiql",
        "4.1.2",
        "LICENSE",
        TEXT,
        "sha384-9JPX1agGTIUB7wtQt2kO3PUO7clmCJp+9e50VMjw1yd8briI77AZnMDBz5VcerBH"
    ),
];

/// The route prefix of the embedded files.
pub(crate) const ROUTE: &str = "/graphiql";

/// Says at start where the page's files come from when that is not the api
/// itself.
pub fn log_source(assets_url: Option<&str>) {
    if let Some(url) = assets_url {
        tracing::info!(url, "GraphiQL loads its files from GRAPHIQL_ASSETS_URL");
    }
}

/// The page. `assets_url` (GRAPHIQL_ASSETS_URL) wins; else the embedded
/// files.
pub(crate) fn page(assets_url: Option<&str>) -> String {
    let (base, source) = match assets_url {
        Some(url) => (url.trim_end_matches('/'), "configured"),
        // Relative, so that the page also works behind a path prefix.
        None => (ROUTE.trim_start_matches('/'), "embedded"),
    };
    let url = |a: &Asset| escape(&format!("{base}/{}@{}/{}", a.package, a.version, a.path));
    // Every pinned stylesheet and script, scripts in the order pinned.
    let css: Vec<String> = ASSETS
        .iter()
        .filter(|a| a.path.ends_with(".css"))
        .map(|a| {
            format!(
                r#"<link rel="stylesheet" href="{}" integrity="{}" crossorigin="anonymous">"#,
                url(a),
                a.integrity
            )
        })
        .collect();
    let scripts: Vec<String> = ASSETS
        .iter()
        .filter(|a| a.path.ends_with(".js"))
        .map(|a| {
            format!(
                r#"<script src="{}" integrity="{}" crossorigin="anonymous"></script>"#,
                url(a),
                a.integrity
            )
        })
        .collect();
    let graphiql_version = ASSETS
        .iter()
        .find(|a| a.package == "graphiql")
        .map_or("", |a| a.version);
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
{scripts}
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
        css = css.join("\n"),
        scripts = scripts.join("\n"),
        // A JSON string is a JavaScript string; `<` escaped so that no
        // `</script>` can end the script early.
        default_query = serde_json::Value::from(DEFAULT_QUERY)
            .to_string()
            .replace('<', "\\u003c"),
    )
}

/// What the editor shows on a first visit: one of each kind of operation,
/// ready to run (a test runs each against the real schema).
pub const DEFAULT_QUERY: &str = r#"# The to-do API. Run an operation with the run button or Ctrl-Enter (GraphiQL
# asks which one); the Docs button on the left shows the whole schema.

# The first ten open tasks, soonest due first, with their categories.
query OpenTasks {
  tasks(first: 10, filter: {done: false}, orderBy: [{field: DUE_AT}]) {
    totalCount
    nodes { id description priority dueAt categories { name } }
  }
}

# Creates a task, at the end of your own order (`orderBy: [{field: POSITION}]`;
# `before` or `after` a task's id places it, and moveTask moves it later); run
# OpenTasks again to find it.
mutation CreateTask {
  createTask(input: {description: "Try GraphiQL", priority: HIGH}) {
    task { id description priority position version }
  }
}

# Every change as it commits: start it, then run CreateTask in a new tab.
subscription TaskEvents {
  taskEvents { kind taskId task { description done } }
}
"#;

/// `GET /graphiql/<package>@<version>/<file>`: an embedded file.
pub(crate) async fn serve_asset(
    State(state): State<SharedState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = ASSETS.iter().find_map(|a| {
        let (package, rest) = path.split_once('@')?;
        let (version, file) = rest.split_once('/')?;
        (a.package == package && a.version == version && a.path == file).then_some((a, a.bytes))
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
pub(crate) fn page_response(assets_url: Option<&str>) -> Response {
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
pub(crate) async fn serve_page(State(state): State<SharedState>) -> Response {
    if !state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    page_response(state.config.graphiql.assets_url.0.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(package: &str, path: &str) -> &'static Asset {
        ASSETS
            .iter()
            .find(|a| a.package == package && a.path == path)
            .expect("pinned in ASSETS")
    }

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
        assert!(page.contains(r#"src="graphiql/react@18.3.1/umd/react.production.min.js""#));
    }

    /// The vendored files are the pinned ones: each inflates to bytes whose
    /// sha384 is its integrity (what browsers check, and what
    /// `scripts/refresh-graphiql` printed).
    #[test]
    fn vendored_files_match_their_integrity() {
        use base64::Engine as _;
        use sha2::{Digest, Sha384};
        for a in ASSETS {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(a.bytes)
                .read_to_end(&mut plain)
                .unwrap_or_else(|e| panic!("{}@{}/{}: {e}", a.package, a.version, a.path));
            let digest = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&plain));
            assert_eq!(
                a.integrity,
                format!("sha384-{digest}"),
                "{}@{}/{}",
                a.package,
                a.version,
                a.path
            );
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
