//! Who a client is on the network: its address, as seen directly or through
//! proxies we trust, and the prefix that counts as one client.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::HeaderName;
use ipnet::IpNet;

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Hops of `X-Forwarded-For` looked at, from the right: more proxies than
/// this in front of the api is not a deployment, it is a forged header.
const MAX_FORWARDED_HOPS: usize = 16;

/// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDR ranges or single addresses.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{entry:?} is neither an address nor a CIDR range such as 10.0.0.0/8")
                })?,
            };
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer itself, or, when the peer is a trusted
    /// proxy, the first address of `X-Forwarded-For` (read from the right,
    /// where our proxies appended) that is not a trusted proxy. Anything a
    /// client wrote to the left of that is never read.
    pub(crate) fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|value| value.as_bytes().rsplit(|b| *b == b','))
            .take(MAX_FORWARDED_HOPS);
        for hop in hops {
            // Junk a trusted proxy passed on: the last address we could read
            // is as far as the chain can be followed.
            let Some(ip) = std::str::from_utf8(hop).ok().and_then(parse_hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (some
/// proxies add one).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The part of an address that is one client: the address for IPv4, the
/// /64 network for IPv6 (one host is routinely given a whole /64, so its
/// addresses are one client's).
pub(crate) fn client_prefix(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                &X_FORWARDED_FOR,
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn parses_ranges_and_addresses() {
        let trusted =
            TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,,10.1.2.3/8").unwrap();
        assert_eq!(trusted.0.len(), 3);
        assert!(trusted.trusts(ip("10.200.0.1")));
        assert!(trusted.trusts(ip("192.168.1.7")));
        assert!(!trusted.trusts(ip("192.168.1.8")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(trusted.trusts(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0", "*"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(
            trusted.client_address(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_names_the_first_untrusted_hop_from_the_right() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.2");
        // The client forged the leftmost entry; our proxies appended the rest.
        let chain = headers(&["6.6.6.6, 198.51.100.7, 10.0.0.9"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("198.51.100.7"));
        // Several headers are one list, in order.
        let split = headers(&["6.6.6.6", "198.51.100.7:4711", "10.0.0.9"]);
        assert_eq!(trusted.client_address(peer, &split), ip("198.51.100.7"));
        let v6 = headers(&["[2001:db8::1]:443"]);
        assert_eq!(trusted.client_address(peer, &v6), ip("2001:db8::1"));
        // No header: the proxy itself.
        assert_eq!(trusted.client_address(peer, &HeaderMap::new()), peer);
        // Junk stops the walk at the last address read.
        let junk = headers(&["1.1.1.1, garbage, 10.0.0.9"]);
        assert_eq!(trusted.client_address(peer, &junk), ip("10.0.0.9"));
        // Only trusted hops: the leftmost of them.
        let inside = headers(&["10.1.1.1, 10.0.0.9"]);
        assert_eq!(trusted.client_address(peer, &inside), ip("10.1.1.1"));
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        assert_eq!(
            client_prefix(ip("2001:db8:1:2:3:4:5:6")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_prefix(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_prefix(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
