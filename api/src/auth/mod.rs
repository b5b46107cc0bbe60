//! Sign-in: bearer tokens (JWT) to owners. The only place that reads tokens.
//!
//! Without any `AUTH_*` key setting the service runs for one person: every
//! request is the built-in owner's. With `AUTH_JWT_SECRET` (HS256),
//! `AUTH_JWKS_URL` or `AUTH_JWKS_FILE` (RS256, ES256 or EdDSA keys chosen by
//! `kid`) every request needs a valid token, and its `sub` is the owner.
//! A token is only ever checked against the one algorithm its key is for,
//! so `alg: none` and an HS256 token signed with an RSA public key are
//! refused like any forgery.
//!
//! `verify.rs` checks one token against its key; `keys.rs` holds a JWK
//! set's keys and fetches them again when an unknown `kid` comes.

mod keys;
pub(crate) mod settings;
mod verify;

use std::time::SystemTime;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;

use crate::service::{EVERY_OWNER, Owner};

use keys::{FETCH_TIMEOUT, KeySet, fetch, usable_keys};
pub(crate) use settings::AuthSettings;
use verify::Keys;
pub(crate) use verify::Verifier;

/// The longest subject accepted (owners are stored in 255 bytes).
const MAX_SUBJECT_BYTES: usize = 255;

/// Who a request is: its owner, and until when its token holds.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) owner: Owner,
    /// When the token stops being accepted: the second after `exp` plus
    /// `AUTH_LEEWAY_SECS` (times are whole seconds: a request in that
    /// second still passes). One rule for HTTP, which checks each request
    /// against it, and WebSockets, closed when it comes. `None` in
    /// single-user mode.
    pub(crate) accepted_until: Option<SystemTime>,
}

/// Why a token was refused (said to the client in general terms only).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("a bearer token is required (Authorization: Bearer <token>)")]
    Missing,
    #[error("the bearer token is invalid: {0}")]
    Invalid(String),
}

/// Why sign-in could not be set up at start.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct AuthSetupError {
    pub(crate) var: &'static str,
    pub(crate) reason: String,
}

pub(crate) enum Authenticator {
    /// No keys configured: everything is the single user's.
    SingleUser,
    Tokens(Box<Verifier>),
}

impl Authenticator {
    /// What can be checked of the settings without the network: one key
    /// setting at most, a long enough secret, a JWK set URL of the right
    /// shape, a readable JWK set file with a usable key, and no issuer or
    /// audience without a key (sign-in would be off and they would do
    /// nothing). Run before the process listens or touches the database.
    pub(crate) fn check_settings(settings: &AuthSettings) -> Result<(), AuthSetupError> {
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
    pub(crate) async fn from_settings(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
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

    pub(crate) fn requires_tokens(&self) -> bool {
        matches!(self, Self::Tokens(_))
    }

    /// An `Authorization` header's value (`Bearer <token>`), or its absence.
    pub(crate) async fn authenticate_header(
        &self,
        value: Option<&str>,
    ) -> Result<Identity, AuthError> {
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
    pub(crate) async fn authenticate_init(
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
        accepted_until: None,
    }
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The owner a token's `sub` (or `api seed --owner`) names, if it can be
/// one: trimmed, 1 to 255 bytes, and never the event readers' "every owner".
pub(crate) fn owner_of_subject(subject: &str) -> Option<Owner> {
    let subject = subject.trim();
    (!subject.is_empty() && subject.len() <= MAX_SUBJECT_BYTES && subject != EVERY_OWNER)
        .then(|| Owner::new(subject))
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
