//! Per-client rate limits: one token bucket per client (governor's GCRA),
//! kept in memory on each replica.
//!
//! The buckets live in a DashMap that cannot grow without bound, whatever
//! a flood of new addresses does: a bucket that has refilled is no
//! different from a new one, so [`RateLimiter::upkeep`] drops those every
//! second; and at most `RATE_LIMIT_MAX_CLIENTS` buckets are held. A new
//! client that finds the store full is measured against one bucket shared by
//! all such newcomers ([`ClientKey::Overflow`]) until quiet buckets are
//! dropped. Evicting known clients instead would hand each evicted client a
//! fresh burst, and refusing every newcomer outright would refuse clients
//! that never sent anything; the shared bucket lets a trickle of newcomers
//! through and keeps the limits of the clients already known.

pub(crate) mod settings;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use tokio_util::sync::CancellationToken;

use crate::service::Owner;

pub(crate) use settings::RateLimitSettings;

/// How often buckets that have refilled are dropped.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Whose bucket a request is taken from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// The signed-in owner (when sign-in is configured).
    Owner(Owner),
    /// The client's address (an IPv6 /64), without sign-in.
    Address(IpAddr),
    /// New clients while the store is full.
    Overflow,
}

/// The answer for one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed(Allowance),
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    /// The bucket size.
    pub(crate) limit: u32,
    /// Operations the client may still run at once.
    pub(crate) remaining: u32,
    /// Until the bucket is full again.
    pub(crate) reset: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) limit: u32,
    /// Until the operations asked for would be allowed.
    pub(crate) retry_after: Duration,
    /// Until the bucket is full again.
    pub(crate) reset: Duration,
}

type Limiter =
    governor::RateLimiter<ClientKey, CappedStore, DefaultClock, StateInformationMiddleware>;

pub(crate) struct RateLimiter {
    limiter: Limiter,
    burst: u32,
    /// Time to earn back one operation.
    period: Duration,
}

impl RateLimiter {
    /// `None` when rate limiting is off.
    pub(crate) fn from_settings(settings: &RateLimitSettings) -> Option<Self> {
        let per_second = settings.per_second?;
        let burst = settings.effective_burst()?;
        Self::new(per_second, burst, settings.max_clients)
    }

    pub(crate) fn new(per_second: f64, burst: u32, max_clients: usize) -> Option<Self> {
        let period = Duration::from_secs_f64(1.0 / per_second);
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
        let store = CappedStore {
            map: DashMapStateStore::default(),
            max_clients,
        };
        let limiter: Limiter = governor::RateLimiter::new(quota, store, DefaultClock::default());
        Some(Self {
            limiter,
            burst,
            period,
        })
    }

    /// The bucket size: the most operations a client can ever run at once.
    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes `operations` (at least 1) from the client's bucket, all or none.
    pub(crate) fn check(&self, key: &ClientKey, operations: u32) -> Verdict {
        let operations = NonZeroU32::new(operations).unwrap_or(NonZeroU32::MIN);
        let refused = |retry_after: Duration| {
            Verdict::Refused(Refusal {
                limit: self.burst,
                retry_after,
                reset: retry_after + self.period * (self.burst - 1),
            })
        };
        let outcome = if operations == NonZeroU32::MIN {
            self.limiter.check_key(key)
        } else {
            match self.limiter.check_key_n(key, operations) {
                Ok(outcome) => outcome,
                // More than a bucket holds: never; callers keep batches
                // within the burst.
                Err(_) => return refused(self.period * self.burst),
            }
        };
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(self.burst);
                Verdict::Allowed(Allowance {
                    limit: self.burst,
                    remaining,
                    reset: self.period * (self.burst - remaining),
                })
            }
            Err(not_until) => refused(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Clients holding a bucket now.
    pub(crate) fn clients(&self) -> usize {
        self.limiter.len()
    }

    /// Drops the buckets that have refilled (they are no different from new
    /// ones) and gives their memory back.
    pub(crate) fn upkeep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        crate::metrics::rate_limit_clients(self.clients());
    }

    /// Runs [`RateLimiter::upkeep`] every second until `shutdown`.
    pub(crate) fn start_upkeep(self: &Arc<Self>, shutdown: &CancellationToken) {
        let limiter = Arc::downgrade(self);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let Some(limiter) = limiter.upgrade() else {
                    return;
                };
                limiter.upkeep();
            }
        });
    }
}

/// Governor's DashMap store with a cap on its keys.
struct CappedStore {
    map: DashMapStateStore<ClientKey>,
    max_clients: usize,
}

impl StateStore for CappedStore {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // Counting the keys is only needed for a client not seen recently.
        // Concurrent newcomers may pass the check together: the store then
        // holds a few more than the cap, never many.
        if !self.map.contains_key(key) && self.map.len() >= self.max_clients {
            crate::metrics::rate_limit_overflow();
            return self.map.measure_and_replace(&ClientKey::Overflow, f);
        }
        self.map.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<ClientKey> for CappedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn address(n: u32) -> ClientKey {
        ClientKey::Address(IpAddr::V4(Ipv4Addr::from(n)))
    }

    #[test]
    fn a_client_over_its_burst_is_refused_until_it_refills() {
        let limiter = RateLimiter::new(20.0, 3, 100).unwrap();
        let me = address(1);
        for remaining in [2, 1, 0] {
            match limiter.check(&me, 1) {
                Verdict::Allowed(a) => {
                    assert_eq!((a.limit, a.remaining), (3, remaining));
                }
                other => panic!("refused too early: {other:?}"),
            }
        }
        let Verdict::Refused(refusal) = limiter.check(&me, 1) else {
            panic!("a fourth operation at once passed");
        };
        assert_eq!(refusal.limit, 3);
        assert!(refusal.retry_after > Duration::ZERO);
        assert!(refusal.retry_after <= Duration::from_millis(50));
        assert!(refusal.reset >= refusal.retry_after + Duration::from_millis(99));
        // Another client has a bucket of its own.
        assert!(matches!(limiter.check(&address(2), 1), Verdict::Allowed(_)));
        std::thread::sleep(refusal.retry_after + Duration::from_millis(5));
        assert!(matches!(limiter.check(&me, 1), Verdict::Allowed(_)));
    }

    #[test]
    fn a_batch_takes_all_its_operations_or_none() {
        let limiter = RateLimiter::new(0.01, 5, 100).unwrap();
        let me = address(1);
        assert!(matches!(limiter.check(&me, 4), Verdict::Allowed(a) if a.remaining == 1));
        assert!(matches!(limiter.check(&me, 2), Verdict::Refused(_)));
        // The refused batch took nothing.
        assert!(matches!(limiter.check(&me, 1), Verdict::Allowed(a) if a.remaining == 0));
        assert!(matches!(limiter.check(&address(2), 6), Verdict::Refused(_)));
    }

    #[test]
    fn a_hundred_thousand_addresses_leave_the_store_bounded() {
        // 1000/s with a burst of 1: a bucket is full again 1 ms after use.
        let limiter = RateLimiter::new(1000.0, 1, 10_000).unwrap();
        for n in 0..100_000 {
            let _ = limiter.check(&address(n), 1);
            assert!(limiter.clients() <= 10_001, "{} keys", limiter.clients());
        }
        // Once quiet, every bucket is dropped and its memory given back.
        std::thread::sleep(Duration::from_millis(5));
        limiter.upkeep();
        assert_eq!(limiter.clients(), 0);
        assert!(matches!(
            limiter.check(&address(100_000), 1),
            Verdict::Allowed(_)
        ));
        assert_eq!(limiter.clients(), 1);
    }

    #[test]
    fn newcomers_to_a_full_store_share_one_bucket_and_known_clients_keep_theirs() {
        let limiter = RateLimiter::new(0.01, 2, 10).unwrap();
        for n in 0..10 {
            assert!(matches!(limiter.check(&address(n), 1), Verdict::Allowed(_)));
        }
        assert!(matches!(
            limiter.check(&address(100), 1),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(&address(101), 1),
            Verdict::Allowed(_)
        ));
        for n in 102..200 {
            assert!(
                matches!(limiter.check(&address(n), 1), Verdict::Refused(_)),
                "{n}"
            );
        }
        assert_eq!(limiter.clients(), 11, "ten clients and the shared bucket");
        // A known client still has the second operation of its own bucket.
        assert!(matches!(limiter.check(&address(3), 1), Verdict::Allowed(a) if a.remaining == 0));
        assert!(matches!(limiter.check(&address(3), 1), Verdict::Refused(_)));
    }

    #[test]
    fn signed_in_owners_are_keyed_by_owner() {
        let limiter = RateLimiter::new(0.01, 1, 100).unwrap();
        let alice = ClientKey::Owner(Owner::new("alice"));
        assert!(matches!(limiter.check(&alice, 1), Verdict::Allowed(_)));
        assert!(matches!(limiter.check(&alice, 1), Verdict::Refused(_)));
        let bob = ClientKey::Owner(Owner::new("bob"));
        assert!(matches!(limiter.check(&bob, 1), Verdict::Allowed(_)));
    }
}
