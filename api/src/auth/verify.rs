//! One bearer token checked against its key: signature, algorithm, time,
//! issuer and audience, then its `sub` and `exp` read as the owner and
//! the end of its validity.

use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::keys::KeySet;
use super::{AuthError, Identity, owner_of_subject};
use crate::service::Owner;

pub(crate) struct Verifier {
    pub(super) keys: Keys,
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) leeway: u64,
}

pub(super) enum Keys {
    Secret(DecodingKey),
    Set(KeySet),
}

/// The claims read from a verified token. Kept loose (any JSON) so that a
/// missing or mistyped claim is refused with a message naming it, not as a
/// token that failed to decode.
#[derive(Deserialize)]
struct Claims {
    sub: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
}

impl Verifier {
    pub(super) async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
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
