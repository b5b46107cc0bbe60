//! Sign-in: bearer tokens (JWT) to owners. The only place that reads tokens.
//!
//! Without any `AUTH_*` key setting the service runs for one person: every
//! request is the built-in owner's. With `AUTH_JWT_SECRET` (HS256),
//! `AUTH_JWKS_URL` or `AUTH_JWKS_FILE` (RS256, ES256 or EdDSA keys chosen by
//! `kid`) every request needs a valid token, and its `sub` is the owner.
//! A token is only ever checked against the one algorithm its key is for,
//! so `alg: none` and an HS256 token signed with an RSA public key are
//! refused like any forgery.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::AuthSettings;
use crate::service::{EVERY_OWNER, Owner};

/// A key set is fetched again for an unknown `kid` at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// How long a key-set fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest subject accepted (owners are stored in 255 bytes).
const MAX_SUBJECT_BYTES: usize = 255;

/// Who a request is: its owner, and until when its token holds.
#[derive(Debug, Clone)]
pub struct Identity {
    pub owner: Owner,
    /// `exp` of the token; `None` in single-user mode.
    pub expires_at: Option<SystemTime>,
}

/// Why a token was refused (said to the client in general terms only).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required (Authorization: Bearer <token>)")]
    Missing,
    #[error("the bearer token is invalid: {0}")]
    Invalid(String),
}

/// Why sign-in could not be set up at start.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct AuthSetupError {
    pub var: &'static str,
    pub reason: String,
}

pub enum Authenticator {
    /// No keys configured: everything is the single user's.
    SingleUser,
    Tokens(Box<Verifier>),
}

pub struct Verifier {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

enum Keys {
    Secret(DecodingKey),
    Set(KeySet),
}

/// Keys by `kid`, each with the one algorithm it verifies.
struct KeySet {
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    /// Where to fetch the set again (not for a file).
    url: Option<String>,
    client: reqwest::Client,
    /// When the set was last fetched for an unknown kid (never: `None`).
    last_refetch: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

impl Authenticator {
    /// Reads the settings; fetches an `AUTH_JWKS_URL` key set now (an
    /// unreachable one is an error naming the variable).
    pub async fn from_settings(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        let chosen = [
            settings.jwt_secret.0.is_some(),
            settings.jwks_url.0.is_some(),
            settings.jwks_file.0.is_some(),
        ];
        if chosen.iter().filter(|c| **c).count() > 1 {
            return Err(AuthSetupError {
                var: "AUTH_JWT_SECRET",
                reason: "set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL and AUTH_JWKS_FILE".into(),
            });
        }
        let keys = if let Some(secret) = &settings.jwt_secret.0 {
            if secret.len() < 32 {
                return Err(AuthSetupError {
                    var: "AUTH_JWT_SECRET",
                    reason: "use at least 32 bytes (random) for an HS256 secret".into(),
                });
            }
            let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|e| AuthSetupError {
                var: "AUTH_JWT_SECRET",
                reason: e.to_string(),
            })?;
            Keys::Secret(key)
        } else if let Some(url) = &settings.jwks_url.0 {
            let client = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .map_err(|e| AuthSetupError {
                    var: "AUTH_JWKS_URL",
                    reason: e.to_string(),
                })?;
            let set = fetch(&client, url).await.map_err(|reason| AuthSetupError {
                var: "AUTH_JWKS_URL",
                reason,
            })?;
            Keys::Set(KeySet::new(&set, Some(url.clone()), client))
        } else if let Some(path) = &settings.jwks_file.0 {
            let text = std::fs::read_to_string(path).map_err(|e| AuthSetupError {
                var: "AUTH_JWKS_FILE",
                reason: format!("cannot read {path}: {e}"),
            })?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| AuthSetupError {
                var: "AUTH_JWKS_FILE",
                reason: format!("{path} is not a JWK set: {e}"),
            })?;
            Keys::Set(KeySet::new(&set, None, reqwest::Client::new()))
        } else {
            return Ok(Self::SingleUser);
        };
        if let Keys::Set(set) = &keys
            && set.is_empty()
        {
            let var = if set.url.is_some() {
                "AUTH_JWKS_URL"
            } else {
                "AUTH_JWKS_FILE"
            };
            return Err(AuthSetupError {
                var,
                reason: "the key set holds no usable RS256, ES256 or EdDSA key with a kid".into(),
            });
        }
        Ok(Self::Tokens(Box::new(Verifier {
            keys,
            issuer: settings.issuer.0.clone(),
            audience: settings.audience.0.clone(),
            leeway: settings.leeway_secs,
        })))
    }

    pub fn requires_tokens(&self) -> bool {
        matches!(self, Self::Tokens(_))
    }

    /// An `Authorization` header's value (`Bearer <token>`), or its absence.
    pub async fn authenticate_header(&self, value: Option<&str>) -> Result<Identity, AuthError> {
        match self {
            Self::SingleUser => Ok(single_user()),
            Self::Tokens(verifier) => {
                let token = value.and_then(bearer).ok_or(AuthError::Missing)?;
                verifier.verify(token).await
            }
        }
    }

    /// A WebSocket `connection_init` payload: `{"Authorization": "Bearer
    /// ..."}`, `{"authorization": "Bearer ..."}` or `{"token": "..."}`.
    pub async fn authenticate_init(
        &self,
        payload: Option<&serde_json::Value>,
    ) -> Result<Identity, AuthError> {
        let Self::Tokens(verifier) = self else {
            return Ok(single_user());
        };
        let field = |name: &str| payload.and_then(|p| p.get(name)).and_then(|v| v.as_str());
        let token = field("Authorization")
            .or_else(|| field("authorization"))
            .and_then(bearer)
            .or_else(|| field("token").map(str::trim))
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        verifier.verify(token).await
    }
}

fn single_user() -> Identity {
    Identity {
        owner: Owner::single_user(),
        expires_at: None,
    }
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let invalid = |reason: &str| AuthError::Invalid(reason.to_owned());
        let header = decode_header(token).map_err(|_| invalid("not a signed JWT"))?;
        let (key, algorithm) = match &self.keys {
            Keys::Secret(key) => (key.clone(), Algorithm::HS256),
            Keys::Set(set) => {
                let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
                set.key(kid).await.ok_or_else(|| invalid("unknown kid"))?
            }
        };
        if header.alg != algorithm {
            return Err(invalid("wrong algorithm for its key"));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(describe(e.kind())))?
            .claims;
        let owner = owner_of_subject(&claims.sub).ok_or_else(|| invalid("unusable sub"))?;
        Ok(Identity {
            owner,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(claims.exp)),
        })
    }
}

/// The owner a token's `sub` (or `api seed --owner`) names, if it can be
/// one: trimmed, 1 to 255 bytes, and never the event readers' "every owner".
pub fn owner_of_subject(subject: &str) -> Option<Owner> {
    let subject = subject.trim();
    (!subject.is_empty() && subject.len() <= MAX_SUBJECT_BYTES && subject != EVERY_OWNER)
        .then(|| Owner::new(subject))
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "expired",
        K::ImmatureSignature => "not valid yet (nbf)",
        K::InvalidIssuer => "wrong issuer",
        K::InvalidAudience => "wrong audience",
        K::InvalidSignature => "bad signature",
        K::MissingRequiredClaim(_) => "a required claim is missing",
        K::InvalidAlgorithm => "wrong algorithm for its key",
        _ => "malformed",
    }
    .to_owned()
}

impl KeySet {
    fn new(set: &JwkSet, url: Option<String>, client: reqwest::Client) -> Self {
        Self {
            keys: RwLock::new(usable_keys(set)),
            url,
            client,
            last_refetch: Mutex::new(None),
        }
    }

    fn is_empty(&self) -> bool {
        self.keys.read().map(|k| k.is_empty()).unwrap_or(true)
    }

    fn cached(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// The key named `kid`; an unknown one makes the set be fetched again
    /// (at most once a minute: rotation needs no restart, a flood of made-up
    /// kids costs the identity provider nothing). A failed fetch keeps the
    /// cached keys.
    async fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
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

async fn fetch(client: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
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
fn usable_keys(set: &JwkSet) -> HashMap<String, (DecodingKey, Algorithm)> {
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

/// Shared by the HTTP layer and the WebSocket guard.
pub type SharedAuthenticator = Arc<Authenticator>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_read_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
