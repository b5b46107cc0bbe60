//! Webhooks, signed as the Standard Webhooks specification says: one POST
//! per event, `webhook-id` (the event's id), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature` (`v1,` and the base64 of HMAC-SHA256
//! over `id.timestamp.body`). A 2xx answer delivers; 410 Gone stops the
//! sink; anything else is retried. [`verify`] is the receiver's side.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

use super::envelope::{CONTENT_TYPE, Message};
use super::sink::{Failure, Reason, Sink};

/// How far a receiver lets a timestamp stray from its clock (the
/// specification's suggestion): an older signed request is a replay.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

pub struct Webhook {
    url: String,
    key: SecretSlice<u8>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str, key: SecretSlice<u8>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            url: url.to_owned(),
            key,
            client,
        })
    }

    async fn send(&mut self, batch: &[Message]) -> Result<(), Failure> {
        // One request at a time: the receiver sees the events in order.
        for (delivered, message) in batch.iter().enumerate() {
            let timestamp = unix_now();
            let signature = sign(
                self.key.expose_secret(),
                &message.id,
                timestamp,
                &message.body,
            );
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", CONTENT_TYPE)
                .header("webhook-id", &message.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", format!("v1,{signature}"))
                .body(message.body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => {}
                Ok(answer) if answer.status() == reqwest::StatusCode::GONE => {
                    return Err(Failure::new(
                        Reason::Gone,
                        delivered,
                        "the receiver answered 410 Gone",
                    ));
                }
                Ok(answer) => {
                    return Err(Failure::new(
                        Reason::Rejected,
                        delivered,
                        format!("the receiver answered {}", answer.status()),
                    ));
                }
                Err(err) => {
                    let reason = if err.is_timeout() {
                        Reason::Timeout
                    } else {
                        Reason::Unreachable
                    };
                    // Without the URL: it may hold a token.
                    return Err(Failure::new(reason, delivered, err.without_url()));
                }
            }
        }
        Ok(())
    }
}

impl Sink for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn publish<'a>(&'a mut self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), Failure>> {
        self.send(batch).boxed()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The base64 signature of one delivery.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    STANDARD.encode(mac(key, id, timestamp, body).finalize().into_bytes())
}

/// Why a receiver refused a delivery.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not whsec_ and base64")]
    BadSecret,
    #[error("the {0} header is missing or not text")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is too far from now (a replay, or a wrong clock)")]
    TimestampOutOfTolerance,
    #[error("no signature matches")]
    BadSignature,
}

/// A receiver's check of a delivery: the signature is one of ours (in
/// constant time) and its timestamp within [`TOLERANCE`] of `now`, so a
/// forged body or a replayed old request is refused. `secret` is the
/// `whsec_...` value the api was given. Receivers should also drop a
/// `webhook-id` they already processed: deliveries are at least once.
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), VerifyError> {
    let key = STANDARD
        .decode(
            secret
                .trim()
                .strip_prefix("whsec_")
                .unwrap_or(secret.trim()),
        )
        .map_err(|_| VerifyError::BadSecret)?;
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if timestamp.abs_diff(now) > TOLERANCE.as_secs() {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    let expected = mac(&key, id, timestamp, body);
    // Several space-separated signatures may come while a key rotates.
    let matches = header("webhook-signature")?
        .split_whitespace()
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|candidate| expected.clone().verify_slice(&candidate).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        let signature = format!("v1,{}", sign(key, id, timestamp, body));
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    #[test]
    fn a_signed_delivery_verifies_and_a_forged_or_replayed_one_does_not() {
        let key = [42u8; 32];
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let now = SystemTime::now();
        let at = unix_now();
        let headers = delivery(&key, "7", at, b"{}");
        assert_eq!(verify(&secret, &headers, b"{}", now), Ok(()));
        // Another body under the same signature.
        assert_eq!(
            verify(&secret, &headers, b"{\"x\":1}", now),
            Err(VerifyError::BadSignature)
        );
        // Signed with another key.
        let forged = delivery(&[1u8; 32], "7", at, b"{}");
        assert_eq!(
            verify(&secret, &forged, b"{}", now),
            Err(VerifyError::BadSignature)
        );
        // A real delivery sent again ten minutes later.
        let later = now + Duration::from_secs(600);
        assert_eq!(
            verify(&secret, &headers, b"{}", later),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        // The timestamp changed to pass the check: the signature breaks.
        let mut moved = headers.clone();
        moved.insert("webhook-timestamp", (at + 600).to_string().parse().unwrap());
        assert_eq!(
            verify(&secret, &moved, b"{}", later),
            Err(VerifyError::BadSignature)
        );
    }
}
