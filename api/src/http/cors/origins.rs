//! `CORS_ALLOWED_ORIGINS`: the origins a browser may call the api from.

use url::{Host, Url};

/// `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum CorsOrigins {
    /// Unset or empty: no cross-origin access from browsers.
    #[default]
    None,
    /// `*`: any origin (never with credentials).
    Any,
    /// Exactly these origins, as browsers send them: `scheme://host[:port]`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Whether a browser on `origin` (its `Origin` header) may call the api.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        match self {
            Self::None => false,
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// A comma-separated list of exact origins, or `*` alone.
pub(crate) fn parse_origins(value: &str) -> Result<CorsOrigins, String> {
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(CorsOrigins::Any)
        } else {
            Err("`*` (any origin) must stand alone".into())
        };
    }
    let mut origins = Vec::with_capacity(entries.len());
    for entry in entries {
        let origin = parse_origin(entry).map_err(|reason| format!("{entry:?}: {reason}"))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(if origins.is_empty() {
        CorsOrigins::None
    } else {
        CorsOrigins::List(origins)
    })
}

/// One origin as a browser serialises it: `http(s)://host[:port]`, lower
/// case, no path, no default port.
fn parse_origin(entry: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected scheme://host[:port], e.g. https://app.example.com";
    let url = Url::parse(entry).map_err(|e| format!("{e}; {EXPECTED}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme must be http or https; {EXPECTED}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("an origin has no user name; {EXPECTED}"));
    }
    // Host names as DNS writes them (letters, digits, `-`, `.`); the URL
    // standard lets more through (`_`, for one).
    if let Some(Host::Domain(host)) = url.host()
        && !is_dns_name(host)
    {
        return Err(format!("invalid host {host:?}; {EXPECTED}"));
    }
    if url.port() == Some(0) {
        return Err(format!("invalid port 0; {EXPECTED}"));
    }
    // What the browser sends in `Origin`; anything written otherwise (a
    // path or trailing slash, a default port, an international name not in
    // punycode) would never match it.
    let origin = url.origin().ascii_serialization();
    if !origin.eq_ignore_ascii_case(entry) {
        return Err(format!(
            "browsers send this origin as {origin:?}: no path (nor a trailing slash), \
             no default port; {EXPECTED}"
        ));
    }
    Ok(origin)
}

/// Letters, digits, `-` and `.`, not at either end.
fn is_dns_name(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_pairs as config;

    #[test]
    fn cors_allowed_origins_are_exact_origins() {
        let origins =
            |v: &str| config(&[("CORS_ALLOWED_ORIGINS", v)]).map(|c| c.cors_allowed_origins);
        assert_eq!(origins(" , ").unwrap(), CorsOrigins::None);
        assert_eq!(origins("*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            origins("https://App.Example.com, http://127.0.0.1:5173,http://[::1]:8080,https://app.example.com,").unwrap(),
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://127.0.0.1:5173".into(),
                "http://[::1]:8080".into(),
            ])
        );
        for bad in [
            "*,https://a.example",
            "app.example.com",
            "ftp://a.example",
            "https://a.example/",
            "https://a.example/app",
            "https://a.example:443",
            "http://a.example:80",
            "http://a.example:0",
            "http://a.example:99999",
            "http://a.example:",
            "http://user@a.example",
            "http://",
            "http://a_b.example",
            "http://[::1",
            "http://[zz]:80",
            "null",
        ] {
            let err = origins(bad).expect_err(bad);
            assert_eq!(err.var, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }
}
