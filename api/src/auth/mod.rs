//! Sign-in: bearer tokens (JWT) to owners. The only place that reads tokens.
//!
//! Without any `AUTH_*` key setting the service runs for one person: every
//! request is the built-in owner's. With `AUTH_JWT_SECRET` (HS256),
//! `AUTH_JWKS_URL` or `AUTH_JWKS_FILE` (RS256, ES256 or EdDSA keys chosen by
//! `kid`) every request needs a valid token, and its `sub` is the owner.
//! A token is only ever checked against the one algorithm its key is for,
//! so `alg: none` and an HS256 token signed with an RSA public key are
//! refused like any forgery.

pub(crate) mod settings;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::service::{EVERY_OWNER, Owner};

pub use settings::AuthSettings;

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
    /// When the token stops being accepted: the second after `exp` plus
    /// `AUTH_LEEWAY_SECS` (times are whole seconds: a request in that
    /// second still passes). One rule for HTTP, which checks each request
    /// against it, and WebSockets, closed when it comes. `None` in
    /// single-user mode.
    pub accepted_until: Option<SystemTime>,
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

/// The claims read from a verified token. Kept loose (any JSON) so that a
/// missing or mistyped claim is refused with a message naming it, not as a
/// token that failed to decode.
#[derive(Deserialize)]
struct Claims {
    sub: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
}

impl Authenticator {
    /// What can be checked of the settings without the network: one key
    /// setting at most, a long enough secret, a JWK set URL of the right
    /// shape, a readable JWK set file with a usable key, and no issuer or
    /// audience without a key (sign-in would be off and they would do
    /// nothing). Run before the process listens or touches the database.
    pub fn check_settings(settings: &AuthSettings) -> Result<(), AuthSetupError> {
        let chosen = [
            settings.jwt_secret.0.is_some(),
            settings.jwks_url.0.is_some(),
            settings.jwks_file.0.is_some(),
        ];
        match chosen.iter().filter(|c| **c).count() {
            0 => {
                for (var, value) in [
                    ("AUTH_ISSUER", &settings.issuer),
                    ("AUTH_AUDIENCE", &settings.audience),
                ] {
                    if value.0.is_some() {
                        return Err(AuthSetupError {
                            var,
                            reason: "is set while sign-in is off (none of AUTH_JWT_SECRET, \
                                     AUTH_JWKS_URL, AUTH_JWKS_FILE is set), so it would check \
                                     nothing: set one of those too, or unset it"
                                .into(),
                        });
                    }
                }
            }
            1 => {}
            _ => {
                return Err(AuthSetupError {
                    var: "AUTH_JWT_SECRET",
                    reason: "set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL and AUTH_JWKS_FILE"
                        .into(),
                });
            }
        }
        if let Some(secret) = settings.jwt_secret.get()
            && secret.len() < 32
        {
            return Err(AuthSetupError {
                var: "AUTH_JWT_SECRET",
                reason: "use at least 32 bytes (random) for an HS256 secret".into(),
            });
        }
        if let Some(url) = &settings.jwks_url.0 {
            check_jwks_url(url)?;
        }
        if let Some(path) = &settings.jwks_file.0 {
            let set = read_jwks_file(path)?;
            if usable_keys(&set).is_empty() {
                return Err(AuthSetupError {
                    var: "AUTH_JWKS_FILE",
                    reason: NO_USABLE_KEY.into(),
                });
            }
        }
        Ok(())
    }

    /// Reads the settings; fetches an `AUTH_JWKS_URL` key set now (an
    /// unreachable one is an error naming the variable).
    pub async fn from_settings(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        Self::check_settings(settings)?;
        let keys = if let Some(secret) = settings.jwt_secret.get() {
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
            let set = read_jwks_file(path)?;
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
                reason: NO_USABLE_KEY.into(),
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

const NO_USABLE_KEY: &str = "the key set holds no usable RS256, ES256 or EdDSA key with a kid";

/// `AUTH_JWKS_URL`: an absolute http(s) URL with a host.
fn check_jwks_url(url: &str) -> Result<(), AuthSetupError> {
    let invalid = |reason: String| AuthSetupError {
        var: "AUTH_JWKS_URL",
        reason: format!(
            "{reason}; expected an http(s) URL such as https://idp.example.com/jwks.json"
        ),
    };
    let parsed =
        reqwest::Url::parse(url).map_err(|e| invalid(format!("{url:?} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{url:?}: the scheme must be http or https"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("{url:?} names no host")));
    }
    Ok(())
}

fn read_jwks_file(path: &str) -> Result<JwkSet, AuthSetupError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthSetupError {
        var: "AUTH_JWKS_FILE",
        reason: format!("cannot read {path}: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| AuthSetupError {
        var: "AUTH_JWKS_FILE",
        reason: format!("{path} is not a JWK set: {e}"),
    })
}

fn single_user() -> Identity {
    Identity {
        owner: Owner::single_user(),
        expires_at: None,
        accepted_until: None,
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
        // `exp` and `sub` are checked below, each with its own message; the
        // library still refuses an `exp` in the past or of the wrong type.
        validation.required_spec_claims.clear();
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
        let exp = match &claims.exp {
            None => return Err(invalid("the exp claim is missing (it is required)")),
            Some(exp) => seconds_of(exp).ok_or_else(|| {
                invalid("the exp claim must be a number (seconds since 1970-01-01 UTC)")
            })?,
        };
        let subject = match &claims.sub {
            None => return Err(invalid("the sub claim is missing (it is required)")),
            Some(sub) => sub
                .as_str()
                .ok_or_else(|| invalid("the sub claim must be a string"))?,
        };
        let owner = owner_of_subject(subject)
            .ok_or_else(|| invalid("the sub claim is unusable (1 to 255 bytes, and not \"*\")"))?;
        // The rows written without sign-in stay the built-in owner's, out of
        // every token's reach, until `api transfer-owner` hands them over.
        if owner == Owner::single_user() {
            return Err(invalid(
                "the sub claim names the built-in single-user owner, which no token may be",
            ));
        }
        let expires_at = UNIX_EPOCH + Duration::from_secs(exp);
        Ok(Identity {
            owner,
            expires_at: Some(expires_at),
            accepted_until: Some(expires_at + Duration::from_secs(self.leeway + 1)),
        })
    }
}

/// A NumericDate: whole seconds (a fraction is cut off, as the library
/// does when it compares).
fn seconds_of(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < u64::MAX as f64)
            .map(|s| s as u64)
    })
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
        K::MissingRequiredClaim(claim) => return format!("the {claim} claim is missing"),
        K::InvalidClaimFormat(claim) if claim == "exp" || claim == "nbf" => {
            return format!("the {claim} claim must be a number (seconds since 1970-01-01 UTC)");
        }
        K::InvalidClaimFormat(claim) => return format!("the {claim} claim has the wrong type"),
        K::InvalidAlgorithm => "wrong algorithm for its key",
        K::Json(_) => "the claims are not a JSON object",
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
