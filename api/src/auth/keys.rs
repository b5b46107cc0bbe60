//! A JWK set's usable keys by `kid`, each with the one algorithm it
//! verifies; fetched again (at most once a minute) for an unknown `kid`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// A key set is fetched again for an unknown `kid` at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// How long a key-set fetch may take.
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Keys by `kid`, each with the one algorithm it verifies.
pub(super) struct KeySet {
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    /// Where to fetch the set again (not for a file).
    pub(super) url: Option<String>,
    client: reqwest::Client,
    /// When the set was last fetched for an unknown kid (never: `None`).
    last_refetch: Mutex<Option<Instant>>,
}

impl KeySet {
    pub(super) fn new(set: &JwkSet, url: Option<String>, client: reqwest::Client) -> Self {
        Self {
            keys: RwLock::new(usable_keys(set)),
            url,
            client,
            last_refetch: Mutex::new(None),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.keys.read().map(|k| k.is_empty()).unwrap_or(true)
    }

    fn cached(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// The key named `kid`; an unknown one makes the set be fetched again
    /// (at most once a minute: rotation needs no restart, a flood of made-up
    /// kids costs the identity provider nothing). A failed fetch keeps the
    /// cached keys.
    pub(super) async fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let url = self.url.as_deref()?;
        let mut last_refetch = self.last_refetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        if last_refetch.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY) {
            return None;
        }
        *last_refetch = Some(Instant::now());
        match fetch(&self.client, url).await {
            Ok(set) => {
                let keys = usable_keys(&set);
                tracing::info!(keys = keys.len(), "fetched the JWK set again (unknown kid)");
                if let Ok(mut cached) = self.keys.write() {
                    *cached = keys;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "fetching the JWK set failed; keeping the cached keys");
            }
        }
        self.cached(kid)
    }
}

pub(super) async fn fetch(client: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    response
        .json::<JwkSet>()
        .await
        .map_err(|e| format!("{url} is not a JWK set: {e}"))
}

/// The asymmetric keys with a `kid`, each with the algorithm it is for.
pub(super) fn usable_keys(set: &JwkSet) -> HashMap<String, (DecodingKey, Algorithm)> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = algorithm_of(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, (key, algorithm)))
        })
        .collect()
}

/// The one algorithm a key verifies: its `alg` when given, else its type's.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        // Symmetric keys in a public key set, and other curves: not used.
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}
