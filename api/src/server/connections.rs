//! Open connections: counted (shutdown waits for them to close, WebSockets
//! included), and capped in all and per client address.
//!
//! Over `HTTP_MAX_CONNECTIONS` a small reserve of connections is still
//! accepted, to answer health probes and scrapes only: nothing tells a probe
//! from any other connection before its request is read, and a replica whose
//! probes fail for being busy would be restarted, dropping every connection
//! it has. A reserve connection may send one request; `/healthz`, `/readyz`
//! and `/metrics` are answered, anything else gets 503 and the connection
//! closes. Past the reserve, and past `HTTP_MAX_CONNECTIONS_PER_CLIENT` from
//! one address, a connection is closed at once. The per-client cap keeps one
//! address from filling the server (and the reserve); trusted proxies are
//! exempt, as every client behind them shares their address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::config::TrustedProxies;
use crate::metrics::{REFUSED_MAX_CONNECTIONS, REFUSED_PER_CLIENT};
use crate::net::client_prefix;

/// Connections accepted over the cap, for probes only.
pub const PROBE_RESERVE: usize = 16;

pub(crate) struct Caps {
    pub(crate) max: usize,
    pub(crate) per_client: usize,
    pub(crate) trusted: TrustedProxies,
}

#[derive(Clone)]
pub(crate) struct Connections(Arc<Inner>);

struct Inner {
    /// Every open connection, for shutdown to wait on.
    open: watch::Sender<usize>,
    caps: Caps,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    full: usize,
    probe_only: usize,
    /// Per client address, for addresses with connections open.
    per_client: HashMap<IpAddr, usize>,
}

/// What an accepted connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Full,
    /// Over the cap: one request, probes only.
    ProbeOnly,
}

impl Connections {
    pub(crate) fn new(caps: Caps) -> Self {
        Self(Arc::new(Inner {
            open: watch::Sender::new(0),
            caps,
            counts: Mutex::default(),
        }))
    }

    /// Admits a connection from `peer`, or names the cap it is over
    /// (`reason` of `http_connections_refused_total`).
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<OpenConnection, &'static str> {
        let caps = &self.0.caps;
        let client = (!caps.trusted.trusts(peer)).then(|| client_prefix(peer));
        let mut counts = self.0.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = client
            && counts.per_client.get(&client).copied().unwrap_or(0) >= caps.per_client
        {
            return Err(REFUSED_PER_CLIENT);
        }
        let class = if counts.full < caps.max {
            counts.full += 1;
            Class::Full
        } else if counts.probe_only < PROBE_RESERVE {
            counts.probe_only += 1;
            Class::ProbeOnly
        } else {
            return Err(REFUSED_MAX_CONNECTIONS);
        };
        if let Some(client) = client {
            *counts.per_client.entry(client).or_default() += 1;
        }
        drop(counts);
        self.0.open.send_modify(|n| *n += 1);
        crate::metrics::connection_opened();
        Ok(OpenConnection {
            connections: self.0.clone(),
            class,
            client,
        })
    }

    pub(crate) fn count(&self) -> usize {
        *self.0.open.borrow()
    }

    pub(crate) async fn all_closed(&self) {
        let mut open = self.0.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

/// One open connection, counted until dropped (it travels with the socket:
/// into a WebSocket, into a lingering close).
pub(crate) struct OpenConnection {
    connections: Arc<Inner>,
    class: Class,
    client: Option<IpAddr>,
}

impl OpenConnection {
    pub(crate) fn class(&self) -> Class {
        self.class
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let inner = &self.connections;
        {
            let mut counts = inner.counts.lock().unwrap_or_else(PoisonError::into_inner);
            match self.class {
                Class::Full => counts.full = counts.full.saturating_sub(1),
                Class::ProbeOnly => counts.probe_only = counts.probe_only.saturating_sub(1),
            }
            if let Some(client) = self.client
                && let Some(n) = counts.per_client.get_mut(&client)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.per_client.remove(&client);
                }
            }
        }
        inner.open.send_modify(|n| *n = n.saturating_sub(1));
        crate::metrics::connection_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(max: usize, per_client: usize, trusted: &str) -> Connections {
        Connections::new(Caps {
            max,
            per_client,
            trusted: TrustedProxies::parse(trusted).unwrap(),
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn over_the_cap_a_reserve_for_probes_then_refusal() {
        let c = connections(2, 100, "");
        let full: Vec<_> = (0..2)
            .map(|i| c.admit(ip(&format!("192.0.2.{i}"))).unwrap())
            .collect();
        assert!(full.iter().all(|o| o.class() == Class::Full));
        let reserve: Vec<_> = (0..PROBE_RESERVE)
            .map(|i| c.admit(ip(&format!("198.51.100.{i}"))).unwrap())
            .collect();
        assert!(reserve.iter().all(|o| o.class() == Class::ProbeOnly));
        assert_eq!(
            c.admit(ip("203.0.113.1")).err(),
            Some(REFUSED_MAX_CONNECTIONS)
        );
        assert_eq!(c.count(), 2 + PROBE_RESERVE);
        drop(full);
        assert_eq!(c.admit(ip("203.0.113.1")).unwrap().class(), Class::Full);
        drop(reserve);
        assert_eq!(c.count(), 0);
    }

    #[test]
    fn one_address_has_its_own_cap_and_trusted_proxies_none() {
        let c = connections(100, 2, "10.0.0.0/8");
        let mine: Vec<_> = (0..2).map(|_| c.admit(ip("192.0.2.1")).unwrap()).collect();
        assert_eq!(c.admit(ip("192.0.2.1")).err(), Some(REFUSED_PER_CLIENT));
        // One IPv6 host is its /64.
        let _v6: Vec<_> = (1..=2)
            .map(|i| c.admit(ip(&format!("2001:db8::{i}"))).unwrap())
            .collect();
        assert_eq!(
            c.admit(ip("2001:db8::ffff")).err(),
            Some(REFUSED_PER_CLIENT)
        );
        assert!(c.admit(ip("192.0.2.2")).is_ok());
        let _proxy: Vec<_> = (0..10).map(|_| c.admit(ip("10.1.1.1")).unwrap()).collect();
        drop(mine);
        assert!(c.admit(ip("192.0.2.1")).is_ok());
        let counts = c.0.counts.lock().unwrap();
        assert!(!counts.per_client.contains_key(&ip("10.1.1.1")));
    }
}
