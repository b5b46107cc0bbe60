//! `CORS_ALLOWED_ORIGINS`: the origins a browser may call the api from.

/// `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
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
    pub fn allows(&self, origin: &str) -> bool {
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
    let lower = entry.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or(EXPECTED)?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return Err(format!("the scheme must be http or https; {EXPECTED}")),
    };
    if rest.contains(['/', '?', '#']) {
        return Err(format!(
            "an origin has no path (nor a trailing slash); {EXPECTED}"
        ));
    }
    if rest.contains('@') {
        return Err(format!("an origin has no user name; {EXPECTED}"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (address, after) = v6.split_once(']').ok_or(EXPECTED)?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("[{address}] is not an IPv6 address"))?;
        match after {
            "" => (&rest[..address.len() + 2], None),
            _ => (
                &rest[..address.len() + 2],
                Some(after.strip_prefix(':').ok_or(EXPECTED)?),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.starts_with('[')
            || (host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !host.starts_with(['.', '-'])
                && !host.ends_with(['.', '-'])));
    if !valid_host {
        return Err(format!(
            "invalid host {host:?} (write international names in punycode); {EXPECTED}"
        ));
    }
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(format!("invalid port {port:?}; {EXPECTED}"));
        }
        if port == default_port {
            return Err(format!(
                "browsers leave out the default port :{port} of {scheme}; drop it"
            ));
        }
    }
    Ok(lower)
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
