//! GraphiQL's settings: whether the page is served, and where its files
//! come from.

use std::cell::Cell;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use url::{SyntaxViolation, Url};

/// The GraphiQL page at `/`.
#[derive(Debug, Clone, Args)]
pub struct GraphiqlSettings {
    /// Serve GraphiQL at /. Default: on in development, off in production.
    #[arg(long = "graphiql", env = "GRAPHIQL", value_name = "GRAPHIQL", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub(crate) enabled: Option<bool>,

    /// Base URL (npm-CDN layout) or path to load GraphiQL's files from
    /// instead of the api itself.
    #[arg(long = "graphiql-assets-url", env = "GRAPHIQL_ASSETS_URL", value_name = "GRAPHIQL_ASSETS_URL", default_value = "",
          value_parser = parse_assets_url)]
    pub assets_url: AssetsUrl,
}

/// `GRAPHIQL_ASSETS_URL`: without a trailing slash; `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetsUrl(pub Option<String>);

/// `http(s)://host[:port][/path]` or an absolute path on this host (`/npm`);
/// no query or fragment. Kept without the trailing slash; empty is unset.
fn parse_assets_url(value: &str) -> Result<AssetsUrl, String> {
    let url = value.trim().trim_end_matches('/');
    const EXPECTED: &str = "expected a base URL such as https://cdn.example.com/npm or /npm";
    if url.is_empty() {
        return Ok(AssetsUrl(None));
    }
    // The page writes it into HTML and JavaScript as it is.
    if url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>`?#\\".contains(c)) {
        return Err(format!("no spaces, quotes, query or fragment; {EXPECTED}"));
    }
    if url.starts_with('/') && !url.starts_with("//") {
        return Ok(AssetsUrl(Some(url.to_owned())));
    }
    // The URL standard reads `https:///npm` as host `npm`, repairing the
    // slashes; a missing host is refused here instead.
    let slashes_repaired = Cell::new(false);
    let parsed = Url::options()
        .syntax_violation_callback(Some(&|violation| {
            if violation == SyntaxViolation::ExpectedDoubleSlash {
                slashes_repaired.set(true);
            }
        }))
        .parse(url)
        .map_err(|e| format!("{e}; {EXPECTED}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("the scheme must be http or https; {EXPECTED}"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("no user name; {EXPECTED}"));
    }
    if slashes_repaired.get() {
        return Err(format!(
            "expected // and then the host after the scheme; {EXPECTED}"
        ));
    }
    Ok(AssetsUrl(Some(url.to_owned())))
}

#[cfg(test)]
mod tests {
    use crate::config::from_pairs as config;

    #[test]
    fn graphiql_assets_url_is_a_base_url() {
        let url = |v: &str| config(&[("GRAPHIQL_ASSETS_URL", v)]).map(|c| c.graphiql.assets_url.0);
        assert_eq!(
            url("https://cdn.example.com/npm/").unwrap().as_deref(),
            Some("https://cdn.example.com/npm")
        );
        assert_eq!(
            url("http://127.0.0.1:9000").unwrap().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(url("/static/npm").unwrap().as_deref(), Some("/static/npm"));
        for bad in [
            "cdn.example.com",
            "ftp://x/npm",
            "https:///npm",
            "https://x/npm?v=1",
            "//x/npm",
            "https://x/\"a",
        ] {
            let err = url(bad).expect_err(bad);
            assert_eq!(err.var, "GRAPHIQL_ASSETS_URL", "{bad}");
        }
    }
}
